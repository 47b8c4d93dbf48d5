"""The providers this process can reach (``engine.payments.ports.ProviderDirectory``), and their HTTP session."""

from __future__ import annotations

from collections.abc import Iterable

import aiohttp

from engine.payments.model import Provider
from engine.payments.ports import PaymentProvider
from ussd_server.payments.airtel import AirtelConfig, AirtelMoney
from ussd_server.payments.mtn import MtnConfig, MtnMomo


class Providers:
    """The adapters by :class:`Provider`; :meth:`close` closes the client session they share."""

    def __init__(self, adapters: Iterable[PaymentProvider], session: aiohttp.ClientSession) -> None:
        self._adapters = {adapter.provider: adapter for adapter in adapters}
        self._session = session

    @classmethod
    def open(cls, *, mtn: MtnConfig | None = None, airtel: AirtelConfig | None = None) -> Providers:
        """A new client session and an adapter for each provider configured (call inside a running loop)."""
        # Each request carries its own timeout (the configs' timeout_s); the session sets none.
        session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))
        adapters: list[PaymentProvider] = []
        if mtn is not None:
            adapters.append(MtnMomo(mtn, session))
        if airtel is not None:
            adapters.append(AirtelMoney(airtel, session))
        return cls(adapters, session)

    def get(self, provider: Provider) -> PaymentProvider | None:
        return self._adapters.get(provider)

    @property
    def available(self) -> tuple[Provider, ...]:
        return tuple(self._adapters)

    @property
    def closed(self) -> bool:
        return self._session.closed

    async def close(self) -> None:
        await self._session.close()
