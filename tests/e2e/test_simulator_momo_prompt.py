"""The mobile-money approval prompt on the simulated handset, with the real app and its provider simulator.

A deposit is started on USSD (Wallet, Deposit, amount); the server's embedded
provider simulator waits for the handset (the in-process target sets
``MOMO_SIM_APPROVE_AFTER_MS=0``), the terminal phone pops its prompt up, and
what is typed there approves or rejects it: the wallet is credited or not, and
the server's SMS says which. Also: the scenario steps ``approve``/``reject``,
a server without a provider simulator, and the recorder.
"""

from __future__ import annotations

import re
from argparse import Namespace
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from textual.pilot import Pilot
from textual.widgets import Input, OptionList, Static

from simulator.__main__ import APPROVE_AFTER, _server_env
from simulator.momo_prompt import MomoPrompt, Outcome, SimulatorPrompts, parse_answer
from simulator.phone import Phone
from simulator.recorder import Recorder
from simulator.scenario_file import ScenarioError, load_scenario, parse_scenario
from simulator.scenarios import ScenarioRunner, format_result
from simulator.target import Target, open_target
from simulator.tui import SimulatorApp
from tests.e2e.tui_pilot import inbox_panel, keep_open, type_in, until

SERVER_ENV = {"PIN_KDF_LOG2_N": "10", "LOG_LEVEL": "WARNING"}
NATASHA = "+260955345678"  # demo user, English, Zamtel: no mobile money
MWILA = "+260977123456"  # demo user, Bemba, Airtel
CHIPO = "+260966234567"  # demo user, Chinyanja, MTN
SIZE = (130, 36)
MONEY = re.compile(r"K[\d,]+\.\d\d")


@pytest.fixture
async def target(tmp_path: Path) -> AsyncIterator[Target]:
    async with open_target(None, db=tmp_path / "sim.db", server_env=SERVER_ENV) as t:
        yield t


def shown(app: SimulatorApp) -> str:
    """The display panel as drawn, its wrapped lines joined back into one line."""
    return " ".join(str(app.query_one("#display", Static).content).split())


def masked(app: SimulatorApp) -> bool:
    return app.query_one("#keypad", Input).password


def phone_list(app: SimulatorApp) -> list[str]:
    return [str(o.prompt) for o in app.query_one("#phones", OptionList).options]


async def ready(pilot: Pilot[int], app: SimulatorApp) -> None:
    await until(pilot, lambda: "Press Enter to dial" in app.status_text(), "the app to be ready")


async def balance(pilot: Pilot[int], app: SimulatorApp) -> str:
    """Dial, open the wallet (1 in every language), read the money it shows, hang up."""
    await type_in(pilot, "", "1")
    found = MONEY.search(app.display_text())
    assert found, app.display_text()
    await pilot.press("escape")
    await until(pilot, lambda: not app.phones.current.in_session, "hanging up")
    return found.group(0)


async def deposit(pilot: Pilot[int], app: SimulatorApp, kwacha: str) -> None:
    """Wallet (1), Deposit (3), the amount: the session ends asking to approve on the phone."""
    await type_in(pilot, "", "1", "3", kwacha)
    session = app.phones.current.session
    assert session is not None
    assert session.status == "Success", app.display_text()
    assert f"K{kwacha}.00" in shown(app)


async def test_a_deposit_pops_the_prompt_up_and_a_pin_approves_it(target: Target, tmp_path: Path) -> None:
    recording = tmp_path / "deposit.yaml"
    recorder = Recorder(recording, target="in-process")
    app = SimulatorApp(keep_open(target), numbers=[CHIPO], recorder=recorder)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        before = await balance(pilot, app)
        await deposit(pilot, app, "50")

        await until(pilot, lambda: "MTN MoMo: Pay K50.00 to ENERLECTRA?" in shown(app), "the MoMo prompt")
        assert "Enter MoMo PIN to approve, or 2 to reject" in shown(app)
        assert app.query_one("#display", Static).border_title == "MTN MoMo"
        assert masked(app), "the MoMo PIN is masked as it is typed"
        assert "MTN MoMo asks you to approve a payment" in app.status_text()

        await pilot.press(*"4321", "enter")
        await until(pilot, lambda: "you approved paying K50.00 to ENERLECTRA" in shown(app), "the approval")
        assert not masked(app)
        # sms.deposit_received, in Chipo's Chinyanja
        arrived = "K50.00 kuchokera ku MTN mobile money zafika mu wallet yanu"
        await until(pilot, lambda: arrived in inbox_panel(app), "the SMS receipt")
        after = await balance(pilot, app)
        assert _ngwee(after) == _ngwee(before) + 5000, (before, after)
        assert app.phones.current.prompt is None

    approve = [s for s in recorder.steps if "approve" in s]
    assert approve == [{"approve": "phone1", "expect": {"contains": "Pay K50.00 to ENERLECTRA"}}]
    # The recording replays on a server that never saw it: the replay approves its own deposit's prompt.
    async with open_target(None, db=tmp_path / "replay.db", server_env=SERVER_ENV) as fresh:
        result = await ScenarioRunner(fresh).run(load_scenario(recording))
    assert result.passed, format_result(result) + "\n" + recording.read_text()


