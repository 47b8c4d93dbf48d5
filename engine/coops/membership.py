"""Changes to one member's place in the register that proposals and the service both make."""

from __future__ import annotations

from dataclasses import replace

from engine.coops.audit import AuditKind
from engine.coops.events import ApplicationDecided
from engine.coops.model import Member, MemberState
from engine.coops.ports import CoopUnit
from engine.coops.trail import AuditTrail
from engine.kernel.clock import MICROS_PER_SECOND
from engine.kernel.errors import NotAMember

REFUND_JOB = "coop.refund"


async def end_membership(uow: CoopUnit, trail: AuditTrail, member: Member, state: MemberState, now_us: int) -> Member:
    """Take ``member`` off the register (leaving with notice, or removed now) and schedule their refund."""
    notice_us = trail.coop.bylaws.exit_notice_days * 24 * 3600 * MICROS_PER_SECOND
    exit_at = now_us + notice_us if state is MemberState.LEAVING else now_us
    if member.state is MemberState.FULL:
        trail.coop = replace(trail.coop, full_members=trail.coop.full_members - 1)
    holds_money = member.holding_ngwee > 0
    final = state if holds_money or state is MemberState.REMOVED else MemberState.LEFT
    after = replace(member, state=final, exit_at_us=exit_at)
    if not await uow.coops.update_member(after):
        raise RuntimeError("the member row changed under its lock")
    if holds_money:
        await uow.jobs.schedule_job(
            REFUND_JOB, f"{member.coop_id}:{member.user_id}", due_at_us=exit_at, payload={"coop": member.coop_id}
        )
    return replace(after, version=member.version + 1)


async def remove_member(uow: CoopUnit, trail: AuditTrail, user_id: int, now_us: int) -> None:
    """A ``remove_member`` proposal carried out: off the register now, refunded at par in turn."""
    member = await uow.coops.member_for_update(trail.coop.id, user_id)
    if member is None or not member.state.current:
        raise NotAMember("that member has left already")
    await end_membership(uow, trail, member, MemberState.REMOVED, now_us)
    await trail.add(AuditKind.NOTICE_GIVEN, at_us=now_us, actor_id=user_id, body={"removed": 1})


async def decide_application(uow: CoopUnit, trail: AuditTrail, user_id: int, *, admitted: bool, now_us: int) -> None:
    """An ``admit_member`` vote's outcome, applied to the applicant's row."""
    member = await uow.coops.member_for_update(trail.coop.id, user_id)
    if member is None or member.state is not MemberState.APPLIED:
        return
    after = replace(member, state=MemberState.ADMITTED if admitted else MemberState.REJECTED, joined_at_us=now_us)
    await uow.coops.update_member(after)
    await trail.add(AuditKind.JOINED if admitted else AuditKind.TRANSITION, at_us=now_us, actor_id=user_id,
                    body={} if admitted else {"application": "rejected"})  # fmt: skip
    uow.record(
        ApplicationDecided(
            operation_id=f"application:{trail.coop.id}:{user_id}:{member.version}",
            at_us=now_us, coop=trail.coop, member=after, admitted=admitted,
        )
    )  # fmt: skip
