"""Africa's Talking delivery reports: the carrier's word on a message we sent.

AT posts a form to our callback URL (fields ``id``, ``status``,
``phoneNumber``, ``networkCode``, ``failureReason``, ``retryCount``) as the
message moves along. Only final statuses change the outbox row:
``Success`` marks it delivered; ``Rejected``, ``Failed``,
``AbsentSubscriber`` and ``Expired`` mark it dead with the reason. We do not
send again after a failed delivery: the carrier already retried for the
message's validity period, and a receipt that arrives a day late is noise
(the user sees the same facts in the USSD menus). ``Sent``, ``Submitted``
and ``Buffered`` are progress on the way and change nothing.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from engine.notifications.ports import OutboxQueue


class DeliveryStatus(enum.StrEnum):
    SENT = "Sent"  # handed to the mobile network
    SUBMITTED = "Submitted"  # handed to the messaging service provider
    BUFFERED = "Buffered"  # queued by the network (phone off or busy)
    REJECTED = "Rejected"
    SUCCESS = "Success"  # delivered to the handset
    FAILED = "Failed"
    ABSENT_SUBSCRIBER = "AbsentSubscriber"
    EXPIRED = "Expired"


FAILURES = frozenset(
    {DeliveryStatus.REJECTED, DeliveryStatus.FAILED, DeliveryStatus.ABSENT_SUBSCRIBER, DeliveryStatus.EXPIRED}
)


class InvalidDeliveryReport(ValueError):
    """The callback is not a delivery report we understand; answer it with 400."""


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    provider_ref: str
    status: DeliveryStatus
    failure_reason: str = ""
    phone: str = ""

    @property
    def is_final(self) -> bool:
        return self.status is DeliveryStatus.SUCCESS or self.status in FAILURES

    @property
    def delivered(self) -> bool:
        return self.status is DeliveryStatus.SUCCESS


def parse_delivery_report(form: Mapping[str, str]) -> DeliveryReport:
    """The report in an AT callback form; raises :class:`InvalidDeliveryReport` if it is not one."""
    provider_ref = form.get("id", "").strip()
    if not provider_ref:
        raise InvalidDeliveryReport("delivery report without a message id")
    raw_status = form.get("status", "").strip()
    try:
        status = DeliveryStatus(raw_status)
    except ValueError:
        raise InvalidDeliveryReport(f"unknown delivery status {raw_status[:40]!r}") from None
    return DeliveryReport(
        provider_ref=provider_ref,
        status=status,
        failure_reason=form.get("failureReason", "").strip(),
        phone=form.get("phoneNumber", "").strip(),
    )


async def apply_delivery_report(store: OutboxQueue, report: DeliveryReport) -> bool:
    """Record a final report on the message it names; True if an outbox row changed.

    False for progress reports, unknown references and repeats (AT retries a
    callback that did not get a 200): the route should still answer 200.
    """
    if not report.is_final:
        return False
    reason = "" if report.delivered else f"delivery {report.status}: {report.failure_reason or 'no reason given'}"
    return await store.record_delivery_report(report.provider_ref, delivered=report.delivered, reason=reason)
