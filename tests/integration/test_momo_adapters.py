"""The MTN and Airtel adapters against the provider simulator (one per test), over real HTTP on localhost."""

from __future__ import annotations

import ast
import asyncio
import contextlib
import csv
import io
import json
import sys
import uuid
from pathlib import Path

import aiohttp
import pytest

from engine.payments.model import Direction, PaymentOrder, Provider, ProviderState, SubmitOutcome, SubmitResult
from engine.payments.ports import PaymentProvider
from simulator.momo import MomoSimConfig
from tests.support.momo import MomoSim, final_status, running_momo_rig, running_momo_sim
from tests.support.ports import free_port
from ussd_server.payments.airtel import AirtelMoney, parse_airtel_callback
from ussd_server.payments.directory import Providers
from ussd_server.payments.mtn import MtnMomo, parse_mtn_callback

ROOT = Path(__file__).resolve().parents[2]
PHONES = {"mtn": "+260961234567", "airtel": "+260971234567"}
DEPOSIT, WITHDRAWAL = Direction.DEPOSIT, Direction.WITHDRAWAL
BOTH = pytest.mark.parametrize("provider", ["mtn", "airtel"])
DIRECTIONS = pytest.mark.parametrize("direction", [DEPOSIT, WITHDRAWAL])


def order(provider: str = "mtn", amount_ngwee: int = 2500, msisdn: str = "") -> PaymentOrder:
    return PaymentOrder(
        attempt_id=str(uuid.uuid4()),
        external_id=f"pay-{uuid.uuid4().hex[:12]}",
        msisdn=msisdn or PHONES[provider],
        amount_ngwee=amount_ngwee,
        note="ENR-7Q2K",
    )


async def send(adapter: PaymentProvider, direction: Direction, the_order: PaymentOrder) -> SubmitOutcome:
    return await (adapter.request_payment if direction == DEPOSIT else adapter.pay_out)(the_order)


async def submit(adapter: PaymentProvider, direction: Direction, the_order: PaymentOrder) -> SubmitResult:
    return (await send(adapter, direction, the_order)).result


# --- the course of a transaction -----------------------------------------------------


@BOTH
async def test_a_collection_approved_on_the_handset_succeeds_and_calls_back(provider: str) -> None:
    async with running_momo_rig() as r:
        adapter, the_order = r.adapter(provider), order(provider, 1999999)
        assert await submit(adapter, DEPOSIT, the_order) is SubmitResult.ACCEPTED
        assert (await adapter.status(DEPOSIT, the_order.attempt_id)).state is ProviderState.PENDING
        (waiting,) = await r.sim.approvals(PHONES[provider])
        assert (waiting.reference_id, waiting.external_id) == (the_order.attempt_id, the_order.external_id)
        await r.sim.approve(waiting.reference_id)
        status = await adapter.status(DEPOSIT, the_order.attempt_id)
        txn = await r.sim.settled(the_order.attempt_id)
        assert (status.state, status.provider_txn_id) == (ProviderState.SUCCESSFUL, txn.financial_transaction_id)
        assert status.amount_ngwee == (1999999 if provider == "mtn" else None)  # Airtel's enquiry has no amount
        (callback,) = r.receiver.calls  # MTN PUTs and names our external id; Airtel POSTs, naming its transaction id
        parse, method, named = (
            (parse_mtn_callback, "PUT", the_order.external_id)
            if provider == "mtn"
            else (parse_airtel_callback, "POST", the_order.attempt_id)
        )
        assert (callback.method, callback.path, parse(callback.body)) == (method, f"/{provider}", named)
        assert r.receiver.statuses(f"/{provider}") == ["SUCCESSFUL" if provider == "mtn" else "TS"]


@BOTH
@pytest.mark.parametrize(
    ("course", "settings", "state", "reason"),
    [
        ("declined", {}, ProviderState.FAILED, "APPROVAL_REJECTED"),
        ("nobody answers", {"expire_after_s": 0.2}, ProviderState.EXPIRED, "EXPIRED"),
        ("auto-approved", {"approve_after_ms": 50}, ProviderState.SUCCESSFUL, ""),
    ],
)
async def test_a_collection_can_be_declined_expire_or_be_approved_automatically(
    provider: str, course: str, settings: dict[str, float], state: ProviderState, reason: str
) -> None:
    async with running_momo_rig(**settings) as r:
        the_order = order(provider)
        await submit(r.adapter(provider), DEPOSIT, the_order)
        if course == "declined":
            await r.sim.approve(the_order.attempt_id, approve=False)
        status = await final_status(r.adapter(provider), DEPOSIT, the_order.attempt_id)
        assert (status.state, status.reason) == (state, reason)
        assert await r.sim.approvals(PHONES[provider]) == []


