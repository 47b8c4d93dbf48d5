"""The providers' state: transactions, merchant wallets, what happens to each transaction and when.

A collection waits for the handset (``POST /_sim/approvals/{id}``), is
approved automatically after ``approve_after_ms``, or expires after
``expire_after_s``. A disbursement settles after ``disburse_after_ms``
against the merchant wallet (NOT_ENOUGH_FUNDS past the float). A rule or
chaos may force the outcome, delay it, or change what the callback does.
A transaction finishes once: the first outcome wins.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Literal

from aiohttp import ClientError, ClientSession, ClientTimeout

from simulator.momo import airtel_wire, mtn_wire
from simulator.momo.config import MomoSimConfig
from simulator.momo.faults import FaultBook
from simulator.momo.model import AIRTEL, COLLECTION, MTN, CallbackRecord, ProviderName, Txn, on_network

log = logging.getLogger("simulator.momo")
CALLBACK_TIMEOUT = ClientTimeout(total=10)


class World:
    def __init__(self, config: MomoSimConfig) -> None:
        self.config = config
        self.faults = FaultBook()
        self.rng = random.Random(config.seed)
        self.txns: dict[tuple[str, str, str], Txn] = {}
        self.balances: dict[ProviderName, int] = {MTN: config.float_ngwee, AIRTEL: config.float_ngwee}
        self.release = asyncio.Event()  # set to let every held ("hang") response go
        self._timers: dict[int, list[asyncio.Task[None]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._session: ClientSession | None = None

    # -- lifecycle of the process -------------------------------------------------
    async def start(self) -> None:
        self._session = ClientSession(timeout=CALLBACK_TIMEOUT)

    async def close(self) -> None:
        self.release.set()
        await self._cancel_all()
        if self._session is not None:
            await self._session.close()

    async def reset(self) -> None:
        self.release.set()
        await self._cancel_all()
        self.release = asyncio.Event()
        self.txns.clear()
        self.faults.clear()
        self.rng = random.Random(self.config.seed)
        self.balances = {MTN: self.config.float_ngwee, AIRTEL: self.config.float_ngwee}

    async def _cancel_all(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        self._timers.clear()

    async def hold(self) -> None:
        """A "hang": hold the response for ``hang_s`` (or until the simulator stops or resets)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.release.wait(), self.config.hang_s)

    # -- transactions -------------------------------------------------------------
    def find(self, provider: ProviderName, kind: str, reference_id: str) -> Txn | None:
        return self.txns.get((provider, kind, reference_id))

    def transactions(self) -> list[Txn]:
        return sorted(self.txns.values(), key=lambda t: t.created_at)

    def record(self, txn: Txn) -> None:
        """Store a new transaction and start its course (the caller checked the reference is new)."""
        self.txns[(txn.provider, txn.kind, txn.reference_id)] = txn
        plan, config = txn.plan, self.config
        if plan.callback == "late" and plan.outcome is None:
            plan.outcome = "expire"
        if plan.outcome is not None:
            outcome = {"succeed": ("SUCCESSFUL", ""), "fail": ("FAILED", plan.reason), "expire": ("FAILED", "EXPIRED")}
            status, reason = outcome[plan.outcome]
            self._after(txn, (plan.delay_ms or 0) / 1000, self._settle, txn, status, reason)
        elif txn.kind == COLLECTION:
            if config.enforce_networks and not on_network(txn.provider, txn.msisdn):
                self._after(txn, 0, self._settle, txn, "FAILED", "PAYER_NOT_FOUND")
                return
            approve_ms = plan.delay_ms if plan.delay_ms is not None else config.approve_after_ms
            if approve_ms is not None:
                self._after(txn, approve_ms / 1000, self._settle, txn, "SUCCESSFUL", "")
            self._after(txn, config.expire_after_s, self._settle, txn, "FAILED", "EXPIRED")
        else:
            delay_ms = plan.delay_ms if plan.delay_ms is not None else config.disburse_after_ms
            self._after(txn, delay_ms / 1000, self._disburse, txn)

    def pending_approvals(self, msisdn: str) -> list[Txn]:
        return [t for t in self.transactions() if t.kind == COLLECTION and not t.final and t.msisdn == msisdn]

    def answer(self, reference_id: str, approve: bool) -> Txn | None:
        """The push prompt answered on the handset; None if no collection waits under that id."""
        for txn in self.transactions():
            if txn.kind == COLLECTION and txn.reference_id == reference_id and not txn.final:
                self.finish(txn, "SUCCESSFUL" if approve else "FAILED", "" if approve else "APPROVAL_REJECTED")
                return txn
        return None

    async def _settle(self, txn: Txn, status: str, reason: str) -> None:
        self.finish(txn, status, reason)

    async def _disburse(self, txn: Txn) -> None:
        if self.config.enforce_networks and not on_network(txn.provider, txn.msisdn):
            self.finish(txn, "FAILED", "PAYEE_NOT_FOUND")
        elif self.balances[txn.provider] < txn.amount_ngwee:
            self.finish(txn, "FAILED", "NOT_ENOUGH_FUNDS")
        else:
            self.finish(txn, "SUCCESSFUL", "")

    def finish(self, txn: Txn, status: str, reason: str) -> None:
        if txn.final:
            return
        txn.status = "SUCCESSFUL" if status == "SUCCESSFUL" else "FAILED"
        txn.reason = reason if txn.status == "FAILED" else ""
        txn.finished_at = time.time()
        if txn.status == "SUCCESSFUL":
            txn.financial_id = self.new_financial_id(txn.provider, txn.kind)
            sign = 1 if txn.kind == COLLECTION else -1
            self.balances[txn.provider] += sign * txn.amount_ngwee
        txn.balance_after_ngwee = self.balances[txn.provider]
        for timer in self._timers.pop(id(txn), []):
            if timer is not asyncio.current_task():
                timer.cancel()
        self._send_callbacks(txn)

    def new_financial_id(self, provider: ProviderName, kind: str) -> str:
        if provider == MTN:
            return str(self.rng.randrange(10**9, 10**10))
        prefix = "MP" if kind == COLLECTION else "CI"
        stamp = time.strftime("%y%m%d.%H%M", time.gmtime())
        return f"{prefix}{stamp}.{self.rng.choice('ABCDEFGHKLMNPR')}{self.rng.randrange(10**4, 10**5)}"

    # -- timers and callbacks -----------------------------------------------------
    def _spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _after(self, txn: Txn, delay_s: float, action: Callable[..., Awaitable[None]], *args: object) -> None:
        async def later() -> None:
            await asyncio.sleep(delay_s)
            await action(*args)

        self._timers.setdefault(id(txn), []).append(self._spawn(later()))

    def _destination(self, txn: Txn) -> tuple[str, str] | None:
        if txn.provider == MTN:
            return (txn.callback_method, txn.callback_url) if txn.callback_url else None
        url = self.config.airtel_callback_url
        return ("POST", url) if url else None

    def _body(self, txn: Txn) -> dict[str, object]:
        if txn.provider == MTN:
            return mtn_wire.status_body(txn, reason_as_object=self.config.mtn_reason_as_object)
        return airtel_wire.callback_body(txn)

    def _send_callbacks(self, txn: Txn) -> None:
        destination = self._destination(txn)
        if destination is None:
            return
        plan = txn.plan.callback
        if plan == "lose":
            txn.callbacks.append(CallbackRecord(time.time(), txn.status, "lost"))
            return
        bodies = [(txn, False)] * (2 if plan == "twice" else 1)
        if plan == "late":
            ghost = dataclasses.replace(txn, status="SUCCESSFUL", reason="", callbacks=[])
            ghost.financial_id = self.new_financial_id(txn.provider, txn.kind)
            bodies.append((ghost, True))
        txn.callbacks_pending += len(bodies)
        self._spawn(self._deliver(txn, destination, bodies))

    async def _deliver(self, txn: Txn, destination: tuple[str, str], bodies: list[tuple[Txn, bool]]) -> None:
        method, url = destination
        for shown, late in bodies:
            if late:
                await asyncio.sleep(self.config.late_callback_ms / 1000)
            http_status: int | None = None
            try:
                assert self._session is not None
                async with self._session.request(method, url, json=self._body(shown)) as reply:
                    await reply.read()
                    http_status = reply.status
            except (ClientError, OSError, TimeoutError) as exc:
                log.info("callback for %s to %s failed: %s", txn.reference_id, url, type(exc).__name__)
            finally:
                txn.callbacks_pending -= 1
            delivery: Literal["sent", "failed"] = "sent" if http_status is not None else "failed"
            txn.callbacks.append(CallbackRecord(time.time(), shown.status, delivery, http_status, late))
