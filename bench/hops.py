"""``make bench``: USSD hops over HTTP against the real server, next to baselines measured in the same run.

``python -m bench.hops [--seconds S] [--rounds N] [--quick] [--profile] [--no-ledger] [--scale-users ...]``

What runs (everything on 127.0.0.1; everything started is stopped, every
throwaway database dropped, also on error, Ctrl-C or SIGTERM):

1. Hops. A throwaway redis-server; a SQLite file and a throwaway PostgreSQL
   database, each migrated, demo-seeded and given ``HOP_USERS`` funded users
   (:mod:`bench.population`). Five server processes: ``enerlectra serve`` on
   SQLite, on PostgreSQL, and on the same PostgreSQL with ``WEB_WORKERS=2``,
   each with its own Redis database; the bare and the Redis baselines
   (:mod:`bench.baselines`). The one load generator (:mod:`bench.loadgen`)
   drives them all, phase after phase, in rounds whose order flips every
   round (ABBA), so drift on this shared machine favours no one: rates are
   medians over rounds, ratios medians of per-round ratios, latency
   percentiles pooled over rounds. Journeys (:mod:`bench.journeys`): the full
   mix (buying and sending energy are confirmed by PIN: scrypt at the default
   cost) at 50 and 200 phones; the same mix without the PIN journeys (the
   KDF's share is the difference; also 1 vs 2 server processes); the full mix
   paced like people (latency below saturation). In the same rounds: the
   SQLite server's code and database served without uvloop
   (``EVENT_LOOP=asyncio``) and without hiredis (``REDIS_PARSER=python``), on
   the no-PIN mix (A/B); and the REST API on the SQLite server (``API_USERS``
   more funded users, signed in once): ``GET /api/v1/wallet`` next to a bare
   aiohttp JSON handler (:mod:`bench.apiload`, :mod:`bench.baselines`), and a
   gift with the PIN and an ``Idempotency-Key`` next to the same gift made on
   USSD (five hops). Then the size of a mid-journey session in Redis, and
   ``enerlectra ledger verify`` on both databases.
2. Scaling with users: SQLite files (or PostgreSQL databases) with 1k, 100k
   and 1M users, one server each, dial + balance from users drawn at random
   over the whole population, paced, alternated like above; then the smallest is verified (the load only reads).
3. The ledger benchmark (``python -m bench.ledger``, shorter phases).

Prints one table and writes ``bench/results/latest.json`` (flat keys).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import aiohttp
import asyncpg
import redis

from bench import apiload, population, procs
from bench.apiload import GiftSource, RequestSource, WalletSource, run_api_phase
from bench.journeys import GIFT_MIX, LIGHT_MIX, MIX, NOPIN_MIX, WH, BaselineSource, MixSource, pin_share, send
from bench.loadgen import JourneySource, PhaseResult, run_phase
from bench.procs import BenchError
from bench.report import Report, Sample, Summary, rename_rate, render, round_p99_ratio, round_ratio, targets
from simulator.protocol import Endpoints, GatewayClient, new_session_id
from tests.support.processes import REPO
from tests.support.redis import ThrowawayRedis
from ussd_server.sessions import keys as session_keys

RESULTS_PATH = Path(__file__).parent / "results" / "latest.json"
LEDGER_RESULTS_PATH = Path(__file__).parent / "results" / "ledger-latest.json"
PEPPER = "enerlectra-bench-pepper-not-a-secret"

DEFAULT_SECONDS = 4.0
DEFAULT_ROUNDS = 3
DEFAULT_WARMUP_S = 1.0
CONCURRENCY = (50, 200)  # the first is the reference load (baselines, ratios, no-PIN and paced phases)
HOP_USERS = 5_000  # all funded: 100 numbers per virtual phone at 50 phones, 25 at 200
# Funded users of the REST API phases (numbers after the USSD phones'), signed in once (a PIN check each).
API_USERS = 100
GIFT_CONCURRENCY = 10  # gifts are PIN-bound (one KDF core): a few clients keep its queue full
# Paced phases: phones pause this long on average before each hop, as people
# reading a screen do (real ones take seconds): latency at a moderate load
# rather than at the saturation that phones without pauses cause.
THINK_S = 0.2
SCALE_USERS = (1_000, 100_000, 1_000_000)
SCALE_CONCURRENCY = 50
SCALE_THINK_S = 0.1  # about a third of one server's capacity with dial + balance
SCALE_PHASE_FACTOR = 0.75  # scale phases: 3 s at the default 4 s
LEDGER_SECONDS = 1.5
LEDGER_ROUNDS = 3
LEDGER_TIMEOUT_S = 300.0
# Redis databases of the throwaway redis-server: one per server, so no server
# sees another's resume pointers for the same phone numbers.
REDIS_DB = {"sqlite": 1, "postgres": 2, "postgres2": 3, "scale": 4, "sqlite_asyncio": 8, "sqlite_python_parser": 9}
# A/B in the same rounds: the SQLite server as it runs, and the same code and database without uvloop
# (EVENT_LOOP=asyncio) or without hiredis (REDIS_PARSER=python), on the no-PIN mix.
AB_VARIANTS = {
    "sqlite_asyncio": {"EVENT_LOOP": "asyncio"},
    "sqlite_python_parser": {"REDIS_PARSER": "python"},
}


def ramp_for(phones: int, think_s: float) -> float:
    """Seconds the full mix runs before its window opens, to reach the steady state.

    Unpaced, PIN hops queue for the KDF and the phones take a while to pile up
    there (measured on this machine: the share of PIN hops settles after ~3 s
    at 50 phones, ~10 s at 200); paced, the journeys only need to get going.
    """
    if think_s:
        return 2.0
    return 2.0 if phones <= 50 else 8.0


def progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True, slots=True)
class Options:
    seconds: float
    rounds: int
    warmup: float
    concurrency: tuple[int, ...]
    scale_users: tuple[int, ...]
    scale_backend: str
    ledger: bool
    profile: bool
    output: Path
    ramp_scale: float = 1.0  # --quick shortens the ramps too


@dataclass(frozen=True, slots=True)
class Phase:
    key: str  # e.g. hop.sqlite.c50
    url: str
    source: JourneySource | RequestSource
    concurrency: int
    server_pid: int
    database_url: str | None = None  # PostgreSQL: its backends' CPU is counted too
    think_s: float = 0.0
    ramp_s: float = 0.0  # run before the measured window, to reach the steady state
    api: bool = False  # REST API requests (bench.apiload) rather than USSD journeys (bench.loadgen)

    async def run(
        self, seconds: float, *, ramp: bool = True, on_window: Callable[[bool], None] | None = None
    ) -> PhaseResult:
        ramp_s = self.ramp_s if ramp else 0.0
        if self.api:
            return await run_api_phase(
                self.url, cast(RequestSource, self.source), concurrency=self.concurrency, seconds=seconds,
                label=self.key, ramp_s=ramp_s, on_window=on_window,
            )  # fmt: skip
        return await run_phase(
            self.url, cast(JourneySource, self.source), concurrency=self.concurrency, seconds=seconds,
            label=self.key, think_s=self.think_s, ramp_s=ramp_s, on_window=on_window,
        )  # fmt: skip


async def postgres_backends(url: str) -> set[int]:
    """The server processes PostgreSQL runs for connections to this database (ours, nobody else's)."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await conn.close()
    return {int(r["pid"]) for r in rows}


@dataclass(frozen=True, slots=True)
class Counters:
    """Resource counters read as a measured window opens and closes."""

    server_user: float
    server_sys: float
    redis: float
    db: float
    host_busy: float
    host_total: float
    commands: Counter[str]


class Bench:
    def __init__(self, opts: Options, work: Path, redis: ThrowawayRedis) -> None:
        self.opts = opts
        self.work = work
        self.redis_port = redis.port
        self.redis_pid = redis.pid
        self._redis = redis
        self.report = Report()
        self.pin_hash = population.bench_pin_hash(PEPPER)

    @contextlib.asynccontextmanager
    async def timed(self, section: str) -> AsyncIterator[None]:
        started = time.perf_counter()
        yield
        took = time.perf_counter() - started
        self.report.keys[f"bench.section_s.{section}"] = round(took, 1)
        progress(f"[{section}] done in {took:.0f} s")

    def redis_url(self, db: int) -> str:
        return self._redis.database_url(db)

    # --- measuring --------------------------------------------------------------------

    async def measure(self, phase: Phase, seconds: float, *, ramp: bool = True) -> Sample:
        # The pool's connections were opened in the warm-up and stay: the same backends before and after.
        backends = await postgres_backends(phase.database_url) if phase.database_url else set()
        snaps: list[Counters] = []
        result = await phase.run(
            seconds, ramp=ramp, on_window=lambda _opened: snaps.append(self.counters(phase.server_pid, backends))
        )
        if len(snaps) != 2:
            raise BenchError(f"{phase.key}: the measured window never closed")
        before, after = snaps
        return Sample(
            result,
            server_cpu_s=after.server_user + after.server_sys - before.server_user - before.server_sys,
            server_sys_s=after.server_sys - before.server_sys,
            redis_cpu_s=after.redis - before.redis,
            db_cpu_s=after.db - before.db if phase.database_url else None,
            host_busy=(after.host_busy - before.host_busy) / max(after.host_total - before.host_total, 1.0),
            redis_commands=after.commands - before.commands,
        )

    def counters(self, server_pid: int, backends: set[int]) -> Counters:
        user, system = procs.cpu_times([server_pid])
        busy, total = procs.host_cpu()
        return Counters(
            server_user=user,
            server_sys=system,
            redis=procs.cpu_seconds([self.redis_pid]),
            db=procs.cpu_seconds(backends),
            host_busy=busy,
            host_total=total,
            commands=self.redis_commands(),
        )

    def redis_commands(self) -> Counter[str]:
        """Calls per command since redis-server started (phases run one at a time: deltas are one server's)."""
        client = redis.Redis(host="127.0.0.1", port=self.redis_port)
        try:
            stats = client.info("commandstats")
        finally:
            client.close()
        return Counter({k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in stats.items()})

    async def alternate(
        self, phases: Sequence[Phase], label: str, *, rounds: int | None = None, seconds: float | None = None
    ) -> dict[str, list[Sample]]:
        """Warm each phase up once, then run them all in rounds, order flipped every round."""
        rounds = rounds or self.opts.rounds
        seconds = seconds or self.opts.seconds
        progress(f"[{label}] warm-up: {len(phases)} phases x {self.opts.warmup:g} s")
        for phase in phases:
            warm = await self.measure(phase, self.opts.warmup, ramp=False)  # the warm-up is a ramp itself
            if warm.result.error_count:
                # Counted apart: the targets speak of measured phases, but an error is never hidden.
                self.report.keys[f"{phase.key}.warmup_errors"] = warm.result.error_count
                progress(f"[{label}] warm-up {phase.key}: {dict(warm.result.errors)} {warm.result.error_samples[:2]}")
        samples: dict[str, list[Sample]] = {p.key: [] for p in phases}
        for r in range(rounds):
            order = list(phases) if r % 2 == 0 else list(reversed(phases))
            progress(f"[{label}] round {r + 1}/{rounds}: {len(order)} phases x {seconds:g} s")
            for phase in order:
                sample = await self.measure(phase, seconds)
                samples[phase.key].append(sample)
                res = sample.result
                progress(
                    f"  {phase.key:<28} {res.hops_per_s:7.0f} hops/s errors {res.error_count}  drain {res.drain_s:.1f}s"
                    + (f"  {res.error_samples[:1]}" if res.error_count else "")
                )
        return samples

    def summarise(self, samples: dict[str, list[Sample]]) -> list[Summary]:
        out = []
        for key, taken in samples.items():
            summary = Summary.of(key, taken)
            self.report.summaries[key] = summary
            self.report.keys |= rename_rate(summary.keys(), ("baseline.", "api_"))
            out.append(summary)
        return out

    # --- databases ----------------------------------------------------------------------

    async def prepare(self, url: str, users: int, funded: int) -> population.Population:
        await procs.cli(url, PEPPER, "db", "migrate")
        await procs.cli(url, PEPPER, "demo", "seed")
        made = await population.populate(url, users=users, funded=funded, pin_hash=self.pin_hash)
        progress(f"  {users:,} users ({funded:,} funded) in {made.seconds:.1f} s: {url.split('?')[0]}")
        return made

    async def verify(self, url: str, label: str) -> int:
        started = time.perf_counter()
        output = await procs.cli(url, PEPPER, "ledger", "verify")
        found = re.search(r"ledger OK: (\d+) entries", output)
        if not found:
            raise BenchError(f"{label}: ledger verify said: {output}")
        progress(f"[{label}] {output} ({time.perf_counter() - started:.1f} s)")
        return int(found.group(1))

    @contextlib.asynccontextmanager
    async def database(self, label: str, backend: str) -> AsyncIterator[str]:
        if backend == "sqlite":
            yield f"sqlite:///{self.work / label}.db"
        else:
            async with procs.postgres_database(label) as url:
                yield url

    # --- section 1: hops, baselines, processes, session size ---------------------------------

    async def hops(self) -> None:
        async with contextlib.AsyncExitStack() as stack:
            progress("[hops] preparing SQLite and PostgreSQL")
            urls = {b: await stack.enter_async_context(self.database("hops", b)) for b in ("sqlite", "postgres")}
            for url in urls.values():
                await self.prepare(url, HOP_USERS + API_USERS, HOP_USERS + API_USERS)
            async with contextlib.AsyncExitStack() as servers:
                progress("[hops] starting servers and baselines")
                phases = await self.hop_phases(servers, urls)
                samples = await self.alternate(phases, "hops")
                self.summarise(samples)
                self.ratios(samples)
                self.api_and_ab_ratios(samples)
                sqlite = next(p for p in phases if p.key.startswith("hop.sqlite."))
                await self.session_size(sqlite.url, REDIS_DB["sqlite"])
                if self.opts.profile:
                    from bench.profile import profile_server

                    for key in (f"hop_nopin.sqlite.c{sqlite.concurrency}", sqlite.key):
                        phase = next(p for p in phases if p.key == key)
                        self.report.notes.append(await profile_server(phase, self.opts.seconds * 2, self.work))
            for backend, url in urls.items():
                self.report.keys[f"hop.{backend}.ledger_verified_transfers"] = await self.verify(url, f"hops {backend}")

    async def hop_phases(self, servers: contextlib.AsyncExitStack, urls: dict[str, str]) -> list[Phase]:
        """Start the baselines and our three servers; every phase of the hops section."""
        start = servers.enter_async_context
        baselines = {
            kind: await start(procs.baseline(kind, self.work, redis_url=self.redis_url(0)))
            for kind in ("bare", "redis", "json")
        }
        ours = {}
        for name in ("sqlite", "postgres", "postgres2", *AB_VARIANTS):
            database_url = urls["postgres" if name.startswith("postgres") else "sqlite"]
            ours[name] = await start(
                procs.server(
                    f"serve-{name}",
                    self.work,
                    database_url=database_url,
                    redis_url=self.redis_url(REDIS_DB[name]),
                    pepper=PEPPER,
                    workers=2 if name == "postgres2" else 1,
                    env=AB_VARIANTS.get(name),
                )
            )
        phones = population.Population(HOP_USERS, HOP_USERS, 0, 0).phones()
        api_phones = [population.phone(HOP_USERS + i) for i in range(API_USERS)]
        progress(f"[hops] signing {API_USERS} users in to the API (a PIN check each)")
        sqlite_origin = ours["sqlite"][1].removesuffix("/ussd")
        tokens = await apiload.sign_in(sqlite_origin, api_phones, population.BENCH_PIN)

        def mix(weights: dict[str, int], c: int) -> MixSource:
            return MixSource(population.phone, HOP_USERS, weights, concurrency=c, counterparts=phones)

        def ours_phase(prefix: str, name: str, weights: dict[str, int], c: int, think_s: float = 0.0) -> Phase:
            (proc, url), pg = ours[name], urls["postgres"] if name != "sqlite" else None
            ramp = ramp_for(c, think_s) * self.opts.ramp_scale if "buy" in weights else 0.0
            return Phase(f"{prefix}.c{c}", url, mix(weights, c), c, proc.pid, pg, think_s, ramp)

        phases: list[Phase] = []
        c = self.opts.concurrency[0]
        # Baselines at the reference load only: they do not degrade with more phones (measured: the
        # same req/s at 200), and the time is better spent on our phases.
        for kind in ("bare", "redis"):
            proc, url = baselines[kind]
            phases.append(Phase(f"baseline.{kind}.c{c}", url, BaselineSource(mix(MIX, c)), c, proc.pid))
        for n in self.opts.concurrency:
            phases += [ours_phase(f"hop.{b}", b, MIX, n) for b in ("sqlite", "postgres")]
        phases += [ours_phase(f"hop_nopin.{b}", b, NOPIN_MIX, c) for b in ("sqlite", "postgres")]
        phases.append(ours_phase("procs.2", "postgres2", NOPIN_MIX, c))
        phases += [ours_phase(f"hop_paced.{b}", b, MIX, c, THINK_S) for b in ("sqlite", "postgres")]
        phases += [ours_phase(f"ab_{name.removeprefix('sqlite_')}.sqlite", name, NOPIN_MIX, c) for name in AB_VARIANTS]
        # The REST API on the SQLite server: a signed-in user's balances next to a bare JSON handler,
        # and a gift (PIN + Idempotency-Key) next to the same gift made on USSD.
        wallet = WalletSource(tokens[:c])
        json_proc, json_url = baselines["json"]
        phases.append(Phase(f"baseline.json.c{c}", json_url, wallet, c, json_proc.pid, api=True))
        (sqlite_proc, sqlite_url), g = ours["sqlite"], GIFT_CONCURRENCY
        phases.append(Phase(f"api_wallet.sqlite.c{c}", sqlite_url, wallet, c, sqlite_proc.pid, api=True))
        gifts = GiftSource(list(zip(api_phones, tokens, strict=True)), population.BENCH_PIN, WH, g)
        ramp = ramp_for(c, 0.0) * self.opts.ramp_scale
        phases.append(Phase(f"api_gift.sqlite.c{g}", sqlite_url, gifts, g, sqlite_proc.pid, ramp_s=ramp, api=True))
        phases.append(Phase(f"gift.sqlite.c{g}", sqlite_url, mix(GIFT_MIX, g), g, sqlite_proc.pid, ramp_s=ramp))
        return phases

    def ratios(self, samples: dict[str, list[Sample]]) -> None:
        keys = self.report.keys
        c = self.opts.concurrency[0]
        for backend in ("sqlite", "postgres"):
            for base in ("redis", "bare"):
                keys[f"ratio.{backend}.c{c}.hop_vs_{base}_baseline"] = round(
                    round_ratio(samples, f"hop.{backend}.c{c}", f"baseline.{base}.c{c}"), 4
                )
        for backend in ("sqlite", "postgres"):
            keys[f"ratio.{backend}.c{c}.nopin_vs_redis_baseline"] = round(
                round_ratio(samples, f"hop_nopin.{backend}.c{c}", f"baseline.redis.c{c}"), 4
            )
        # The headline: SQLite is the default store, 50 phones the reference load.
        keys["ratio.hop_vs_redis_baseline"] = keys[f"ratio.sqlite.c{c}.hop_vs_redis_baseline"]
        keys["ratio.hop_vs_bare_baseline"] = keys[f"ratio.sqlite.c{c}.hop_vs_bare_baseline"]
        keys["ratio.hop_nopin_vs_redis_baseline"] = keys[f"ratio.sqlite.c{c}.nopin_vs_redis_baseline"]
        keys["scale.procs_2_vs_1_ratio"] = round(round_ratio(samples, f"procs.2.c{c}", f"hop_nopin.postgres.c{c}"), 4)
        keys["scale.procs.workload"] = f"no-PIN mix, PostgreSQL, {c} phones"
        # Everything a hop costs runs on this machine's cores: the server, PostgreSQL,
        # redis-server and the load generator. Their CPU per hop bounds what any number
        # of server processes can reach here.
        one = self.report.summaries[f"hop_nopin.postgres.c{c}"]
        per_hop_us = one.server_cpu_us + one.db_cpu_us + one.redis_cpu_us + one.client_cpu_us
        ceiling = (os.cpu_count() or 1) * 1e6 / per_hop_us
        keys["scale.procs.all_cpu_us_per_hop"] = round(per_hop_us, 1)
        keys["scale.procs.host_ceiling_hops_per_s"] = round(ceiling, 1)
        keys["scale.procs.host_ceiling_vs_1_ratio"] = round(ceiling / one.hops_per_s, 4)

    def api_and_ab_ratios(self, samples: dict[str, list[Sample]]) -> None:
        """The REST API against its baseline and the USSD gift; uvloop and hiredis against their absence."""
        keys, c, g = self.report.keys, self.opts.concurrency[0], GIFT_CONCURRENCY
        keys[f"ratio.sqlite.c{c}.api_wallet_vs_json_baseline"] = round(
            round_ratio(samples, f"api_wallet.sqlite.c{c}", f"baseline.json.c{c}"), 4
        )
        # A gift is one request on the API, a journey of five hops (one with the PIN) on USSD.
        per_gift: dict[str, list[tuple[float, float]]] = {}
        for key, gifts_of in ((f"api_gift.sqlite.c{g}", _requests), (f"gift.sqlite.c{g}", _pin_hops)):
            rounds = [
                (gifts_of(s.result) / s.result.window_s, s.server_cpu_s / max(gifts_of(s.result), 1))
                for s in samples[key]
            ]
            per_gift[key] = rounds
            keys[f"{key}.gifts_per_s"] = round(statistics.median(r[0] for r in rounds), 2)
            keys[f"{key}.server_cpu_ms_per_gift"] = round(statistics.median(r[1] for r in rounds) * 1000, 2)
        api, ussd = per_gift[f"api_gift.sqlite.c{g}"], per_gift[f"gift.sqlite.c{g}"]
        keys["ratio.sqlite.api_gift_vs_ussd_gift"] = round(
            statistics.median(a[0] / max(u[0], 1e-9) for a, u in zip(api, ussd, strict=True)), 4
        )
        keys["ratio.sqlite.api_gift_vs_ussd_gift_server_cpu"] = round(
            statistics.median(a[1] / max(u[1], 1e-12) for a, u in zip(api, ussd, strict=True)), 4
        )
        # hops/s of the server as it runs over the same server without one of them: > 1 is what it brings.
        for name, what in (("asyncio", "uvloop_vs_asyncio"), ("python_parser", "hiredis_vs_python_parser")):
            variant, reference = f"ab_{name}.sqlite.c{c}", f"hop_nopin.sqlite.c{c}"
            keys[f"ab.sqlite.c{c}.{what}"] = round(round_ratio(samples, reference, variant), 4)
            keys[f"ab.sqlite.c{c}.{what}_server_cpu"] = round(
                statistics.median(
                    (r.server_cpu_s / max(r.result.hops, 1)) / (v.server_cpu_s / max(v.result.hops, 1))
                    for r, v in zip(samples[reference], samples[variant], strict=True)
                ),
                4,
            )

    async def session_size(self, url: str, db: int) -> None:
        """Walk one sale up to its PIN screen (the fullest screen of a usual journey) and read the session."""
        session_id = new_session_id()
        phone = population.phone(0)
        async with aiohttp.ClientSession() as http:
            gateway = GatewayClient(http, Endpoints.from_url(url))
            for step in send(population.phone(1), gift=False)[:-1]:  # up to the PIN screen
                form = {"sessionId": session_id, "serviceCode": "*384*2025#", "phoneNumber": phone, "text": step.text}
                reply = (await gateway.post(gateway.endpoints.ussd, form)).body
                if not reply.startswith(step.expect):
                    raise BenchError(f"session size: {step.text!r} expected {step.expect!r}, got {reply!r}")
        client = redis.Redis(host="127.0.0.1", port=self.redis_port, db=db)
        try:
            key = session_keys.session_key(session_id)
            size = client.strlen(key)
            footprint = client.memory_usage(key)
            sizes = [client.strlen(k) for k in client.scan_iter(match="enerlectra:ussd:*:s", count=1000)][:5000]
        finally:
            client.close()
        self.report.keys |= {
            "session.bytes": size,
            "session.screen": "sell.pin (a sale's PIN confirmation)",
            "session.redis_memory_usage_bytes": footprint,
            "session.bytes_median_after_load": statistics.median(sizes) if sizes else None,
            "session.bytes_max_after_load": max(sizes) if sizes else None,
        }

    # --- section 2: scaling with users -----------------------------------------------------

    async def scale(self) -> None:
        """The same server on ever larger user tables: what grows with users must not show in latency.

        Phones pause ``SCALE_THINK_S`` before each hop, so the server runs at about
        a third of its capacity and p99 is the service time, which is what more users
        could slow down (saturated, p99 would mostly measure queueing: phones / throughput).
        """
        opts, backend, c = self.opts, self.opts.scale_backend, SCALE_CONCURRENCY
        async with contextlib.AsyncExitStack() as stack:
            progress(f"[scale] {', '.join(f'{n:,}' for n in opts.scale_users)} users on {backend}")
            urls: dict[int, str] = {}
            for n in opts.scale_users:
                urls[n] = await stack.enter_async_context(self.database(f"users{n}", backend))
                await self.prepare(urls[n], n, 0)
            async with contextlib.AsyncExitStack() as servers:
                phases = []
                for i, (n, url) in enumerate(urls.items()):
                    proc, ussd = await servers.enter_async_context(
                        procs.server(
                            f"serve-users{n}",
                            self.work,
                            database_url=url,
                            redis_url=self.redis_url(REDIS_DB["scale"] + i),
                            pepper=PEPPER,
                        )
                    )
                    pg = url if backend == "postgres" else None
                    source = MixSource(population.phone, n, LIGHT_MIX, concurrency=c, randomly=True, seed=n)
                    key = f"scale.users_{_short(n)}.c{c}"
                    phases.append(Phase(key, ussd, source, c, proc.pid, pg, SCALE_THINK_S))
                # Twice the rounds of shorter phases: a p99 near 10 ms moves with every burst
                # of other work on a shared machine, and more, finer alternation spreads the
                # bursts evenly over the sizes.
                samples = await self.alternate(
                    phases, "scale", rounds=2 * opts.rounds, seconds=opts.seconds * SCALE_PHASE_FACTOR
                )
                self.summarise(samples)
            # Dial + balance only reads, so one database shows nothing wrote; verifying
            # the larger ones would only replay their millions of untouched accounts (~40 s).
            smallest = min(urls)
            self.report.keys[f"scale.users_{_short(smallest)}.ledger_verified_transfers"] = await self.verify(
                urls[smallest], f"users {smallest}"
            )
        keys, small, large = self.report.keys, _short(min(urls)), _short(max(urls))
        for n in urls:
            keys[f"scale.users_{_short(n)}_p99_ms"] = keys[f"scale.users_{_short(n)}.c{c}.p99_ms"]
        paced = (f"scale.users_{large}.c{c}", f"scale.users_{small}.c{c}")
        summaries = self.report.summaries
        keys |= {
            # Pooled over rounds (ABBA order, so each size saw the same spread of machine states):
            # the p99 of one 3 s phase rests on its ~15 slowest hops, the pooled one on ~90.
            f"scale.users_{large}_vs_{small}_p99_ratio": round(
                summaries[paced[0]].p99_ms / summaries[paced[1]].p99_ms, 4
            ),
            f"scale.users_{large}_vs_{small}_p99_ratio_round_median": round(round_p99_ratio(samples, *paced), 4),
            f"scale.users_{large}_vs_{small}_server_cpu_ratio": round(
                summaries[paced[0]].server_cpu_us / summaries[paced[1]].server_cpu_us, 4
            ),
            "scale.users.workload": (
                f"dial + balance, {c} phones, each journey a random user of the whole population, "
                f"{SCALE_THINK_S} s mean pause before each hop"
            ),
            "scale.users.backend": backend,
        }

    # --- section 3: the ledger benchmark ---------------------------------------------------------

    def ledger(self) -> None:
        progress(f"[ledger] python -m bench.ledger --seconds {LEDGER_SECONDS:g} --rounds {LEDGER_ROUNDS}")
        argv = [sys.executable, "-m", "bench.ledger", "--seconds", str(LEDGER_SECONDS), "--rounds", str(LEDGER_ROUNDS)]
        try:
            done = subprocess.run(argv, cwd=REPO, timeout=LEDGER_TIMEOUT_S, capture_output=True, text=True)
        except subprocess.TimeoutExpired as exc:
            raise BenchError(f"the ledger benchmark took over {LEDGER_TIMEOUT_S:.0f} s") from exc
        if done.returncode != 0:
            raise BenchError(f"the ledger benchmark failed:\n{done.stdout}\n{done.stderr}")
        self.report.lines += ["", *done.stdout.split("\nwrote ")[0].rstrip().splitlines()]
        ledger = json.loads(LEDGER_RESULTS_PATH.read_text())
        self.report.keys |= {k: v for k, v in ledger.items() if k.startswith("ledger.")}


def _requests(result: PhaseResult) -> int:
    return result.hops


def _pin_hops(result: PhaseResult) -> int:
    return len(result.pin_latencies_ms)


def _short(n: int) -> str:
    """1000000 -> 1m, 100000 -> 100k: the user counts in key names."""
    if n % 1_000_000 == 0:
        return f"{n // 1_000_000}m"
    if n % 1000 == 0:
        return f"{n // 1000}k"
    return str(n)


# --- entry point ------------------------------------------------------------------------------


def machine_keys(opts: Options, started: datetime, load_before: float, wall_s: float) -> dict[str, Any]:
    return {
        "machine.nproc": os.cpu_count(),
        "machine.python": platform.python_version(),
        "machine.platform": platform.platform(),
        "machine.loadavg_1m_before": round(load_before, 2),
        "machine.loadavg_1m_after": round(os.getloadavg()[0], 2),
        "timestamp": started.isoformat(timespec="seconds"),
        "bench.seconds_per_phase": opts.seconds,
        "bench.rounds": opts.rounds,
        "bench.hop_users": HOP_USERS,
        "bench.think_s": THINK_S,
        "bench.mix": ", ".join(f"{k} {v}%" for k, v in MIX.items()),
        "bench.pin_hop_share_offered": round(pin_share(MIX), 4),
        "bench.pin_kdf": "scrypt log2_n=14 (the default)",
        "bench.api_users": API_USERS,
        "bench.gift_clients": GIFT_CONCURRENCY,
        "bench.wall_s": round(wall_s, 1),
    }


async def run(opts: Options) -> Report:
    task = asyncio.current_task()
    assert task is not None
    # SIGTERM (a CI timeout, kill) unwinds like Ctrl-C: every context below stops what it started.
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    with tempfile.TemporaryDirectory(prefix="enerlectra-hops-") as directory:
        work = Path(directory)
        try:
            async with procs.redis_server(work) as redis_server:
                bench = Bench(opts, work, redis_server)
                async with bench.timed("hops"):
                    await bench.hops()
                if opts.scale_users:
                    async with bench.timed("scale"):
                        await bench.scale()
            if opts.ledger:
                async with bench.timed("ledger"):
                    bench.ledger()
        except BenchError:
            _keep_logs(work)
            raise
    return bench.report


def _keep_logs(work: Path) -> None:
    """The last warnings and errors of every process, before the temporary directory goes."""
    for log in sorted(work.glob("*.log")):
        lines = [line for line in log.read_text(errors="replace").splitlines() if " INFO " not in line]
        if lines:
            progress(f"--- {log.name}: last lines other than INFO ---")
            print("\n".join(lines[-15:]), file=sys.stderr)


def parse_args(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench.hops", description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=DEFAULT_SECONDS, help="seconds per measured phase")
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS, help="alternating rounds (medians reported)")
    parser.add_argument("--warmup", type=float, default=DEFAULT_WARMUP_S, help="seconds of warm-up per phase")
    parser.add_argument("--scale-backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--scale-users", default=",".join(map(str, SCALE_USERS)), help="e.g. 1000,100000 ('' skips)")
    parser.add_argument("--no-ledger", dest="ledger", action="store_false", help="skip the ledger benchmark")
    parser.add_argument("--profile", action="store_true", help="also profile the SQLite server under load (py-spy)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 1 round of 1 s, small populations")
    parser.add_argument("--output", type=Path, default=RESULTS_PATH)
    args = parser.parse_args(argv)
    scale = tuple(int(x) for x in args.scale_users.split(",") if x.strip())
    if args.quick:
        args.seconds, args.rounds, args.warmup = 1.0, 1, 0.3
        scale = tuple(n for n in scale if n <= 100_000) or scale
    if args.seconds <= 0 or args.rounds < 1 or args.warmup <= 0:
        parser.error("--seconds and --warmup must be positive, --rounds at least 1")
    if any(n < SCALE_CONCURRENCY or n > population.MAX_USERS for n in scale):
        parser.error(f"--scale-users: each between {SCALE_CONCURRENCY} and {population.MAX_USERS:,}")
    return Options(
        seconds=args.seconds,
        rounds=args.rounds,
        warmup=args.warmup,
        concurrency=CONCURRENCY,
        scale_users=scale,
        scale_backend=args.scale_backend,
        ledger=args.ledger,
        profile=args.profile,
        output=args.output,
        ramp_scale=0.25 if args.quick else 1.0,
    )


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    started, load_before, clock = datetime.now(UTC), os.getloadavg()[0], time.perf_counter()
    try:
        report = asyncio.run(run(opts))
    except BenchError as exc:
        print(f"BENCHMARK FAILED: {exc}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("interrupted: servers stopped, throwaway databases dropped", file=sys.stderr)
        return 130
    report.keys |= machine_keys(opts, started, load_before, time.perf_counter() - clock)
    report.targets = targets(report.keys, opts.concurrency)
    report.keys |= {f"target.{t.key}.met": t.met for t in report.targets}
    print(render(report, seconds=opts.seconds, rounds=opts.rounds, concurrency=opts.concurrency))
    opts.output.parent.mkdir(parents=True, exist_ok=True)
    opts.output.write_text(json.dumps(report.keys, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"\nwrote {opts.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
