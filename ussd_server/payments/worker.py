"""The payment worker: submit what was just started, and take due payments one step further.

Two ways in. A payment a user has just started is submitted at once by the
process that started it (:meth:`PaymentWorker.submit_soon`, so the reply to
the user never waits for the provider). Everything else (status checks on the
backoff schedule, payments whose process died mid-step, callbacks' hints) is
claimed from the database in batches: a claim leases rows to this process
only, so any number of processes may run a worker against one database.

A step that fails (the database or the provider misbehaving) is logged and
left: the lease runs out and the payment is claimed again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine

from engine.payments.model import Payment, Provider
from engine.payments.service import PaymentService

log = logging.getLogger("enerlectra.payments")
MAX_PENDING_HINTS = 10_000


class PaymentWorker:
    def __init__(
        self,
        payments: PaymentService,
        *,
        concurrency: int = 32,
        poll_interval_s: float = 1.0,
        on_step: Callable[[Payment], None] = lambda _payment: None,
    ) -> None:
        self._payments = payments
        self._slots = asyncio.Semaphore(concurrency)
        self._concurrency = concurrency
        self._poll_interval_s = poll_interval_s
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        # Payments with a step running or queued here, and those asked for again meanwhile (a callback
        # during a step that may already have read the status): one step per payment at a time.
        self._busy: set[str] = set()
        self._again: dict[str, Payment] = {}
        self._freed = asyncio.Event()  # set whenever a step ends (a slot may be free)
        # Callbacks' hints not looked up yet, by (provider, id): bounded, so a flood of forged callbacks
        # costs at most this many reads; past it a hint is dropped and the polling schedule comes round.
        self._hints: set[tuple[Provider, str]] = set()
        self._lookups = asyncio.Semaphore(concurrency)
        self.on_step = on_step  # each payment as stored after a step (metrics, tests)

    def submit_soon(self, payment: Payment) -> None:
        """Take ``payment`` one step now, in the background (the caller does not wait).

        If a step of it is already running here, one more follows that one instead.
        """
        if payment.id in self._busy:
            self._again[payment.id] = payment
            return
        self._busy.add(payment.id)
        self._spawn(self._step(payment), f"payment-{payment.id}")

    def hint(self, provider: Provider, callback_id: str) -> bool:
        """A provider's callback named a payment: look it up and take a step, in the background.

        The callback's answer waits for nothing (no database, no provider): it is a hint, and
        the step reads the status from the provider anyway. False when the hint was dropped
        (the same one is pending already, or too many are).
        """
        key = (provider, callback_id)
        if key in self._hints or len(self._hints) >= MAX_PENDING_HINTS:
            return False
        self._hints.add(key)
        self._spawn(self._look_up(key), f"payment-hint-{callback_id[:40]}")
        return True

    def _spawn(self, work: Coroutine[object, object, None], name: str) -> None:
        """Run ``work`` in the background, counted in flight until it ends (slots, drain)."""
        task = asyncio.get_running_loop().create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _look_up(self, key: tuple[Provider, str]) -> None:
        try:
            async with self._lookups:
                payment = await self._payments.hint(*key)
        except Exception:  # the database is struggling: the polling schedule still comes round
            log.exception("payment hint %s: lookup failed", key[1][:40])
            return
        finally:
            self._hints.discard(key)
        if payment is not None:
            self.submit_soon(payment)

    def wake(self) -> None:
        """Claim due payments now instead of at the next interval."""
        self._wake.set()

    async def _step(self, payment: Payment) -> None:
        try:
            while True:
                async with self._slots:
                    try:
                        stored = await self._payments.advance(payment)
                    except Exception:  # the lease runs out and the payment is claimed again
                        log.exception("payment %s: step failed; it will be retried", payment.id)
                        return
                self.on_step(stored)
                again = self._again.pop(payment.id, None)
                if again is None or stored.final or stored.review:
                    return
                payment = stored  # as stored now: the step after it starts from there
        finally:
            self._again.pop(payment.id, None)
            self._busy.discard(payment.id)
            self._freed.set()

    async def run_once(self) -> int:
        """Claim as many due payments as there are free slots and start a step for each; returns how many."""
        free = self._concurrency - len(self._tasks)
        if free <= 0:
            return 0
        claimed = await self._payments.claim_due(limit=free)
        for payment in claimed:
            self.submit_soon(payment)
        return len(claimed)

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Keep every slot busy with due payments; between claims, wait for a wake, a free slot or the interval.

        Steps run side by side, so one slow provider call (up to its timeout)
        holds one slot, never a whole batch.
        """
        while not stop.is_set():
            self._wake.clear()
            claimed = 0
            try:
                claimed = await self.run_once()
            except Exception:  # a database outage: try again at the next interval
                log.exception("payment claim failed")
            if claimed and len(self._tasks) < self._concurrency:
                continue  # slots left and there may be more due right now
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._until_woken(stop), timeout=self._poll_interval_s)

    async def _until_woken(self, stop: asyncio.Event) -> None:
        waits: list[asyncio.Future[object]] = [
            asyncio.ensure_future(stop.wait()),
            asyncio.ensure_future(self._wake.wait()),
        ]
        if len(self._tasks) >= self._concurrency:  # full: a finished step frees a slot
            self._freed.clear()
            waits.append(asyncio.ensure_future(self._freed.wait()))
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()

    async def drain(self, timeout_s: float) -> None:
        """Let the steps in flight finish (at shutdown); what does not finish is claimed again later.

        A hint's lookup may start a step as it ends: waited for too, within the same ``timeout_s``.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while self._tasks and loop.time() < deadline:
            await asyncio.wait(set(self._tasks), timeout=deadline - loop.time())
