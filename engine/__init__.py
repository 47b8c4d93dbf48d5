"""Enerlectra's domain engine: pure Python (standard library only).

Storage is reached through the Protocols in :mod:`engine.ports`; nothing here
knows about HTTP, Redis, SQL drivers or YAML.
"""
