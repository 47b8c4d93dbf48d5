"""Every route of the API, in the order the OpenAPI document lists them."""

from __future__ import annotations

from ussd_server.api.resources import (
    coops,
    coops_governance,
    energy,
    market_orders,
    markets,
    payments,
    platform,
    trading,
    users,
    wallet,
)
from ussd_server.api.routing import Route

PREFIX = "/api/v1"
ROUTES: tuple[Route, ...] = (
    *users.ROUTES,
    *wallet.ROUTES,
    *energy.ROUTES,
    *markets.ROUTES,
    *market_orders.ROUTES,
    *trading.ROUTES,
    *payments.ROUTES,
    *coops.ROUTES,
    *coops_governance.ROUTES,
    *platform.ROUTES,
)
