"""What happens to a user's identity: registration and the life of their PIN."""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.identity.model import User
from engine.kernel.events import DomainEvent


@dataclass(frozen=True, slots=True, kw_only=True)
class UserRegistered(DomainEvent):
    user: User
    starting_credit_ngwee: int  # 0 when the day's budget of starting credit was spent


@dataclass(frozen=True, slots=True, kw_only=True)
class PinLocked(DomainEvent):
    user: User  # as locked: ``pin_locked_until`` says until when


@dataclass(frozen=True, slots=True, kw_only=True)
class PinChanged(DomainEvent):
    user: User


@dataclass(frozen=True, slots=True, kw_only=True)
class PinReset(DomainEvent):
    """An operator reset the PIN: the one-time PIN goes to the owner by SMS and nowhere else."""

    user: User
    one_time_pin: str = field(repr=False)
