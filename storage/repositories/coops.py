"""The cooperatives context's repositories, written once for SQLite and PostgreSQL (engine.coops.ports).

Co-ops, their registers, the supply catalog and assets here; proposals,
votes and the governance log in :mod:`storage.repositories.governance`,
composed into one reader and one writer. A member changes by
compare-and-set on its ``version``. A member's phone is the user's, read
beside the row by a scalar subquery rather than a join, so locking a member
(``FOR UPDATE``) never locks the user's row too.
"""

from __future__ import annotations

from engine.coops.model import Asset, CatalogItem, Cooperative, Member, MemberState
from storage.coop_tables import COOP_ASSETS, COOP_CATALOG, COOP_CHANGES, COOP_MEMBERS, COOPS, MEMBER_CHANGES
from storage.dialect import Row, sql
from storage.repositories.governance import GovernanceReads, GovernanceWrites

_CURRENT = "m.state IN ('admitted', 'full', 'leaving')"  # as MemberState.current, and coop_members_shares
_MEMBERSHIP = "m.state IN ('applied', 'admitted', 'full', 'leaving')"
_MEMBER = f"{COOP_MEMBERS.select_as('m')}, (SELECT phone FROM users WHERE id = m.user_id) AS phone"
_C = len(COOPS.columns)

_COOP = sql(f"SELECT {COOPS.select} FROM coops WHERE id = $1")
_COOP_FOR_UPDATE = sql(f"SELECT {COOPS.select} FROM coops WHERE id = $1 FOR UPDATE")
_COOPS = sql(f"SELECT {COOPS.select} FROM coops ORDER BY name, id LIMIT $1 OFFSET $2")
_COOPS_IN = sql(f"SELECT {COOPS.select} FROM coops WHERE region = $3 ORDER BY name, id LIMIT $1 OFFSET $2")
_INSERT_COOP = sql(f"{COOPS.insert} ON CONFLICT (id) DO NOTHING")
_coop_changes = COOPS.getter(*COOP_CHANGES)
_UPDATE_COOP = sql(
    "UPDATE coops SET "
    + ", ".join(f"{n} = ${i}::jsonb" if n == "bylaws" else f"{n} = ${i}" for i, n in enumerate(COOP_CHANGES, 2))
    + " WHERE id = $1"
)

_MEMBERSHIPS = sql(
    f"SELECT {COOPS.select_as('c')}, {_MEMBER} FROM coop_members AS m JOIN coops AS c ON c.id = m.coop_id "
    f"WHERE m.user_id = $1 AND {_MEMBERSHIP} ORDER BY c.name, c.id"
)
_MEMBER_BY_ID = sql(f"SELECT {_MEMBER} FROM coop_members AS m WHERE m.coop_id = $1 AND m.user_id = $2")
_MEMBER_FOR_UPDATE = sql(f"SELECT {_MEMBER} FROM coop_members AS m WHERE m.coop_id = $1 AND m.user_id = $2 FOR UPDATE")
# Down coop_members_shares (its predicate repeated, so both databases read it).
_MEMBERS = sql(
    f"SELECT {_MEMBER} FROM coop_members AS m WHERE m.coop_id = $1 AND {_CURRENT} "
    "ORDER BY m.shares DESC, m.joined_at, m.user_id LIMIT $2 OFFSET $3"
)
_COUNT_MEMBERS = sql("SELECT state, COUNT(*) FROM coop_members WHERE coop_id = $1 GROUP BY state")
# Down coop_members_refund (its predicate repeated).
_DUE_REFUND = sql(
    f"SELECT {_MEMBER} FROM coop_members AS m WHERE m.coop_id = $1 AND m.state IN ('leaving', 'removed') "
    "AND m.contributed_ngwee > m.refunded_ngwee AND m.exit_at <= $2 ORDER BY m.exit_at, m.user_id LIMIT $3"
)
_INSERT_MEMBER = sql(f"{COOP_MEMBERS.insert} ON CONFLICT (coop_id, user_id) DO NOTHING")
_member_changes = COOP_MEMBERS.getter(*MEMBER_CHANGES)
# $1 co-op, $2 user, $3 the version read, then the changes, then the new version.
_UPDATE_MEMBER = sql(
    f"UPDATE coop_members SET {COOP_MEMBERS.assignments(MEMBER_CHANGES, first=4)}, "
    f"version = ${len(MEMBER_CHANGES) + 4} WHERE coop_id = $1 AND user_id = $2 AND version = $3"
)

_CATALOG = sql(f"SELECT {COOP_CATALOG.select} FROM coop_catalog WHERE supplier_id = $1 ORDER BY name, item_id")
_CATALOG_ITEM = sql(f"SELECT {COOP_CATALOG.select} FROM coop_catalog WHERE supplier_id = $1 AND item_id = $2")
_UPSERT_ITEM = sql(
    f"{COOP_CATALOG.insert} ON CONFLICT (supplier_id, item_id) DO UPDATE SET name = excluded.name, "
    "price_ngwee = excluded.price_ngwee, capacity_wh = excluded.capacity_wh"
)
_ASSETS = sql(
    f"SELECT {COOP_ASSETS.select} FROM coop_assets WHERE coop_id = $1 ORDER BY acquired_at, proposal_id, item_id"
)
_INSERT_ASSET = sql(COOP_ASSETS.insert)


