"""Users: registration by a partner, signing in and out, the profile, the PIN."""

from __future__ import annotations

from engine.identity.model import User
from engine.kernel.errors import InvalidCredentials, UserNotFound, WrongPin
from ussd_server.api import scopes
from ussd_server.api.models.common import at
from ussd_server.api.models.users import ChangePin, Profile, RegisterUser, Session, SignedOut, SignIn, UpdateProfile
from ussd_server.api.pins import SignInFailures, verified
from ussd_server.api.routing import Call, Idempotency, Reply, Route
from ussd_server.phones import parse_zambian_mobile

MINUTE_S = 60


def _profile(call: Call, user: User) -> Profile:
    return Profile.of(user, call.platform.clock.now_us())


async def register(call: Call) -> Reply:
    body = call.body_as(RegisterUser)
    user = await call.platform.users.register(
        phone=parse_zambian_mobile(body.phone), name=body.name, language=body.language, pin=body.pin
    )
    return Reply(_profile(call, user), status=201)


async def sign_in(call: Call) -> Reply:
    body = call.body_as(SignIn)
    failures = SignInFailures(call)
    await failures.check()
    phone = parse_zambian_mobile(body.phone)
    user = await call.platform.users.find(phone)
    if user is None:
        await failures.count()
        raise InvalidCredentials("no account with that number and PIN")
    try:
        proof = await verified(call, user, body.pin)
    except WrongPin:
        await failures.count()
        raise
    ttl_s = call.settings.api_token_ttl_minutes * MINUTE_S
    issued = await call.platform.access.sign_in(user, proof, ttl_s=ttl_s)
    session = Session(token=issued.secret, expires_at=at(issued.expires_at), user=_profile(call, issued.user))
    return Reply(session, status=201)


async def sign_out(call: Call) -> Reply:
    assert call.credential is not None
    return Reply(SignedOut(signed_out=await call.platform.access.sign_out(call.credential)))


async def me(call: Call) -> Reply:
    return Reply(_profile(call, call.user()))


async def update_me(call: Call) -> Reply:
    body, user = call.body_as(UpdateProfile), call.user()
    if body.name is not None:
        user = await call.platform.users.rename(user, body.name)
    if body.language is not None:
        user = await call.platform.users.change_language(user, body.language)
    return Reply(_profile(call, user))


async def change_pin(call: Call) -> Reply:
    """A new PIN signs the user out everywhere; this answer carries a fresh token."""
    body, user = call.body_as(ChangePin), call.user()
    proof = await verified(call, user, body.pin)
    changed = await call.platform.users.change_pin(proof, new_pin=body.new_pin)
    ttl_s = call.settings.api_token_ttl_minutes * MINUTE_S
    issued = await call.platform.access.sign_in(changed, proof, ttl_s=ttl_s)
    return Reply(Session(token=issued.secret, expires_at=at(issued.expires_at), user=_profile(call, changed)))


async def user_by_phone(call: Call) -> Reply:
    user = await call.platform.users.find(parse_zambian_mobile(call.path("phone")))
    if user is None:
        raise UserNotFound("no user with that phone number")
    return Reply(_profile(call, user))


ROUTES = (
    Route(
        "POST",
        "/users",
        register,
        "Register a user whose number a partner has verified",
        "users",
        scopes.PARTNERS,
        data=Profile,
        status=201,
        body=RegisterUser,
        idempotency=Idempotency.OPTIONAL,
        kind="register",
        description="The user gets the welcome SMS (and the starting credit while the day's budget lasts), "
        "as on USSD. `ALREADY_REGISTERED` (409) if the number has an account.",
    ),
    Route(
        "POST",
        "/session",
        sign_in,
        "Sign in with number and PIN",
        "session",
        None,
        data=Session,
        status=201,
        body=SignIn,
        pin=True,
        description="The same PIN lockout as USSD (`WRONG_PIN` with `attempts_left`, then `PIN_LOCKED`) and the "
        "same per-number budget of PIN checks (`PIN_RATE_LIMITED`, 429). Failed sign-ins are also limited per "
        "address (`SIGN_IN_LIMITED`, 429). The token reads; moving money or energy also needs the PIN.",
    ),
    Route("DELETE", "/session", sign_out, "Sign out (revoke this token)", "session", scopes.USER, data=SignedOut),
    Route("GET", "/me", me, "Your profile", "users", scopes.USER, data=Profile, choosing_pin=True),
    Route(
        "PATCH",
        "/me",
        update_me,
        "Change your name or language",
        "users",
        scopes.USER,
        data=Profile,
        body=UpdateProfile,
    ),
    Route(
        "POST",
        "/me/pin",
        change_pin,
        "Change your PIN",
        "users",
        scopes.USER,
        data=Session,
        body=ChangePin,
        pin=True,
        choosing_pin=True,
        description="Signs you out everywhere (every token of yours is revoked, as after an operator reset) "
        "and answers with a fresh token. The only thing a user on a one-time PIN may do.",
    ),
    Route(
        "GET",
        "/users/{phone}",
        user_by_phone,
        "A user's profile (operators)",
        "users",
        scopes.ADMINS,
        data=Profile,
        path_patterns={"phone": r"^[0-9+()\-. ]{9,20}$"},
    ),
)
