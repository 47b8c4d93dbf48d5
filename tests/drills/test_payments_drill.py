"""Drill: 10,000 deposits and 2,000 withdrawals through a misbehaving provider, the server SIGKILLed twice.

The provider simulator runs in its own process with seeded chaos: 20% of
callbacks lost, 10% sent twice, 2% arriving after the payment expired (a
SUCCESSFUL-looking callback for an expired collection), 5% of submits held
past our timeout after the provider recorded them, 1% answered 500 without
being recorded; and a share of payments declined or never approved. Clients
start payments through the REST API with an Idempotency-Key each, retrying
the same key when the server does not answer, as a real client would; the
server is killed with SIGKILL twice mid-run and started again.

At the end, for every payment: exactly one final state, the same as the
provider's; one provider transaction per payment (retries reused the
attempt id); a deposit credited exactly when collected; a withdrawal's money
gone exactly when paid out and back otherwise; the ledger's clearing
accounts equal the provider's books; ``enerlectra ledger verify`` and
``enerlectra payments reconcile`` (on the provider's own statements) pass.

The backoff schedule is shortened by configuration (``PAYMENT_POLL_SCHEDULE_S``)
so the run takes seconds: the full 24-hour schedule and the review queue run
on an injected clock in tests/unit/test_payments_machine.py.
"""

from __future__ import annotations

import asyncio
import random
import secrets
from collections import Counter
from pathlib import Path

import aiohttp
import pytest

from engine.kernel.clock import SystemClock
from engine.ledger.model import PendingStatus
from engine.payments.accounts import clearing_account
from engine.payments.model import Direction, Payment, PaymentState, Provider
from storage import open_store
from tests.drills.conftest import Report
from tests.support.momo import MomoSim, SimTransaction
from tests.support.payments_stack import SIM, momo_process, payments_env, prepare_users, sign_in
from tests.support.ports import free_port
from tests.support.servers import enerlectra_server, run_cli
from ussd_server.demo import DEMO_PIN

pytestmark = pytest.mark.drill

USERS = 100  # half on MTN numbers, half on Airtel
DEPOSITS = 10_000
WITHDRAWALS = 2_000
CLIENTS = 48
KILLS = 2
SETTLE_TIMEOUT_S = 240.0
CHAOS = {
    "seed": 11,
    "lose_callback": 0.20,
    "duplicate_callback": 0.10,
    "late_callback": 0.02,
    "submit_hang": 0.05,
    "submit_500": 0.01,
    "fail": 0.08,
}
SIM_ARGS = ("--approve-after-ms", "20", "--expire-after-s", "2", "--hang-s", "3")


class Clients:
    """API clients starting payments; a request the server did not answer is sent again with its key."""

    def __init__(self, url: str, admin_key: str, tokens: dict[str, str]) -> None:
        self.url = url
        self.admin_key = admin_key
        self.tokens = tokens
        self.started = 0
        self.retries = 0
        self.in_progress = 0  # keys a killed process held: a real client tries them again later
        self.refused: Counter[str] = Counter()

    async def post(self, http: aiohttp.ClientSession, path: str, body: dict[str, object], auth: str) -> None:
        key = secrets.token_hex(12)
        headers = {"Authorization": f"Bearer {auth}", "Idempotency-Key": key}
        for _ in range(400):
            try:
                async with http.post(self.url + path, json=body, headers=headers) as reply:
                    data = await reply.json(content_type=None)
                    if reply.status in (201, 202):
                        self.started += 1
                        return
                    code = str(data.get("error", {}).get("code", reply.status))
                    if reply.status >= 500 or code in ("busy", "BUSY"):
                        raise aiohttp.ClientError(code)
                    if code.lower() == "idempotency_key_in_progress":
                        self.in_progress += 1
                        return
                    self.refused[code] += 1
                    return
            except (TimeoutError, aiohttp.ClientError, ConnectionError):
                self.retries += 1
                await asyncio.sleep(0.1)
        raise AssertionError(f"{path}: no answer after many tries")

    async def run(self, jobs: list[tuple[str, str, int]]) -> None:
        queue: asyncio.Queue[tuple[str, str, int]] = asyncio.Queue()
        for job in jobs:
            queue.put_nowait(job)
        timeout = aiohttp.ClientTimeout(total=10)

        async def client() -> None:
            async with aiohttp.ClientSession(timeout=timeout) as http:
                while not queue.empty():
                    kind, phone, ngwee = queue.get_nowait()
                    if kind == "deposit":
                        await self.post(
                            http, f"/api/v1/users/{phone}/deposits", {"amount_ngwee": ngwee}, self.admin_key
                        )
                    else:
                        body = {"amount_ngwee": ngwee, "pin": DEMO_PIN}
                        await self.post(http, f"/api/v1/users/{phone}/withdrawals", body, self.tokens[phone])

        await asyncio.gather(*(client() for _ in range(CLIENTS)))


async def all_final(database_url: str) -> list[Payment]:
    store = await open_store(database_url, clock=SystemClock())
    try:
        payments: list[Payment] = []
        for provider in (Provider.MTN, Provider.AIRTEL):
            payments += await store.payments.payments_between(provider, since_us=0, until_us=2**62)
        return payments
    finally:
        await store.close()


