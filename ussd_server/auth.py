"""Gateway authentication for the callbacks Africa's Talking makes to us.

Outside dev mode the server will not start without ``GATEWAY_SECRET`` (see
settings). The secret is checked as the password of HTTP basic auth (with
``GATEWAY_USER`` as the user name; the default and the recommended mode) or as
a URL token (``?token=...``, which ends up in every proxy's access log);
optionally the caller's address must also be in ``GATEWAY_ALLOWED_IPS``.

The caller's address is the TCP peer, unless the peer is one of our own
reverse proxies (``TRUSTED_PROXIES``): then it is read from
``X-Forwarded-For``. Failed authentications are counted per caller address
with the shared rate limiter; past ``AUTH_FAILURES_PER_MINUTE`` the address is
answered 429, and each process then refuses it without looking at its secret
until the window passes.

The right secret costs nothing more: the shared counter is touched only on a
failure, so the gateway's own calls make no extra Redis round trip (a hop
already makes two). The price is that a blocked address gets one evaluated
guess in each process that has not yet seen it blocked: at most
``AUTH_FAILURES_PER_MINUTE`` + (number of processes) guesses a minute, against
a secret of at least 32 random characters. If the counter cannot be reached, a
failed attempt is answered 503 rather than let through uncounted.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Sequence

from aiohttp import web
from aiohttp.typedefs import Handler
from limits import RateLimitItemPerMinute

from ussd_server.appkeys import RATE_LIMITS
from ussd_server.logfields import logfield
from ussd_server.rate_limits import RateLimiterUnavailable
from ussd_server.sessions import keys
from ussd_server.settings import Settings

log = logging.getLogger("enerlectra.auth")
_MAX_BLOCKED = 10_000  # addresses a process remembers as blocked
PROTECTED = frozenset({"/ussd", "/ussd/events", "/sms/delivery"})

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(cidrs: Sequence[str]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(cidr, strict=False) for cidr in cidrs)


def _address(text: str | None) -> IPAddress | None:
    try:
        address = ipaddress.ip_address((text or "").strip())
    except ValueError:
        return None
    # A dual-stack socket shows IPv4 peers as ::ffff:a.b.c.d; IPv4 networks must still match them.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _shown(caller: IPAddress | None, request: web.Request) -> str:
    """The caller as a log line may show it (built only when something is logged)."""
    return logfield(caller if caller is not None else request.remote, 64)


def _within(address: IPAddress, networks: Sequence[IPNetwork]) -> bool:
    return any(address in network for network in networks)


def caller_address(request: web.BaseRequest, proxies: Sequence[IPNetwork]) -> IPAddress | None:
    """Who is calling: the TCP peer, or, behind our own proxies, the nearest address they did not add.

    ``X-Forwarded-For`` is only believed when the peer is a trusted proxy: anyone
    else can write anything in it. It is read right to left (each proxy appends
    the address it saw), skipping trusted proxies. A malformed entry means the
    chain cannot be followed further, so the peer answers for the request. If
    every entry is a trusted proxy, the request started inside our network: the
    leftmost entry is the caller (like nginx's ``real_ip_recursive``).
    """
    peer = _address(request.remote)
    if peer is None or not proxies or not _within(peer, proxies):
        return peer
    entries = [e for header in request.headers.getall("X-Forwarded-For", ()) for e in header.split(",")]
    caller = peer
    for entry in reversed(entries):
        address = _address(entry)
        if address is None:
            return peer
        caller = address
        if not _within(address, proxies):
            return address
    return caller


def address_bucket(address: IPAddress | None) -> str:
    """What a caller's failures are counted under: the address, or its /64 for IPv6.

    One IPv6 subscriber usually holds a whole /64, so counting single addresses
    would give a guesser 2^64 fresh budgets.
    """
    if address is None:
        return "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def _digest(value: bytes) -> bytes:
    # Comparing fixed-size digests keeps even the secret's length out of the timing.
    return hashlib.sha256(value).digest()


def _basic_credentials(request: web.BaseRequest) -> tuple[bytes, bytes] | None:
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, colon, password = base64.b64decode(encoded.strip(), validate=True).partition(b":")
    except (binascii.Error, ValueError):
        return None
    return (user, password) if colon else None


def startup_warnings(settings: Settings) -> list[str]:
    """What an operator should hear once when the server starts (settings that work but are weak)."""
    if settings.dev_mode:
        return []
    warnings = []
    if settings.gateway_auth == "token":
        warnings.append(
            "GATEWAY_AUTH=token: the gateway secret travels in the callback URL and ends up in proxy and "
            "access logs; set GATEWAY_AUTH=basic and give Africa's Talking the user and secret instead"
        )
    if not settings.gateway_allowed_ips:
        warnings.append(
            "GATEWAY_ALLOWED_IPS is not set: the USSD and SMS callbacks accept requests from any address "
            "(with the gateway secret); set it to the gateway's address ranges"
        )
    return warnings


def gateway_auth(settings: Settings) -> web.middleware:  # type: ignore[valid-type]
    allowed = parse_networks(settings.gateway_allowed_ips)
    proxies = parse_networks(settings.trusted_proxies)
    secret = _digest((settings.gateway_secret or "").encode())
    user = _digest(settings.gateway_user.encode())
    failures = RateLimitItemPerMinute(settings.auth_failures_per_minute)
    basic = settings.gateway_auth == "basic"

    def authenticated(request: web.Request) -> bool:
        if not basic:
            return hmac.compare_digest(_digest(request.query.get("token", "").encode()), secret)
        presented_user, presented_secret = _basic_credentials(request) or (b"", b"")
        # Both parts are always compared, so timing does not tell which was wrong.
        user_ok = hmac.compare_digest(_digest(presented_user), user)
        secret_ok = hmac.compare_digest(_digest(presented_secret), secret)
        return user_ok & secret_ok

    def unauthorized() -> web.HTTPException:
        if basic:
            return web.HTTPUnauthorized(headers={"WWW-Authenticate": 'Basic realm="enerlectra", charset="UTF-8"'})
        return web.HTTPUnauthorized(text="unauthorized")

    # Addresses this process refuses until a monotonic time, after the shared counter said so.
    blocked: OrderedDict[str, float] = OrderedDict()

    def still_blocked(bucket: str) -> float | None:
        until = blocked.get(bucket)
        if until is None:
            return None
        left = until - time.monotonic()
        if left > 0:
            return left
        del blocked[bucket]
        return None

    def block(bucket: str, wait_s: float) -> None:
        blocked[bucket] = time.monotonic() + wait_s
        blocked.move_to_end(bucket)
        while len(blocked) > _MAX_BLOCKED:  # a flood of addresses must not grow memory without end
            blocked.popitem(last=False)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path not in PROTECTED:
            return await handler(request)
        if not allowed and not settings.gateway_secret:  # dev: nothing to check
            return await handler(request)
        caller = caller_address(request, proxies)
        if allowed and (caller is None or not _within(caller, allowed)):
            log.warning("refused %s from %s: address not allowed", request.path, _shown(caller, request))
            raise web.HTTPForbidden(text="forbidden")
        if not settings.gateway_secret:
            return await handler(request)
        bucket = address_bucket(caller)
        left = still_blocked(bucket)
        if left is not None:
            # Not logged above debug: a guesser would flood the log; the block itself was logged once.
            log.debug("refused %s from %s: too many failed authentications", request.path, _shown(caller, request))
            raise web.HTTPTooManyRequests(headers={"Retry-After": str(math.ceil(left))}, text="too many requests")
        if authenticated(request):
            return await handler(request)
        shown = _shown(caller, request)
        try:
            wait = await request.app[RATE_LIMITS].hit(failures, keys.RATE_AUTH_FAILURES, bucket)
        except RateLimiterUnavailable as exc:
            # Fail closed: without the counter a guesser would be unlimited.
            log.warning("refused %s from %s: rate limiter unavailable (%s)", request.path, shown, exc)
            raise web.HTTPServiceUnavailable(headers={"Retry-After": "1"}, text="busy") from None
        if wait is not None:
            block(bucket, wait)
            log.warning(
                "blocking %s for up to a minute after %d failed gateway authentications",
                shown,
                settings.auth_failures_per_minute,
            )
            raise web.HTTPTooManyRequests(headers={"Retry-After": str(int(wait))}, text="too many requests")
        log.warning("refused %s from %s: bad or missing gateway credentials", request.path, shown)
        raise unauthorized()

    return middleware
