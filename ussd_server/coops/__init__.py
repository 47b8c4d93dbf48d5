"""Operators' tools for co-ops: the ``enerlectra coop ...`` commands."""
