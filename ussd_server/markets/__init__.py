"""Operators' tools for the market: the ``enerlectra prices ...`` and ``enerlectra market ...`` commands."""
