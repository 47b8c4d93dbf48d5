"""What the provider adapters share: one HTTP call that never raises, a token cache, exact amounts and numbers.

Nothing here logs a header, a token, a key or a body: the adapters log the
attempt id, the HTTP status and the provider's codes only.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import aiohttp

# Bodies are small; a provider that answers megabytes is not answering us.
MAX_BODY = 256 * 1024
_E164_ZM = re.compile(r"^\+260(\d{9})$")
_KWACHA = re.compile(r"^(\d{1,12})(?:\.(\d{1,2}))?$")


@dataclass(frozen=True, slots=True)
class Reply:
    """An HTTP answer; ``status`` 0 when there was none (``detail`` says why: a timeout, a refused connection)."""

    status: int
    body: bytes = b""
    detail: str = ""

    @property
    def answered(self) -> bool:
        return self.status != 0

    def json(self) -> object:
        """The body as JSON (numbers with a fraction as Decimal, never float); None when it is not JSON."""
        try:
            return json.loads(self.body, parse_float=Decimal)
        except (ValueError, UnicodeDecodeError, RecursionError):
            return None


async def call(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    headers: Mapping[str, str],
    timeout_s: float,
    body: bytes | None = None,
) -> Reply:
    """One request, bounded by ``timeout_s`` from connecting to the last byte of the answer. Never raises."""
    try:
        async with session.request(
            method,
            url,
            headers=dict(headers),
            data=body,
            timeout=aiohttp.ClientTimeout(total=timeout_s),
            allow_redirects=False,
        ) as response:
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.content.iter_chunked(16 * 1024):
                size += len(chunk)
                if size > MAX_BODY:
                    return Reply(response.status, detail="body too large")
                chunks.append(chunk)
            return Reply(response.status, b"".join(chunks))
    except TimeoutError:
        return Reply(0, detail="timeout")
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        return Reply(0, detail=f"no answer ({type(exc).__name__})")


def json_bytes(body: object) -> bytes:
    """``body`` as JSON, each Decimal written as the exact number it is (``json`` cannot, without a float)."""
    numbers: list[str] = []

    def swap(value: object) -> object:
        if isinstance(value, Decimal):
            numbers.append(format(value, "f"))
            return f"\x00{len(numbers) - 1}\x00"
        if isinstance(value, Mapping):
            return {key: swap(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [swap(item) for item in value]
        return value

    text = json.dumps(swap(body), separators=(",", ":"))
    return re.sub(r'"\\u0000(\d+)\\u0000"', lambda m: numbers[int(m.group(1))], text).encode("utf-8")


def kwacha_text(ngwee: int) -> str:
    """1999999 -> ``"19999.99"``; 1 -> ``"0.01"`` (always two decimals)."""
    kwacha, rest = divmod(ngwee, 100)
    return f"{kwacha}.{rest:02d}"


def parse_kwacha(value: object) -> int | None:
    """An amount as a provider writes it (``"19999.99"``, a JSON number read as Decimal, an int) -> ngwee.

    None for a negative amount, more than two decimals, a float or anything that is not a number.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value * 100 if value >= 0 else None
    if isinstance(value, Decimal):
        try:
            if value.is_nan() or value.adjusted() > 12:
                return None
            scaled = value * 100
            return int(scaled) if value >= 0 and scaled == scaled.to_integral_value() else None
        except (InvalidOperation, ValueError, OverflowError):
            return None
    if not isinstance(value, str):
        return None
    match = _KWACHA.match(value.strip())
    if match is None:
        return None
    return int(match.group(1)) * 100 + int((match.group(2) or "").ljust(2, "0"))


def national_number(msisdn: str) -> str | None:
    """``+260961234567`` -> ``961234567`` (Airtel's msisdn); None if it is not a Zambian E.164 number."""
    match = _E164_ZM.match(msisdn)
    return match.group(1) if match else None


def party_id(msisdn: str) -> str | None:
    """``+260961234567`` -> ``260961234567`` (MTN's MSISDN partyId)."""
    national = national_number(msisdn)
    return None if national is None else "260" + national


@dataclass(slots=True)
class _Token:
    value: str
    expires_at: float


Fetch = Callable[[], Awaitable[tuple[str, float] | None]]


class TokenCache:
    """One access token, fetched when needed, reused until ``margin_s`` before it expires.

    ``fetch`` returns (token, lifetime in seconds) or None when the provider
    gave none. Concurrent callers share one fetch.
    """

    def __init__(self, fetch: Fetch, *, margin_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._fetch = fetch
        self._margin_s = margin_s
        self._clock = clock
        self._token: _Token | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> str | None:
        async with self._lock:
            token = self._token
            if token is not None and self._clock() < token.expires_at:
                return token.value
            fetched = await self._fetch()
            if fetched is None:
                return None
            value, lifetime_s = fetched
            margin = min(self._margin_s, lifetime_s / 4)
            self._token = _Token(value, self._clock() + max(lifetime_s - margin, 0.0))
            return value

    def invalidate(self, value: str) -> None:
        """Forget ``value`` (the provider refused it); a newer token fetched meanwhile stays."""
        if self._token is not None and self._token.value == value:
            self._token = None

    async def send(self, request: Callable[[str], Awaitable[Reply]]) -> Reply:
        """``request(token)``; on a 401 the token is dropped and the request sent once more with a fresh one."""
        token = await self.get()
        if token is None:
            return Reply(0, detail="no access token")
        reply = await request(token)
        if reply.status != 401:
            return reply
        self.invalidate(token)
        fresh = await self.get()
        return reply if fresh is None else await request(fresh)


def lifetime(value: object) -> float | None:
    """``expires_in`` as a number of seconds: MTN sends an int, Airtel a string."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | Decimal):
        seconds = float(value)
    elif isinstance(value, str) and value.strip().isdigit():
        seconds = float(value.strip())
    else:
        return None
    return seconds if seconds > 0 else None


def text_field(data: object, *path: str) -> str:
    """``data[path[0]][path[1]]...`` when it is a string (or a number, as text); "" otherwise."""
    for key in path:
        if not isinstance(data, Mapping):
            return ""
        data = data.get(key)
    if isinstance(data, str):
        return data
    if isinstance(data, int | Decimal) and not isinstance(data, bool):
        return str(data)
    return ""
