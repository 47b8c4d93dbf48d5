"""Registration (menus/features/registration.yaml): language, name, a PIN typed twice."""

from __future__ import annotations

from engine.identity.users import clean_name
from engine.kernel.errors import EnerlectraError
from ussd_server.menu.context import Hop
from ussd_server.menu.features.gates import confirmed_pin_hash, failure
from ussd_server.menu.registry import Feature, Invalid, Outcome, Value
from ussd_server.menu.schema import Validator


async def register(hop: Hop) -> Outcome:
    values = hop.session.values
    pin_hash = await confirmed_pin_hash(hop)
    if isinstance(pin_hash, Outcome):
        return pin_hash
    try:
        user = await hop.platform.users.register(
            phone=hop.session.phone,
            name=str(values.get("name", "")),
            language=str(values.get("language", "en")),
            pin_hash=pin_hash,
        )
    except EnerlectraError as exc:
        return failure(exc)
    hop.forget_user()
    hop.sms_queued = True
    hop.session.user_id = user.id
    hop.session.language = str(user.language)
    hop.session.back.clear()  # "0" must never lead back into registration
    values.clear()
    return Outcome()


async def name(raw: str, spec: Validator, hop: Hop) -> Value:
    try:
        return clean_name(raw)
    except EnerlectraError:
        raise Invalid("err.name") from None


FEATURE = Feature(name="registration", actions={"register": register}, validators={"name": name})
