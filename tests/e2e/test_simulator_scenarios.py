"""The shipped scenarios pass against the in-process server and a real server process; failures are reported well.

The real server is started the way an operator starts it (``enerlectra db
migrate``, ``demo seed``, ``serve`` on a free port) and the scenarios are run
through the command line, over HTTP only, as they would be against another
team's AT-compatible server.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from simulator.__main__ import main
from simulator.scenario_file import ScenarioError, load_scenario
from simulator.scenarios import ScenarioRunner, format_result, scenario_paths
from simulator.target import Target, open_target

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "simulator" / "scenarios"
ENERLECTRA = Path(sys.executable).parent / "enerlectra"
# MOMO_SIM_APPROVE_AFTER_MS=0: the server process's provider simulator leaves deposits to the handset's
# prompt, as the in-process server does (simulator/target.py), so deposit.yaml's approve and reject steps
# never race it.
SERVER_ENV = {"PIN_KDF_LOG2_N": "10", "LOG_LEVEL": "WARNING", "MOMO_SIM_APPROVE_AFTER_MS": "0"}
JOURNEYS = {
    "registration",
    "wallet",
    "buy_from_cluster",
    "send_energy",
    "sell_energy",
    "wrong_pin_lockout",
    "navigation",
    "more_pages",
    "language",
    "resume",
    "deposit",
    "market",
}


def shipped() -> list[Path]:
    return scenario_paths([str(SCENARIOS)])


@pytest.fixture
async def target(tmp_path: Path) -> AsyncIterator[Target]:
    async with open_target(None, db=tmp_path / "sim.db", server_env=SERVER_ENV) as t:
        yield t


def test_every_journey_has_a_scenario() -> None:
    names = {p.stem for p in shipped()}
    assert names >= JOURNEYS, f"missing scenarios: {sorted(JOURNEYS - names)}"
    for path in shipped():
        scenario = load_scenario(path)
        assert scenario.about, f"{path.name} says what it shows"


async def test_every_scenario_passes_in_process_and_again_on_the_same_server(target: Target) -> None:
    runner = ScenarioRunner(target)
    for round_ in ("first run", "second run (repeatable on a used server)"):
        results = [await runner.run_file(path) for path in shipped()]
        report = "\n".join(format_result(r) for r in results)
        assert all(r.passed for r in results), f"{round_}:\n{report}"
        assert all(not r.skipped for r in results), "the in-process server has an SMS inbox: nothing is skipped"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    """``enerlectra serve`` on a free port with a migrated, seeded SQLite database; killed afterwards."""
    assert ENERLECTRA.exists(), f"console script not installed at {ENERLECTRA}"
    tmp = tmp_path_factory.mktemp("server")
    port = _free_port()
    inherited = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "ENERLECTRA_ENV"}}
    env = {
        **inherited,
        **SERVER_ENV,
        "DATABASE_URL": f"sqlite:///{tmp}/x.db",
        "PORT": str(port),
        "SMS_BACKEND": "inbox",
    }
    for command in (["db", "migrate"], ["demo", "seed"]):
        subprocess.run([str(ENERLECTRA), *command], env=env, cwd=tmp, check=True, capture_output=True, timeout=60)
    log = (tmp / "server.log").open("w")
    process = subprocess.Popen([str(ENERLECTRA), "serve"], env=env, cwd=tmp, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, f"the server exited: {(tmp / 'server.log').read_text()}"
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the server never answered /health"
            time.sleep(0.1)
        yield url, env
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def test_every_scenario_passes_against_a_server_process(server_process: tuple[str, dict[str, str]]) -> None:
    url, env = server_process
    run = subprocess.run(
        [sys.executable, "-m", "simulator", "run", "--url", url, str(SCENARIOS)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, f"{run.stdout}\n{run.stderr}"
    assert f"scenarios: {len(shipped())} passed, 0 failed" in run.stdout, run.stdout
    assert "skipped" not in run.stdout, "SMS are read through GET /dev/sms: every SMS step is checked"

    # The end-of-session notifications reached the server: its funnel knows how sessions ended.
    funnel = subprocess.run(
        [str(ENERLECTRA), "ussd", "funnel"], env=env, capture_output=True, text=True, timeout=60, check=True
    ).stdout
    rows = [line.split() for line in funnel.splitlines()[1:] if line.strip()]
    assert sum(int(r[-2]) for r in rows) > 0, f"no session was recorded as completed:\n{funnel}"
    assert sum(int(r[-1]) for r in rows) > 0, f"no session was recorded as dropped:\n{funnel}"


BROKEN = """\
name: An expectation that cannot hold
about: The second screen asks for a name, not a colour.
phones:
  newcomer: fresh
