"""Platform-wide rules for co-ops that are not any one co-op's bylaws."""

from __future__ import annotations

from dataclasses import dataclass

DAY_S = 24 * 3600


@dataclass(frozen=True, slots=True)
class CoopConfig:
    max_open_proposals_per_member: int = 3  # keeps lists short on a phone, and nobody floods the agenda
    reminder_before_close_s: int = DAY_S  # the SMS to members who have not voted yet
    execution_retry_s: int = 6 * 3600  # a failed execution (the treasury was short) is tried again this often
    execution_grace_s: int = 14 * DAY_S  # after which a queued proposal that cannot be executed expires
    refund_retry_s: int = 3600  # a refund the treasury cannot cover waits this long before trying again
    decision_text_max: int = 120  # a free decision's text: one SMS with its header
    name_max: int = 40
