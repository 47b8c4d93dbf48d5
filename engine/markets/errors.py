"""The market's refusals, in the platform's one hierarchy (kernel bases, stable codes)."""

from __future__ import annotations

from engine.kernel.errors import Conflict, InvalidInput, NotFound, Refused


class PriceOutOfBand(InvalidInput):
    """A limit price below the cluster's floor or above its cap (``floor``, ``cap`` in ngwee/kWh)."""

    code = "price_out_of_band"


class OrderTooSmall(InvalidInput):
    code = "order_too_small"  # ``min_wh``


class InvalidSlot(InvalidInput):
    """A delivery slot that is not a slot boundary, not today, or past its gate closure."""

    code = "invalid_slot"


class InvalidTariff(InvalidInput):
    code = "invalid_tariff"  # ``field`` names what is wrong


class OrderNotFound(NotFound):
    code = "order_not_found"


class QuoteNotFound(NotFound):
    code = "quote_not_found"


class OrderClosed(Refused):
    """Cancelling an order that is filled, cancelled or expired already (``state``)."""

    code = "order_closed"


class QuoteExpired(Refused):
    """A quote past its short life: show a new one, never charge a new price silently."""

    code = "quote_expired"


class QuoteUsed(Conflict):
    """A quote already paid for by another purchase."""

    code = "quote_used"


class TooManyOpenOrders(Refused):
    code = "too_many_open_orders"  # ``max``
