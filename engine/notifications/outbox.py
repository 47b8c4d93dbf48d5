"""SMS outbox messages for completed operations, and the daily SMS cap.

Messages name a template and carry integer amounts; the delivery worker
renders them in the recipient's language, so the engine holds no catalogs.

Every SMS costs money, and nothing else stops two numbers passing 10 Wh back
and forth all day. So each recipient gets at most ``sms_daily_cap`` ordinary
SMS a local day; past that a message is stored folded (kept for audit, never
sent) and the recipient gets one daily summary pointing to the mini-statement
instead. Security messages (a locked or changed PIN) always go out: they may be
someone's first sign of an attacker. Services queue through :func:`queue`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Protocol

from engine.kernel.clock import MICROS_PER_SECOND
from engine.kernel.config import EngineConfig
from engine.kernel.language import Language
from engine.kernel.local_time import SECONDS_PER_DAY, local_day, local_day_start_us
from engine.notifications.model import OutboxMessage
from engine.notifications.ports import OutboxWriter

WELCOME = "sms.welcome"
ENERGY_SOLD = "sms.energy_sold"
ENERGY_BOUGHT = "sms.energy_bought"
ENERGY_SENT = "sms.energy_sent"
ENERGY_RECEIVED = "sms.energy_received"
CLUSTER_PURCHASE = "sms.cluster_purchase"
OFFER_RECEIVED = "sms.offer_received"
OFFER_DECLINED = "sms.offer_declined"
DAILY_SUMMARY = "sms.daily_summary"
DEPOSIT_RECEIVED = "sms.deposit_received"
DEPOSIT_FAILED = "sms.deposit_failed"
WITHDRAWAL_PAID = "sms.withdrawal_paid"
WITHDRAWAL_FAILED = "sms.withdrawal_failed"
PAYMENT_DELAYED = "sms.payment_delayed"
MONEY_SENT = "sms.money_sent"
MONEY_RECEIVED = "sms.money_received"
COOP_CONTRIBUTION = "sms.coop_contribution"
COOP_ACTIVE = "sms.coop_active"
COOP_ADMITTED = "sms.coop_admitted"
COOP_REJECTED = "sms.coop_rejected"
COOP_NOTICE = "sms.coop_notice"
COOP_REFUND = "sms.coop_refund"
COOP_VOTING_OPEN = "sms.coop_voting_open"
COOP_VOTE_REMINDER = "sms.coop_vote_reminder"
COOP_PASSED = "sms.coop_passed"
COOP_DEFEATED = "sms.coop_defeated"
COOP_EXECUTED = "sms.coop_executed"
COOP_EXECUTION_FAILED = "sms.coop_execution_failed"
COOP_EXPIRED = "sms.coop_expired"
MARKET_BOUGHT = "sms.market_bought"
MARKET_SOLD = "sms.market_sold"
MARKET_FOLDED = "sms.market_folded"
MARKET_EXPIRED_BUY = "sms.market_expired_buy"
MARKET_EXPIRED_SELL = "sms.market_expired_sell"
# Security templates (texts in the catalogs come with the PIN work).
PIN_LOCKED = "sms.pin_locked"
PIN_CHANGED = "sms.pin_changed"
PIN_RESET = "sms.pin_reset"

# Parameters that are secrets (a one-time PIN): the delivery worker overwrites them in the
# outbox row once the SMS is sent or given up, so the database keeps no usable credential.
SECRET_PARAMS: dict[str, tuple[str, ...]] = {PIN_RESET: ("pin",)}
SCRUBBED = "****"

# Always sent, never counted: a cap an attacker can fill with cheap gifts must
# not be able to hide the SMS that tells the owner their PIN changed.
SECURITY_TEMPLATES: frozenset[str] = frozenset({PIN_LOCKED, PIN_CHANGED, PIN_RESET})
# Outside the cap: security messages, and the summary that stands for the folded ones.
_UNCAPPED: frozenset[str] = SECURITY_TEMPLATES | {DAILY_SUMMARY}

_DAY_US = SECONDS_PER_DAY * MICROS_PER_SECOND
# The summary goes out at 20:00 local: late enough to cover most of the day's
# activity (one SMS instead of one per fold), early enough that people are
# still awake to read it. A first fold after 19:55 waits five minutes instead,
# so the SMS does not land while the person is still in the USSD session that
# caused it (sessions last ~180 s; on some handsets an incoming SMS interrupts
# one). It never slips past the local day, which its text calls "today".
SUMMARY_LOCAL_TIME_US = 20 * 3600 * MICROS_PER_SECOND
SUMMARY_DELAY_US = 5 * 60 * MICROS_PER_SECOND
_LAST_MINUTE_US = _DAY_US - 60 * MICROS_PER_SECOND
_EPOCH = date(1970, 1, 1)


class Recipient(Protocol):
    """Whom an SMS goes to: a number, and the language its text is rendered in."""

    @property
    def phone(self) -> str: ...

    @property
    def language(self) -> Language: ...


def sms(operation_id: str, role: str, recipient: Recipient, template: str, **params: str | int) -> OutboxMessage:
    """One message per recipient per operation; the key makes re-queuing a no-op."""
    return OutboxMessage(
        dedupe_key=f"{operation_id}:{role}",
        recipient=recipient.phone,
        language=recipient.language,
        template=template,
        params=dict(params),
    )


def scrubbed(message: OutboxMessage) -> dict[str, str | int] | None:
    """The message's parameters with its secrets overwritten, or None if it holds none."""
    secret = SECRET_PARAMS.get(message.template, ())
    if not any(name in message.params and message.params[name] != SCRUBBED for name in secret):
        return None
    return {k: SCRUBBED if k in secret else v for k, v in message.params.items()}


