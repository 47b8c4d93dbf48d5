"""Providers' callbacks: ``PUT``/``POST /callbacks/momo/{provider}/{secret}``.

A callback is a hint, never the truth: it only has the worker look its
payment up and read the status from the provider before any money moves.
So a forged, repeated, late or reordered callback can at most cause one more
status check. The answer goes back at once, having touched neither the
database nor the provider (providers give up after a few seconds); the
lookup and the status check run after it, in the background.

Authenticated by a per-provider secret in the URL (compared in constant
time; a wrong one looks like a missing page) and, when configured, by the
caller's address (``CALLBACK_ALLOWED_IPS``, proxies as ``TRUSTED_PROXIES``).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable

from aiohttp import web

from engine.payments.model import Provider
from ussd_server.appkeys import SETTINGS
from ussd_server.auth import caller_address, parse_networks
from ussd_server.payments.airtel import parse_airtel_callback
from ussd_server.payments.mtn import parse_mtn_callback
from ussd_server.payments.runtime import PAYMENT_WORKER
from ussd_server.settings import Settings

log = logging.getLogger("enerlectra.payments")

CALLBACK_ROUTE = "/callbacks/momo/{provider}/{secret}"
_PARSERS: dict[Provider, Callable[[bytes], str | None]] = {
    Provider.MTN: parse_mtn_callback,
    Provider.AIRTEL: parse_airtel_callback,
}


def callback_path(provider: Provider, secret: str) -> str:
    return CALLBACK_ROUTE.format(provider=provider.value, secret=secret)


def _secret(settings: Settings, provider: Provider) -> str:
    return settings.mtn_callback_secret if provider is Provider.MTN else settings.airtel_callback_secret


async def momo_callback(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    try:
        provider = Provider(request.match_info["provider"])
    except ValueError:
        raise web.HTTPNotFound() from None
    parse = _PARSERS.get(provider)
    given = request.match_info["secret"].encode()
    if parse is None or not hmac.compare_digest(given, _secret(settings, provider).encode()):
        raise web.HTTPNotFound()
    if settings.callback_allowed_ips:
        caller = caller_address(request, parse_networks(settings.trusted_proxies))
        allowed = parse_networks(settings.callback_allowed_ips)
        if caller is None or not any(caller in network for network in allowed):
            log.warning("refused a %s callback from %s: address not allowed", provider, request.remote)
            raise web.HTTPForbidden()
    body = await request.read()  # bounded by the app's client_max_size (413 beyond it)
    callback_id = parse(body)  # our payment id (MTN) or the attempt id (Airtel)
    if callback_id is None:
        log.warning("unreadable %s callback (%d bytes)", provider, len(body))
        raise web.HTTPBadRequest(text="unreadable callback")
    # Looked up and checked in the background: the answer waits for neither the database nor the
    # provider, and is the same whether or not we know the payment (the provider has nothing to retry).
    request.app[PAYMENT_WORKER].hint(provider, callback_id)
    return web.json_response({"status": "received"})


def add_callback_routes(app: web.Application) -> None:
    app.router.add_route("PUT", CALLBACK_ROUTE, momo_callback)
    app.router.add_route("POST", CALLBACK_ROUTE, momo_callback)
