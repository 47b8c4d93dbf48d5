"""The mobile-money simulator (``simulator.momo``) on a free localhost port, with a typed client for ``/_sim``.

    async with running_momo_sim(MomoSimConfig(approve_after_ms=None)) as sim:
        mtn = MtnMomo(sim.mtn_config(callback_url=...), session)
        await sim.rule(provider="mtn", msisdn="+260961234567", outcome="fail", reason="NOT_ENOUGH_FUNDS")
        ...
        (txn,) = await sim.approvals("+260961234567")
        await sim.approve(txn.reference_id)

Rules (``rule(**fields)``) and chaos ratios (``chaos(**ratios)``) are the
simulator's own vocabulary: see ``simulator/momo/faults.py``. A control call
the simulator refuses raises :class:`SimControlError` with its message.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, fields, replace

import aiohttp
from aiohttp import web

from engine.payments.model import Direction, ProviderState, ProviderStatus
from engine.payments.ports import PaymentProvider
from simulator.momo import MomoSimConfig, create_momo_sim
from ussd_server.payments.airtel import AirtelConfig, AirtelMoney
from ussd_server.payments.mtn import MtnConfig, MtnMomo


class SimControlError(RuntimeError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"/_sim answered {status}: {message}")
        self.status = status


@dataclass(frozen=True, slots=True)
class SimCallback:
    status: str  # the transaction status the body carried (SUCCESSFUL for a late ghost)
    delivery: str  # sent | failed | lost
    http_status: int | None
    late: bool


@dataclass(frozen=True, slots=True)
class SimTransaction:
    """One transaction as the provider holds it."""

    provider: str  # mtn | airtel
    kind: str  # collection | disbursement
    reference_id: str  # our attempt id
    external_id: str  # our payment id
    msisdn: str  # E.164
    amount_ngwee: int
    currency: str
    status: str  # PENDING | SUCCESSFUL | FAILED
    reason: str
    financial_transaction_id: str
    created_at: str
    finished_at: str | None
    callbacks: tuple[SimCallback, ...]
    callbacks_pending: int

    @classmethod
    def of(cls, data: dict[str, object]) -> SimTransaction:
        values = {f.name: data[f.name] for f in fields(cls)}
        raw = data["callbacks"]
        assert isinstance(raw, list)
        values["callbacks"] = tuple(SimCallback(**c) for c in raw)
        return cls(**values)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class MomoSim:
    base_url: str
    config: MomoSimConfig
    session: aiohttp.ClientSession

    async def _call(self, method: str, path: str, body: object = None) -> object:
        async with self.session.request(method, self.base_url + path, json=body) as reply:
            data = await reply.json(content_type=None)
            if reply.status >= 400:
                raise SimControlError(reply.status, str(data.get("error") if isinstance(data, dict) else data))
            return data

    async def chaos(self, **ratios: float | int | list[str]) -> None:
        """Seeded random faults for calls no rule matches, e.g. ``chaos(seed=7, fail=0.3, lose_callback=0.1)``."""
        await self._call("POST", "/_sim/chaos", ratios)

    async def rule(self, **fields: object) -> int:
        """Add a rule, e.g. ``rule(provider="airtel", kind="collection", outcome="fail", reason="EXPIRED")``."""
        data = await self._call("POST", "/_sim/rules", fields)
        assert isinstance(data, dict)
        return int(data["id"])

    async def transactions(self) -> list[SimTransaction]:
        data = await self._call("GET", "/_sim/transactions")
        assert isinstance(data, dict)
        return [SimTransaction.of(t) for t in data["transactions"]]

    async def transaction(self, reference_id: str) -> SimTransaction:
        (found,) = [t for t in await self.transactions() if t.reference_id == reference_id]
        return found

    async def settled(self, reference_id: str, timeout_s: float = 5.0) -> SimTransaction:
        """The transaction once it is final and every callback of it was delivered or dropped."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            txn = await self.transaction(reference_id)
            if txn.status != "PENDING" and txn.callbacks_pending == 0:
                return txn
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{reference_id} did not settle: {txn}")
            await asyncio.sleep(0.01)

    async def approvals(self, msisdn: str) -> list[SimTransaction]:
        """Collections waiting for this handset's approval."""
        async with self.session.get(self.base_url + "/_sim/approvals", params={"msisdn": msisdn}) as reply:
            data = await reply.json()
            if reply.status >= 400:
                raise SimControlError(reply.status, str(data))
        return [SimTransaction.of(t) for t in data["approvals"]]

    async def approve(self, reference_id: str, approve: bool = True) -> SimTransaction:
        """Answer the push prompt on the handset (False: the user declines)."""
        data = await self._call("POST", f"/_sim/approvals/{reference_id}", {"approve": approve})
        assert isinstance(data, dict)
        return SimTransaction.of(data)

    async def statement_csv(self, provider: str) -> str:
        async with self.session.get(self.base_url + "/_sim/statement.csv", params={"provider": provider}) as reply:
            if reply.status >= 400:
                raise SimControlError(reply.status, await reply.text())
            return await reply.text()

    async def revoke_tokens(self) -> int:
        """Every access token issued so far stops working (the next API call answers 401); how many there were."""
        data = await self._call("POST", "/_sim/tokens/revoke")
        assert isinstance(data, dict)
        return int(data["revoked"])

    async def reset(self) -> None:
        await self._call("POST", "/_sim/reset")

    def mtn_config(self, **overrides: object) -> MtnConfig:
        """An adapter config with the simulator's URL and credentials (``callback_url``, ``timeout_s``...)."""
        c = self.config
        config = MtnConfig(
            base_url=self.base_url,
            api_user=c.mtn_api_user,
            api_key=c.mtn_api_key,
            collection_key=c.mtn_collection_key,
            disbursement_key=c.mtn_disbursement_key,
            target_environment=c.mtn_target_environment,
            currency=c.currency,
        )
        return replace(config, **overrides)  # type: ignore[arg-type]

    def airtel_config(self, **overrides: object) -> AirtelConfig:
        c = self.config
        config = AirtelConfig(
            base_url=self.base_url,
            client_id=c.airtel_client_id,
            client_secret=c.airtel_client_secret,
            disbursement_pin=c.airtel_disbursement_pin or "sim-encrypted-pin",
            country=c.country,
            currency=c.currency,
            callback_url=c.airtel_callback_url,
        )
        return replace(config, **overrides)  # type: ignore[arg-type]