def is_security(template: str) -> bool:
    """Security messages are never capped or folded."""
    return template in SECURITY_TEMPLATES


def summary_due_us(now_us: int, utc_offset_s: int) -> int:
    """When a daily summary first needed at ``now_us`` goes out (see SUMMARY_LOCAL_TIME_US)."""
    day_start = local_day_start_us(now_us, utc_offset_s)
    later = min(now_us + SUMMARY_DELAY_US, day_start + _LAST_MINUTE_US)
    return max(day_start + SUMMARY_LOCAL_TIME_US, later)


def daily_summary(folded: OutboxMessage, *, now_us: int, utc_offset_s: int) -> OutboxMessage:
    """The one summary a recipient gets for a local day's folded messages (the key makes it one)."""
    local_date = _EPOCH + timedelta(days=local_day(now_us, utc_offset_s))
    return OutboxMessage(
        dedupe_key=f"daily-summary:{folded.recipient}:{local_date.isoformat()}",
        recipient=folded.recipient,
        language=folded.language,
        template=DAILY_SUMMARY,
        params={},
        created_at=now_us,
    )


@dataclass(frozen=True, slots=True)
class QueueOutcome:
    queued: int  # rows added to be sent
    folded: int  # rows added folded: over the cap, kept, never sent
    summaries: int  # daily summaries newly queued


async def queue(
    tx: OutboxWriter, messages: Sequence[OutboxMessage], *, now_us: int, config: EngineConfig
) -> QueueOutcome:
    """Queue SMS inside a unit of work, folding ordinary ones over the recipient's daily cap.

    A message whose ``dedupe_key`` is queued already (a retried operation) is
    skipped: it is neither counted again nor folded. Of the rest, security
    messages are always queued; an ordinary one is queued while the recipient
    has fewer than ``config.sms_daily_cap`` ordinary rows from this local day
    (``config.local_utc_offset_s``), else stored folded, and the recipient's
    daily summary is queued if it is not already, due per :func:`summary_due_us`.
    """
    stamped = [replace(m, created_at=now_us) for m in messages]
    day_start = local_day_start_us(now_us, config.local_utc_offset_s)
    capped = sorted({m.recipient for m in stamped if m.template not in _UNCAPPED})
    # Count (and so lock the count) before looking for keys already queued: a
    # concurrent retry of the same operation is then seen whole or not at all.
    counts = await tx.count_outbox_since(capped, day_start, excluding_templates=sorted(_UNCAPPED)) if capped else {}
    seen = await tx.existing_outbox_keys([m.dedupe_key for m in stamped])
    send: list[OutboxMessage] = []
    fold: list[OutboxMessage] = []
    summaries: dict[str, OutboxMessage] = {}
    for message in stamped:
        if message.dedupe_key in seen:
            continue
        seen.add(message.dedupe_key)
        if message.template in _UNCAPPED:
            send.append(message)
            continue
        count = counts.get(message.recipient, 0)
        if count < config.sms_daily_cap:
            counts[message.recipient] = count + 1
            send.append(message)
        else:
            fold.append(message)
            if message.recipient not in summaries:
                summaries[message.recipient] = daily_summary(
                    message, now_us=now_us, utc_offset_s=config.local_utc_offset_s
                )
    queued = await tx.add_outbox(send) if send else 0
    folded = await tx.add_outbox(fold, folded=True) if fold else 0
    added_summaries = 0
    if summaries:
        due = summary_due_us(now_us, config.local_utc_offset_s)
        added_summaries = await tx.add_outbox(list(summaries.values()), due_at=due)
    return QueueOutcome(queued, folded, added_summaries)
