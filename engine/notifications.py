"""SMS outbox messages for completed operations.

Messages name a template and carry integer amounts; the delivery worker
renders them in the recipient's language, so the engine holds no catalogs.
"""

from __future__ import annotations

from engine.model import OutboxMessage, User

WELCOME = "sms.welcome"
ENERGY_SOLD = "sms.energy_sold"
ENERGY_BOUGHT = "sms.energy_bought"
ENERGY_SENT = "sms.energy_sent"
ENERGY_RECEIVED = "sms.energy_received"
CLUSTER_PURCHASE = "sms.cluster_purchase"
OFFER_RECEIVED = "sms.offer_received"
OFFER_DECLINED = "sms.offer_declined"


def sms(operation_id: str, role: str, recipient: User, template: str, **params: str | int) -> OutboxMessage:
    """One message per recipient per operation; the key makes re-queuing a no-op."""
    return OutboxMessage(
        dedupe_key=f"{operation_id}:{role}",
        recipient=recipient.phone,
        language=recipient.language,
        template=template,
        params=dict(params),
    )
