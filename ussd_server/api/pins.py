"""Checking a PIN from the API: the same lockout and the same per-phone budget as USSD.

Every check first takes one from the phone's budget of PIN checks a minute
(``PIN_CHECKS_PER_MINUTE``, the very counter USSD uses, so the two entry
points share it), then runs the engine's :meth:`UserService.verify_pin`,
whose wrong-PIN count and lock live in the database.

Signing in is the one place a caller names a number they may not own, so
failed sign-ins are also counted per caller address
(``API_SIGN_IN_FAILURES_PER_MINUTE``): trying many numbers, to learn which are
registered or to spread PIN guesses, runs out of tries there.
"""

from __future__ import annotations

import contextlib

from engine.identity.model import PinProof, User
from engine.kernel.errors import Busy, PinChecksLimited, SignInsLimited
from ussd_server.api.routing import Call
from ussd_server.appkeys import RATE_LIMITS
from ussd_server.auth import address_bucket, caller_address, parse_networks
from ussd_server.rate_limits import RateLimiterUnavailable
from ussd_server.sessions import keys


async def verified(call: Call, user: User, pin: str) -> PinProof:
    """Proof that ``pin`` is ``user``'s, checked now; raises like ``verify_pin`` or :class:`PinChecksLimited`."""
    limiter = call.request.config_dict[RATE_LIMITS]
    try:
        wait_s = await limiter.hit(f"{call.settings.pin_checks_per_minute}/minute", keys.RATE_PIN_CHECKS, user.phone)
    except RateLimiterUnavailable:  # fail closed, like USSD: an uncounted check would be an unlimited guess
        raise Busy("busy: try again in a moment") from None
    if wait_s is not None:
        raise PinChecksLimited("too many PIN checks for this number: try again later", retry_after_s=int(wait_s))
    return await call.platform.users.verify_pin(user, pin)


class SignInFailures:
    """Failed sign-ins per caller address (IPv6: per /64), behind our own proxies read from X-Forwarded-For."""

    def __init__(self, call: Call) -> None:
        self._limiter = call.request.config_dict[RATE_LIMITS]
        proxies = parse_networks(call.settings.trusted_proxies)
        self._bucket = address_bucket(caller_address(call.request, proxies))
        self._rate = f"{call.settings.api_sign_in_failures_per_minute}/minute"

    async def check(self) -> None:
        """Refuse at once an address that used its failures for the minute (counting nothing)."""
        try:
            wait_s = await self._limiter.peek(self._rate, keys.RATE_API_SIGN_IN_FAILURES, self._bucket)
        except RateLimiterUnavailable:
            raise Busy("busy: try again in a moment") from None
        if wait_s is not None:
            raise SignInsLimited("too many failed sign-ins from here: try again later", retry_after_s=int(wait_s))

    async def count(self) -> None:
        # Unreachable counters must not hide the answer itself: check() refuses the next attempt instead.
        with contextlib.suppress(RateLimiterUnavailable):
            await self._limiter.hit(self._rate, keys.RATE_API_SIGN_IN_FAILURES, self._bucket)
