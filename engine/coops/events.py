"""What happens in a co-op that someone is told about (SMS receipts subscribe to these)."""

from __future__ import annotations

from dataclasses import dataclass

from engine.coops.model import Cooperative, Member, Proposal
from engine.kernel.events import DomainEvent


@dataclass(frozen=True, slots=True, kw_only=True)
class ContributionMade(DomainEvent):
    coop: Cooperative
    member: Member  # as it is after the contribution
    amount_ngwee: int
    reference: str
    became_full: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class CoopActivated(DomainEvent):
    coop: Cooperative


@dataclass(frozen=True, slots=True, kw_only=True)
class ApplicationDecided(DomainEvent):
    coop: Cooperative
    member: Member
    admitted: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class NoticeGiven(DomainEvent):
    coop: Cooperative
    member: Member  # leaving, with its exit time


@dataclass(frozen=True, slots=True, kw_only=True)
class RefundPaid(DomainEvent):
    coop: Cooperative
    member: Member  # after the refund
    amount_ngwee: int
    reference: str


@dataclass(frozen=True, slots=True, kw_only=True)
class VotingOpened(DomainEvent):
    coop: Cooperative
    proposal: Proposal


@dataclass(frozen=True, slots=True, kw_only=True)
class VoteReminder(DomainEvent):
    coop: Cooperative
    proposal: Proposal
    user_ids: tuple[int, ...]  # the electorate who have not voted


@dataclass(frozen=True, slots=True, kw_only=True)
class ProposalDecided(DomainEvent):
    coop: Cooperative
    proposal: Proposal  # succeeded (and queued) or defeated


@dataclass(frozen=True, slots=True, kw_only=True)
class ProposalExecuted(DomainEvent):
    coop: Cooperative
    proposal: Proposal


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionFailed(DomainEvent):
    coop: Cooperative
    proposal: Proposal  # with the reason in ``failure``
    first: bool  # members are told the first time, and when it expires


@dataclass(frozen=True, slots=True, kw_only=True)
class ProposalExpired(DomainEvent):
    coop: Cooperative
    proposal: Proposal
