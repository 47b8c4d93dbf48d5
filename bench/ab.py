"""A/B: the same load on several variants of our server, alternated in one run.

``python -m bench.ab [--backend sqlite|postgres] [--mix nopin|full|light] [--rounds N] [--seconds S] VARIANT...``

A variant is ``name`` (the server as it is), ``name:ENV=VALUE[,ENV=VALUE...]``
(the same code with other settings, e.g. ``asyncio:EVENT_LOOP=asyncio``) or
``name@/path/to/checkout[:ENV=VALUE...]`` (another copy of the project, e.g.
the commit before a change, served with this interpreter and its packages).
The first variant is the reference.

Every variant's server runs on the same database (prepared like ``make
bench``'s: migrated, demo-seeded, funded users) and the same throwaway
redis-server (a database each), behind the same load generator. Phases run in
rounds whose order flips every round (ABBA); a figure is the median over
rounds and a ratio the median of per-round ratios, so drift on a shared
machine cancels. Reported per variant: hops/s, p99, and CPU per hop of the
server, of PostgreSQL's backends, of redis-server and of the load generator.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench import population, procs
from bench.hops import PEPPER, Bench, Options, Phase, progress
from bench.journeys import LIGHT_MIX, MIX, NOPIN_MIX, MixSource
from bench.procs import BenchError
from bench.report import Summary, round_ratio

MIXES = {"nopin": NOPIN_MIX, "full": MIX, "light": LIGHT_MIX}
USERS = 5_000


@dataclass(frozen=True, slots=True)
class Variant:
    name: str
    env: dict[str, str]
    tree: Path | None = None

    @classmethod
    def parse(cls, text: str) -> Variant:
        head, _, settings = text.partition(":")
        name, _, tree = head.partition("@")
        env = {}
        for pair in filter(None, settings.split(",")):
            key, sep, value = pair.partition("=")
            if not sep or not key:
                raise ValueError(f"{text!r}: settings are ENV=VALUE pairs separated by commas")
            env[key.strip()] = value.strip()
        if not name:
            raise ValueError(f"{text!r}: a variant needs a name")
        return cls(name, env, Path(tree).resolve() if tree else None)


async def run(variants: Sequence[Variant], backend: str, mix: str, opts: Options) -> dict[str, object]:
    keys: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="enerlectra-ab-") as directory:
        work = Path(directory)
        async with procs.redis_server(work) as redis, contextlib.AsyncExitStack() as stack:
            bench = Bench(opts, work, redis)
            url = await stack.enter_async_context(bench.database("ab", backend))
            await bench.prepare(url, USERS, USERS)
            phones = population.Population(USERS, USERS, 0, 0).phones()
            phases = []
            for i, variant in enumerate(variants):
                proc, ussd = await stack.enter_async_context(
                    procs.server(
                        f"ab-{variant.name}",
                        work,
                        database_url=url,
                        redis_url=redis.database_url(i + 1),
                        pepper=PEPPER,
                        env=variant.env,
                        tree=variant.tree,
                    )
                )
                c = opts.concurrency[0]
                source = MixSource(population.phone, USERS, MIXES[mix], concurrency=c, counterparts=phones)
                ramp = 2.0 if mix == "full" else 0.0
                pg = url if backend == "postgres" else None
                phases.append(Phase(f"ab.{variant.name}", ussd, source, c, proc.pid, pg, 0.0, ramp))
            samples = await bench.alternate(phases, "ab")
            reference = phases[0].key
            for phase, variant in zip(phases, variants, strict=True):
                summary = Summary.of(phase.key, samples[phase.key])
                keys |= summary.keys()
                keys[f"{phase.key}.variant"] = (
                    ", ".join(
                        [*(f"{k}={v}" for k, v in variant.env.items()), *([str(variant.tree)] if variant.tree else [])]
                    )
                    or "as is"
                )
                if phase.key != reference:
                    keys[f"{phase.key}.vs_{variants[0].name}"] = round(round_ratio(samples, phase.key, reference), 4)
                    keys[f"{phase.key}.server_cpu_vs_{variants[0].name}"] = round(
                        statistics.median(
                            (a.server_cpu_s / max(a.result.hops, 1)) / (b.server_cpu_s / max(b.result.hops, 1))
                            for a, b in zip(samples[phase.key], samples[reference], strict=True)
                        ),
                        4,
                    )
            await bench.verify(url, f"ab {backend}")
    keys |= {"ab.backend": backend, "ab.mix": mix, "ab.rounds": opts.rounds, "ab.seconds": opts.seconds}
    return keys


def render(keys: dict[str, object], variants: Sequence[Variant]) -> str:
    ref = variants[0].name
    lines = [
        f"A/B on {keys['ab.backend']}, {keys['ab.mix']} mix, {keys['ab.rounds']} rounds of {keys['ab.seconds']} s "
        "(CPU in us per hop; ratios: median of per-round ratios to the first variant)",
        f"{'variant':<16} {'hops/s':>8} {'p99 ms':>8} {'server':>8} {'pg':>7} {'redis':>7} {'client':>7} "
        f"{'hops/s vs':>10} {'cpu vs':>8}  settings",
    ]
    for v in variants:
        k = f"ab.{v.name}"
        pg = keys.get(f"{k}.postgres_cpu_us_per_hop", "")
        cpu = [keys[f"{k}.{what}_cpu_us_per_hop"] for what in ("server", "redis", "client")]
        versus = keys.get(f"{k}.vs_{ref}", 1.0), keys.get(f"{k}.server_cpu_vs_{ref}", 1.0)
        lines.append(
            f"{v.name:<16} {keys[f'{k}.hops_per_s']:>8} {keys[f'{k}.p99_ms']:>8} {cpu[0]:>8} {pg:>7} {cpu[1]:>7} "
            f"{cpu[2]:>7} {versus[0]:>10} {versus[1]:>8}  {keys[f'{k}.variant']}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ab", description=__doc__.split("\n")[0])
    parser.add_argument("variants", nargs="+", help="name, name:ENV=V,ENV=V or name@/path/to/checkout[:ENV=V]")
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--mix", choices=tuple(MIXES), default="nopin")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--phones", type=int, default=50)
    parser.add_argument("--output", type=Path, help="also write the flat keys here (JSON)")
    args = parser.parse_args(argv)
    try:
        variants = [Variant.parse(v) for v in args.variants]
    except ValueError as exc:
        parser.error(str(exc))
    if len({v.name for v in variants}) != len(variants):
        parser.error("variant names must differ")
    opts = Options(
        seconds=args.seconds,
        rounds=args.rounds,
        warmup=args.warmup,
        concurrency=(args.phones,),
        scale_users=(),
        scale_backend=args.backend,
        ledger=False,
        profile=False,
        output=args.output or Path("/dev/null"),
    )
    try:
        keys = asyncio.run(run(variants, args.backend, args.mix, opts))
    except BenchError as exc:
        print(f"A/B FAILED: {exc}", file=sys.stderr)
        return 1
    print(render(keys, variants))
    if args.output:
        args.output.write_text(json.dumps(keys, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        progress(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
