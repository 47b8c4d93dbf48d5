"""The providers this process reaches, from the settings: the real APIs, or in dev the embedded simulator.

A provider is reached when its base URL is set. In dev mode (one process)
with no URL set, the provider simulator is served by this process and both
providers point at it, with its own credentials: ``make run`` takes a
deposit from start to finish with nothing else running.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

from aiohttp import web

from engine.payments.model import Provider
from ussd_server.payments.airtel import AirtelConfig
from ussd_server.payments.callbacks import callback_path
from ussd_server.payments.directory import Providers
from ussd_server.payments.mtn import MtnConfig
from ussd_server.payments.runtime import start_embedded_simulator
from ussd_server.settings import Settings

log = logging.getLogger("enerlectra.payments")


def callback_url(settings: Settings, provider: Provider) -> str:
    base = settings.callback_base_url or f"http://{settings.host}:{settings.port}"
    secret = settings.mtn_callback_secret if provider is Provider.MTN else settings.airtel_callback_secret
    return base.rstrip("/") + callback_path(provider, secret)


def mtn_config(settings: Settings, base_url: str | None = None) -> MtnConfig | None:
    url = base_url or settings.mtn_base_url
    if not url:
        return None
    return MtnConfig(
        base_url=url,
        api_user=settings.mtn_api_user,
        api_key=settings.mtn_api_key,
        collection_key=settings.mtn_collection_key,
        disbursement_key=settings.mtn_disbursement_key,
        target_environment=settings.mtn_target_environment,
        currency=settings.momo_currency,
        callback_url=callback_url(settings, Provider.MTN),
        timeout_s=settings.provider_timeout_s,
    )


def airtel_config(settings: Settings, base_url: str | None = None) -> AirtelConfig | None:
    url = base_url or settings.airtel_base_url
    if not url:
        return None
    return AirtelConfig(
        base_url=url,
        client_id=settings.airtel_client_id,
        client_secret=settings.airtel_client_secret,
        disbursement_pin=settings.airtel_disbursement_pin,
        currency=settings.momo_currency,
        callback_url=callback_url(settings, Provider.AIRTEL),
        timeout_s=settings.provider_timeout_s,
    )


def embeds_simulator(settings: Settings) -> bool:
    """Dev mode, one process, and no provider configured: serve the simulator in this process."""
    return settings.dev_mode and settings.web_workers == 1 and not (settings.mtn_base_url or settings.airtel_base_url)


@dataclass(frozen=True, slots=True)
class MobileMoney:
    providers: Providers
    simulator_url: str | None  # the embedded provider simulator's base URL, in dev


# The providers and, in dev, where the embedded simulator listens (the phone simulator asks /dev/momo).
MOBILE_MONEY = web.AppKey("mobile_money", MobileMoney)


@asynccontextmanager
async def open_providers(settings: Settings, *, embedded: bool = True) -> AsyncIterator[MobileMoney]:
    """The providers of ``settings`` (``embedded``: may serve the simulator in dev); closed on exit."""
    simulator_url: str | None = None
    async with AsyncExitStack() as stack:
        if embedded and embeds_simulator(settings):
            simulated = await start_embedded_simulator(
                settings.host,
                approve_after_ms=settings.momo_sim_approve_after_ms or None,
                airtel_callback_url=callback_url(settings, Provider.AIRTEL),
                timeout_s=settings.provider_timeout_s,
            )
            stack.push_async_callback(simulated.runner.cleanup)
            mtn: MtnConfig | None = simulated.mtn(callback_url(settings, Provider.MTN), settings.momo_currency)
            airtel: AirtelConfig | None = simulated.airtel(
                callback_url(settings, Provider.AIRTEL), settings.momo_currency
            )
            simulator_url = simulated.base_url
            log.info("mobile money: the provider simulator at %s (dev mode; no provider URL set)", simulator_url)
        else:
            mtn, airtel = mtn_config(settings), airtel_config(settings)
        providers = Providers.open(mtn=mtn, airtel=airtel)
        stack.push_async_callback(providers.close)
        yield MobileMoney(providers, simulator_url)
