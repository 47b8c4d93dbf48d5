"""A small closed-loop load generator: N virtual phones, each running journeys back to back.

One gateway client (the simulator's ``GatewayClient``, as the tests use)
on one aiohttp ClientSession with a connection limit above the number of
phones, so no phone ever waits for a connection and every phone keeps one
keep-alive connection, like a gateway's pool would. Every phone sends one
hop, waits for the reply, checks it and sends the next, so concurrency is
exactly the number of phones. The same generator drives our server and the
baselines: only the journeys and their expected replies differ.

A phase may first ramp up: phones run but nothing counts until the load has
reached its steady state (with PIN journeys, phones pile up waiting for the
KDF over several seconds, and a window that opens at once would count mostly
the quick hops). Throughput counts the good hops answered inside the window
that follows. At the
deadline phones start no new journey but finish the one they are in (a
journey cut in half would leave a session mid-flow, and that phone's next
dial would be offered a resume), bounded by ``DRAIN_LIMIT_S``; hops answered
after the deadline count for errors, not for throughput or latency.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp

from simulator.protocol import Endpoints, GatewayClient, Timeouts, new_session_id

SERVICE_CODE = "*384*2025#"
NETWORK_CODE = "64502"  # Airtel Zambia (MCC 645, MNC 02)
REQUEST_TIMEOUT_S = 15.0  # Africa's Talking gives an app about 10-15 s per hop
DRAIN_LIMIT_S = 30.0  # after the deadline, in-flight journeys get this long to finish
MAX_HOPS_PER_PHASE = 5_000_000  # a count bound besides the time bound
ERROR_SAMPLES = 5


@dataclass(frozen=True, slots=True)
class Step:
    """One hop: the cumulative text the gateway sends and what the reply must start with."""

    text: str
    expect: str
    pin: bool = False  # a PIN hop: it pays the scrypt KDF
    busy: str = ""  # a reply starting so asks for this step's input again (a PIN check the server shed)


@dataclass(frozen=True, slots=True)
class Journey:
    name: str
    phone: str  # E.164
    steps: tuple[Step, ...]


class JourneySource(Protocol):
    """Hands phone ``slot`` its next journey; a slot is never asked twice at once."""

    def next(self, slot: int) -> Journey: ...


# Replies that mean the server gave up, whatever screen was expected.
_FAILURE_WORDS = ("Sorry", "busy")
RESUME_OFFER = "CON Your last session was cut off"
# A person told "busy, enter your PIN again" reads it and types the PIN again; give up after a few.
BUSY_RETRY_PAUSE_S = 2.0
BUSY_RETRIES = 3


@dataclass(slots=True)
class PhaseResult:
    label: str
    concurrency: int
    window_s: float
    hops: int = 0  # good hops answered inside the window
    busy_replies: int = 0  # PIN hops answered "busy, enter your PIN again" (retried; not in hops)
    menu_latencies_ms: list[float] = field(default_factory=list)  # of those hops, without a PIN check
    pin_latencies_ms: list[float] = field(default_factory=list)  # of those hops, with one (scrypt)
    journeys: Counter[str] = field(default_factory=Counter)  # completed journeys by name
    errors: Counter[str] = field(default_factory=Counter)  # by kind; one per failed hop
    error_samples: list[str] = field(default_factory=list)
    client_cpu_s: float = 0.0  # this process's CPU over the window
    drain_s: float = 0.0

    @property
    def hops_per_s(self) -> float:
        return self.hops / self.window_s

    @property
    def latencies_ms(self) -> list[float]:
        return self.menu_latencies_ms + self.pin_latencies_ms

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile, ``q`` in (0, 100]; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered), max(1, math.ceil(q / 100 * len(ordered)))) - 1]


def classify(status: int, body: str, expect: str) -> str | None:
    """None for a good reply, else the kind of error."""
    if status != 200:
        return f"http_{status}"
    if not body.startswith(("CON ", "END ")):
        return "not_con_end"
    if body.startswith("END") and any(word in body for word in _FAILURE_WORDS):
        return "sorry_or_busy"
    if not body.startswith(expect):
        return "resume_offer" if body.startswith(RESUME_OFFER) else "unexpected_screen"
    return None


class _Phase:
    def __init__(self, gateway: GatewayClient, result: PhaseResult, begin: float, end: float, think_s: float) -> None:
        self.gateway = gateway
        self.result = result
        self.begin = begin  # the measured window
        self.end = end
        self.think_s = think_s
        self.rng = random.Random(7)
        self.sent = 0

    def fail(self, kind: str, detail: str) -> None:
        self.result.errors[kind] += 1
        if len(self.result.error_samples) < ERROR_SAMPLES:
            self.result.error_samples.append(f"{kind}: {detail[:160]!r}")

    async def post(self, session_id: str, phone: str, text: str) -> tuple[int, str]:
        form = {
            "sessionId": session_id,
            "serviceCode": SERVICE_CODE,
            "phoneNumber": phone,
            "networkCode": NETWORK_CODE,
            "text": text,
        }
        reply = await self.gateway.post(self.gateway.endpoints.ussd, form)
        return reply.status, reply.body

    async def journey(self, journey: Journey) -> None:
        session_id = new_session_id()
        for step in journey.steps:
            if self.think_s:
                # The person reads the screen and types (or dials): 0.5x to 1.5x the mean think time.
                await asyncio.sleep(self.think_s * (0.5 + self.rng.random()))
            text = step.text
            for retry in range(BUSY_RETRIES + 1):
                self.sent += 1
                started = time.perf_counter()
                try:
                    status, body = await self.post(session_id, journey.phone, text)
                except (aiohttp.ClientError, TimeoutError) as exc:
                    self.fail("client_error", f"{type(exc).__name__}: {exc}")
                    return
                done = time.perf_counter()
                if not (step.busy and status == 200 and body.startswith(step.busy)):
                    break
                if retry == BUSY_RETRIES:
                    # They give up and go back to the main menu, which a later dial does not offer to resume.
                    self.fail("pin_busy_gave_up", f"{journey.name} {text!r}: {body}")
                    with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                        await self.post(session_id, journey.phone, f"{text}*00")
                    return
                if self.begin <= done <= self.end:
                    self.result.busy_replies += 1
                # The gateway appends the input typed again to the cumulative text.
                text = f"{text}*{text.rsplit('*', 1)[-1]}"
                await asyncio.sleep(BUSY_RETRY_PAUSE_S * (0.5 + self.rng.random()))
            error = classify(status, body, step.expect)
            if error is not None:
                self.fail(error, f"{journey.name} {step.text!r} expected {step.expect!r}, got {body}")
                if error == "resume_offer":
                    # An earlier failure left this phone's session mid-flow: decline
                    # the offer so the phone's next journey starts clean.
                    with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                        await self.post(session_id, journey.phone, "2")
                return
            if self.begin <= done <= self.end:
                self.result.hops += 1
                latency = (done - started) * 1000
                (self.result.pin_latencies_ms if step.pin else self.result.menu_latencies_ms).append(latency)
        self.result.journeys[journey.name] += 1

    async def phone(self, source: JourneySource, slot: int) -> None:
        while time.perf_counter() < self.end and self.sent < MAX_HOPS_PER_PHASE:
            await self.journey(source.next(slot))


def connector(concurrency: int) -> aiohttp.TCPConnector:
    # Above the concurrency so a phone never queues for a connection inside the client.
    return aiohttp.TCPConnector(limit=concurrency + 50, limit_per_host=concurrency + 50, ttl_dns_cache=None)


async def drive(
    result: PhaseResult,
    begin: float,
    end: float,
    clients: Sequence[Coroutine[Any, Any, None]],
    on_window: Callable[[bool], None] | None,
) -> None:
    """Run ``clients`` to their end, or until DRAIN_LIMIT_S past ``end``; measure the window ``begin``..``end``.

    ``on_window(True)`` / ``on_window(False)`` run as the window opens and closes (the caller's
    probe: CPU counters and the like), and the client's own CPU over the window lands in ``result``.
    """

    async def window() -> None:
        await asyncio.sleep(max(0.0, begin - time.perf_counter()))
        if on_window is not None:
            on_window(True)
        cpu = time.process_time()
        await asyncio.sleep(max(0.0, end - time.perf_counter()))
        result.client_cpu_s = time.process_time() - cpu
        if on_window is not None:
            on_window(False)

    watcher = asyncio.create_task(window())
    tasks = [asyncio.create_task(client) for client in clients]
    try:
        async with asyncio.timeout(max(0.0, end - time.perf_counter()) + DRAIN_LIMIT_S):
            await asyncio.gather(watcher, *tasks)
    except TimeoutError:
        result.errors["drain_timeout"] += sum(not t.done() for t in tasks)
    finally:
        for task in (watcher, *tasks):
            task.cancel()
        await asyncio.gather(watcher, *tasks, return_exceptions=True)
    result.drain_s = max(0.0, time.perf_counter() - end)


async def run_phase(
    url: str,
    source: JourneySource,
    *,
    concurrency: int,
    seconds: float,
    label: str,
    think_s: float = 0.0,
    ramp_s: float = 0.0,
    on_window: Callable[[bool], None] | None = None,
) -> PhaseResult:
    """``concurrency`` phones running journeys from ``source`` against ``url``: ``ramp_s``, then ``seconds`` measured.

    ``think_s``: mean pause before each hop (0: each phone sends its next hop
    as soon as the reply arrives, the most load N phones can make).
    ``on_window(True)`` / ``on_window(False)`` run as the measured window opens
    and closes, so resource counters cover exactly the hops that are counted.
    """
    result = PhaseResult(label=label, concurrency=concurrency, window_s=seconds)
    async with aiohttp.ClientSession(connector=connector(concurrency)) as http:
        gateway = GatewayClient(http, Endpoints.from_url(url), timeouts=Timeouts(app_reply_s=REQUEST_TIMEOUT_S))
        start = time.perf_counter()
        phase = _Phase(gateway, result, start + ramp_s, start + ramp_s + seconds, think_s)
        phones = [phase.phone(source, slot) for slot in range(concurrency)]
        await drive(result, phase.begin, phase.end, phones, on_window)
    return result