@BOTH
async def test_a_disbursement_settles_against_the_merchant_float(provider: str) -> None:
    async with running_momo_rig(float_ngwee=10_000) as r:
        paid, too_much = order(provider, 6_000), order(provider, 4_001)  # K40.01 when K40.00 is left
        assert await submit(r.adapter(provider), WITHDRAWAL, paid) is SubmitResult.ACCEPTED
        assert (await final_status(r.adapter(provider), WITHDRAWAL, paid.attempt_id)).state is ProviderState.SUCCESSFUL
        assert await submit(r.adapter(provider), WITHDRAWAL, too_much) is SubmitResult.ACCEPTED
        status = await final_status(r.adapter(provider), WITHDRAWAL, too_much.attempt_id)
        assert (status.state, status.reason) == (ProviderState.FAILED, "NOT_ENOUGH_FUNDS")


@BOTH
@DIRECTIONS
async def test_a_number_on_another_network_has_no_wallet_there(provider: str, direction: Direction) -> None:
    async with running_momo_rig() as r:
        the_order = order(provider, msisdn=PHONES["airtel" if provider == "mtn" else "mtn"])
        await submit(r.adapter(provider), direction, the_order)
        status = await final_status(r.adapter(provider), direction, the_order.attempt_id)
        assert status.reason == ("PAYER_NOT_FOUND" if direction == DEPOSIT else "PAYEE_NOT_FOUND")


# --- failure reasons ---------------------------------------------------------------

# The last one MTN publishes and the engine has no name for.
REASONS = (
    "NOT_ENOUGH_FUNDS", "PAYER_LIMIT_REACHED", "PAYEE_LIMIT_REACHED", "APPROVAL_REJECTED", "EXPIRED",
    "PAYER_NOT_FOUND", "PAYEE_NOT_FOUND", "NOT_ALLOWED", "INVALID_AMOUNT", "INTERNAL_PROCESSING_ERROR",
    "SERVICE_UNAVAILABLE", "COULD_NOT_PERFORM_TRANSACTION", "PAYEE_NOT_ALLOWED_TO_RECEIVE",
)  # fmt: skip
# Airtel's codes are coarser than MTN's names: what these reasons come back as (the others as they went).
COULD_NOT = "COULD_NOT_PERFORM_TRANSACTION"
AIRTEL_READS = {
    (DEPOSIT, "PAYEE_LIMIT_REACHED"): COULD_NOT, (DEPOSIT, "PAYEE_NOT_FOUND"): COULD_NOT,
    (DEPOSIT, "SERVICE_UNAVAILABLE"): COULD_NOT, (DEPOSIT, "PAYEE_NOT_ALLOWED_TO_RECEIVE"): COULD_NOT,
    (WITHDRAWAL, "PAYER_LIMIT_REACHED"): "PAYEE_LIMIT_REACHED", (WITHDRAWAL, "APPROVAL_REJECTED"): "NOT_ALLOWED",
    (WITHDRAWAL, "SERVICE_UNAVAILABLE"): COULD_NOT, (WITHDRAWAL, "PAYEE_NOT_ALLOWED_TO_RECEIVE"): COULD_NOT,
}  # fmt: skip


@BOTH
@DIRECTIONS
@pytest.mark.parametrize("reason", REASONS)
async def test_each_failure_reason_reaches_the_status(provider: str, direction: Direction, reason: str) -> None:
    async with running_momo_rig() as r:
        the_order = order(provider)
        await r.sim.rule(provider=provider, external_id=the_order.external_id, outcome="fail", reason=reason)
        assert await submit(r.adapter(provider), direction, the_order) is SubmitResult.ACCEPTED
        status = await final_status(r.adapter(provider), direction, the_order.attempt_id)
        if provider == "mtn":
            wanted = "OTHER" if reason == "PAYEE_NOT_ALLOWED_TO_RECEIVE" else reason
        else:
            wanted = AIRTEL_READS.get((direction, reason), reason)
        assert status.reason == wanted
        assert status.state is (ProviderState.EXPIRED if wanted == "EXPIRED" else ProviderState.FAILED)
        assert (await r.sim.transaction(the_order.attempt_id)).reason == reason