steps:
  - dial: newcomer
    expect: {contains: "Choose language"}
  - choose: English
    expect: {contains: "Enter your favourite colour"}
  - reply: "never sent"
"""


def test_a_failing_scenario_exits_non_zero_naming_the_step_and_showing_the_screen(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(BROKEN)
    args = ["run", "--db", str(tmp_path / "sim.db"), str(SCENARIOS / "registration.yaml"), str(broken)]
    for name, value in SERVER_ENV.items():
        args += ["--server-env", f"{name}={value}"]

    code = main(args)

    out = capsys.readouterr().out
    assert code == 1, out
    assert "PASS  registration.yaml" in out
    assert "FAIL  broken.yaml: An expectation that cannot hold" in out
    assert "step 2 of 3 (line 8): choose 'English'" in out, out
    assert "expected the screen to contain 'Enter your favourite colour'" in out
    assert "|Enter your name:        |" in out, "the screen that differed is shown as the phone showed it"
    assert "scenarios: 1 passed, 1 failed" in out


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("phones: {a: fresh}\nsteps:\n  - dial: b\n", "unknown phone 'b'"),
        ("phones: {a: fresh}\nsteps:\n  - dial: a\n    reply: '1'\n", "exactly one of"),
        ("phones: {a: fresh}\nsteps:\n  - dial: a\n    expect: {contain: x}\n", "unknown expectation"),
        ("phones: {a: '+254711000111'}\nsteps:\n  - dial: a\n", "not a Zambian mobile number"),
        ("phones: {a: fresh}\nsteps:\n  - idle: soon\n", "idle takes a number of seconds"),
        ("phones: {a: fresh}\nsteps:\n  - dial: a\n    expect: {regex: '('}\n", "bad regex"),
        ("phones: {a: fresh}\nsteps: []\n", "steps must be a non-empty list"),
        ("phones: {a: fresh}\nsteps:\n  - dial: a\n  - reply: '${b.local}'\n", r"unknown value \$\{b.local\}"),
        ("phones: {a: fresh}\nsteps:\n  - dial: a\n    expect: {contains: '${ref}'}\n", "unknown value"),
    ],
)
def test_a_broken_file_is_refused_before_any_hop(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError, match=problem):
        load_scenario(path)


def test_inputs_are_taken_as_written(tmp_path: Path) -> None:
    path = tmp_path / "inputs.yaml"
    path.write_text("phones: {a: 0977123456}\nsteps:\n  - dial: a\n  - reply: 00\n  - reply: 1.50\n  - reply: 0\n")
    scenario = load_scenario(path)
    assert [s.arg for s in scenario.steps[1:]] == ["00", "1.50", "0"], "YAML would have read 0, 1.5 and 0"
    assert scenario.phones == {"a": "+260977123456"}


async def test_sms_steps_are_skipped_on_a_server_without_a_dev_inbox(tmp_path: Path) -> None:
    async def ussd(request: web.Request) -> web.Response:
        return web.Response(text="END Thank you", content_type="text/plain")

    app = web.Application()
    app.router.add_post("/ussd", ussd)
    server = TestServer(app)
    await server.start_server()
    path = tmp_path / "other_team.yaml"
    path.write_text(
        "phones: {a: fresh}\nsteps:\n  - dial: a\n    expect: {end: true, contains: Thank you}\n  - sms: a\n"
    )
    try:
        async with open_target(str(server.make_url("/"))) as other_team:
            result = await ScenarioRunner(other_team).run_file(path)
    finally:
        await server.close()
    assert result.passed, format_result(result)
    assert len(result.skipped) == 1
    assert "no dev SMS inbox" in result.skipped[0]
    assert "1 SMS checks skipped" in format_result(result)
