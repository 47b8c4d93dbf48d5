"""What a feature's step must pass before it acts, and the outcome it routes on when it does not.

A registered user behind the phone, a right PIN typed this hop, a new PIN
typed the same twice; an engine error becomes the route named by its code.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.identity.model import PinProof, User
from engine.kernel.errors import EnerlectraError, PinBusy, PinLocked, WrongPin
from ussd_server.menu.context import PIN_HASH, Hop, PinRateLimited
from ussd_server.menu.registry import Outcome


def failure(exc: EnerlectraError, **values: object) -> Outcome:
    """Route on the error's code, showing its parameters (and ``values``) on that screen only."""
    return Outcome(route=exc.code, values={**exc.params, **values}, keep=False)


def pin_rate(limited: PinRateLimited) -> Outcome:
    return Outcome(route="pin_rate", values={"seconds": limited.seconds}, keep=False)


async def need_user(hop: Hop) -> User:
    """The registered user; the tree only leads a member here, so anyone else is a bug."""
    user = await hop.user()
    if user is None:
        raise LookupError("this screen needs a registered user")
    return user


@dataclass(frozen=True, slots=True)
class Verified:
    user: User
    proof: PinProof


async def verified(hop: Hop) -> Verified | Outcome:
    """The user and proof of their PIN, if the PIN typed this hop is right; else the outcome to route on."""
    user = await need_user(hop)
    pin = hop.pin or ""
    try:
        proof = await hop.pin_check(
            lambda retry, budget: hop.platform.users.verify_pin(user, pin, retry=retry, budget_s=budget)
        )
    except (WrongPin, PinBusy) as exc:
        return failure(exc)
    except PinRateLimited as limited:
        return pin_rate(limited)
    except PinLocked:
        hop.forget_user()  # the lock screen reads the lock as it is now
        return Outcome(route="pin_locked")
    return Verified(user, proof)


async def confirmed_pin_hash(hop: Hop) -> str | Outcome:
    """The hash of the PIN being chosen, if the PIN typed this hop is the same; else the outcome to route on.

    A busy answer keeps the hash in the session: they only need to type the PIN again.
    """
    values = hop.session.values
    pin_hash = str(values.get(PIN_HASH, ""))
    pin = hop.pin or ""
    try:
        matches = await hop.pin_check(
            lambda retry, budget: hop.platform.users.pin_matches(pin, pin_hash, retry=retry, budget_s=budget)
        )
    except PinBusy as exc:
        return failure(exc)
    except PinRateLimited as limited:
        return pin_rate(limited)
    if not matches:
        values.pop(PIN_HASH, None)
        return Outcome(route="pin_mismatch")
    return pin_hash
