"""SMS for co-op members: their contributions and refunds, and every proposal's opening, reminder and result.

Messages to a whole electorate go through the same daily cap as every other
SMS (over it they fold into the day's summary); each is rendered in its
recipient's language by the delivery worker.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Protocol, TypeVar

from engine.coops.events import (
    ApplicationDecided,
    ContributionMade,
    CoopActivated,
    ExecutionFailed,
    NoticeGiven,
    ProposalDecided,
    ProposalExecuted,
    ProposalExpired,
    RefundPaid,
    VoteReminder,
    VotingOpened,
)
from engine.coops.model import MemberState, Proposal, ProposalState
from engine.coops.ports import CoopReader
from engine.identity.ports import UserReader
from engine.kernel.clock import MICROS_PER_SECOND
from engine.kernel.config import EngineConfig
from engine.kernel.events import EventBus
from engine.notifications import outbox as notifications
from engine.notifications.ports import ReceiptContext

MAX_RECIPIENTS = 100_000


class CoopReceiptContext(ReceiptContext, Protocol):
    @property
    def users(self) -> UserReader: ...

    @property
    def coops(self) -> CoopReader: ...


U = TypeVar("U", bound=CoopReceiptContext)


class CoopReceipts:
    def __init__(self, config: EngineConfig) -> None:
        self._config = config

    def subscribe(self, bus: EventBus[U]) -> None:
        bus.subscribe(ContributionMade, self.contribution)
        bus.subscribe(CoopActivated, self.activated)
        bus.subscribe(ApplicationDecided, self.application)
        bus.subscribe(NoticeGiven, self.notice)
        bus.subscribe(RefundPaid, self.refund)
        bus.subscribe(VotingOpened, self.voting_opened)
        bus.subscribe(VoteReminder, self.reminder)
        bus.subscribe(ProposalDecided, self.decided)
        bus.subscribe(ProposalExecuted, self.executed)
        bus.subscribe(ExecutionFailed, self.execution_failed)
        bus.subscribe(ProposalExpired, self.expired)

    def _when(self, at_us: int) -> str:
        """A local date and time in digits, the same in every language: 03/12 18:00."""
        local = datetime.fromtimestamp(at_us // MICROS_PER_SECOND + self._config.local_utc_offset_s, UTC)
        return local.strftime("%d/%m %H:%M")

    async def _send(
        self, uow: CoopReceiptContext, operation: str, user_ids: Sequence[int], template: str, at_us: int,
        **params: str | int,
    ) -> None:  # fmt: skip
        users = await uow.users.users_by_ids(list(user_ids)[:MAX_RECIPIENTS])
        messages = [
            notifications.sms(operation, f"member-{user_id}", users[user_id], template, **params)
            for user_id in user_ids
            if user_id in users
        ]
        if messages:
            await notifications.queue(uow.outbox, messages, now_us=at_us, config=self._config)

    async def _members(self, uow: CoopReceiptContext, coop_id: str) -> list[int]:
        members = await uow.coops.members(coop_id, limit=MAX_RECIPIENTS)
        return [m.user_id for m in members if m.state in (MemberState.ADMITTED, MemberState.FULL)]

    def _proposal(self, proposal: Proposal, coop_name: str) -> dict[str, str | int]:
        return {"coop": coop_name, "number": proposal.number, "kind_no": proposal.kind.number}

    async def contribution(self, event: ContributionMade, uow: CoopReceiptContext) -> None:
        member = event.member
        await self._send(
            uow, event.operation_id, [member.user_id], notifications.COOP_CONTRIBUTION, event.at_us,
            coop=event.coop.name, ngwee=event.amount_ngwee, shares=member.shares, credit_ngwee=member.credit_ngwee,
            ref=event.reference, full=int(event.became_full),
        )  # fmt: skip

    async def activated(self, event: CoopActivated, uow: CoopReceiptContext) -> None:
        await self._send(
            uow, event.operation_id, await self._members(uow, event.coop.id), notifications.COOP_ACTIVE, event.at_us,
            coop=event.coop.name, members=event.coop.full_members,
        )  # fmt: skip

    async def application(self, event: ApplicationDecided, uow: CoopReceiptContext) -> None:
        template = notifications.COOP_ADMITTED if event.admitted else notifications.COOP_REJECTED
        await self._send(uow, event.operation_id, [event.member.user_id], template, event.at_us, coop=event.coop.name)

    async def notice(self, event: NoticeGiven, uow: CoopReceiptContext) -> None:
        member = event.member
        await self._send(
            uow, event.operation_id, [member.user_id], notifications.COOP_NOTICE, event.at_us,
            coop=event.coop.name, ngwee=member.holding_ngwee, date=self._when(member.exit_at_us),
        )  # fmt: skip

    async def refund(self, event: RefundPaid, uow: CoopReceiptContext) -> None:
        user = await uow.users.user_by_id(event.member.user_id)
        if user is None:
            return
        accounts = await uow.ledger.lookup_accounts([user.zmw_account_id])
        balance = accounts[user.zmw_account_id].available if user.zmw_account_id in accounts else 0
        await self._send(
            uow, event.operation_id, [user.id], notifications.COOP_REFUND, event.at_us,
            coop=event.coop.name, ngwee=event.amount_ngwee, ref=event.reference, balance_ngwee=balance,
        )  # fmt: skip

    async def voting_opened(self, event: VotingOpened, uow: CoopReceiptContext) -> None:
        voters = await uow.coops.electorate(event.proposal.id)
        await self._send(
            uow, event.operation_id, voters, notifications.COOP_VOTING_OPEN, event.at_us,
            closes=self._when(event.proposal.vote_end_us), **self._proposal(event.proposal, event.coop.name),
        )  # fmt: skip

    async def reminder(self, event: VoteReminder, uow: CoopReceiptContext) -> None:
        await self._send(
            uow, event.operation_id, event.user_ids, notifications.COOP_VOTE_REMINDER, event.at_us,
            closes=self._when(event.proposal.vote_end_us), **self._proposal(event.proposal, event.coop.name),
        )  # fmt: skip

    async def decided(self, event: ProposalDecided, uow: CoopReceiptContext) -> None:
        proposal, tally = event.proposal, event.proposal.tally
        passed = proposal.state is ProposalState.QUEUED
        template = notifications.COOP_PASSED if passed else notifications.COOP_DEFEATED
        await self._send(
            uow, event.operation_id, await uow.coops.electorate(proposal.id), template, event.at_us,
            yes=tally.yes, no=tally.no, abstain=tally.abstain, quorum=int(proposal.quorum_reached),
            executes=self._when(proposal.eta_us), **self._proposal(proposal, event.coop.name),
        )  # fmt: skip

    async def executed(self, event: ProposalExecuted, uow: CoopReceiptContext) -> None:
        await self._send(
            uow, event.operation_id, await self._members(uow, event.coop.id), notifications.COOP_EXECUTED,
            event.at_us, **self._proposal(event.proposal, event.coop.name),
        )  # fmt: skip

    async def execution_failed(self, event: ExecutionFailed, uow: CoopReceiptContext) -> None:
        # why: 1 the treasury was short, 0 anything else (a supplier or payee gone, a member who left)
        await self._send(
            uow, event.operation_id, await self._members(uow, event.coop.id), notifications.COOP_EXECUTION_FAILED,
            event.at_us, why=int(event.proposal.failure == "insufficient_funds"),
            **self._proposal(event.proposal, event.coop.name),
        )  # fmt: skip

    async def expired(self, event: ProposalExpired, uow: CoopReceiptContext) -> None:
        await self._send(
            uow, event.operation_id, await self._members(uow, event.coop.id), notifications.COOP_EXPIRED,
            event.at_us, **self._proposal(event.proposal, event.coop.name),
        )  # fmt: skip
