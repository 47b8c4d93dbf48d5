"""The member register's arithmetic: contributions become whole shares at par, the rest is credit.

For every member, always: ``shares * par + credit == contributed - refunded``
(a property test checks it through the service on every backend).
"""

from __future__ import annotations

from dataclasses import replace

from engine.coops.bylaws import Bylaws, VotingMode
from engine.coops.model import Member, MemberState
from engine.kernel.clock import MICROS_PER_SECOND
from engine.kernel.errors import AmountNotPositive, ContributionOutOfRange, NotAMember

DAY_US = 24 * 3600 * MICROS_PER_SECOND


def check_contribution(member: Member, amount_ngwee: int, bylaws: Bylaws, *, now_us: int) -> None:
    """Raise unless ``member`` may pay ``amount_ngwee`` in now."""
    if amount_ngwee <= 0:
        raise AmountNotPositive("a contribution must be positive")
    if member.state not in (MemberState.ADMITTED, MemberState.FULL):
        raise NotAMember("only an admitted member contributes", state=str(member.state))
    holding = member.holding_ngwee
    most = bylaws.max_contribution_ngwee - holding
    least = max(bylaws.min_contribution_ngwee - holding, 1)
    if amount_ngwee > most:
        raise ContributionOutOfRange("over the bylaws' maximum", most_ngwee=max(most, 0), least_ngwee=least)
    deadline = member.joined_at_us + bylaws.contribution_deadline_days * DAY_US
    if (
        member.state is MemberState.ADMITTED
        and now_us > deadline
        and holding + amount_ngwee < bylaws.min_contribution_ngwee
    ):
        # Past the deadline instalments are over: what is left of the minimum is paid in one go.
        raise ContributionOutOfRange("the instalment deadline has passed", most_ngwee=most, least_ngwee=least)


def contributed(member: Member, amount_ngwee: int, bylaws: Bylaws) -> Member:
    """The member after paying ``amount_ngwee``: whole shares at par, the remainder kept as credit."""
    total = member.credit_ngwee + amount_ngwee
    shares, credit = divmod(total, bylaws.par_value_ngwee)
    holding = member.holding_ngwee + amount_ngwee
    state = member.state
    if state is MemberState.ADMITTED and holding >= bylaws.min_contribution_ngwee:
        state = MemberState.FULL
    return replace(
        member,
        contributed_ngwee=member.contributed_ngwee + amount_ngwee,
        shares=member.shares + shares,
        credit_ngwee=credit,
        state=state,
    )


def refunded(member: Member) -> tuple[Member, int]:
    """The member after their stake is paid back at par, and the amount paid."""
    amount = member.holding_ngwee
    state = MemberState.REMOVED if member.state is MemberState.REMOVED else MemberState.LEFT
    return replace(member, refunded_ngwee=member.refunded_ngwee + amount, shares=0, credit_ngwee=0, state=state), amount


def vote_weight(member: Member, bylaws: Bylaws) -> int:
    """One member one vote, unless the bylaws weigh votes by shares."""
    if bylaws.voting_mode is VotingMode.SHARE_WEIGHTED:
        return max(member.shares, 1)
    return 1
