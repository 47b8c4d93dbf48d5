"""Database statements per USSD hop, journey by journey, on SQLite and PostgreSQL.

``python -m bench.queries [--backend sqlite|postgres|all] [--repeat N] [--show]``

The real app runs in this process (``create_app``, sessions on a throwaway
redis-server) over a database prepared like ``make bench``'s (migrated,
demo-seeded, funded bench users). Every statement the storage adapters send
is counted at their executors (``storage.dialect.Executor``: one ``fetch``,
``fetch_one``, ``execute`` or ``execute_batch`` is one statement, one round
trip on PostgreSQL), and every transaction at ``atomic`` (on PostgreSQL a
transaction adds two round trips, ``BEGIN`` and ``COMMIT``; a statement
``write_alone`` on SQLite is its own). The journeys are the benchmark's
(:mod:`bench.journeys`), run ``--repeat`` times by different phones; a hop's
count is the most any run of it took (a phone's first dial and a later one
differ: the resume pointer). ``--show`` lists each hop's statements.

It counts; it does not time. Timing is ``make bench``'s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import contextvars
import functools
import json
import re
import sys
import tempfile
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bench import apiload, population
from bench.journeys import WH, buy, dial, send, statement
from bench.journeys import balance as balance_journey
from bench.loadgen import NETWORK_CODE, SERVICE_CODE, Step, classify
from bench.procs import BenchError, cli, postgres_database, redis_server
from simulator.protocol import Endpoints, GatewayClient, new_session_id
from storage.postgres import PostgresDatabase, PostgresExecutor
from storage.sqlite import SqliteConnection, SqliteDatabase, SqliteEachStatement
from tests.support.ports import free_port
from ussd_server.app import create_app
from ussd_server.settings import Settings

PEPPER = "enerlectra-bench-pepper-not-a-secret"
USERS = 200
RESULTS_PATH = Path(__file__).parent / "results" / "queries-latest.json"
_EXECUTORS = (SqliteConnection, SqliteEachStatement, PostgresExecutor)
_METHODS = ("fetch", "fetch_one", "execute", "execute_batch")


@dataclass
class Tally:
    statements: list[str] = field(default_factory=list)
    transactions: int = 0

    def round_trips(self, backend: str) -> int:
        """PostgreSQL: each statement, plus BEGIN and COMMIT per transaction."""
        return len(self.statements) + (2 * self.transactions if backend == "postgres" else 0)


# Set while a request is handled: the app's background tasks (SMS delivery, the reservation sweep) are no hop's work.
_IN_REQUEST: contextvars.ContextVar[bool] = contextvars.ContextVar("in_request", default=False)


def in_hop() -> bool:
    return _IN_REQUEST.get()


@web.middleware
async def _mark_request(request: web.Request, handler: Any) -> web.StreamResponse:
    token = _IN_REQUEST.set(True)
    try:
        response: web.StreamResponse = await handler(request)
        return response
    finally:
        _IN_REQUEST.reset(token)


class Recorder:
    """Counts what the storage adapters run, between two calls of :meth:`take`."""

    def __init__(self) -> None:
        self.tally = Tally()

    def take(self) -> Tally:
        taken, self.tally = self.tally, Tally()
        return taken

    @contextlib.contextmanager
    def installed(self) -> Any:
        saved: list[tuple[type, str, Any]] = []

        def statement_of(args: tuple[Any, ...]) -> str:
            sql = args[0]
            text = getattr(sql, "postgres", None) or str(sql)
            return " ".join(text.split())

        def counting(method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
            @functools.wraps(method)
            async def wrapper(self_: Any, *args: Any, **kwargs: Any) -> Any:
                if in_hop():
                    self.tally.statements.append(statement_of(args))
                return await method(self_, *args, **kwargs)

            return wrapper

        def transaction(method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
            @functools.wraps(method)
            async def wrapper(self_: Any, *args: Any, **kwargs: Any) -> Any:
                if in_hop():
                    self.tally.transactions += 1
                return await method(self_, *args, **kwargs)

            return wrapper

        patches: list[tuple[type, str, Callable[[Any], Any]]] = [
            (cls, name, counting) for cls in _EXECUTORS for name in _METHODS
        ]
        patches += [(cls, "atomic", transaction) for cls in (SqliteDatabase, PostgresDatabase)]
        patches.append((SqliteDatabase, "write_alone", transaction))
        for cls, name, wrap in patches:
            original = cls.__dict__[name]
            saved.append((cls, name, original))
            setattr(cls, name, wrap(original))
        try:
            yield self
        finally:
            for cls, name, original in saved:
                setattr(cls, name, original)


def journeys(counterpart: str) -> dict[str, list[Step]]:
    return {
        "dial": dial(),
        "balance": balance_journey(),
        "statement": statement(),
        "buy": buy(0),
        "gift": send(counterpart, gift=True),
        "offer": send(counterpart, gift=False),
    }


@contextlib.asynccontextmanager
async def app_server(settings: Settings) -> AsyncIterator[str]:
    app = create_app(settings)
    app.middlewares.insert(0, _mark_request)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}/ussd"
    finally:
        await runner.cleanup()


async def count_backend(
    backend: str, database_url: str, redis_url: str, repeat: int
) -> dict[str, list[tuple[str, Tally]]]:
    """Journey -> per hop (what was typed, the largest tally over the runs)."""
    settings = Settings.from_env(
        {
            "ENERLECTRA_ENV": "dev",
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "PIN_PEPPER": PEPPER,
            "SMS_BACKEND": "console",
            "LOG_LEVEL": "WARNING",
            "HOPS_PER_MINUTE": "100000",
            "PIN_CHECKS_PER_MINUTE": "100000",
        }
    )
    recorder = Recorder()
    out: dict[str, list[tuple[str, Tally]]] = {}
    with recorder.installed():
        async with app_server(settings) as url, aiohttp.ClientSession() as http:
            gateway = GatewayClient(http, Endpoints.from_url(url))
            origin = url.removesuffix("/ussd")
            await asyncio.sleep(0.2)  # let the outbox worker and the sweeper make their first reads

            async def walk(name: str, phone: str, steps: Sequence[Step]) -> list[Tally]:
                session_id, tallies = new_session_id(), []
                for step in steps:
                    form = {
                        "sessionId": session_id,
                        "serviceCode": SERVICE_CODE,
                        "phoneNumber": phone,
                        "networkCode": NETWORK_CODE,
                        "text": step.text,
                    }
                    recorder.take()
                    reply = await gateway.post(gateway.endpoints.ussd, form)
                    tallies.append(recorder.take())
                    error = classify(reply.status, reply.body, step.expect)
                    if error is not None:
                        raise BenchError(f"{backend} {name} {step.text!r}: {error}: {reply.body!r}")
                return tallies

            async def call(method: str, path: str, token: str, body: Any = None, expect: int = 200) -> Tally:
                headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": str(uuid.uuid4())}
                recorder.take()
                async with http.request(method, f"{origin}/api/v1{path}", json=body, headers=headers) as response:
                    answer = await response.json(content_type=None)
                    if response.status != expect:
                        raise BenchError(f"{backend} {method} {path}: {response.status} {answer}")
                return recorder.take()

            for name, steps in journeys(population.phone(USERS - 1)).items():
                worst: list[Tally] = [Tally() for _ in steps]
                for run in range(repeat):
                    for i, tally in enumerate(await walk(name, population.phone(run), steps)):
                        if tally.round_trips(backend) > worst[i].round_trips(backend):
                            worst[i] = tally
                out[name] = [(step.text, worst[i]) for i, step in enumerate(steps)]
            # A mini-statement naming others: phone 0 has also given to three more people and bought from
            # a second cluster (these journeys are not counted; the statement is).
            for other in range(2, 5):
                await walk("setup", population.phone(0), send(population.phone(USERS - other), gift=True))
            await walk("setup", population.phone(0), buy(1))
            steps = statement()
            out["statement+names"] = list(
                zip([s.text for s in steps], await walk("statement", population.phone(0), steps), strict=True)
            )
            # The REST API: a signed-in user's balances, and a gift with the PIN and an Idempotency-Key.
            (token,) = await apiload.sign_in(origin, [population.phone(USERS - 10)], population.BENCH_PIN)
            first = await call("GET", "/wallet", token)  # the token is then known to this process
            out["api_wallet"] = [
                ("GET /wallet, first", first),
                ("GET /wallet, then", await call("GET", "/wallet", token)),
            ]
            gift = {"to": population.phone(USERS - 1), "wh": WH, "pin": population.BENCH_PIN}
            out["api_gift"] = [("POST /gifts", await call("POST", "/gifts", token, gift, expect=201))]
    return out


def render(results: dict[str, dict[str, list[tuple[str, Tally]]]], show: bool) -> str:
    backends = list(results)
    lines = ["statements per hop (PostgreSQL round trips incl. BEGIN/COMMIT in brackets); transactions", ""]
    header = f"{'journey':<10} {'hop':<28}" + "".join(f" {b:>16}" for b in backends)
    lines += [header, "-" * len(header)]
    first = results[backends[0]]
    for journey, hops in first.items():
        totals = Counter[str]()
        for i, (text, _) in enumerate(hops):
            cells = []
            for b in backends:
                tally = results[b][journey][i][1]
                trips = tally.round_trips(b)
                totals[b] += trips
                cell = f"{len(tally.statements)}" + (f" [{trips}]" if b == "postgres" else "")
                cells.append(f"{cell + f' tx{tally.transactions}' if tally.transactions else cell:>16}")
            lines.append(f"{journey:<10} {text or '(dial)':<28}" + "".join(f" {c}" for c in cells))
        lines.append(f"{'':<10} {'journey total':<28}" + "".join(f" {totals[b]:>16}" for b in backends))
    if show:
        for b in backends:
            lines += ["", f"== {b}: statements per hop =="]
            for journey, hops in results[b].items():
                for text, tally in hops:
                    count = f"{len(tally.statements)} statements, tx {tally.transactions}"
                    lines.append(f"{journey} {text or '(dial)'}: {count}")
                    lines += [f"    {_abridged(s)[:150]}" for s in tally.statements]
    return "\n".join(lines)


def _abridged(statement: str) -> str:
    """A statement with its long select lists shortened: what it reads and where, at a glance."""
    return re.sub(r"SELECT ([^()]{40,}?) FROM", "SELECT ... FROM", statement)


def flat(results: dict[str, dict[str, list[tuple[str, Tally]]]]) -> dict[str, Any]:
    keys: dict[str, Any] = {}
    for backend, by_journey in results.items():
        for journey, hops in by_journey.items():
            per_hop = [t.round_trips(backend) for _, t in hops]
            keys[f"queries.{backend}.{journey}.per_hop"] = per_hop
            keys[f"queries.{backend}.{journey}.total"] = sum(per_hop)
            keys[f"queries.{backend}.{journey}.transactions"] = sum(t.transactions for _, t in hops)
    return keys


async def run(backends: Sequence[str], repeat: int) -> dict[str, dict[str, list[tuple[str, Tally]]]]:
    results: dict[str, dict[str, list[tuple[str, Tally]]]] = {}
    pin_hash = population.bench_pin_hash(PEPPER)
    with tempfile.TemporaryDirectory(prefix="enerlectra-queries-") as directory:
        work = Path(directory)
        async with redis_server(work) as redis:
            for i, backend in enumerate(backends):
                async with contextlib.AsyncExitStack() as stack:
                    if backend == "sqlite":
                        url = f"sqlite:///{work / 'queries.db'}"
                    else:
                        url = await stack.enter_async_context(postgres_database("queries"))
                    await cli(url, PEPPER, "db", "migrate")
                    await cli(url, PEPPER, "demo", "seed")
                    await population.populate(url, users=USERS, funded=USERS, pin_hash=pin_hash)
                    results[backend] = await count_backend(backend, url, redis.database_url(i + 1), repeat)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.queries", description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgres", "all"), default="all")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each journey, each by another phone")
    parser.add_argument("--show", action="store_true", help="list every hop's statements")
    parser.add_argument("--output", type=Path, default=RESULTS_PATH)
    args = parser.parse_args(argv)
    backends = ("sqlite", "postgres") if args.backend == "all" else (args.backend,)
    try:
        results = asyncio.run(run(backends, max(1, args.repeat)))
    except BenchError as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    print(render(results, args.show))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(flat(results), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"\nwrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
