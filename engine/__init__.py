"""Enerlectra's domain engine: pure Python (standard library only).

Bounded contexts (``kernel``, ``ledger``, ``identity``, ``energy``,
``trading``, ``wallet``, ``notifications``, ``analytics``) each declare the
storage they need as Protocols in their ``ports`` module; :mod:`engine.uow`
composes them into a unit of work and :mod:`engine.platform` wires services and
event handlers. Nothing here knows about HTTP, Redis, SQL drivers or YAML.
"""