async def test_mtn_variants_reason_as_an_object_and_callbacks_posted_instead_of_put() -> None:
    async with running_momo_rig(mtn_reason_as_object=True, mtn_callback_method="POST") as r:
        the_order = order("mtn")
        await r.sim.rule(provider="mtn", outcome="fail", reason="PAYER_LIMIT_REACHED")
        await submit(r.mtn, DEPOSIT, the_order)
        status = await final_status(r.mtn, DEPOSIT, the_order.attempt_id)
        assert (status.state, status.reason) == (ProviderState.FAILED, "PAYER_LIMIT_REACHED")
        await r.sim.settled(the_order.attempt_id)
        assert [(c.method, c.path) for c in r.receiver.calls] == [("POST", "/mtn")]
        assert json.loads(r.receiver.calls[0].body)["reason"]["code"] == "PAYER_LIMIT_REACHED"


@BOTH
@DIRECTIONS
async def test_a_submit_refused_with_a_reason_is_rejected_and_never_recorded(
    provider: str, direction: Direction
) -> None:
    reason = "PAYER_NOT_FOUND" if direction == DEPOSIT else "PAYEE_NOT_FOUND"
    async with running_momo_rig() as r:
        the_order = order(provider)
        await r.sim.rule(provider=provider, submit="reject", reason=reason)
        outcome = await send(r.adapter(provider), direction, the_order)
        assert (outcome.result, outcome.reason) == (SubmitResult.REJECTED, reason)
        assert (await r.adapter(provider).status(direction, the_order.attempt_id)).state is ProviderState.NOT_FOUND
        zero = await send(r.adapter(provider), direction, order(provider, 0))
        assert (zero.result, zero.reason) == (SubmitResult.REJECTED, "INVALID_AMOUNT")


@BOTH
@DIRECTIONS
async def test_a_reused_attempt_id_is_a_duplicate_and_the_status_still_answers(
    provider: str, direction: Direction
) -> None:
    async with running_momo_rig(disburse_after_ms=60_000) as r:
        the_order, adapter = order(provider), r.adapter(provider)
        assert await submit(adapter, direction, the_order) is SubmitResult.ACCEPTED
        assert await submit(adapter, direction, the_order) is SubmitResult.DUPLICATE
        assert (await adapter.status(direction, the_order.attempt_id)).state is ProviderState.PENDING
        assert len(await r.sim.transactions()) == 1
        assert (await adapter.status(direction, str(uuid.uuid4()))).state is ProviderState.NOT_FOUND
        forced = order(provider)  # a 409 for an id never seen: the status says so, and a resubmit goes through
        await r.sim.rule(provider=provider, submit="409", times=1)
        assert await submit(adapter, direction, forced) is SubmitResult.DUPLICATE
        assert (await adapter.status(direction, forced.attempt_id)).state is ProviderState.NOT_FOUND
        assert await submit(adapter, direction, forced) is SubmitResult.ACCEPTED


@BOTH
@pytest.mark.parametrize(
    ("fault", "detail", "recorded"),
    [("hang", "timeout", True), ("hang_unrecorded", "timeout", False), ("500", "", False), ("500_recorded", "", True)],
)
async def test_a_submit_that_times_out_or_meets_a_5xx_is_unknown_and_the_status_says_if_it_was_recorded(
    provider: str, fault: str, detail: str, recorded: bool
) -> None:
    async with running_momo_rig(timeout_s=0.3, hang_s=30.0) as r:
        the_order = order(provider)
        await r.sim.rule(provider=provider, submit=fault, times=1)
        outcome = await r.adapter(provider).pay_out(the_order)
        assert outcome.result is SubmitResult.UNKNOWN
        assert outcome.detail == detail or not detail
        status = await final_status(r.adapter(provider), WITHDRAWAL, the_order.attempt_id)
        assert status.state is (ProviderState.SUCCESSFUL if recorded else ProviderState.NOT_FOUND)


@BOTH
@pytest.mark.parametrize("fault", ["500", "hang"])
async def test_a_status_answered_with_a_5xx_or_never_is_unknown(provider: str, fault: str) -> None:
    async with running_momo_rig(timeout_s=0.3) as r:
        the_order = order(provider)
        await submit(r.adapter(provider), DEPOSIT, the_order)
        await r.sim.rule(provider=provider, status=fault, times=1)
        assert (await r.adapter(provider).status(DEPOSIT, the_order.attempt_id)).state is ProviderState.UNKNOWN
        assert (await r.adapter(provider).status(DEPOSIT, the_order.attempt_id)).state is ProviderState.PENDING


