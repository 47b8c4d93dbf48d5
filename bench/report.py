"""Summaries, ratios, targets, the printed table and the flat JSON keys of the hop benchmark."""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.loadgen import PhaseResult, percentile


@dataclass(frozen=True, slots=True)
class Sample:
    """One measured phase of one target, with the CPU the processes involved spent on it."""

    result: PhaseResult
    server_cpu_s: float  # the server process and its workers
    server_sys_s: float  # the part spent in the kernel (syscalls: sockets, files)
    redis_cpu_s: float  # redis-server
    db_cpu_s: float | None  # PostgreSQL backends serving this database (SQLite runs inside the server)
    host_busy: float  # share of the whole machine's CPU in use (all cores, everyone's processes)
    redis_commands: Counter[str]  # commands redis-server ran during the phase, by name


@dataclass(frozen=True, slots=True)
class Summary:
    key: str
    concurrency: int
    rounds: list[float]  # hops/s per round
    hops_per_s: float  # median over rounds
    p50_ms: float  # latency percentiles pooled over rounds
    p95_ms: float
    p99_ms: float
    menu_p99_ms: float  # hops without a PIN check
    pin_p50_ms: float
    pin_p99_ms: float
    pin_share: float  # PIN hops / hops
    errors: int
    busy_replies: int  # PIN hops the server shed with "busy, enter your PIN again" (the phone retried)
    error_kinds: dict[str, int]
    error_samples: list[str]
    journeys: dict[str, int]
    server_cpu_us: float  # per good hop, median over rounds (all processes of the server)
    server_sys_share: float  # kernel share of it, over all rounds
    client_cpu_us: float
    redis_cpu_us: float
    db_cpu_us: float  # NaN for SQLite (inside the server's own CPU)
    host_busy: float  # median over rounds
    redis_per_hop: dict[str, float]  # Redis commands per good hop, by name (pooled over rounds)

    @classmethod
    def of(cls, key: str, samples: Sequence[Sample]) -> Summary:
        results = [s.result for s in samples]
        everything = [x for r in results for x in r.latencies_ms]
        menu = [x for r in results for x in r.menu_latencies_ms]
        pins = [x for r in results for x in r.pin_latencies_ms]
        errors: Counter[str] = Counter()
        journeys: Counter[str] = Counter()
        for r in results:
            errors.update(r.errors)
            journeys.update(r.journeys)

        def per_hop(values: Sequence[float]) -> float:
            return statistics.median(v / max(r.hops, 1) * 1e6 for v, r in zip(values, results, strict=True))

        return cls(
            key=key,
            concurrency=results[0].concurrency,
            rounds=[r.hops_per_s for r in results],
            hops_per_s=statistics.median(r.hops_per_s for r in results),
            p50_ms=percentile(everything, 50),
            p95_ms=percentile(everything, 95),
            p99_ms=percentile(everything, 99),
            menu_p99_ms=percentile(menu, 99),
            pin_p50_ms=percentile(pins, 50),
            pin_p99_ms=percentile(pins, 99),
            pin_share=len(pins) / max(len(everything), 1),
            errors=sum(errors.values()),
            busy_replies=sum(r.busy_replies for r in results),
            error_kinds=dict(errors),
            error_samples=[x for r in results for x in r.error_samples][:5],
            journeys=dict(journeys),
            server_cpu_us=per_hop([s.server_cpu_s for s in samples]),
            server_sys_share=sum(s.server_sys_s for s in samples) / max(sum(s.server_cpu_s for s in samples), 1e-9),
            client_cpu_us=per_hop([r.client_cpu_s for r in results]),
            redis_cpu_us=per_hop([s.redis_cpu_s for s in samples]),
            db_cpu_us=(
                per_hop([s.db_cpu_s or 0.0 for s in samples])
                if all(s.db_cpu_s is not None for s in samples)
                else math.nan
            ),
            host_busy=statistics.median(s.host_busy for s in samples),
            redis_per_hop={
                name: calls / max(sum(r.hops for r in results), 1)
                for name, calls in sum((s.redis_commands for s in samples), Counter()).most_common()
                if name not in ("info", "ping")  # the benchmark's own
            },
        )

    def keys(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            f"{self.key}.hops_per_s": round(self.hops_per_s, 1),
            f"{self.key}.hops_per_s_min": round(min(self.rounds), 1),
            f"{self.key}.hops_per_s_max": round(max(self.rounds), 1),
            f"{self.key}.p50_ms": _ms(self.p50_ms),
            f"{self.key}.p95_ms": _ms(self.p95_ms),
            f"{self.key}.p99_ms": _ms(self.p99_ms),
            f"{self.key}.errors": self.errors,
            f"{self.key}.server_cpu_us_per_hop": round(self.server_cpu_us, 1),
            f"{self.key}.server_cpu_kernel_share": round(self.server_sys_share, 3),
            f"{self.key}.client_cpu_us_per_hop": round(self.client_cpu_us, 1),
            f"{self.key}.redis_cpu_us_per_hop": round(self.redis_cpu_us, 1),
            f"{self.key}.host_cpu_busy": round(self.host_busy, 3),
            f"{self.key}.redis_commands_per_hop": round(sum(self.redis_per_hop.values()), 2),
        }
        if not math.isnan(self.db_cpu_us):
            out[f"{self.key}.postgres_cpu_us_per_hop"] = round(self.db_cpu_us, 1)
        if self.pin_share:
            out |= {
                f"{self.key}.non_pin_p99_ms": _ms(self.menu_p99_ms),
                f"{self.key}.pin_p50_ms": _ms(self.pin_p50_ms),
                f"{self.key}.pin_p99_ms": _ms(self.pin_p99_ms),
                f"{self.key}.pin_hop_share": round(self.pin_share, 4),
                f"{self.key}.pin_busy_replies": self.busy_replies,
            }
        out |= {f"{self.key}.errors.{kind}": n for kind, n in sorted(self.error_kinds.items())}
        return out


