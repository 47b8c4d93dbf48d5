"""Idempotency keys for entry points other than USSD (draft-ietf-httpapi-idempotency-key-header).

A caller sends a key of its choosing with a request that moves money or
energy. The first request with that key runs; a retry with the same key and
the same request gets the first answer again, without running anything. The
same key with another request is refused (:class:`IdempotencyKeyReused`); a
retry while the first is still running is told to wait
(:class:`IdempotencyKeyInProgress`). Keys are the caller's own (scoped to who
is asking) and kept for :data:`KEEP_S`.

Exactly one of two concurrent requests with the same key claims it: the claim
is an insert on the caller's (principal, key), which the database lets only
one transaction make.

The answer is stored after the operation's own transaction commits, so a
process that dies between the two leaves a claim that never finishes. That
claim lapses after :data:`LEASE_S`, and a retry then runs the operation
again under the same ledger operation id (:func:`operation_id`, derived from
the principal and the key): the ledger recognises the operation and replays
its first result, so money moves once even when the stored answer was lost.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace

from engine.access.credentials import CredentialHasher
from engine.access.model import IdempotencyRecord, IdempotencyState, StoredResponse
from engine.access.ports import AccessUnit, AccessUnits
from engine.kernel.clock import MICROS_PER_SECOND, Clock
from engine.kernel.errors import IdempotencyKeyInProgress, IdempotencyKeyReused, InvalidRequest

KEEP_S = 24 * 3600  # the draft's and Stripe's 24 h
# Longer than any request may take (a PIN check waits at most ~9 s); a claim older than
# this belongs to a process that died, and a retry may run the operation again.
LEASE_S = 60
MAX_KEY_LENGTH = 255


def check_key(key: str) -> str:
    """A key is 1 to 255 visible ASCII characters (a UUID is the usual choice)."""
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not all("!" <= c <= "~" for c in key):
        raise InvalidRequest("Idempotency-Key must be 1 to 255 visible ASCII characters (e.g. a UUID)")
    return key


def operation_id(principal: str, key: str, kind: str) -> str:
    """The ledger operation a keyed request runs as: the same for every retry of it, whatever process runs it."""
    digest = hashlib.blake2b(f"{principal}|{key}".encode(), digest_size=16).hexdigest()
    return f"api-{kind}-{digest}"


class IdempotencyService:
    def __init__(self, units: AccessUnits, clock: Clock, hasher: CredentialHasher) -> None:
        self._units = units
        self._clock = clock
        self._hasher = hasher

    def fingerprint(self, *parts: bytes) -> str:
        """What makes two requests "the same" for a key: a keyed hash of their parts (their bodies may hold a PIN)."""
        return self._hasher.fingerprint(*parts)

    async def begin(self, principal: str, key: str, fingerprint: str) -> StoredResponse | None:
        """Claim ``key`` for this request (None: go ahead), or the first answer to replay.

        Raises :class:`IdempotencyKeyReused` for a key used with another request
        and :class:`IdempotencyKeyInProgress` while its first request runs.
        """
        check_key(key)
        now = self._clock.now_us()
        claim = IdempotencyRecord(
            principal=principal,
            key=key,
            fingerprint=fingerprint,
            state=IdempotencyState.RUNNING,
            created_at=now,
            locked_until=now + LEASE_S * MICROS_PER_SECOND,
            expires_at=now + KEEP_S * MICROS_PER_SECOND,
        )

        async def work(uow: AccessUnit) -> StoredResponse | None:
            if await uow.idempotency.insert_idempotency(claim):
                return None
            existing = await uow.idempotency.idempotency_for_update(principal, key)
            if existing is None:  # given back (abandoned) between the two statements: one more try
                if await uow.idempotency.insert_idempotency(claim):
                    return None
                raise IdempotencyKeyInProgress("a request with this Idempotency-Key is still being processed")
            if existing.expires_at <= now:  # kept past its time: the key is new again
                await uow.idempotency.replace_idempotency(claim)
                return None
            if existing.fingerprint != fingerprint:
                raise IdempotencyKeyReused("this Idempotency-Key was used for a different request")
            if existing.state is IdempotencyState.DONE:
                return StoredResponse(existing.status, existing.body)
            if existing.locked_until > now:
                raise IdempotencyKeyInProgress("a request with this Idempotency-Key is still being processed")
            # The first request died before answering: this retry takes its place (same operation id).
            await uow.idempotency.replace_idempotency(replace(claim, created_at=existing.created_at))
            return None

        return await self._units.run(work)

    async def finish(self, principal: str, key: str, fingerprint: str, response: StoredResponse) -> None:
        """Keep the answer to the request that claimed ``key``, for its retries."""
        now = self._clock.now_us()

        async def work(uow: AccessUnit) -> None:
            existing = await uow.idempotency.idempotency_for_update(principal, key)
            if existing is None or existing.fingerprint != fingerprint:
                return  # swept or taken over meanwhile: nothing of ours to complete
            done = replace(existing, state=IdempotencyState.DONE, status=response.status, body=response.body)
            await uow.idempotency.replace_idempotency(replace(done, locked_until=now))

        await self._units.run(work)

    async def abandon(self, principal: str, key: str, fingerprint: str) -> None:
        """Give ``key`` back: the request did nothing (busy, rate-limited), so a retry must run it afresh."""

        async def work(uow: AccessUnit) -> None:
            existing = await uow.idempotency.idempotency_for_update(principal, key)
            if (
                existing is not None
                and existing.state is IdempotencyState.RUNNING
                and existing.fingerprint == fingerprint
            ):
                await uow.idempotency.delete_idempotency(principal, key)

        await self._units.run(work)

    async def forget_expired(self) -> int:
        now = self._clock.now_us()

        async def work(uow: AccessUnit) -> int:
            return await uow.idempotency.delete_expired_idempotency(now_us=now)

        return await self._units.run(work)
