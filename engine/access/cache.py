"""Signed-in users' principals, kept in process for a couple of seconds.

Every request a signed-in user makes presents their token; looking it up is
a database round trip, which on PostgreSQL costs as much as the rest of a
balance request. So a token found is remembered for :data:`KEEP_S`.

What that costs: a token revoked in another process (signed out there) still
works here for at most :data:`KEEP_S`. In the process that revoked it
(sign-out, a PIN changed or reset) it stops at once: those evict it. The user
remembered may be as old as that too, which only reads see: whatever moves
money or energy checks the PIN and reloads the user in its own transaction.
API keys are not remembered: their revocation takes effect at once everywhere.
"""

from __future__ import annotations

from collections import OrderedDict

from engine.access.model import Principal
from engine.kernel.clock import MICROS_PER_SECOND

KEEP_S = 2
MAX_ENTRIES = 10_000  # a bound on memory, whatever the number of tokens in use


class PrincipalCache:
    def __init__(self, keep_s: float = KEEP_S, max_entries: int = MAX_ENTRIES) -> None:
        self._keep_us = int(keep_s * MICROS_PER_SECOND)
        self._max = max_entries
        self._entries: OrderedDict[str, tuple[Principal, int]] = OrderedDict()  # token hash -> (who, until)

    def get(self, token_hash: str, now_us: int) -> Principal | None:
        entry = self._entries.get(token_hash)
        if entry is None:
            return None
        if entry[1] <= now_us:
            del self._entries[token_hash]
            return None
        return entry[0]

    def put(self, token_hash: str, principal: Principal, *, now_us: int, token_expires_at: int) -> None:
        if self._keep_us <= 0:
            return
        self._entries[token_hash] = (principal, min(now_us + self._keep_us, token_expires_at))
        self._entries.move_to_end(token_hash)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def forget_token(self, token_hash: str) -> None:
        self._entries.pop(token_hash, None)

    def forget_user(self, user_id: int) -> None:
        doomed = [h for h, (p, _) in self._entries.items() if p.user is not None and p.user.id == user_id]
        for token_hash in doomed:
            del self._entries[token_hash]
