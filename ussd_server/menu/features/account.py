"""My account (menus/features/account.yaml): profile, language, choosing a new PIN.

Also the one-time PIN an operator reset leaves: it must be replaced before
anything else (the ``reset.*`` screens, entered from the start router).
"""

from __future__ import annotations

from engine.identity.pins import validate_pin
from engine.kernel.errors import EnerlectraError, PinBusy, WeakPin
from engine.kernel.local_time import local_text
from ussd_server.menu.context import PIN_HASH, Hop, PinRateLimited
from ussd_server.menu.features.gates import confirmed_pin_hash, need_user, verified
from ussd_server.menu.registry import Feature, Invalid, Outcome, Value
from ussd_server.menu.schema import Validator

LANGUAGE_NAMES = {"en": "English", "ny": "Chinyanja", "bem": "Ichibemba"}


async def must_change_pin(hop: Hop) -> bool:
    """An operator reset the PIN: the one-time PIN must be replaced before anything else."""
    user = await hop.user()
    if user is None or not user.pin_must_change:
        return False
    hop.session.user_id = user.id
    hop.session.language = str(user.language)
    return True


async def profile(hop: Hop) -> Outcome:
    user = await need_user(hop)
    since = local_text(user.created_at, hop.platform.config.local_utc_offset_s, "%d/%m/%Y")
    return Outcome(
        values={
            "name": user.name,
            "phone": user.phone,
            "language_name": LANGUAGE_NAMES[str(user.language)],
            "since": since,
        },
        keep=False,
    )


async def change_language(hop: Hop) -> Outcome:
    language = str(hop.session.values.pop("language", "en"))
    await hop.platform.users.change_language(await need_user(hop), language)
    hop.session.language = language
    return Outcome()


async def match_new_pin(hop: Hop) -> Outcome:
    """The new PIN typed again must match the first (a mismatch is the user's strike)."""
    pin_hash = await confirmed_pin_hash(hop)
    return pin_hash if isinstance(pin_hash, Outcome) else Outcome()


async def change_pin(hop: Hop) -> Outcome:
    """Check the current (or one-time) PIN typed this hop and, in the same hop, set the new one.

    The proof of the checked PIN lives only in this call: nothing in the
    session says a PIN was checked, so no resumed or replayed session can
    change a PIN without typing the current one.
    """
    values = hop.session.values
    pin_hash = str(values.get(PIN_HASH, ""))
    if not pin_hash:  # the new PIN was never chosen in this session
        return Outcome(goto="pin.new")
    checked = await verified(hop)
    if isinstance(checked, Outcome):
        return checked
    await hop.platform.users.change_pin(checked.proof, new_pin_hash=pin_hash)
    values.pop(PIN_HASH, None)
    hop.forget_user()
    hop.sms_queued = True
    hop.session.back.clear()
    return Outcome()


async def new_pin(raw: str, spec: Validator, hop: Hop) -> Value:
    """A PIN being set is stored only as its final salted hash, never as typed (registration uses it too)."""
    try:
        validate_pin(raw)
    except WeakPin:
        raise Invalid("err.weak_pin") from None
    except EnerlectraError:
        raise Invalid("err.pin_format") from None
    try:
        return await hop.pin_check(
            lambda retry, budget: hop.platform.users.hash_new_pin(raw, retry=retry, budget_s=budget)
        )
    except PinBusy:
        raise Invalid("err.pin_busy", counts=False) from None
    except PinRateLimited as limited:
        raise Invalid("err.pin_rate", counts=False, seconds=limited.seconds) from None


FEATURE = Feature(
    name="account",
    actions={
        "profile": profile,
        "change_language": change_language,
        "match_new_pin": match_new_pin,
        "change_pin": change_pin,
    },
    conditions={"must_change_pin": must_change_pin},
    validators={"new_pin": new_pin},
)
