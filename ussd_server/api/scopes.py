"""Who may call what: each route names the scopes any one of which lets a caller in.

``admin`` carries ``partner`` and ``read``; ``partner`` carries ``read``
(:func:`engine.access.model.granted`). ``user`` is a signed-in user's token.
"""

from __future__ import annotations

from engine.access.model import Scope

USER = frozenset({Scope.USER})
READERS = frozenset({Scope.READ, Scope.USER})  # clusters, regions, platform carbon: any key or user
PARTNERS = frozenset({Scope.PARTNER})
ADMINS = frozenset({Scope.ADMIN})
READ_KEYS = frozenset({Scope.READ})  # platform figures for dashboards (keys only)
USER_OR_ADMIN = frozenset({Scope.USER, Scope.ADMIN})
USER_OR_PARTNER = frozenset({Scope.USER, Scope.PARTNER})  # a user for their own number; a partner for any