async def test_rejecting_the_prompt_credits_nothing_and_the_sms_says_so(target: Target) -> None:
    app = SimulatorApp(keep_open(target), numbers=[MWILA])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        before = await balance(pilot, app)
        await deposit(pilot, app, "20")
        await until(pilot, lambda: "Airtel Money: Pay K20.00 to ENERLECTRA?" in shown(app), "the Airtel prompt")

        await pilot.press(*"12", "enter")
        await until(pilot, lambda: "Enter your 4-digit MoMo PIN" in app.status_text(), "the prompt to ask again")
        assert "Pay K20.00 to ENERLECTRA?" in shown(app), "a wrong answer leaves the prompt up"

        await pilot.press("2", "enter")
        await until(pilot, lambda: "you rejected paying K20.00" in shown(app), "the rejection")
        failed = "ukubika K20.00 takwapwile: mwakaana"  # sms.deposit_failed (declined), in Bemba
        await until(pilot, lambda: failed in inbox_panel(app), "the failure SMS")
        assert await balance(pilot, app) == before
        assert "you rejected" not in shown(app), "dialling again replaces the pop-up's outcome"


async def test_esc_on_the_prompt_rejects_it_as_cancel_does_on_a_handset(target: Target) -> None:
    app = SimulatorApp(keep_open(target), numbers=[CHIPO])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        await deposit(pilot, app, "30")
        await until(pilot, lambda: "Pay K30.00" in shown(app), "the MoMo prompt")
        await pilot.press("escape")
        await until(pilot, lambda: "you rejected paying K30.00" in shown(app), "the rejection")
        await until(pilot, lambda: "kuika K30.00 sikunatheke: munakana" in inbox_panel(app), "the failure SMS")


async def test_a_phone_with_nothing_pending_shows_no_prompt(target: Target) -> None:
    app = SimulatorApp(keep_open(target), numbers=[NATASHA, CHIPO])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        await until(pilot, lambda: app.prompt_polls >= 1, "every phone to have asked for prompts")
        assert app.display_text() == ""
        assert not any("MoMo" in label for label in phone_list(app))
        assert not masked(app)

        await pilot.press("f3")
        await until(pilot, lambda: app.phones.current.number == CHIPO, "picking up Chipo's phone")
        await deposit(pilot, app, "40")
        await until(pilot, lambda: "Pay K40.00" in shown(app), "Chipo's prompt")

        await pilot.press("f3")
        await until(pilot, lambda: app.phones.current.number == NATASHA, "back to Natasha's phone")
        polls = app.prompt_polls
        await until(pilot, lambda: app.prompt_polls >= polls + 2, "Natasha's phone to ask again")
        assert "MoMo" not in shown(app)
        assert app.phones.current.prompt is None
        natasha, chipo = phone_list(app)
        assert "MoMo" not in natasha
        assert "MoMo" in chipo, "the phone list says which phone a prompt waits on"
        await type_in(pilot, "")
        assert "Enerlectra - Natasha" in app.display_text(), "Natasha's keypad still dials"


def _ngwee(kwacha: str) -> int:
    whole, _, cents = kwacha[1:].replace(",", "").partition(".")
    return int(whole) * 100 + int(cents)


# --- scenario steps ----------------------------------------------------------------------

DEPOSIT = """\
name: A deposit answered on the handset
phones: {{payer: fresh {network}}}
steps:
  - dial: payer
  - choose: English
  - reply: "Mulenga Tembo"
  - reply: "6385"
  - reply: "6385"
  - choose: My balance
  - choose: Deposit
  - reply: "25"
    expect: {{end: true, contains: "Approve K25.00 on your phone."}}
{answer}
"""


async def run_text(target: Target, tmp_path: Path, text: str) -> tuple[bool, str]:
    path = tmp_path / "deposit.yaml"
    path.write_text(text)
    result = await ScenarioRunner(target).run_file(path)
    return result.passed, format_result(result)


async def test_scenario_steps_approve_and_reject_the_prompt(target: Target, tmp_path: Path) -> None:
    approve = (
        "  - approve: payer\n"
        "    expect: {regex: '^Airtel Money: Pay K25\\.00 to ENERLECTRA\\? Ref (\\S+)$'}\n"
        "    save: {momo_ref: 'Ref (\\S+)'}\n"
        "  - sms: payer\n"
        "    expect: {contains: ['K25.00 from Airtel mobile money is in your wallet', 'Balance K30.00']}\n"
    )
    passed, report = await run_text(target, tmp_path, DEPOSIT.format(network="Airtel", answer=approve))
    assert passed, report
    reject = "  - reject: payer\n  - sms: payer\n    expect: {contains: 'your deposit of K25.00 did not go'}\n"
    passed, report = await run_text(target, tmp_path, DEPOSIT.format(network="MTN", answer=reject))
    assert passed, report


