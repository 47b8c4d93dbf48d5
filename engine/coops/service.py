"""Forming co-ops, joining, contributing, leaving and refunds: the member register's service.

Every write opens the co-op's :class:`AuditTrail` first (the co-op row's
lock), so a co-op's register, treasury movements and governance log change
one writer at a time and every change is in the log. Money moves only in the
ledger, between a member's wallet and the co-op's treasury (the treasury
account of the cluster the co-op runs); the register records what it means.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, replace

from engine.coops import register
from engine.coops.audit import AuditKind
from engine.coops.bylaws import Admission, Bylaws, default_bylaws
from engine.coops.config import CoopConfig
from engine.coops.events import ContributionMade, CoopActivated, NoticeGiven, RefundPaid
from engine.coops.membership import end_membership
from engine.coops.model import CatalogItem, Cooperative, CoopState, Member, MemberState, ProposalKind, Region
from engine.coops.ports import CoopUnit, CoopUnits
from engine.coops.proposals import open_proposal
from engine.coops.trail import AuditTrail
from engine.energy.model import Cluster, ClusterKind, cluster_accounts
from engine.identity.model import PinProof, User
from engine.identity.users import UserService, check_outflow
from engine.kernel.clock import MICROS_PER_SECOND, Clock
from engine.kernel.config import EngineConfig
from engine.kernel.errors import (
    AlreadyMember,
    CoopNotFound,
    InsufficientFunds,
    InvalidCluster,
    InvalidInput,
    InvalidName,
    InvalidPrice,
    NotAMember,
    PinNotVerified,
    UserNotFound,
)
from engine.kernel.references import reference_for
from engine.ledger.model import CreateTransferResult, Ledger, Transfer, TransferCode
from engine.ledger.operations import apply_operation, new_operation_id

_SLUG_CHARS = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True, slots=True)
class ContributionReceipt:
    coop: Cooperative
    member: Member
    amount_ngwee: int
    reference: str
    replayed: bool


@dataclass(frozen=True, slots=True)
class CoopSummary:
    coop: Cooperative
    treasury_ngwee: int
    members: int  # current members (admitted, full, leaving)
    open_proposals: int
    energy_available_wh: int
    me: Member | None  # the viewer's place in the register


def slug_for(name: str) -> str:
    base = _SLUG_CHARS.sub("-", name.lower()).strip("-")[:28].strip("-") or "coop"
    return f"{base}-{secrets.token_hex(2)}"


class CoopService:
    def __init__(
        self, units: CoopUnits, config: EngineConfig, coops: CoopConfig, clock: Clock, users: UserService
    ) -> None:
        self._units = units
        self._config = config
        self.config = coops
        self._clock = clock
        self._users = users

    # --- forming and finding ---------------------------------------------------

    async def form(
        self,
        proof: PinProof,
        founder: User,
        *,
        name: str,
        kind: ClusterKind | str,
        region: Region | str,
        bylaws: Bylaws | None = None,
        coop_id: str | None = None,
        price_ngwee_per_kwh: int | None = None,
    ) -> Cooperative:
        """A new co-op, with its founder as its first (admitted) member; it runs a new cluster of the same id."""
        if not self._users.proof_is_valid(proof, founder):
            raise PinNotVerified("forming a co-op needs the founder's PIN")
        clean = " ".join(name.split())
        if not 3 <= len(clean) <= self.config.name_max:
            raise InvalidName("a co-op's name has 3 to 40 letters", max=self.config.name_max)
        try:
            kind, region = ClusterKind(kind), Region(region)
        except ValueError:
            raise InvalidCluster("unknown co-op type or region", kind=str(kind), region=str(region)) from None
        rules = (bylaws or default_bylaws(kind)).validate()
        price = price_ngwee_per_kwh or self._config.platform_price_ngwee_per_kwh
        if price <= 0:
            raise InvalidPrice("price must be positive")
        now = self._clock.now_us()
        coop = Cooperative(
            id=coop_id or slug_for(clean),
            name=clean,
            kind=str(kind),
            region=region,
            bylaws=rules,
            founder_id=founder.id,
            created_at_us=now,
        )
        cluster = Cluster(coop.id, clean, kind, region.cluster_region, 0, price, created_at=now)

        async def work(uow: CoopUnit) -> Cooperative:
            await uow.clusters.insert_cluster(cluster)  # raises ClusterExists for a taken id
            await uow.ledger.create_accounts(cluster_accounts(cluster))
            await uow.coops.insert_coop(coop)
            trail = await AuditTrail.open(uow.coops, coop.id)
            await trail.add(AuditKind.FORMED, at_us=now, actor_id=founder.id, body={"name": clean, **rules.to_dict()})
            member = Member(coop.id, founder.id, founder.phone, MemberState.ADMITTED, joined_at_us=now)
            await uow.coops.insert_member(member)
            await trail.add(AuditKind.JOINED, at_us=now, actor_id=founder.id)
            return await trail.save()

        return await self._units.run(work)

    async def get(self, coop_id: str) -> Cooperative:
        coop = await self._units.reads.coops.coop_by_id(coop_id)
        if coop is None:
            raise CoopNotFound("no such co-op", coop_id=coop_id)
        return coop

    async def find(self, *, region: Region | str | None = None, limit: int = 50, offset: int = 0) -> list[Cooperative]:
        return await self._units.reads.coops.list_coops(
            region=str(region) if region else None, limit=limit, offset=offset
        )

    async def memberships(self, user: User) -> list[tuple[Cooperative, Member]]:
        return await self._units.reads.coops.memberships(user.id)

    async def member(self, coop_id: str, user: User) -> Member | None:
        return await self._units.reads.coops.member(coop_id, user.id)

    async def members(self, coop_id: str, *, limit: int = 50, offset: int = 0) -> list[Member]:
        return await self._units.reads.coops.members(coop_id, limit=limit, offset=offset)

    async def summary(self, coop_id: str, viewer: User | None = None) -> CoopSummary:
        reads = self._units.reads
        coop = await self.get(coop_id)
        accounts = await reads.ledger.lookup_accounts([coop.treasury_account_id, f"cluster:{coop.id}:pool"])
        counts = await reads.coops.count_members(coop_id)
        current = sum(counts.get(str(s), 0) for s in MemberState if s.current)
        open_proposals = len(await reads.coops.proposals(coop_id, open_only=True, limit=1000))
        treasury = accounts.get(coop.treasury_account_id)
        pool = accounts.get(f"cluster:{coop.id}:pool")
        me = await reads.coops.member(coop_id, viewer.id) if viewer else None
        return CoopSummary(
            coop,
            treasury.available if treasury else 0,
            current,
            open_proposals,
            pool.available if pool else 0,
            me,
        )

    # --- joining ---------------------------------------------------------------

    async def join(self, user: User, coop_id: str) -> Member:
        """Ask to join: admitted at once where admission is open (or the co-op is still forming), else applied.

        An application to a co-op that admits by vote opens an ``admit_member``
        proposal the platform makes on the applicant's behalf.
        """
        now = self._clock.now_us()

        async def work(uow: CoopUnit) -> Member:
            trail = await AuditTrail.open(uow.coops, coop_id)
            coop = trail.coop
            existing = await uow.coops.member_for_update(coop_id, user.id)
            if existing is not None and existing.state not in (MemberState.LEFT, MemberState.REJECTED):
                raise AlreadyMember("already in this co-op's register", state=str(existing.state))
            by_vote = coop.bylaws.admission is Admission.BY_VOTE and coop.state is CoopState.ACTIVE
            state = MemberState.APPLIED if by_vote else MemberState.ADMITTED
            member = Member(coop_id, user.id, user.phone, state, joined_at_us=now)
            if existing is None:
                await uow.coops.insert_member(member)
            else:  # a former member coming back: same row, fresh start (refunds are kept in its totals)
                member = replace(existing, state=state, role=existing.role.MEMBER, joined_at_us=now, exit_at_us=0)
                await uow.coops.update_member(member)
                member = replace(member, version=member.version + 1)
            await trail.add(AuditKind.APPLIED if by_vote else AuditKind.JOINED, at_us=now, actor_id=user.id)
            if by_vote:
                await open_proposal(
                    uow, trail, self.config, proposer_id=0, kind=ProposalKind.ADMIT_MEMBER,
                    payload={"user_id": user.id, "phone": user.phone}, now_us=now,
                )  # fmt: skip
            await trail.save()
            return member

        return await self._units.run(work)

    async def contribute(
        self, proof: PinProof, user: User, coop_id: str, amount_ngwee: int, *, operation_id: str | None = None
    ) -> ContributionReceipt:
        """Pay ``amount_ngwee`` from the member's wallet into the treasury; idempotent on ``operation_id``."""
        if not self._users.proof_is_valid(proof, user):
            raise PinNotVerified("a contribution needs the member's PIN")
        operation = operation_id or new_operation_id()
        reference = reference_for(operation)
        now, offset = self._clock.now_us(), self._config.local_utc_offset_s

        async def work(uow: CoopUnit) -> ContributionReceipt:
            trail = await AuditTrail.open(uow.coops, coop_id)
            coop = trail.coop
            member = await uow.coops.member_for_update(coop_id, user.id)
            if member is None:
                raise NotAMember("join the co-op first")
            owner = await uow.users.user_for_update(user.id)
            if owner is None:
                raise UserNotFound("member not registered")
            transfer = Transfer(
                id=f"{operation}:contribution",
                debit_account_id=owner.zmw_account_id,
                credit_account_id=coop.treasury_account_id,
                amount=amount_ngwee,
                ledger=Ledger.ZMW,
                code=TransferCode.COOP_CONTRIBUTION,
                reference=reference,
            )
            existing = await uow.ledger.lookup_transfers([transfer.id])
            if transfer.id in existing:  # a retry of a contribution already made: the same receipt
                await apply_operation(uow.ledger, [transfer], lambda _i, _r: None)  # refuses a changed amount
                return ContributionReceipt(coop, member, amount_ngwee, reference, replayed=True)
            register.check_contribution(member, amount_ngwee, coop.bylaws, now_us=now)
            check_outflow(owner, now, offset)

            def refusal(_index: int, result: CreateTransferResult) -> InsufficientFunds | None:
                if result is CreateTransferResult.EXCEEDS_CREDITS:
                    return InsufficientFunds("not enough money in the wallet", ngwee=amount_ngwee)
                return None

            await apply_operation(uow.ledger, [transfer], refusal)
            after = register.contributed(member, amount_ngwee, coop.bylaws)
            await uow.coops.update_member(after)
            after = replace(after, version=member.version + 1)
            await trail.add(
                AuditKind.CONTRIBUTED, at_us=now, actor_id=user.id,
                body={"ngwee": amount_ngwee, "shares": after.shares, "credit": after.credit_ngwee, "ref": reference},
            )  # fmt: skip
            became_full = member.state is MemberState.ADMITTED and after.state is MemberState.FULL
            if became_full:
                await trail.add(AuditKind.FULL_MEMBER, at_us=now, actor_id=user.id)
                trail.coop = replace(trail.coop, full_members=trail.coop.full_members + 1)
                await self._maybe_activate(uow, trail, now)
            coop = await trail.save()
            uow.record(
                ContributionMade(
                    operation_id=operation, at_us=now, coop=coop, member=after,
                    amount_ngwee=amount_ngwee, reference=reference, became_full=became_full,
                )
            )  # fmt: skip
            return ContributionReceipt(coop, after, amount_ngwee, reference, replayed=False)

        return await self._units.run(work)

    async def _maybe_activate(self, uow: CoopUnit, trail: AuditTrail, now: int) -> None:
        coop = trail.coop
        if coop.state is CoopState.FORMING and coop.full_members >= coop.bylaws.min_members:
            trail.coop = replace(coop, state=CoopState.ACTIVE)
            await trail.add(AuditKind.ACTIVATED, at_us=now, body={"full_members": coop.full_members})
            uow.record(CoopActivated(operation_id=f"activated:{coop.id}", at_us=now, coop=trail.coop))

    # --- leaving ---------------------------------------------------------------

    async def leave(self, proof: PinProof, user: User, coop_id: str) -> Member:
        """Give notice: refunded at par when it ends, in order, as far as the treasury allows."""
        if not self._users.proof_is_valid(proof, user):
            raise PinNotVerified("leaving needs the member's PIN")
        now = self._clock.now_us()

        async def work(uow: CoopUnit) -> Member:
            trail = await AuditTrail.open(uow.coops, coop_id)
            member = await uow.coops.member_for_update(coop_id, user.id)
            if member is None or member.state not in (MemberState.ADMITTED, MemberState.FULL, MemberState.APPLIED):
                raise NotAMember("not a member of this co-op")
            after = await end_membership(uow, trail, member, MemberState.LEAVING, now)
            await trail.add(AuditKind.NOTICE_GIVEN, at_us=now, actor_id=user.id, body={"exit_at": after.exit_at_us})
            coop = await trail.save()
            uow.record(
                NoticeGiven(operation_id=f"notice:{coop_id}:{user.id}:{now}", at_us=now, coop=coop, member=after)
            )
            return after

        return await self._units.run(work)

    async def pay_due_refunds(self, coop_id: str, *, limit: int = 100) -> int | None:
        """Refund, oldest notice first, every leaver whose notice has ended, while the treasury covers them.

        Returns when to try again: None when nobody is left waiting, later when
        the next refund is more than the treasury holds (it never overdraws and
        nobody behind it jumps the queue).
        """
        now = self._clock.now_us()

        async def work(uow: CoopUnit) -> int | None:
            trail = await AuditTrail.open(uow.coops, coop_id)
            waiting = await uow.coops.members_due_refund(coop_id, now_us=now, limit=limit)
            if not waiting:
                return None
            coop = trail.coop
            for member in waiting:
                locked = await uow.coops.member_for_update(coop_id, member.user_id)
                if locked is None or locked.holding_ngwee <= 0:
                    continue
                user = await uow.users.user_by_id(locked.user_id)
                if user is None:
                    continue
                after, amount = register.refunded(locked)
                operation = f"coop-refund:{coop_id}:{locked.user_id}:{locked.refunded_ngwee}"
                transfer = Transfer(
                    id=operation,
                    debit_account_id=coop.treasury_account_id,
                    credit_account_id=user.zmw_account_id,
                    amount=amount,
                    ledger=Ledger.ZMW,
                    code=TransferCode.COOP_REFUND,
                    reference=reference_for(operation),
                )
                (result,) = await uow.ledger.create_transfers([transfer])
                if result is CreateTransferResult.EXCEEDS_CREDITS:
                    await trail.save()
                    return now + self.config.refund_retry_s * MICROS_PER_SECOND
                if not result.applied and result is not CreateTransferResult.EXISTS:
                    raise InvalidInput("refund refused by the ledger", result=str(result))
                await uow.coops.update_member(after)
                await trail.add(
                    AuditKind.REFUNDED, at_us=now, actor_id=locked.user_id,
                    body={"ngwee": amount, "ref": transfer.reference},
                )  # fmt: skip
                uow.record(
                    RefundPaid(
                        operation_id=operation, at_us=now, coop=trail.coop, member=after,
                        amount_ngwee=amount, reference=transfer.reference,
                    )
                )  # fmt: skip
            await trail.save()
            return now if len(waiting) == limit else None

        return await self._units.run(work)

    # --- a supply co-op's catalog ----------------------------------------------

    async def offer_item(self, supplier_id: str, item: CatalogItem) -> CatalogItem:
        """Add or change an item a supply co-op sells to other co-ops at its bulk price (an operator's tool)."""
        coop = await self.get(supplier_id)
        if coop.kind != ClusterKind.SUPPLY:
            raise InvalidCluster("only a supply co-op has a catalog", coop_id=supplier_id)
        if item.price_ngwee <= 0:
            raise InvalidPrice("price must be positive")
        item = replace(item, supplier_id=supplier_id)

        async def work(uow: CoopUnit) -> CatalogItem:
            await uow.coops.upsert_catalog_item(item)
            return item

        return await self._units.run(work)

    async def catalog(self, supplier_id: str) -> list[CatalogItem]:
        return await self._units.reads.coops.catalog(supplier_id)
