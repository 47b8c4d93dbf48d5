"""``python -m simulator``: a phone in the terminal; ``python -m simulator run FILES``: scripted scenarios.

python -m simulator [--url URL] [--shortcode CODE] [--phone NUMBER]... [--record FILE]
python -m simulator run [--url URL] [-v] simulator/scenarios/*.yaml

Without ``--url`` the real server runs in-process on ``./var/sim.db`` (migrated
and seeded with the demo data, SMS kept in a dev inbox), so both need no set-up.
Its provider simulator leaves deposits to the handset's MoMo prompt
(``MOMO_SIM_APPROVE_AFTER_MS=0``) unless that variable is set in the shell or
with ``--server-env``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from simulator.numbers import DEMO_NUMBERS, BadNumber, to_e164
from simulator.protocol import Timeouts
from simulator.scenarios import ScenarioRunner, format_result, scenario_paths, summary
from simulator.target import DEFAULT_DB, open_target


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help="a running AT-compatible server (base URL or its USSD callback URL)")
    parser.add_argument("--events-url", help="where end-of-session notifications go (default: <callback>/events)")
    parser.add_argument("--shortcode", help="the USSD code to dial (default *384*2025#)")
    parser.add_argument("--db", type=Path, default=DEFAULT_DB, help="SQLite file of the in-process server")
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for the in-process server, e.g. PIN_LOCK_MINUTES=1 (repeatable)",
    )
    parser.add_argument("--answer-timeout", type=float, default=60.0, help="seconds to answer a screen (60)")
    parser.add_argument("--session-timeout", type=float, default=180.0, help="seconds a session may last (180)")
    parser.add_argument("--reply-timeout", type=float, default=15.0, help="seconds the app has to reply (15)")


def _timeouts(args: argparse.Namespace) -> Timeouts:
    return Timeouts(answer_s=args.answer_timeout, session_s=args.session_timeout, app_reply_s=args.reply_timeout)


APPROVE_AFTER = "MOMO_SIM_APPROVE_AFTER_MS"


def _server_env(args: argparse.Namespace) -> dict[str, str]:
    # Set in the shell, the provider simulator's own approval delay beats the simulator's 0 (the handset only).
    env: dict[str, str] = {APPROVE_AFTER: os.environ[APPROVE_AFTER]} if APPROVE_AFTER in os.environ else {}
    for item in args.server_env:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise SystemExit(f"--server-env takes NAME=VALUE, got {item!r}")
        env[name] = value
    return env


async def run_scenarios(args: argparse.Namespace) -> int:
    paths = scenario_paths(args.files)
    if not paths:
        print("no scenario files given", file=sys.stderr)
        return 2
    results = []
    log = print if args.verbose else None
    async with open_target(
        args.url,
        shortcode=args.shortcode,
        db=args.db,
        events_url=args.events_url,
        timeouts=_timeouts(args),
        server_env=_server_env(args),
    ) as target:
        print(f"target: {target.description}, dialling {target.shortcode}")
        runner = ScenarioRunner(target, timeouts=_timeouts(args), log=log)
        for path in paths:
            if args.verbose:
                print(f"--- {path}")
            result = await runner.run_file(path)
            results.append(result)
            print(format_result(result), flush=True)
    print(summary(results))
    return 0 if all(r.passed for r in results) else 1


def interactive(args: argparse.Namespace) -> int:
    from simulator.recorder import Recorder

    try:  # Textual is in the sim extra: a server install runs scenarios (above) without it
        from simulator.tui import SimulatorApp
    except ModuleNotFoundError as exc:
        if (exc.name or "").partition(".")[0] != "textual":
            raise
        raise SystemExit(
            "the terminal phone needs Textual, in the sim extra: make sim (or pip install -e '.[sim]')"
        ) from None

    try:
        numbers = [to_e164(n) for n in args.phone] or list(DEMO_NUMBERS)
    except BadNumber as exc:
        raise SystemExit(str(exc)) from None
    # The terminal belongs to the UI: the in-process server's logs go to a file instead.
    log_file = args.db.parent / "sim.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(filename=log_file, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("transitions").setLevel(logging.WARNING)
    recorder = None
    if args.record:
        recorder = Recorder(args.record, target=args.url or "in-process", answer_timeout_s=args.answer_timeout)
    env = _server_env(args)
    app = SimulatorApp(
        lambda: open_target(
            args.url,
            shortcode=args.shortcode,
            db=args.db,
            events_url=args.events_url,
            timeouts=_timeouts(args),
            server_env=env,
        ),
        numbers=numbers,
        recorder=recorder,
        timeouts=_timeouts(args),
    )
    app.run()
    if recorder is not None and recorder.steps:
        print(f"recorded {len(recorder.steps)} steps to {args.record}")
    return app.return_code or 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["run"]:
        parser = argparse.ArgumentParser(prog="python -m simulator run", description="run scenario files")
        parser.add_argument("files", nargs="+", help="scenario YAML files or folders of them")
        parser.add_argument("-v", "--verbose", action="store_true", help="print every step and screen")
        _common(parser)
        return asyncio.run(run_scenarios(parser.parse_args(argv[1:])))
    parser = argparse.ArgumentParser(
        prog="python -m simulator",
        description="a feature phone in the terminal (`python -m simulator run FILES` runs scenarios)",
    )
    parser.add_argument("--phone", action="append", default=[], help="a phone number on the desk (repeatable)")
    parser.add_argument("--record", type=Path, help="save what you do as a scenario YAML file")
    _common(parser)
    return interactive(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
