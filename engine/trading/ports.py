"""What the trading context needs from a database."""

from __future__ import annotations

from typing import Protocol

from engine.identity.ports import UserReader
from engine.kernel.ports import CounterReader, CounterWriter
from engine.kernel.unit_of_work import RecordsEvents, Units
from engine.ledger.ports import LedgerWriter
from engine.trading.model import Offer, OfferStatus


class OfferReader(Protocol):
    async def offer_by_id(self, offer_id: str) -> Offer | None: ...

    async def open_offers_for(self, buyer_id: int, *, now_us: int, limit: int = 20) -> list[Offer]:
        """Offers to ``buyer_id`` still open at ``now_us``, oldest first."""
        ...

    async def count_open_offers(self, seller_id: int, buyer_id: int, *, now_us: int) -> int:
        """Offers from ``seller_id`` to ``buyer_id`` still open at ``now_us``."""
        ...


class OfferWriter(OfferReader, Protocol):
    async def insert_offer(self, offer: Offer) -> bool:
        """False if an offer with that id exists already."""
        ...

    async def close_offer(self, offer_id: str, status: OfferStatus) -> bool:
        """Move an open offer to ``status``; False if it was no longer open."""
        ...


class TradingUnit(RecordsEvents, Protocol):
    """What the trading services touch inside one transaction."""

    @property
    def users(self) -> UserReader: ...

    @property
    def ledger(self) -> LedgerWriter: ...

    @property
    def offers(self) -> OfferWriter: ...

    @property
    def counters(self) -> CounterWriter: ...


class TradingReads(Protocol):
    @property
    def users(self) -> UserReader: ...

    @property
    def offers(self) -> OfferReader: ...

    @property
    def counters(self) -> CounterReader: ...


TradingUnits = Units[TradingUnit, TradingReads]
