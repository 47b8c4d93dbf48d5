"""USSD sessions: the per-dial state kept between hops (Redis or in-process)."""