@BOTH
@pytest.mark.parametrize("trouble", ["nobody listens", "wrong credentials"])
async def test_no_provider_or_no_token_is_unknown_never_an_exception(provider: str, trouble: str) -> None:
    async with running_momo_sim() as sim:
        dead = trouble == "nobody listens"
        url = f"http://127.0.0.1:{free_port()}" if dead else sim.base_url
        mtn = sim.mtn_config(base_url=url, api_key=sim.config.mtn_api_key if dead else "wrong")
        airtel = sim.airtel_config(base_url=url, client_secret=sim.config.airtel_client_secret if dead else "wrong")
        adapter = MtnMomo(mtn, sim.session) if provider == "mtn" else AirtelMoney(airtel, sim.session)
        the_order = order(provider)
        outcome = await adapter.request_payment(the_order)
        assert (outcome.result, outcome.detail) == (SubmitResult.UNKNOWN, "no access token")
        assert (await adapter.status(DEPOSIT, the_order.attempt_id)).state is ProviderState.UNKNOWN
        assert await sim.transactions() == []


@BOTH
async def test_a_revoked_token_is_refreshed_once_and_the_call_goes_through(provider: str) -> None:
    async with running_momo_rig() as r:
        first, second, adapter = order(provider), order(provider), r.adapter(provider)
        assert await submit(adapter, DEPOSIT, first) is SubmitResult.ACCEPTED
        assert (await adapter.status(DEPOSIT, first.attempt_id)).state is ProviderState.PENDING
        assert await r.sim.revoke_tokens() == 1  # one token served both calls
        assert await submit(adapter, DEPOSIT, second) is SubmitResult.ACCEPTED
        assert await r.sim.revoke_tokens() == 1
        assert (await adapter.status(DEPOSIT, first.attempt_id)).state is ProviderState.PENDING
        assert {t.reference_id for t in await r.sim.transactions()} == {first.attempt_id, second.attempt_id}


# --- callbacks ------------------------------------------------------------------------


@BOTH
@pytest.mark.parametrize(
    ("callback", "outcome", "state", "carried"),
    [
        ("lose", "succeed", ProviderState.SUCCESSFUL, []),
        ("twice", "succeed", ProviderState.SUCCESSFUL, ["SUCCESSFUL", "SUCCESSFUL"]),
        ("late", "expire", ProviderState.EXPIRED, ["FAILED", "SUCCESSFUL"]),  # a late "success" after the expiry
    ],
)
async def test_lost_repeated_and_late_callbacks_never_change_the_status(
    provider: str, callback: str, outcome: str, state: ProviderState, carried: list[str]
) -> None:
    async with running_momo_rig() as r:
        the_order = order(provider)
        await r.sim.rule(provider=provider, msisdn=PHONES[provider], outcome=outcome, callback=callback)
        await submit(r.adapter(provider), DEPOSIT, the_order)
        txn = await r.sim.settled(the_order.attempt_id)
        assert [c.delivery for c in txn.callbacks] == (["lost"] if callback == "lose" else ["sent"] * len(carried))
        words = {"SUCCESSFUL": "TS", "FAILED": "TF"}
        assert r.receiver.statuses(f"/{provider}") == [w if provider == "mtn" else words[w] for w in carried]
        assert (await r.adapter(provider).status(DEPOSIT, the_order.attempt_id)).state is state


@pytest.mark.parametrize(
    "body",
    [b"", b"not json", b"[]", b'{"externalId": 7}', b'{"transaction": "x"}', b"\xff\xfe", b"[" * 100_000],
)
def test_an_unreadable_callback_is_none_never_an_exception(body: bytes) -> None:
    assert parse_mtn_callback(body) is None
    assert parse_airtel_callback(body) is None


@BOTH
@DIRECTIONS
@pytest.mark.parametrize("amount_ngwee", [1, 1999999, 10_000])
async def test_amounts_go_and_come_back_exactly(provider: str, direction: Direction, amount_ngwee: int) -> None:
    async with running_momo_rig(float_ngwee=10**12) as r:
        the_order = order(provider, amount_ngwee)
        await r.sim.rule(provider=provider, outcome="succeed")
        await submit(r.adapter(provider), direction, the_order)
        status = await final_status(r.adapter(provider), direction, the_order.attempt_id)
        assert status.state is ProviderState.SUCCESSFUL
        assert status.amount_ngwee == (amount_ngwee if provider == "mtn" else None)  # MTN repeats it, Airtel not
        assert (await r.sim.transaction(the_order.attempt_id)).amount_ngwee == amount_ngwee