def _member(row: Row) -> Member:
    """A member from its columns and, last, the user's phone."""
    values = tuple(row)
    member = COOP_MEMBERS.record(values[:-1])
    return Member(
        member.coop_id, member.user_id, values[-1], member.state, member.role, member.contributed_ngwee,
        member.refunded_ngwee, member.shares, member.credit_ngwee, member.joined_at_us, member.exit_at_us,
        member.version,
    )  # fmt: skip


class CoopReads(GovernanceReads):
    """engine.coops.ports.CoopReader over one executor."""

    async def coop_by_id(self, coop_id: str) -> Cooperative | None:
        row = await self._db.fetch_one(_COOP, coop_id)
        return COOPS.record(row) if row is not None else None

    async def list_coops(self, *, region: str | None = None, limit: int = 50, offset: int = 0) -> list[Cooperative]:
        page = (max(limit, 0), max(offset, 0))
        rows = await (self._db.fetch(_COOPS, *page) if region is None else self._db.fetch(_COOPS_IN, *page, region))
        return [COOPS.record(r) for r in rows]

    async def memberships(self, user_id: int) -> list[tuple[Cooperative, Member]]:
        rows = await self._db.fetch(_MEMBERSHIPS, user_id)
        split = (tuple(r) for r in rows)
        return [(COOPS.record(r[:_C]), _member(r[_C:])) for r in split]

    async def member(self, coop_id: str, user_id: int) -> Member | None:
        row = await self._db.fetch_one(_MEMBER_BY_ID, coop_id, user_id)
        return _member(row) if row is not None else None

    async def members(self, coop_id: str, *, limit: int = 50, offset: int = 0) -> list[Member]:
        rows = await self._db.fetch(_MEMBERS, coop_id, max(limit, 0), max(offset, 0))
        return [_member(r) for r in rows]

    async def count_members(self, coop_id: str) -> dict[str, int]:
        counts = dict.fromkeys((str(s) for s in MemberState), 0)
        for state, count in await self._db.fetch(_COUNT_MEMBERS, coop_id):
            counts[str(state)] = int(count)
        return counts

    async def members_due_refund(self, coop_id: str, *, now_us: int, limit: int) -> list[Member]:
        rows = await self._db.fetch(_DUE_REFUND, coop_id, now_us, max(limit, 0))
        return [_member(r) for r in rows]

    async def catalog(self, supplier_id: str) -> list[CatalogItem]:
        return [COOP_CATALOG.record(r) for r in await self._db.fetch(_CATALOG, supplier_id)]

    async def catalog_item(self, supplier_id: str, item_id: str) -> CatalogItem | None:
        row = await self._db.fetch_one(_CATALOG_ITEM, supplier_id, item_id)
        return COOP_CATALOG.record(row) if row is not None else None

    async def assets(self, coop_id: str) -> list[Asset]:
        return [COOP_ASSETS.record(r) for r in await self._db.fetch(_ASSETS, coop_id)]


class CoopRepository(CoopReads, GovernanceWrites):
    """engine.coops.ports.CoopWriter inside one open transaction."""

    async def insert_coop(self, coop: Cooperative) -> bool:
        return await self._db.execute(_INSERT_COOP, *COOPS.values(coop)) == 1

    async def coop_for_update(self, coop_id: str) -> Cooperative | None:
        # PostgreSQL locks the row until the transaction ends; SQLite's write transaction holds the database.
        row = await self._db.fetch_one(_COOP_FOR_UPDATE, coop_id)
        return COOPS.record(row) if row is not None else None

    async def update_coop(self, coop: Cooperative) -> None:
        await self._db.execute(_UPDATE_COOP, coop.id, *_coop_changes(coop))

    async def insert_member(self, member: Member) -> bool:
        return await self._db.execute(_INSERT_MEMBER, *COOP_MEMBERS.values(member)) == 1

    async def member_for_update(self, coop_id: str, user_id: int) -> Member | None:
        row = await self._db.fetch_one(_MEMBER_FOR_UPDATE, coop_id, user_id)
        return _member(row) if row is not None else None

    async def update_member(self, member: Member) -> bool:
        m = member
        changed = await self._db.execute(
            _UPDATE_MEMBER, m.coop_id, m.user_id, m.version, *_member_changes(m), m.version + 1
        )
        return changed == 1

    async def upsert_catalog_item(self, item: CatalogItem) -> None:
        await self._db.execute(_UPSERT_ITEM, *COOP_CATALOG.values(item))

    async def insert_asset(self, asset: Asset) -> None:
        await self._db.execute(_INSERT_ASSET, *COOP_ASSETS.values(asset))