async def test_an_approve_step_with_no_prompt_fails_naming_the_phone(target: Target, tmp_path: Path) -> None:
    text = "phones: {idle: fresh MTN}\nsteps:\n  - dial: idle\n  - approve: idle\n    timeout: 0.5\n"
    passed, report = await run_text(target, tmp_path, text)
    assert not passed
    assert "approve idle" in report, report
    assert "no matching MoMo prompt reached 0" in report, report


async def test_the_provider_simulator_may_approve_by_itself_when_the_user_says_so(tmp_path: Path) -> None:
    """--server-env MOMO_SIM_APPROVE_AFTER_MS=... wins over the simulator's 0: no handset needed."""
    env = {**SERVER_ENV, APPROVE_AFTER: "200"}
    async with open_target(None, db=tmp_path / "auto.db", server_env=env) as auto:
        sms = "  - sms: payer\n    expect: {contains: 'K25.00 from MTN mobile money is in your wallet'}\n"
        passed, report = await run_text(auto, tmp_path, DEPOSIT.format(network="MTN", answer=sms))
    assert passed, report


def test_a_shell_variable_sets_the_delay_and_server_env_overrides_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(APPROVE_AFTER, raising=False)
    assert _server_env(Namespace(server_env=[])) == {}
    monkeypatch.setenv(APPROVE_AFTER, "2000")
    assert _server_env(Namespace(server_env=[])) == {APPROVE_AFTER: "2000"}
    assert _server_env(Namespace(server_env=[f"{APPROVE_AFTER}=0"])) == {APPROVE_AFTER: "0"}


async def test_a_server_without_a_provider_simulator_has_no_prompts(tmp_path: Path) -> None:
    async def ussd(request: web.Request) -> web.Response:
        return web.Response(text="END Approve K25.00 on your phone.", content_type="text/plain")

    app = web.Application()
    app.router.add_post("/ussd", ussd)
    server = TestServer(app)
    await server.start_server()
    path = tmp_path / "other_team.yaml"
    path.write_text("phones: {a: fresh}\nsteps:\n  - dial: a\n  - approve: a\n")
    try:
        async with open_target(str(server.make_url("/"))) as other_team:
            assert isinstance(other_team.momo, SimulatorPrompts)
            assert await other_team.momo.pending("+260966000001") == []
            assert not other_team.momo.available, "GET /dev/momo answered 404: no more asking"
            result = await ScenarioRunner(other_team).run_file(path)
            prompt = MomoPrompt("ref-1", "mtn", "+260966000001", 100)
            answer = await Phone("+260966000001").answer_prompt(other_team.momo, prompt, True)
    finally:
        await server.close()
    assert result.passed, format_result(result)
    assert "no provider simulator" in result.skipped[0]
    assert "1 MoMo prompts skipped" in format_result(result)
    assert answer.outcome is Outcome.UNREACHED
    assert not answer.settled


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("phones: {a: fresh Vodafone}\nsteps:\n  - dial: a\n", "no fresh numbers on 'Vodafone'"),
        ("phones: {a: fresh}\nsteps:\n  - approve: b\n", "unknown phone 'b'"),
        ("phones: {a: fresh}\nsteps:\n  - reject: a\n    expect: {end: true}\n", "unknown expectation"),
        ("phones: {a: fresh}\nsteps:\n  - approve: a\n    code: '*1#'\n", r"approve does not take \['code'\]"),
    ],
)
def test_a_broken_momo_step_is_refused_before_any_hop(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError, match=problem):
        load_scenario(path)


def test_fresh_phones_can_ask_for_a_network() -> None:
    scenario = parse_scenario(
        {"phones": {"a": "fresh mtn", "b": "fresh", "c": "fresh Airtel"}, "steps": [{"dial": "a"}]}, Path("x.yaml")
    )
    assert scenario.phones == {"a": "fresh MTN", "b": "fresh", "c": "fresh Airtel"}


def test_what_the_keys_on_a_prompt_mean_and_what_it_says() -> None:
    assert [parse_answer(k) for k in ("4321", " 0000 ", "2")] == [True, True, False]
    assert [parse_answer(k) for k in ("", "1", "12", "12345", "abcd", "22")] == [None] * 6
    item = {"reference_id": "657f8208-a1d2", "provider": "mtn", "msisdn": "+260966234567", "amount_ngwee": 123456}
    prompt = MomoPrompt.from_json({**item, "status": "PENDING"})
    assert prompt is not None
    assert prompt.text == (
        "MTN MoMo: Pay K1,234.56 to ENERLECTRA? Ref 657F8208\nEnter MoMo PIN to approve, or 2 to reject"
    )
    assert MomoPrompt.from_json({**item, "status": "SUCCESSFUL"}) is None, "only what still waits pops up"
    assert MomoPrompt.from_json({**item, "amount_ngwee": "12.00"}) is None