async def test_payments_survive_a_misbehaving_provider_and_two_sigkills(
    database_url: str, tmp_path: Path, report: Report
) -> None:
    port = free_port()
    async with momo_process(tmp_path, port, SIM_ARGS) as sim_url:
        env = payments_env(database_url, port, sim_url, {"PROVIDER_TIMEOUT_S": "1", "PAYMENT_POLL_SCHEDULE_S": "1,1,2"})
        code, output = await run_cli(env, "db", "migrate")
        assert code == 0, output
        phones, admin_key = await prepare_users(env, USERS)
        async with aiohttp.ClientSession() as http:
            sim = MomoSim(sim_url, SIM, http)
            await sim.chaos(**CHAOS)
            server = enerlectra_server(env, port, tmp_path / "server.log")
            await server.start()
            tokens = await sign_in(server.url, phones)
            rng = random.Random(5)
            deposits = [("deposit", rng.choice(phones), rng.randint(10, 200) * 100) for _ in range(DEPOSITS)]
            withdrawals = [("withdraw", rng.choice(phones), rng.randint(1, 20) * 100) for _ in range(WITHDRAWALS)]
            clients = Clients(server.url, admin_key, tokens)
            loop = asyncio.get_running_loop()
            began = loop.time()
            load = asyncio.create_task(clients.run(deposits + withdrawals))
            total = DEPOSITS + WITHDRAWALS
            for kill in range(KILLS):
                while clients.started < total * (kill + 1) // (KILLS + 1) and not load.done():  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
                await server.kill()
                await asyncio.sleep(0.3)
                await server.start()
            await load
            started_s = loop.time() - began

            # Everything the provider holds ends; the server settles all of it.
            deadline = loop.time() + SETTLE_TIMEOUT_S
            while True:
                payments = await all_final(database_url)
                open_ = [p for p in payments if not p.final]
                if not open_ or loop.time() > deadline:
                    break
                await asyncio.sleep(1)
            settled_s = loop.time() - began
            txns = await sim.transactions()
            statements = {p: await sim.statement_csv(p) for p in ("mtn", "airtel")}
            await server.stop()

        problems = await audit(database_url, payments, txns)
        codes = {}
        for provider, text in statements.items():
            path = tmp_path / f"{provider}.csv"
            path.write_text(text)
            codes[provider] = await run_cli(env, "payments", "reconcile", str(path), "--provider", provider)
        verify_code, verify_output = await run_cli(env, "ledger", "verify")

    states = Counter(f"{p.direction}:{p.state}" for p in payments)
    callbacks = Counter(c.delivery + (":late" if c.late else "") for t in txns for c in t.callbacks)
    report(
        load=f"{len(payments)} payments ({clients.started} started by {CLIENTS} API clients in {started_s:.0f} s, "
        f"all settled after {settled_s:.0f} s); client retries {clients.retries}, keys left in progress by a "
        f"killed process {clients.in_progress}, refused {dict(clients.refused)}",
        faults=f"SIGKILL x{KILLS}; simulator chaos {CHAOS}; callbacks {dict(callbacks)}",
        result=f"{dict(states)}; open {len(open_)}; "
        + ("ok" if not problems and verify_code == 0 else f"PROBLEMS: {problems[:3]}"),
    )
    assert not open_, f"{len(open_)} payments never ended: {open_[:3]}"
    assert len(payments) >= DEPOSITS + WITHDRAWALS - clients.in_progress - sum(clients.refused.values())
    assert not problems, problems[:10]
    assert verify_code == 0, verify_output
    for provider, (code, output) in codes.items():
        assert code == 0, f"reconcile {provider}:\n{output}"


async def audit(database_url: str, payments: list[Payment], txns: list[SimTransaction]) -> list[str]:
    """Every payment against the provider's books and the ledger."""
    problems: list[str] = []
    by_external: dict[str, list[SimTransaction]] = {}
    for txn in txns:
        by_external.setdefault(txn.external_id, []).append(txn)
    store = await open_store(database_url, clock=SystemClock())
    try:
        net = {Provider.MTN: 0, Provider.AIRTEL: 0}
        for payment in payments:
            seen = by_external.get(payment.id, [])
            if len(seen) > 1:
                problems.append(f"{payment.id}: {len(seen)} provider transactions")
            theirs = seen[0].status if seen else "NONE"
            ours_ok = payment.state is PaymentState.SUCCESSFUL
            if ours_ok != (theirs == "SUCCESSFUL"):
                problems.append(f"{payment.id}: ours {payment.state}, provider {theirs}")
            if ours_ok:
                net[payment.provider] += payment.amount_ngwee * (1 if payment.direction is Direction.DEPOSIT else -1)
            if payment.direction is Direction.DEPOSIT:
                credited = payment.credit_transfer_id in await store.ledger.lookup_transfers(
                    [payment.credit_transfer_id]
                )
                if credited != ours_ok:
                    problems.append(f"{payment.id}: credited {credited} but {payment.state}")
            else:
                status = (await store.ledger.pending_statuses([payment.reserve_transfer_id])).get(
                    payment.reserve_transfer_id
                )
                expected = PendingStatus.POSTED if ours_ok else PendingStatus.VOIDED
                if status is not expected:
                    problems.append(f"{payment.id}: reservation {status}, payment {payment.state}")
        provider_net = {Provider.MTN: 0, Provider.AIRTEL: 0}
        for txn in txns:
            if txn.status == "SUCCESSFUL":
                sign = 1 if txn.kind == "collection" else -1
                provider_net[Provider(txn.provider)] += sign * txn.amount_ngwee
        for provider in (Provider.MTN, Provider.AIRTEL):
            account = clearing_account(provider)
            clearing = (await store.ledger.lookup_accounts([account]))[account]
            if -clearing.balance != provider_net[provider] or net[provider] != provider_net[provider]:
                problems.append(
                    f"{provider}: ledger {-clearing.balance}, payments {net[provider]},"
                    f" provider {provider_net[provider]}"
                )
    finally:
        await store.close()
    return problems