async def test_the_statements_reconcile_by_external_id_amount_and_number() -> None:
    async with running_momo_rig(float_ngwee=5_000_000) as r:
        small, large, payout = order("mtn", 1), order("mtn", 1999999), order("mtn", 50_000)
        refused, airtel_in = order("mtn", 700), order("airtel", 1999999)
        await r.sim.rule(provider="mtn", external_id=refused.external_id, outcome="fail", reason="NOT_ENOUGH_FUNDS")
        for collected in (small, large, refused):
            await submit(r.mtn, DEPOSIT, collected)
        await submit(r.mtn, WITHDRAWAL, payout)
        await submit(r.airtel, DEPOSIT, airtel_in)
        for waiting in (small, large, airtel_in):
            await r.sim.approve(waiting.attempt_id)
        for done in (payout, refused):
            await r.sim.settled(done.attempt_id)

        mtn = list(csv.DictReader(io.StringIO(await r.sim.statement_csv("mtn"))))
        customer = "FRI:260961234567/MSISDN"  # the payer of a collection, the payee of a disbursement
        seen = {row["External Transaction Id"]: (row["Status"], row["Amount"], row["From"], row["To"]) for row in mtn}
        assert seen == {
            small.external_id: ("Successful", "0.01", customer, "FRI:enerlectra.sp/USER"),
            large.external_id: ("Successful", "19999.99", customer, "FRI:enerlectra.sp/USER"),
            payout.external_id: ("Successful", "-500.00", "FRI:enerlectra.sp/USER", customer),
            refused.external_id: ("Failed", "7.00", customer, "FRI:enerlectra.sp/USER"),
        }
        assert mtn[-1]["Balance"] == "69500.00"  # 50000.00 + 0.01 + 19999.99 - 500.00

        airtel = list(csv.DictReader(io.StringIO(await r.sim.statement_csv("airtel"))))
        assert [(row["Reference"], row["Amount"], row["MSISDN"], row["Transaction Status"]) for row in airtel] == [
            (airtel_in.external_id, "19999.99", "971234567", "TS")
        ]


# --- control, the directory, the command line -------------------------------------------


async def test_chaos_with_a_seed_fails_every_collection_it_is_told_to() -> None:
    async with running_momo_rig() as r:
        await r.sim.chaos(seed=3, fail=1.0, reasons=["NOT_ENOUGH_FUNDS"])
        orders = [order("mtn") for _ in range(3)]
        for the_order in orders:
            await submit(r.mtn, DEPOSIT, the_order)
        assert {(await final_status(r.mtn, DEPOSIT, o.attempt_id)).reason for o in orders} == {"NOT_ENOUGH_FUNDS"}
        await r.sim.reset()
        assert await r.sim.transactions() == []


async def test_the_directory_holds_the_adapters_and_closes_their_session() -> None:
    async with running_momo_sim() as sim:
        providers = Providers.open(mtn=sim.mtn_config(), airtel=sim.airtel_config())
        airtel = providers.get(Provider.AIRTEL)
        assert airtel is not None
        assert providers.get(Provider.MTN) is not None
        assert providers.get(Provider.ZAMTEL) is None
        assert (await airtel.request_payment(order("airtel"))).result is SubmitResult.ACCEPTED
        await providers.close()
        assert providers.closed


async def test_python_dash_m_serves_the_simulator_with_auto_approval() -> None:
    port, quiet = free_port(), asyncio.subprocess.DEVNULL
    argv = ["-m", "simulator.momo", "--port", str(port), "--approve-after-ms", "20"]
    process = await asyncio.create_subprocess_exec(sys.executable, *argv, cwd=ROOT, stdout=quiet, stderr=quiet)
    try:
        async with aiohttp.ClientSession() as session:
            sim = MomoSim(f"http://127.0.0.1:{port}", MomoSimConfig(), session)
            for _ in range(500):  # until it listens (a few hundred ms of interpreter start)
                with contextlib.suppress(aiohttp.ClientError):
                    await sim.transactions()
                    break
                await asyncio.sleep(0.02)
            airtel, the_order = AirtelMoney(sim.airtel_config(), session), order("airtel")
            assert (await airtel.request_payment(the_order)).result is SubmitResult.ACCEPTED
            assert (await final_status(airtel, DEPOSIT, the_order.attempt_id)).state is ProviderState.SUCCESSFUL
    finally:
        process.terminate()
        await process.wait()


def test_the_simulator_imports_nothing_from_the_server_the_storage_or_the_rest_of_the_simulator() -> None:
    trees = [ast.parse(p.read_text(encoding="utf-8")) for p in (ROOT / "simulator" / "momo").glob("*.py")]
    nodes = [node for tree in trees for node in ast.walk(tree)]
    names = {a.name for n in nodes if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module for n in nodes if isinstance(n, ast.ImportFrom) and n.module}
    ours = {name for name in names if name.split(".")[0] in ("ussd_server", "storage", "menus", "simulator")}
    assert {name for name in ours if not name.startswith("simulator.momo")} == set()
