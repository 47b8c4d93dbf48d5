"""The outbox worker: claim due SMS rows, render them, send them, record the outcome.

Delivery is at least once and never loses a row. A claim leases rows (see
:class:`engine.ports.OutboxQueue`); a worker that dies before marking a row
leaves it to fall due again when the lease ends, and another worker (or this
one, restarted) sends it. Any number of workers may run against one database.

The lease covers a whole batch: rows are sent ``concurrency`` at a time, each
bounded by the backend's timeout, so the last row of a batch starts at most
``ceil(batch_size / concurrency)`` timeouts after the claim.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
from collections.abc import Callable

from engine.kernel.clock import MICROS_PER_SECOND, Clock, SystemClock
from engine.kernel.phones import mask_phone
from engine.notifications import outbox as notifications
from engine.notifications.model import OutboxRow
from engine.notifications.ports import OutboxQueue
from ussd_server.i18n import Catalogs
from ussd_server.settings import Settings
from ussd_server.sms.backends import SendResult, SmsBackend

log = logging.getLogger(__name__)

RETRY_BASE_S = 5.0
RETRY_CAP_S = 600.0
# Each delay is shortened by up to this fraction, so rows that failed together
# (a provider outage) do not all come back in the same second.
RETRY_JITTER = 0.2
LEASE_MARGIN_S = 30.0
_ERROR_CHARS = 300


def retry_delay_s(attempts: int, rng: random.Random) -> float:
    """Seconds before the next try after ``attempts`` failed ones: 5, 10, 20, ... capped at 10 minutes."""
    delay = min(RETRY_CAP_S, RETRY_BASE_S * 2.0 ** max(0, attempts - 1))
    return delay * (1 - RETRY_JITTER * rng.random())


class OutboxWorker:
    def __init__(
        self,
        outbox: OutboxQueue,
        backend: SmsBackend,
        catalogs: Catalogs,
        settings: Settings,
        clock: Clock | None = None,
        *,
        batch_size: int = 16,
        concurrency: int = 4,
        rng: random.Random | None = None,
        on_sent: Callable[[float], None] = lambda _lag_s: None,
    ) -> None:
        self.on_sent = on_sent  # seconds from queued to accepted by the provider (metrics)
        self.outbox = outbox
        self.backend = backend
        self.catalogs = catalogs
        self.settings = settings
        self.clock = clock or SystemClock()
        self.batch_size = batch_size
        self.concurrency = concurrency
        self.lease_s = math.ceil(batch_size / concurrency) * settings.sms_timeout_s + LEASE_MARGIN_S
        self._rng = rng or random.Random()
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Poll now instead of at the next interval (e.g. after a hop queued an SMS)."""
        self._wake.set()

    async def run_once(self) -> int:
        """Claim one batch of due rows and settle each; returns how many were claimed."""
        rows = await self.outbox.claim_outbox(limit=self.batch_size, lease_s=self.lease_s)
        if rows:
            slots = asyncio.Semaphore(self.concurrency)
            await asyncio.gather(*(self._settle(row, slots) for row in rows))
        return len(rows)

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set.

        After a full batch it claims again at once; otherwise it waits for the
        poll interval, :meth:`wake` or ``stop``.
        """
        while not stop.is_set():
            # Cleared before the claim, so a wake() that arrives during it
            # makes the next sleep return at once.
            self._wake.clear()
            claimed = 0
            try:
                claimed = await self.run_once()
            except Exception:
                # The database may be down for a moment; the rows wait in it, so keep polling.
                log.exception("SMS outbox poll failed")
            if claimed >= self.batch_size:
                continue
            await self._sleep(stop)

    async def _sleep(self, stop: asyncio.Event) -> None:
        stopping = asyncio.ensure_future(stop.wait())
        woken = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait(
                {stopping, woken}, timeout=self.settings.sms_poll_interval_s, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for waiter in (stopping, woken):
                waiter.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await waiter

    async def _settle(self, row: OutboxRow, slots: asyncio.Semaphore) -> None:
        # One row's trouble must never stop the others or the worker: an
        # unmarked row just falls due again when its lease ends.
        try:
            async with slots:
                await self._deliver(row)
        except Exception:
            log.exception(
                "SMS %d to %s: could not settle; retried after the lease", row.id, mask_phone(row.message.recipient)
            )

    async def _deliver(self, row: OutboxRow) -> None:
        message = row.message
        if not self.catalogs.has(message.template):
            await self._give_up(row, f"unknown template {message.template!r}")
            return
        try:
            text = self.catalogs.render(
                message.language, message.template, {**message.params, "shortcode": self.settings.shortcode}
            )
        except Exception as exc:
            await self._give_up(row, f"cannot render {message.template!r}: {type(exc).__name__}: {exc}")
            return
        try:
            result = await self.backend.send(message.recipient, text)
        except Exception as exc:
            # Backends report trouble as results; one that raises is treated as a passing failure.
            result = SendResult("retry", error=f"backend raised {type(exc).__name__}: {exc}")
        await self._record(row, result)

    async def _scrub(self, row: OutboxRow) -> None:
        """A settled message's secrets (a one-time PIN) are not kept in the database."""
        params = notifications.scrubbed(row.message)
        if params is not None:
            await self.outbox.scrub_outbox_params(row.id, params)

    async def _record(self, row: OutboxRow, result: SendResult) -> None:
        phone = mask_phone(row.message.recipient)
        if result.status == "sent":
            ours = await self.outbox.mark_outbox_sent(row.id, result.provider_ref, attempt=row.attempts)
            await self._scrub(row)
            if message_is_timely(row):
                self.on_sent((self.clock.now_us() - row.message.created_at) / MICROS_PER_SECOND)
            log.info(
                "SMS %d to %s sent (attempt %d, ref %s)%s",
                row.id,
                phone,
                row.attempts,
                result.provider_ref,
                _stale(ours),
            )
        elif result.status == "retry" and row.attempts < self.settings.sms_max_attempts:
            delay = retry_delay_s(row.attempts, self._rng)
            due = self.clock.now_us() + int(delay * MICROS_PER_SECOND)
            ours = await self.outbox.mark_outbox_retry(row.id, result.error[:_ERROR_CHARS], due, attempt=row.attempts)
            log.warning(
                "SMS %d to %s retry in %.0f s (attempt %d): %s%s",
                row.id,
                phone,
                delay,
                row.attempts,
                result.error,
                _stale(ours),
            )
        elif result.status == "retry":
            await self._give_up(row, f"gave up after {row.attempts} attempts: {result.error}")
        else:
            await self._give_up(row, result.error or "refused by the provider")

    async def _give_up(self, row: OutboxRow, error: str) -> None:
        ours = await self.outbox.mark_outbox_dead(row.id, error[:_ERROR_CHARS], attempt=row.attempts)
        await self._scrub(row)
        log.error(
            "SMS %d to %s dead (attempt %d): %s%s",
            row.id,
            mask_phone(row.message.recipient),
            row.attempts,
            error,
            _stale(ours),
        )


def message_is_timely(row: OutboxRow) -> bool:
    """Whether the row was meant to go out as soon as queued (a daily summary waits for the evening on purpose)."""
    return row.message.template != notifications.DAILY_SUMMARY


def _stale(ours: bool) -> str:
    return "" if ours else " [lease had expired: another worker owns the row, outcome not recorded]"
