"""The interactive phone, driven through Textual's Pilot the way a person uses it.

Each test opens the in-process server on its own database and presses keys:
dial, answer, read the display, watch SMS arrive in the inbox panel, switch
phones, let a session time out, and record a session that then replays green.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from textual.widgets import Input, OptionList, Static

from simulator.numbers import fresh_number
from simulator.phone import Phone
from simulator.protocol import ShiftClock, UssdReply
from simulator.recorder import Recorder, stable_fragment
from simulator.scenario_file import load_scenario
from simulator.scenarios import ScenarioRunner, format_result
from simulator.sms import Sms
from simulator.target import Target, open_target
from simulator.tui import TICK_S, SimulatorApp
from simulator.tui_help import HelpScreen
from tests.e2e.tui_pilot import inbox_panel, keep_open, type_in, until

SERVER_ENV = {"PIN_KDF_LOG2_N": "10", "LOG_LEVEL": "WARNING"}
NATASHA = "+260955345678"  # demo user, English
MWILA = "+260977123456"  # demo user, Bemba, has energy
CHIPO = "+260966234567"  # demo user, Chinyanja
SIZE = (130, 36)
ROOT = Path(__file__).resolve().parents[2]
# python -m simulator ARGS as on a server install, where the sim extra (Textual) is not installed.
WITHOUT_TEXTUAL = """
import importlib.abc, runpy, sys

class NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.partition(".")[0] == "textual":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

