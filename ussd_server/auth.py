"""Gateway authentication for the callbacks Africa's Talking makes to us.

Outside dev mode the server will not start without ``GATEWAY_SECRET`` (see
settings). The secret is checked either as a URL token (``?token=...``, for
callback URLs configured in the AT dashboard) or as the password of HTTP basic
auth; optionally the caller's address must also be in ``GATEWAY_ALLOWED_IPS``.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from ussd_server.settings import Settings

log = logging.getLogger("enerlectra.auth")
PROTECTED = frozenset({"/ussd", "/ussd/events", "/sms/delivery"})


def _presented_secret(request: web.Request, mode: str) -> str:
    if mode == "token":
        return request.query.get("token", "")
    header = request.headers.get("Authorization", "")
    if not header.startswith("Basic "):
        return ""
    try:
        _, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return ""
    return password


def gateway_auth(settings: Settings) -> web.middleware:  # type: ignore[valid-type]
    networks = [ipaddress.ip_network(cidr, strict=False) for cidr in settings.gateway_allowed_ips]
    secret = (settings.gateway_secret or "").encode()

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path not in PROTECTED:
            return await handler(request)
        if networks:
            try:
                address = ipaddress.ip_address(request.remote or "")
            except ValueError:
                address = None
            if address is None or not any(address in n for n in networks):
                log.warning("refused %s from %s: address not allowed", request.path, request.remote)
                raise web.HTTPForbidden(text="forbidden")
        if secret:
            presented = _presented_secret(request, settings.gateway_auth).encode()
            if not hmac.compare_digest(presented, secret):
                log.warning("refused %s from %s: bad or missing gateway secret", request.path, request.remote)
                if settings.gateway_auth == "basic":
                    raise web.HTTPUnauthorized(headers={"WWW-Authenticate": 'Basic realm="enerlectra"'})
                raise web.HTTPUnauthorized(text="unauthorized")
        return await handler(request)

    return middleware