def _ms(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 2)


def rename_rate(keys: dict[str, Any], prefix: str | tuple[str, ...]) -> dict[str, Any]:
    """Baselines and the REST API answer requests, not hops: their ``hops_per_s`` is reported as ``req_per_s``."""
    return {(k.replace(".hops_per_s", ".req_per_s") if k.startswith(prefix) else k): v for k, v in keys.items()}


def round_ratio(samples: Mapping[str, Sequence[Sample]], ours: str, base: str) -> float:
    """Median over rounds of ours/base, each from two phases of the same round (drift cancels)."""
    pairs = zip(samples[ours], samples[base], strict=True)
    return statistics.median(o.result.hops_per_s / b.result.hops_per_s for o, b in pairs)


def round_p99_ratio(samples: Mapping[str, Sequence[Sample]], a: str, b: str) -> float:
    """Median over rounds of p99(a)/p99(b), each pair from the same round."""
    pairs = zip(samples[a], samples[b], strict=True)
    return statistics.median(
        percentile(x.result.latencies_ms, 99) / percentile(y.result.latencies_ms, 99) for x, y in pairs
    )


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    key: str
    value: float | None
    goal: str
    met: bool | None  # None: not measured


@dataclass
class Report:
    summaries: dict[str, Summary] = field(default_factory=dict)
    keys: dict[str, Any] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


LABELS = {
    "baseline.bare": "baseline: bare aiohttp, CON hello",
    "baseline.redis": "baseline: + Redis GET+SET (msgpack)",
    "hop.sqlite": "ours, SQLite, full mix",
    "hop.postgres": "ours, PostgreSQL, full mix",
    "hop_nopin.sqlite": "ours, SQLite, no-PIN mix",
    "hop_nopin.postgres": "ours, PostgreSQL, no-PIN mix",
    "procs.2": "ours, PostgreSQL, no-PIN, 2 processes",
    "hop_paced.sqlite": "ours, SQLite, full mix, paced",
    "hop_paced.postgres": "ours, PostgreSQL, full mix, paced",
    "ab_asyncio.sqlite": "A/B: SQLite, no-PIN, EVENT_LOOP=asyncio",
    "ab_python_parser.sqlite": "A/B: SQLite, no-PIN, REDIS_PARSER=python",
    "baseline.json": "baseline: bare aiohttp, JSON (GET)",
    "api_wallet.sqlite": "REST API, SQLite, GET /wallet",
    "api_gift.sqlite": "REST API, SQLite, POST /gifts (PIN)",
    "gift.sqlite": "ours, SQLite, USSD gifts only",
}


