"""Co-op records as an operator reads them: bylaws in a few lines, a proposal's payload in one."""

from __future__ import annotations

from engine.coops.bylaws import Admission, Bylaws, VotingMode
from engine.coops.model import Proposal, ProposalKind
from engine.kernel.units import format_money, format_price


def duration(seconds: int) -> str:
    """``259200`` -> ``3 days``; ``3600`` -> ``1 h``; ``90`` -> ``90 s``."""
    if seconds and seconds % 86_400 == 0:
        days = seconds // 86_400
        return f"{days} day{'s' * (days != 1)}"
    if seconds and seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds and seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


def bylaws_lines(b: Bylaws) -> list[str]:
    voting = "one member one vote" if b.voting_mode is VotingMode.ONE_MEMBER_ONE_VOTE else "weighted by shares"
    return [
        f"share par {format_money(b.par_value_ngwee)}; contribution {format_money(b.min_contribution_ngwee)}"
        f" to {format_money(b.max_contribution_ngwee)}, instalments within {b.contribution_deadline_days} days;"
        f" active from {b.min_members} full members",
        f"{voting}; quorum {b.quorum_pct}% (yes and abstain); passes with more than {b.pass_pct}% yes"
        " (two-thirds to change a bylaw)",
        f"voting opens {duration(b.voting_delay_s)} after a proposal, lasts {duration(b.voting_period_s)};"
        f" executed {duration(b.execution_delay_s)} after it passes",
        f"admission {'open' if b.admission is Admission.OPEN else 'by a vote of the members'};"
        f" exit notice {b.exit_notice_days} days, refunded at par;"
        f" results {'hidden until the close' if b.hide_results_until_close else 'shown while voting'}",
    ]


def payload_text(proposal: Proposal) -> str:
    """What the proposal would do, in one line."""
    p, kind = proposal.payload, proposal.kind
    if kind is ProposalKind.BUY_EQUIPMENT:
        amount = format_money(int(p.get("amount_ngwee", 0)))
        return f"buy {p.get('quantity')} x {p.get('name')} from {p.get('supplier')} for {amount}"
    if kind is ProposalKind.MAINTENANCE:
        return f"pay {format_money(int(p.get('amount_ngwee', 0)))} to {p.get('phone')}: {p.get('text', '')}"
    if kind is ProposalKind.ADMIT_MEMBER:
        return f"admit {p.get('phone')}"
    if kind is ProposalKind.REMOVE_MEMBER:
        return f"remove {p.get('phone')}"
    if kind is ProposalKind.SET_PRICE:
        return f"energy price {format_price(int(p.get('price_ngwee_per_kwh', 0)))}"
    if kind is ProposalKind.CHANGE_BYLAW:
        return f"bylaw {p.get('bylaw')} = {p.get('value')}"
    if kind is ProposalKind.ELECT_ROLE:
        return f"elect {p.get('phone')} {p.get('role')}"
    return f'"{p.get("text", "")}"'
