"""Co-operatives benchmark: a co-op of 10,000 members, its votes, tally and execution, and the scheduler's lag.

``python -m bench.coops [--members N] [--jobs N] [--backend sqlite|postgres|all]`` (part of ``make bench``).

For each backend, on a throwaway database (migrated and demo-seeded):

* **A co-op of ``--members`` full members.** Users are bulk-inserted as in
  :mod:`bench.population`; the member register and the contributions that
  back it are written through the store's own repositories and ledger (a
  register row and a K2,000 contribution per member, in batches): the state
  the service leaves, without the 20,000 join and contribution entries in the
  governance log that nothing here reads. Every bench user's PIN hash has the
  test cost (scrypt N=2^10): the KDF's real cost is ``bench.hops``'s subject,
  here it would only hide the co-op's own work.
* **Figures** through the services, on an injected clock: proposing (the
  electorate snapshot of every member), voting opening (an SMS to each),
  ``--members`` votes cast 16 at a time (votes/s, p50 and p99 of one vote),
  the tally recounted twice (from the votes and from the log alone), the
  close (the result to each), and the execution (the payment and an SMS to
  every member).
* **Hops** (with ``--hops``): a server on the same database, a vote cast on
  USSD by members of this co-op next to a balance hop, alternated in rounds
  (see :mod:`bench.coop_hops`).
* **The scheduler's lag**: ``--jobs`` jobs due at once, drained by one worker
  (SQLite) or two claiming together (PostgreSQL): how long the last one waited,
  and jobs per second.

Results: a table, and ``bench/results/coops-latest.json`` (flat keys).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path

from bench import coop_hops, population, procs
from bench.procs import BenchError, postgres_database
from engine.coops.bylaws import Bylaws
from engine.coops.model import CoopState, Member, MemberState
from engine.identity.model import User
from engine.identity.pins import hash_pin
from engine.kernel.clock import MICROS_PER_SECOND, ManualClock, SystemClock
from engine.kernel.config import EngineConfig
from engine.ledger.model import CreateTransferResult, Ledger, Transfer, TransferCode
from engine.platform import Platform
from engine.scheduler.model import Job
from engine.uow import Database, Repositories
from storage import open_store
from ussd_server.kdf_pool import KdfPool

RESULTS = Path(__file__).parent / "results" / "coops-latest.json"
PEPPER = "enerlectra-bench-pepper-not-a-secret"
CHEAP_LOG2_N = 10
CONTRIBUTION = 200_000  # K2,000: 20 shares at par
VOTERS_AT_ONCE = 16
BATCH = 1000
HOUR_US = 3600 * MICROS_PER_SECOND
DAY_US = 24 * HOUR_US


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class Bench:
    platform: Platform
    clock: ManualClock
    members: list[User]
    payee: User
    coop_id: str = ""


async def build(url: str, members: int) -> Bench:
    """``members`` funded users (one more as a payee) and a platform over them on a clock five days back."""
    await procs.cli(url, PEPPER, "db", "migrate")
    await procs.cli(url, PEPPER, "demo", "seed")
    made = await population.populate(
        url,
        users=members + 1,
        funded=members,
        pin_hash=hash_pin(population.BENCH_PIN, pepper=PEPPER.encode(), log2_n=CHEAP_LOG2_N),
    )
    progress(f"  {members + 1:,} users in {made.seconds:.1f} s")
    clock = ManualClock(SystemClock().now_us() - 5 * DAY_US)
    config = EngineConfig(pin_pepper=PEPPER.encode(), pin_kdf_log2_n=CHEAP_LOG2_N)
    platform = Platform(await open_store(url, clock=clock), config, KdfPool(workers=2), clock)
    users = await platform.store.users.users_by_ids(list(range(made.first_id, made.first_id + members + 1)))
    ordered = [users[made.first_id + i] for i in range(members + 1)]
    return Bench(platform, clock, ordered[:members], ordered[members])


async def register(bench: Bench) -> float:
    """The co-op, formed by its first member, and every member's K2,000 in its register and treasury."""
    started = time.perf_counter()
    platform, founder = bench.platform, bench.members[0]
    proof = await platform.users.verify_pin(founder, population.BENCH_PIN)
    bylaws = Bylaws(min_members=len(bench.members))
    coop = await platform.coops.form(
        proof, founder, name="Bench Co-op", kind="neighbourhood", region="lusaka", bylaws=bylaws
    )
    bench.coop_id = coop.id
    store: Database = platform.store
    now = bench.clock.now_us()
    for start in range(0, len(bench.members), BATCH):
        chunk = bench.members[start : start + BATCH]
        transfers = [
            Transfer(f"bench-contribution:{u.id}", u.zmw_account_id, coop.treasury_account_id, CONTRIBUTION,
                     ledger=Ledger.ZMW, code=TransferCode.COOP_CONTRIBUTION)
            for u in chunk
        ]  # fmt: skip
        results = await store.ledger.create_transfers(transfers)
        if any(r is not CreateTransferResult.OK for r in results):
            raise BenchError(f"the ledger refused bench contributions: {set(map(str, results))}")

        async def rows(repositories: Repositories, chunk: list[User] = chunk) -> None:
            coops = repositories.coops
            for user in chunk:
                member = Member(coop.id, user.id, user.phone, MemberState.FULL, contributed_ngwee=CONTRIBUTION,
                                shares=CONTRIBUTION // bylaws.par_value_ngwee, joined_at_us=now)  # fmt: skip
                if not await coops.insert_member(member):
                    existing = await coops.member_for_update(coop.id, user.id)  # the founder, admitted by form()
                    if existing is None:
                        raise BenchError(f"member {user.id} is neither new nor in the register")
                    await coops.update_member(replace(member, version=existing.version))

        await store.atomic(rows)

    async def activate(repositories: Repositories) -> None:
        coops = repositories.coops
        row = await coops.coop_for_update(coop.id)
        if row is None:
            raise BenchError(f"co-op {coop.id} vanished")
        await coops.update_coop(replace(row, state=CoopState.ACTIVE, full_members=len(bench.members)))

    await store.atomic(activate)
    return time.perf_counter() - started


async def timed_jobs(bench: Bench) -> float:
    """Milliseconds to run the jobs due now (one proposal's step)."""
    started = time.perf_counter()
    report = await bench.platform.scheduler.run_due(limit=100)
    if report.failed or report.dead:
        raise BenchError(f"a job failed: {report}")
    return (time.perf_counter() - started) * 1000


async def governance(bench: Bench) -> dict[str, float]:
    platform, clock = bench.platform, bench.clock
    founder = bench.members[0]
    out: dict[str, float] = {}
    proof = await platform.users.verify_pin(founder, population.BENCH_PIN)
    started = time.perf_counter()
    proposal = await platform.governance.propose(
        proof,
        founder,
        bench.coop_id,
        "maintenance",
        {"phone": bench.payee.phone, "amount_ngwee": 100_000, "text": "inverter"},
    )
    out["propose_ms"] = (time.perf_counter() - started) * 1000
    clock.advance(us=HOUR_US)
    out["voting_opens_ms"] = await timed_jobs(bench)
    latencies: list[float] = []
    queue = list(enumerate(bench.members))

    async def voter() -> None:
        while queue:
            i, user = queue.pop()
            voted = time.perf_counter()
            proof = await platform.users.verify_pin(user, population.BENCH_PIN)
            await platform.governance.vote(proof, user, proposal.id, 1 if i % 3 else 2)
            latencies.append((time.perf_counter() - voted) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(voter() for _ in range(VOTERS_AT_ONCE)))
    out["votes_per_s"] = len(bench.members) / (time.perf_counter() - started)
    out["vote_p50_ms"], out["vote_p99_ms"] = percentile(latencies, 0.5), percentile(latencies, 0.99)
    started = time.perf_counter()
    broken, recounts = await platform.governance.verify(bench.coop_id)
    out["tally_recount_ms"] = (time.perf_counter() - started) * 1000
    if broken is not None or not all(r.agrees for r in recounts):
        raise BenchError(f"the governance log does not verify: {broken} {recounts}")
    clock.advance(us=3 * DAY_US)
    out["close_ms"] = await timed_jobs(bench)
    clock.advance(us=DAY_US)
    out["execute_ms"] = await timed_jobs(bench)
    done = await platform.governance.get(proposal.id)
    if done.state != "executed":
        raise BenchError(f"the proposal ended {done.state}")
    return out


async def open_vote(bench: Bench) -> str:
    """A second proposal whose voting is open now, by the real clock (for the hops); its number."""
    platform, founder = bench.platform, bench.members[0]
    bench.clock.set(SystemClock().now_us() - 2 * HOUR_US)
    proof = await platform.users.verify_pin(founder, population.BENCH_PIN)
    proposal = await platform.governance.propose(
        proof, founder, bench.coop_id, "decision", {"text": "Clean panels weekly"}
    )
    bench.clock.set(SystemClock().now_us())
    await timed_jobs(bench)
    return proposal.number


async def scheduler_lag(url: str, jobs: int, workers: int) -> dict[str, float]:
    """``jobs`` due at once, drained by ``workers`` runners on their own connections."""
    clock = SystemClock()
    config = EngineConfig(pin_pepper=PEPPER.encode(), pin_kdf_log2_n=CHEAP_LOG2_N)
    platforms = [
        Platform(await open_store(url, clock=clock), config, KdfPool(workers=1), clock) for _ in range(workers)
    ]
    ran = 0

    async def noop(job: Job) -> int | None:
        nonlocal ran
        ran += 1
        return None

    for platform in platforms:
        platform.scheduler.register("bench.noop", noop)
    now = clock.now_us()
    store = platforms[0].store
    for start in range(0, jobs, 5000):

        async def schedule(repositories: Repositories, start: int = start) -> None:
            for i in range(start, min(start + 5000, jobs)):
                await repositories.jobs.schedule_job("bench.noop", str(i), due_at_us=now, payload={})

        await store.atomic(schedule)
    started = time.perf_counter()

    async def drain(platform: Platform) -> None:
        while (await platform.scheduler.run_due(limit=500)).claimed:
            pass

    await asyncio.gather(*(drain(p) for p in platforms))
    seconds = time.perf_counter() - started
    for platform in platforms:
        await platform.close()
    if ran != jobs:
        raise BenchError(f"{ran} of {jobs} jobs ran")
    return {"scheduler_drain_s": seconds, "scheduler_jobs_per_s": jobs / seconds, "scheduler_workers": float(workers)}


@contextlib.asynccontextmanager
async def database(backend: str, work: Path) -> AsyncIterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{work}/coops.db"
        return
    async with postgres_database("coops") as url:
        yield url


async def bench_backend(backend: str, opts: argparse.Namespace, work: Path) -> dict[str, float]:
    results: dict[str, float] = {}
    async with database(backend, work) as url:
        progress(f"[{backend}] a co-op of {opts.members:,} members")
        bench = await build(url, opts.members)
        try:
            results["register_s"] = await register(bench)
            results |= await governance(bench)
            number = await open_vote(bench)
        finally:
            await bench.platform.close()
        if opts.hops:
            progress(f"[{backend}] USSD: a vote next to a balance journey")
            async with procs.redis_server(work) as redis:
                results |= await coop_hops.vote_against_balance(
                    url, work, members=opts.members, coop_name="Bench Co-op", number=number, redis_url=redis.url
                )
        progress(f"[{backend}] {opts.jobs:,} due jobs")
        results |= await scheduler_lag(url, opts.jobs, 1 if backend == "sqlite" else 2)
        await procs.cli(url, PEPPER, "ledger", "verify")
    return {f"coops.{backend}.{key}": value for key, value in results.items()}


ROWS = (
    ("propose_ms", "propose (snapshot of every member) ms"),
    ("voting_opens_ms", "voting opens (an SMS each) ms"),
    ("votes_per_s", "votes/s (16 at once, PIN each)"),
    ("vote_p50_ms", "one vote p50 ms"),
    ("vote_p99_ms", "one vote p99 ms"),
    ("tally_recount_ms", "tally recounted twice (votes, log) ms"),
    ("close_ms", "close and result (an SMS each) ms"),
    ("execute_ms", "execute (payment, an SMS each) ms"),
    ("vote_hop_p99_ms", "USSD vote hop (PIN) p99 ms"),
    ("balance_hops_p99_ms", "USSD balance journey hops p99 ms"),
    ("vote_over_balance_p99", "vote hop p99 / balance p99 (goal <= 1.2)"),
    ("vote_menu_hops_p99_ms", "USSD vote journey's other hops p99 ms"),
    ("scheduler_drain_s", "scheduler lag: last of the due jobs, s"),
    ("scheduler_jobs_per_s", "scheduler jobs/s"),
)


async def main_async(opts: argparse.Namespace) -> int:
    backends = ("sqlite", "postgres") if opts.backend == "all" else (opts.backend,)
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="enerlectra-bench-coops-") as directory:
        for backend in backends:
            results |= await bench_backend(backend, opts, Path(directory))
    title = f"co-ops ({opts.members:,} members, {opts.jobs:,} jobs)"
    print(f"\n{title:<52}{'value':>12}")
    for backend in backends:
        for key, label in ROWS:
            value = results.get(f"coops.{backend}.{key}")
            if value is not None:
                print(f"{backend + ' ' + label:<52}{value:>12.2f}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({k: round(v, 3) for k, v in results.items()}, indent=1, sort_keys=True) + "\n")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.coops", description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--backend", choices=("sqlite", "postgres", "all"), default="all")
    parser.add_argument("--no-hops", dest="hops", action="store_false", help="skip the USSD vote and balance hops")
    opts = parser.parse_args()
    try:
        return asyncio.run(main_async(opts))
    except BenchError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