def label(key: str) -> str:
    base = key.rsplit(".", 1)[0]
    if base.startswith("scale.users_"):
        return f"ours, {base.removeprefix('scale.users_')} users, dial+balance, paced"
    return LABELS.get(base, base)


def hop_table(summaries: Sequence[Summary]) -> list[str]:
    head = (
        f"{'target':<38} {'phones':>6} {'hops/s':>8} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} "
        f"{'noPIN p99':>9} {'PIN p50':>8} {'PIN%':>5} {'errors':>6} {'busy':>5} "
        f"{'server':>7} {'sys':>4} {'PG':>5} {'redis':>5} "
        f"{'loadgen':>7} {'host':>5} {'cmds':>5}"
    )
    lines = [head, "-" * len(head)]
    for s in summaries:
        menu_p99 = "" if math.isnan(s.menu_p99_ms) else f"{s.menu_p99_ms:.1f}"
        pin = f"{menu_p99:>9} {s.pin_p50_ms:>8.1f} {s.pin_share:>5.1%}" if s.pin_share else f"{'':>9} {'':>8} {'':>5}"
        pg = "" if math.isnan(s.db_cpu_us) else f"{s.db_cpu_us:,.0f}"
        lines.append(
            f"{label(s.key):<38} {s.concurrency:>6} {s.hops_per_s:>8,.0f} {s.p50_ms:>7.1f} {s.p95_ms:>7.1f} "
            f"{s.p99_ms:>7.1f} {pin} {s.errors:>6} {s.busy_replies:>5} "
            f"{s.server_cpu_us:>7,.0f} {s.server_sys_share:>4.0%} {pg:>5} "
            f"{s.redis_cpu_us:>5,.0f} "
            f"{s.client_cpu_us:>7,.0f} {s.host_busy:>5.0%} {sum(s.redis_per_hop.values()):>5.1f}"
        )
    return lines


def target_table(targets: Sequence[Target]) -> list[str]:
    lines = [f"{'target':<44} {'goal':<12} {'measured':>10}  result", "-" * 80]
    for t in targets:
        shown = "-" if t.value is None else f"{t.value:,.3g}" if abs(t.value) < 1000 else f"{t.value:,.0f}"
        verdict = "not measured" if t.met is None else "MET" if t.met else "MISSED"
        lines.append(f"{t.name:<44} {t.goal:<12} {shown:>10}  {verdict}")
    return lines


def targets(keys: Mapping[str, Any], concurrency: Sequence[int]) -> list[Target]:
    """Issue 5's targets, each against the key that measures it (indented rows: the same goal, other loads)."""
    low, high = concurrency[0], concurrency[-1]
    rows = [
        ("hop throughput / Redis baseline (SQLite)", "ratio.hop_vs_redis_baseline", ">= 0.6"),
        ("  same, PostgreSQL", f"ratio.postgres.c{low}.hop_vs_redis_baseline", ">= 0.6"),
        ("  same, no-PIN mix (SQLite)", "ratio.hop_nopin_vs_redis_baseline", ">= 0.6"),
        ("  same, no-PIN mix (PostgreSQL; issue 10)", f"ratio.postgres.c{low}.nopin_vs_redis_baseline", ">= 0.45"),
        (
            "API GET /wallet / bare JSON (SQLite; issue 10)",
            f"ratio.sqlite.c{low}.api_wallet_vs_json_baseline",
            ">= 0.4",
        ),
    ]
    for backend in ("sqlite", "postgres"):
        rows += [
            (f"p99 at {low} phones, {backend}, full mix", f"hop.{backend}.c{low}.p99_ms", "<= 25 ms"),
            ("  non-PIN hops of that mix", f"hop.{backend}.c{low}.non_pin_p99_ms", "<= 25 ms"),
            ("  no-PIN mix", f"hop_nopin.{backend}.c{low}.p99_ms", "<= 25 ms"),
            ("  full mix, paced like people", f"hop_paced.{backend}.c{low}.p99_ms", "<= 25 ms"),
            ("  non-PIN hops of the paced mix", f"hop_paced.{backend}.c{low}.non_pin_p99_ms", "<= 25 ms"),
        ]
    rows += [
        (f"errors at {high} phones, {b}, full mix", f"hop.{b}.c{high}.errors", "== 0") for b in ("sqlite", "postgres")
    ]
    rows += [
        ("p99 at 1M users / 1k users", "scale.users_1m_vs_1k_p99_ratio", "<= 1.2"),
        ("2 processes / 1 process", "scale.procs_2_vs_1_ratio", ">= 1.6"),
        ("session size, bytes", "session.bytes", "<= 512"),
    ]
    return [_target(name, key, keys.get(key), goal) for name, key, goal in rows]


