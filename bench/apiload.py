"""The REST API's load: N clients, each sending its next request as soon as the last is answered.

The counterpart of :mod:`bench.loadgen` for ``/api/v1``: the same closed
loop, ramp, measured window, drain and :class:`~bench.loadgen.PhaseResult`,
so API phases take part in the hop benchmark's ABBA rounds and summaries
like any other. A request is good when it gets the status it expects and an
envelope saying ``success``. A ``503`` (a PIN check the server shed: nothing
was done) is sent again after a pause, with the same ``Idempotency-Key``,
up to three times, as the USSD phones retype a PIN they were told is busy.

Signing users in (``POST /api/v1/session``, one PIN check each) is
:func:`sign_in`, done once before the phases.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp

from bench.loadgen import ERROR_SAMPLES, REQUEST_TIMEOUT_S, PhaseResult, connector, drive

PREFIX = "/api/v1"
BUSY_RETRIES = 3
BUSY_PAUSE_S = 2.0


@dataclass(frozen=True, slots=True)
class Request:
    name: str  # what it is, for the phase's counts (``wallet``, ``gift``)
    method: str
    path: str  # below /api/v1
    token: str
    body: Any = None
    idempotent: bool = False  # send a fresh Idempotency-Key
    expect: int = 200
    pin: bool = False  # it checks a PIN: its latency is counted as a PIN hop's


class RequestSource(Protocol):
    """Hands client ``slot`` its next request; a slot is never asked twice at once."""

    def next(self, slot: int) -> Request: ...


class BenchApiError(RuntimeError):
    pass


class _Clients:
    def __init__(self, http: aiohttp.ClientSession, origin: str, result: PhaseResult, begin: float, end: float) -> None:
        self.http = http
        self.origin = origin
        self.result = result
        self.begin = begin
        self.end = end
        self.rng = random.Random(11)

    def fail(self, kind: str, detail: str) -> None:
        self.result.errors[kind] += 1
        if len(self.result.error_samples) < ERROR_SAMPLES:
            self.result.error_samples.append(f"{kind}: {detail[:160]!r}")

    async def send(self, request: Request) -> None:
        headers = {"Authorization": f"Bearer {request.token}"}
        if request.idempotent:
            headers["Idempotency-Key"] = str(uuid.uuid4())
        for attempt in range(BUSY_RETRIES + 1):
            started = time.perf_counter()
            try:
                async with self.http.request(
                    request.method, f"{self.origin}{PREFIX}{request.path}", json=request.body, headers=headers
                ) as response:
                    status = response.status
                    body = await response.json(content_type=None)
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                self.fail("client_error", f"{type(exc).__name__}: {exc}")
                return
            done = time.perf_counter()
            if status == 503 and attempt < BUSY_RETRIES:
                if self.begin <= done <= self.end:
                    self.result.busy_replies += 1
                await asyncio.sleep(BUSY_PAUSE_S * (0.5 + self.rng.random()))
                continue
            break
        if status != request.expect or not isinstance(body, dict) or body.get("success") is not True:
            self.fail(f"http_{status}", f"{request.method} {request.path}: {body}")
            return
        if self.begin <= done <= self.end:
            self.result.hops += 1
            latency = (done - started) * 1000
            (self.result.pin_latencies_ms if request.pin else self.result.menu_latencies_ms).append(latency)
            self.result.journeys[request.name] += 1

    async def client(self, source: RequestSource, slot: int) -> None:
        while time.perf_counter() < self.end:
            await self.send(source.next(slot))


async def run_api_phase(
    url: str,
    source: RequestSource,
    *,
    concurrency: int,
    seconds: float,
    label: str,
    think_s: float = 0.0,
    ramp_s: float = 0.0,
    on_window: Callable[[bool], None] | None = None,
) -> PhaseResult:
    """``concurrency`` clients sending ``source``'s requests to the server at ``url`` (its origin or /ussd URL)."""
    del think_s  # API clients never pause: a closed loop at full speed
    origin = url.removesuffix("/ussd")
    result = PhaseResult(label=label, concurrency=concurrency, window_s=seconds)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S + BUSY_RETRIES * (REQUEST_TIMEOUT_S + BUSY_PAUSE_S))
    async with aiohttp.ClientSession(connector=connector(concurrency), timeout=timeout) as http:
        start = time.perf_counter()
        clients = _Clients(http, origin, result, start + ramp_s, start + ramp_s + seconds)

        calls = [clients.client(source, slot) for slot in range(concurrency)]
        await drive(result, clients.begin, clients.end, calls, on_window)
    return result


class WalletSource:
    """``GET /wallet``, each client with its own signed-in user."""

    def __init__(self, tokens: Sequence[str]) -> None:
        self._tokens = list(tokens)

    def next(self, slot: int) -> Request:
        return Request("wallet", "GET", "/wallet", self._tokens[slot % len(self._tokens)])


class GiftSource:
    """``POST /gifts`` of ``wh`` to another API user, with the PIN and a fresh Idempotency-Key.

    Client ``slot`` sends as users ``slot``, ``slot + concurrency``, ... in
    turn, so no user gets near the daily gift cap or the PIN checks a minute.
    """

    def __init__(self, users: Sequence[tuple[str, str]], pin: str, wh: int, concurrency: int) -> None:
        if len(users) < 2 * concurrency:
            raise ValueError(f"{len(users)} users are too few for {concurrency} gifting clients")
        self._users = list(users)  # (phone, token)
        self._pin = pin
        self._wh = wh
        self._concurrency = concurrency
        self._turn = [0] * concurrency

    def next(self, slot: int) -> Request:
        per_slot = len(range(slot, len(self._users), self._concurrency))
        i = slot + (self._turn[slot] % per_slot) * self._concurrency
        sender, receiver = self._users[i], self._users[(i + 1) % len(self._users)]
        self._turn[slot] += 1
        body = {"to": receiver[0], "wh": self._wh, "pin": self._pin}
        return Request("gift", "POST", "/gifts", sender[1], body, idempotent=True, expect=201, pin=True)


async def sign_in(origin: str, phones: Sequence[str], pin: str, *, parallel: int = 4) -> list[str]:
    """A token per phone (``POST /session``: a PIN check each, a few at a time, so none is shed as busy)."""
    slots = asyncio.Semaphore(parallel)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:

        async def one(phone: str) -> str:
            async with slots:
                for _ in range(BUSY_RETRIES + 1):
                    async with http.post(f"{origin}{PREFIX}/session", json={"phone": phone, "pin": pin}) as reply:
                        body = await reply.json(content_type=None)
                        if reply.status == 201:
                            return str(body["data"]["token"])
                        if reply.status != 503:
                            raise BenchApiError(f"signing {phone} in: {reply.status} {body}")
                    await asyncio.sleep(BUSY_PAUSE_S)
                raise BenchApiError(f"signing {phone} in: busy {BUSY_RETRIES + 1} times")

        return list(await asyncio.gather(*(one(phone) for phone in phones)))