async def _serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    return runner, f"http://{host}:{port}"


@contextlib.asynccontextmanager
async def running_momo_sim(config: MomoSimConfig | None = None) -> AsyncIterator[MomoSim]:
    """The simulator served on 127.0.0.1 (a port the OS picks), stopped when the block ends."""
    config = config or MomoSimConfig()
    runner, base_url = await _serve(create_momo_sim(config))
    try:
        async with aiohttp.ClientSession() as session:
            yield MomoSim(base_url, config, session)
    finally:
        await runner.cleanup()


@dataclass(frozen=True, slots=True)
class ReceivedCallback:
    method: str
    path: str
    body: bytes


@dataclass(slots=True)
class CallbackReceiver:
    """Answers 200 to any request and keeps it: point ``X-Callback-Url`` or ``airtel_callback_url`` here."""

    base_url: str = ""
    calls: list[ReceivedCallback] = field(default_factory=list)

    async def _handle(self, request: web.Request) -> web.Response:
        self.calls.append(ReceivedCallback(request.method, request.path, await request.read()))
        return web.json_response({"status": "received"})

    def statuses(self, path: str) -> list[str]:
        """The status each callback to ``path`` carried: MTN's ``status``, Airtel's ``transaction.status_code``."""
        found: list[str] = []
        for call in self.calls:
            if call.path == path:
                data = json.loads(call.body)
                found.append(data["status"] if "status" in data else data["transaction"]["status_code"])
        return found


@contextlib.asynccontextmanager
async def running_callback_receiver() -> AsyncIterator[CallbackReceiver]:
    receiver = CallbackReceiver()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", receiver._handle)
    runner, receiver.base_url = await _serve(app)
    try:
        yield receiver
    finally:
        await runner.cleanup()


async def final_status(
    adapter: PaymentProvider, direction: Direction, attempt_id: str, timeout_s: float = 5.0
) -> ProviderStatus:
    """What the provider says once it is no longer PENDING (nor UNKNOWN), asked every 10 ms."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        status = await adapter.status(direction, attempt_id)
        if status.state not in (ProviderState.PENDING, ProviderState.UNKNOWN):
            return status
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{attempt_id} is still {status.state}")
        await asyncio.sleep(0.01)


@dataclass(frozen=True, slots=True)
class MomoRig:
    sim: MomoSim
    mtn: MtnMomo
    airtel: AirtelMoney
    receiver: CallbackReceiver  # MTN's callbacks arrive at /mtn, Airtel's at /airtel

    def adapter(self, provider: str) -> PaymentProvider:
        return self.mtn if provider == "mtn" else self.airtel


@contextlib.asynccontextmanager
async def running_momo_rig(*, timeout_s: float = 5.0, **settings: object) -> AsyncIterator[MomoRig]:
    """A simulator (``settings`` are MomoSimConfig fields), an adapter for each provider, and their callbacks."""
    async with running_callback_receiver() as receiver:
        config = MomoSimConfig(airtel_callback_url=receiver.base_url + "/airtel", **settings)  # type: ignore[arg-type]
        async with running_momo_sim(config) as sim, aiohttp.ClientSession() as session:
            mtn = MtnMomo(sim.mtn_config(callback_url=receiver.base_url + "/mtn", timeout_s=timeout_s), session)
            yield MomoRig(sim, mtn, AirtelMoney(sim.airtel_config(timeout_s=timeout_s), session), receiver)