def _target(name: str, key: str, value: Any, goal: str) -> Target:
    """``goal`` is ``<op> <number> [unit]``: ``>= 0.6``, ``<= 25 ms``, ``== 0``."""
    op, limit = goal.split()[:2]
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return Target(name, key, None, goal, None)
    met = {">=": value >= float(limit), "<=": value <= float(limit), "==": value == float(limit)}[op]
    return Target(name, key, float(value), goal, met)


def _section(title: str) -> list[str]:
    return ["", f"== {title} " + "=" * max(0, 100 - len(title))]


def render(report: Report, *, seconds: float, rounds: int, concurrency: Sequence[int]) -> str:
    keys, summaries = report.keys, report.summaries
    lines = _section(f"USSD hops over HTTP: {rounds} rounds x {seconds:g} s per phase, order flipped each round")
    lines += [
        f"full mix: {keys.get('bench.mix')}; PIN: {keys.get('bench.pin_kdf')}; "
        f"{keys.get('bench.hop_users'):,} funded users; Redis sessions",
        "hops/s: median over rounds; latency percentiles pooled over rounds. noPIN p99 / PIN p50: the full mix's",
        "hops without / with a PIN check; PIN%: the share of PIN hops among those answered (the mix offers "
        f"{keys.get('bench.pin_hop_share_offered', 0):.1%}).",
        "server / PG / redis / loadgen: CPU microseconds per good hop of the server (all its processes; SQLite runs",
        "inside it; sys: the kernel's share, mostly socket syscalls), its PostgreSQL backends, redis-server and the",
        "load generator. host: the machine's CPU in use (2 cores, everyone's processes). cmds: Redis commands per hop.",
        "Phones send their next hop as soon as a reply arrives (closed loop: mean latency = phones / throughput),",
        f"except 'paced' ones, which pause {keys.get('bench.think_s')} s on average before each hop, as people do.",
        "Full-mix phases ramp up before their window opens (PIN hops take seconds to queue up to a steady state).",
        "",
    ]
    lines += hop_table([s for k, s in summaries.items() if not k.startswith("scale.")])
    low = concurrency[0]
    lines += ["", "ratios (median of per-round ratios):"]
    for backend in ("sqlite", "postgres"):
        lines.append(
            f"  {backend:<9} {low:>3} phones: ours / Redis baseline "
            f"{keys[f'ratio.{backend}.c{low}.hop_vs_redis_baseline']:.3f}, ours / bare "
            f"{keys[f'ratio.{backend}.c{low}.hop_vs_bare_baseline']:.3f}"
        )
    for backend in ("sqlite", "postgres"):
        lines.append(
            f"  {backend:<9} {low:>3} phones: no-PIN mix / Redis baseline "
            f"{keys[f'ratio.{backend}.c{low}.nopin_vs_redis_baseline']:.3f}"
        )
    api = f"ratio.sqlite.c{low}.api_wallet_vs_json_baseline"
    if api in keys:
        lines.append(f"  sqlite    {low:>3} clients: REST API GET /wallet / bare JSON baseline {keys[api]:.3f}")
    gift = [k.removesuffix(".gifts_per_s") for k in keys if k.endswith(".gifts_per_s")]
    for key in gift:
        lines.append(
            f"  {label(key):<38} {keys[f'{key}.gifts_per_s']:>6.1f} gifts/s, "
            f"{keys[f'{key}.server_cpu_ms_per_gift']:.2f} ms of server CPU per gift"
        )
    if "ratio.sqlite.api_gift_vs_ussd_gift" in keys:
        lines.append(
            f"    REST API / USSD: gifts/s {keys['ratio.sqlite.api_gift_vs_ussd_gift']:.3f}, server CPU per gift "
            f"{keys['ratio.sqlite.api_gift_vs_ussd_gift_server_cpu']:.3f} (a USSD gift is 5 hops, one with the PIN)"
        )
    for what, name in (
        ("uvloop_vs_asyncio", "uvloop / asyncio loop"),
        ("hiredis_vs_python_parser", "hiredis / python"),
    ):
        key = f"ab.sqlite.c{low}.{what}"
        if key in keys:
            lines.append(
                f"  A/B, SQLite no-PIN mix: {name}: hops/s {keys[key]:.3f}, "
                f"server CPU per hop {keys[f'{key}_server_cpu']:.3f}"
            )
    lines.append(f"  2 processes / 1 ({keys['scale.procs.workload']}): {keys['scale.procs_2_vs_1_ratio']:.3f}")
    lines.append(
        f"    every process of a hop together (server, PostgreSQL, Redis, load generator) spends "
        f"{keys['scale.procs.all_cpu_us_per_hop']:,.0f} us of CPU per hop: this machine's cores cap any number of"
    )
    lines.append(
        f"    server processes at {keys['scale.procs.host_ceiling_hops_per_s']:,.0f} hops/s = "
        f"{keys['scale.procs.host_ceiling_vs_1_ratio']:.2f}x one process"
    )
    lines.append("Redis commands per hop, by command:")
    for key in (f"baseline.redis.c{low}", f"hop_nopin.sqlite.c{low}", f"hop.sqlite.c{low}"):
        if key in summaries:
            per_hop = ", ".join(f"{name} {n:.2f}" for name, n in summaries[key].redis_per_hop.items() if n >= 0.005)
            lines.append(f"  {label(key):<38} {per_hop}")
    scale = [s for k, s in summaries.items() if k.startswith("scale.")]
    if scale:
        lines += _section(f"Scaling with users ({keys['scale.users.backend']}): {keys['scale.users.workload']}")
        lines += hop_table(scale)
        ratio_keys = [k for k in keys if k.startswith("scale.users_") and "_ratio" in k]
        lines += [f"  {k}: {keys[k]:.3f}" for k in ratio_keys]
        lines.append(
            "  (p99_ratio: of the p99s pooled over rounds; round_median: the median of per-round p99 ratios;"
            " server_cpu: of server CPU per hop)"
        )
    lines += _section("Session in Redis")
    lines.append(
        f"  mid-journey ({keys.get('session.screen')}): {keys.get('session.bytes')} bytes of msgpack; "
        f"Redis MEMORY USAGE {keys.get('session.redis_memory_usage_bytes')} bytes; after the load: median "
        f"{keys.get('session.bytes_median_after_load')}, max {keys.get('session.bytes_max_after_load')} bytes"
    )
    verified = [f"{k.split('.ledger')[0]} {v:,}" for k, v in keys.items() if k.endswith("ledger_verified_transfers")]
    lines.append(f"  enerlectra ledger verify passed: {', '.join(verified)} transfers")
    if report.lines:
        lines += _section("Ledger benchmark (python -m bench.ledger, shorter phases)")
        lines += report.lines
    lines += _section("Targets (issues 5 and 10)")
    lines += target_table(report.targets)
    for note in report.notes:
        lines += ["", note]
    return "\n".join(lines)
