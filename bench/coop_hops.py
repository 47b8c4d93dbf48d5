"""Co-op hops on USSD: a member of a 10,000-member co-op casting a vote, next to a balance journey.

A vote is the journey *My co-op* (7) -> Proposals -> the open proposal -> 1 Yes -> PIN: its last
hop takes the co-op's lock, snapshots nothing (the electorate was fixed when the proposal was
made), adjusts the tally and appends to the governance log. A balance journey is a dial and
*My balance*. Both run on one server over the same database, phase after phase in rounds whose
order flips every round (ABBA), by the same number of phones pacing like people; the figures are
p99s pooled over rounds. The PIN hop's scrypt runs at the bench users' test cost (see
:mod:`bench.coops`), so what is compared is the co-op's work, not the KDF's.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

from bench import population, procs
from bench.journeys import screen
from bench.loadgen import Journey, PhaseResult, Step, percentile, run_phase

PHONES = 16
THINK_S = 0.3  # a pause before each hop: below saturation, where latency is a person's experience
SECONDS = 6.0
ROUNDS = 4
PEPPER = "enerlectra-bench-pepper-not-a-secret"


class VoteSource:
    """Each phone votes for members of its own slice of the co-op, in turn (a member may vote again: it changes)."""

    def __init__(self, members: int, coop_name: str, number: str, *, concurrency: int) -> None:
        self._members, self._concurrency = members, concurrency
        self._turn = [0] * concurrency
        pin = population.BENCH_PIN
        self._steps = (
            Step("", screen("home.title")),
            Step("7", screen("coop.menu", coop_name=coop_name)),
            Step("7*2", screen("coop.proposals")),
            Step("7*2*1", screen("coop.proposal", number=number)),
            Step("7*2*1*1", "CON Vote "),
            Step(f"7*2*1*1*{pin}", "END Vote ", pin=True, busy=screen("err.pin_busy")),
        )

    def next(self, slot: int) -> Journey:
        index = slot + (self._turn[slot] % (self._members // self._concurrency)) * self._concurrency
        self._turn[slot] += 1
        return Journey("vote", population.phone(index), self._steps)


class BalanceSource:
    def __init__(self, members: int, *, concurrency: int) -> None:
        self._members, self._concurrency = members, concurrency
        self._turn = [0] * concurrency

    def next(self, slot: int) -> Journey:
        index = slot + (self._turn[slot] % (self._members // self._concurrency)) * self._concurrency
        self._turn[slot] += 1
        steps = (Step("", screen("home.title")), Step("1", screen("wallet.balance")))
        return Journey("balance", population.phone(index), steps)


def _checked(result: PhaseResult) -> PhaseResult:
    if result.error_count:
        raise procs.BenchError(f"{result.label}: {dict(result.errors)} e.g. {result.error_samples[:2]}")
    return result


async def vote_against_balance(
    database_url: str, work: Path, *, members: int, coop_name: str, number: str, redis_url: str
) -> dict[str, float]:
    """p99 of the vote hop and of a balance journey's hops, and their ratio per round (median)."""
    votes, balances = (
        VoteSource(members, coop_name, number, concurrency=PHONES),
        BalanceSource(members, concurrency=PHONES),
    )
    vote_pin: list[float] = []
    vote_menu: list[float] = []
    balance: list[float] = []
    ratios: list[float] = []
    async with procs.server("serve-coops", work, database_url=database_url, redis_url=redis_url, pepper=PEPPER) as (
        _service,
        url,
    ):
        await run_phase(url, votes, concurrency=PHONES, seconds=2.0, label="warm-up", think_s=THINK_S)
        for r in range(ROUNDS):
            order = ("vote", "balance") if r % 2 == 0 else ("balance", "vote")
            round_p99: dict[str, float] = {}
            for side in order:
                if side == "vote":
                    got = _checked(
                        await run_phase(url, votes, concurrency=PHONES, seconds=SECONDS, label="vote", think_s=THINK_S)
                    )
                    vote_pin += got.pin_latencies_ms
                    vote_menu += got.menu_latencies_ms
                    round_p99[side] = percentile(got.pin_latencies_ms, 99)
                else:
                    got = _checked(
                        await run_phase(
                            url, balances, concurrency=PHONES, seconds=SECONDS, label="balance", think_s=THINK_S
                        )
                    )
                    balance += got.menu_latencies_ms
                    round_p99[side] = percentile(got.menu_latencies_ms, 99)
            ratios.append(round_p99["vote"] / round_p99["balance"])
            progress(
                f"  round {r + 1}: vote hop p99 {round_p99['vote']:.1f} ms, balance p99 {round_p99['balance']:.1f} ms"
            )
    return {
        "vote_hop_p99_ms": percentile(vote_pin, 99),
        "vote_menu_hops_p99_ms": percentile(vote_menu, 99),
        "balance_hops_p99_ms": percentile(balance, 99),
        "vote_over_balance_p99": statistics.median(ratios),
        "votes_cast_on_ussd": float(len(vote_pin)),
    }


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
