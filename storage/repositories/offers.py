"""The trading context's repository, written once for SQLite and PostgreSQL (engine.trading.ports)."""

from __future__ import annotations

from engine.trading.model import Offer, OfferStatus
from storage.dialect import Executor, sql
from storage.tables import OFFERS

_BY_ID = sql(f"SELECT {OFFERS.select} FROM offers WHERE id = $1")
_OPEN_FOR = sql(
    f"SELECT {OFFERS.select} FROM offers WHERE buyer_id = $1 AND status = 'open' AND expires_at > $2 "
    "ORDER BY created_at, id LIMIT $3"
)
_COUNT_OPEN = sql(
    "SELECT COUNT(*) FROM offers WHERE seller_id = $1 AND buyer_id = $2 AND status = 'open' AND expires_at > $3"
)
_INSERT = sql(f"{OFFERS.insert} ON CONFLICT (id) DO NOTHING")
_CLOSE = sql("UPDATE offers SET status = $1 WHERE id = $2 AND status = 'open'")


class OfferReads:
    """engine.trading.ports.OfferReader over one executor."""

    def __init__(self, db: Executor) -> None:
        self._db = db

    async def offer_by_id(self, offer_id: str) -> Offer | None:
        row = await self._db.fetch_one(_BY_ID, offer_id)
        return OFFERS.record(row) if row is not None else None

    async def open_offers_for(self, buyer_id: int, *, now_us: int, limit: int = 20) -> list[Offer]:
        return [OFFERS.record(r) for r in await self._db.fetch(_OPEN_FOR, buyer_id, now_us, limit)]

    async def count_open_offers(self, seller_id: int, buyer_id: int, *, now_us: int) -> int:
        row = await self._db.fetch_one(_COUNT_OPEN, seller_id, buyer_id, now_us)
        assert row is not None
        return int(row[0])


class OfferRepository(OfferReads):
    """engine.trading.ports.OfferWriter inside one open transaction."""

    async def insert_offer(self, offer: Offer) -> bool:
        return await self._db.execute(_INSERT, *OFFERS.values(offer)) == 1

    async def close_offer(self, offer_id: str, status: OfferStatus) -> bool:
        return await self._db.execute(_CLOSE, str(status), offer_id) == 1