sys.meta_path.insert(0, NotInstalled())
runpy.run_module("simulator", run_name="__main__")
"""


@pytest.fixture
async def target(tmp_path: Path) -> AsyncIterator[Target]:
    async with open_target(None, db=tmp_path / "sim.db", server_env=SERVER_ENV) as t:
        yield t


def display_panel(app: SimulatorApp) -> str:
    return str(app.query_one("#display", Static).content)


def footer(app: SimulatorApp) -> str:
    """The key hints along the bottom, as drawn."""
    return " | ".join(str(key.render()) for key in app.screen.query("FooterKey"))


def help_panel(app: SimulatorApp) -> str:
    return str(app.screen.query_one("#help-text", Static).content)


async def test_dial_navigate_and_see_the_sms_receipt_arrive(target: Target) -> None:
    app = SimulatorApp(keep_open(target), numbers=[NATASHA])
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "Press Enter to dial" in app.status_text(), "the app to be ready")
        await type_in(pilot, "")  # Enter alone dials the shortcode
        assert "Enerlectra - Natasha" in display_panel(app)
        assert "0955345678 Zamtel (64503)" in app.status_text()

        await type_in(pilot, "2")
        assert app.display_text().startswith("Buy energy. Choose\nregion:\n1 Lusaka\n2 Copperbelt"), (
            "wrapped at 24 columns"
        )
        await type_in(pilot, "2", "1", "1")  # Copperbelt, Kitwe Industrial Solar Park, 1 kWh
        assert "Enter PIN" in app.display_text().replace("\n", " "), "wrapped anywhere"
        await type_in(pilot, "5173")
        # At the cluster's price of the hour (the quote shown before the PIN): any price, paid once.
        assert re.match(r"Done! 1 kWh for K\d+\.\d\d\.", app.display_text()), app.display_text()
        assert "session ended: Success" in app.status_text()

        await until(pilot, lambda: "you bought 1 kWh from Kitwe" in inbox_panel(app), "the SMS receipt", 10)
        assert app.phones.current.unread == 0, "an SMS to the phone in your hand is read at once"


async def test_phones_have_their_own_sessions_and_inboxes(target: Target) -> None:
    app = SimulatorApp(keep_open(target), numbers=[MWILA, CHIPO])
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "Press Enter to dial" in app.status_text(), "the app to be ready")
        mwila, chipo = app.phones.phones
        await type_in(pilot, "")
        assert "Enerlectra - Mwila" in app.display_text()
        # Mwila's menus are in Ichibemba; numbers work in every language: 4 sends 0.5 kWh free to Chipo
        # (number, kWh, PIN: a gift has no price screen).
        await type_in(pilot, "4", "0966234567", "0.5", "5173")
        assert mwila.session is not None
        assert mwila.session.status == "Success"

        listing = app.query_one("#phones", OptionList)
        gift = "Enerlectra: 0977123456 wakutumizirani 0.5 kWh."  # sms.energy_received, in Chipo's Chinyanja
        await until(
            pilot,
            lambda: any(m.text.startswith(gift) for m in chipo.inbox),
            "Chipo's SMS to arrive while Mwila's phone is in hand",
            10,
        )
        await pilot.pause(TICK_S + 0.1)  # one more tick draws the phone list
        assert chipo.unread >= 1
        assert f"({chipo.unread} new)" in str(listing.get_option_at_index(1).prompt)
        await pilot.press("f3")
        await until(pilot, lambda: app.phones.current is chipo, "switching to Chipo")
        assert chipo.unread == 0
        assert "0966234567 MTN (64502)" in app.status_text()
        assert "no session" in app.status_text()
        assert app.display_text() == ""
        assert "0977123456" in inbox_panel(app), "Chipo's inbox shows who sent the energy"

        await type_in(pilot, "")
        assert "Enerlectra - Chipo" in app.display_text()
        assert chipo.session is not None
        assert mwila.session.session_id != chipo.session.session_id
        await pilot.press("f3")
        await until(pilot, lambda: app.phones.current is mwila, "switching back to Mwila")
        assert "0977123456 Airtel (64501)" in app.status_text()
        assert "session ended: Success" in app.status_text()
        assert "Chipo" in app.display_text(), "Mwila's phone still shows its own last screen"
        assert chipo.in_session, "switching phones does not hang up the other one"


async def test_an_idle_session_times_out_and_cancel_hangs_up(target: Target) -> None:
    clock = ShiftClock()
    app = SimulatorApp(keep_open(target), numbers=[NATASHA], clock=clock)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "Press Enter to dial" in app.status_text(), "the app to be ready")
        await type_in(pilot, "", "1")
        assert "Money:" in app.display_text()
        clock.advance(61)
        await until(pilot, lambda: "timed out" in app.status_text(), "the gateway timeout")
        session = app.phones.current.session
        assert session is not None
        assert session.status == "Failed"
        assert session.notified == 200
        assert app.display_text() == "", "the display clears like a phone's when the session drops"

        await type_in(pilot, "")
        await pilot.press("escape")
        await until(pilot, lambda: "You cancelled" in app.status_text(), "the cancel")
        session = app.phones.current.session
        assert session is not None
        assert session.status == "Incomplete"


async def test_a_long_screen_scrolls(target: Target) -> None:
    app = SimulatorApp(keep_open(target), numbers=[NATASHA])
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "Press Enter to dial" in app.status_text(), "the app to be ready")
        await type_in(pilot, "", "2")  # the region list wraps to 7 lines: one more than the display shows
        first = app.display_text()
        assert "v more" in first
        assert "0 Back 00 Home" not in first
        await pilot.press("down")
        assert app.display_text().splitlines()[-1] == "0 Back 00 Home"
        await pilot.press("up")
        assert app.display_text() == first


async def test_f1_explains_the_keys_and_the_menus_over_an_open_session(target: Target, tmp_path: Path) -> None:
    recording = tmp_path / "help.yaml"
    app = SimulatorApp(keep_open(target), numbers=[NATASHA], recorder=Recorder(recording, target="in-process"))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "Press Enter to dial" in app.status_text(), "the app to be ready")
        await until(pilot, lambda: "F1 Help" in footer(app), "the footer to offer help")
        await type_in(pilot, "")
        assert "Enerlectra - Natasha" in app.display_text()

        await pilot.press("f1")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), "the help to open")
        text = help_panel(app)
        for what in (
            "type a USSD code such as *384*2025# and press Enter",
            "Esc cancels the session",
            "F3 or Ctrl+N picks up the next phone, F4 one with a new number",
            "SMS inbox",
            f"saved to {recording}",
            "Ctrl+Q",
            "0          back",
            "00         home",
            "98         more",
            "Answer each screen within 60 s",
        ):
            assert what in text, f"{what!r} not in the help:\n{text}"
        await pilot.press("1")  # typed while reading the help

        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, HelpScreen), "Esc to close the help")
        assert app.phones.current.in_session, "Esc closed the help, not the session under it"
        assert "Enerlectra - Natasha" in display_panel(app)
        assert app.query_one("#keypad", Input).value == "", "keys pressed over the help do not reach the phone"

        await pilot.press("f1")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), "the help to open again")
        await pilot.press("f1")
        await until(pilot, lambda: not isinstance(app.screen, HelpScreen), "F1 to close the help")
        await type_in(pilot, "1")  # the keypad answers the menu again
        assert "Money:" in app.display_text()


def test_scenarios_run_where_textual_is_not_installed(tmp_path: Path) -> None:
    scenario = tmp_path / "call.yaml"
    scenario.write_text(
        "name: A call on a server install\n"
        "phones: {caller: fresh}\n"
        "steps:\n"
        "  - dial: caller\n"
        "    expect: {end: false, contains: English}\n"
        "  - cancel: caller\n"
    )
    args = ["run", "--db", str(tmp_path / "sim.db"), "--server-env", "PIN_KDF_LOG2_N=10", str(scenario)]
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_TEXTUAL, *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PASS  call.yaml" in done.stdout
    assert "scenarios: 1 passed, 0 failed" in done.stdout

    phone = subprocess.run(
        [sys.executable, "-c", WITHOUT_TEXTUAL, "--db", str(tmp_path / "sim.db")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert phone.returncode == 1
    assert "the terminal phone needs Textual, in the sim extra: make sim" in phone.stderr
    assert "Traceback" not in phone.stderr


async def test_recorded_session_replays_green(target: Target, tmp_path: Path) -> None:
    recording = tmp_path / "recorded.yaml"
    recorder = Recorder(recording, target="in-process")
    app = SimulatorApp(keep_open(target), numbers=[NATASHA, CHIPO], recorder=recorder)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "Press Enter to dial" in app.status_text(), "the app to be ready")
        await type_in(pilot, "", "2", "2", "1", "1", "5173")  # Copperbelt, Kitwe, 1 kWh
        await until(pilot, lambda: "you bought" in inbox_panel(app), "the SMS receipt", 10)
        await pilot.press("f3")
        await type_in(pilot, "", "1")
        await pilot.press("escape")
        await until(pilot, lambda: recorder.steps[-1].get("cancel") == "phone2", "the cancel to be recorded")

    text = recording.read_text()
    for line in ("choose: Buy energy", "choose: Copperbelt", "choose: Kitwe Industrial Solar Park", "sms: phone1"):
        assert line in text, f"{line!r} not in the recording:\n{text}"
    scenario = load_scenario(recording)
    assert [s.action for s in scenario.steps].count("dial") == 2

    # Replayed on a server that has never seen these phones' sessions: the recording holds by itself.
    async with open_target(None, db=tmp_path / "replay.db", server_env=SERVER_ENV) as fresh:
        result = await ScenarioRunner(fresh).run(scenario)
    assert result.passed, format_result(result) + "\n" + text


def test_the_recorder_writes_what_replays_tomorrow(tmp_path: Path) -> None:
    """Volatile words become wildcards, numbered answers become labels, made-up numbers stay made up."""
    recorder = Recorder(tmp_path / "r.yaml")
    sender, friend = Phone("+260977123456"), Phone(fresh_number(), fresh=True)
    recorder.dial(friend, "*384*2025#", "*384*2025#", UssdReply("CON", "Enerlectra - Chipo\n1 My balance", ""))
    send = UssdReply("CON", "Send energy as a gift. Enter the other person's number:", "")
    recorder.dial(sender, "*384*2025*4#", "*384*2025#", send)
    recorder.reply(sender, friend.local, UssdReply("CON", "You have 2 kWh. How many kWh?", ""))
    recorder.reply(sender, "0.5", UssdReply("CON", "Send 0.5 kWh free to Chipo B. Enter PIN to confirm:", ""))
    recorder.reply(sender, "5173", UssdReply("END", "Done! Ref ABCDE-FGHJK. SMS sent.", ""))
    recorder.sms(friend, Sms(friend.number, "Enerlectra: 0977123456 sent you 0.5 kWh. Ref 7KFJT-EE5FD.", 1))
    recorder.reply(friend, "1", UssdReply("CON", "Money: K5.00\nEnergy: 0.5 kWh", ""))

    scenario = load_scenario(recorder.path)
    assert scenario.phones == {"phone1": "fresh", "phone2": "+260977123456"}
    steps = scenario.steps
    assert (steps[1].action, steps[1].code) == ("dial", "*384*2025*4#")
    assert steps[2].arg == "${phone1.local}", "a typed number of a phone in the recording is not hard-coded"
    assert steps[4].expect.regex == (r"^Done! Ref \S+ SMS sent\.$",), "a reference without digits is still volatile"
    assert steps[5].expect.regex == (r"^Enerlectra: \S+ sent you \S+ kWh\. Ref \S+$",)
    assert (steps[6].action, steps[6].arg, steps[6].phone) == ("choose", "My balance", "phone1"), (
        "a numbered answer becomes its label, on the phone that typed it"
    )
    assert stable_fragment("Kitwe Industrial Solar Park K1.05 (5,000 kWh)") == "Kitwe Industrial Solar Park"
