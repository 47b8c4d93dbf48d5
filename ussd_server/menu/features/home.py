"""The way in (menus/home.yaml): who is dialling, a dropped session offered back, the home menu's greeting."""

from __future__ import annotations

from ussd_server.menu.context import Hop
from ussd_server.menu.features.gates import need_user
from ussd_server.menu.registry import Feature, Outcome


async def registered(hop: Hop) -> bool:
    user = await hop.user()
    if user is not None:
        hop.session.user_id = user.id
        hop.session.language = str(user.language)
    return user is not None


async def resumable(hop: Hop) -> bool:
    if hop.resume_candidate is None:
        return False
    hop.session.language = hop.resume_candidate.language  # offer it in the language they were using
    return True


async def resume_restore(hop: Hop) -> Outcome:
    old = hop.resume_candidate
    if old is None:
        return Outcome()
    hop.session.values = dict(old.values)
    hop.session.back = list(old.back)
    hop.session.language = old.language
    hop.session.user_id = old.user_id
    return Outcome(goto=old.state)


async def resume_discard(hop: Hop) -> Outcome:
    hop.resume_candidate = None
    return Outcome()


async def greeting(hop: Hop) -> Outcome:
    user = await need_user(hop)
    return Outcome(values={"first_name": user.name.split()[0]}, keep=False)


FEATURE = Feature(
    name="home",
    actions={"resume_restore": resume_restore, "resume_discard": resume_discard, "greeting": greeting},
    conditions={"registered": registered, "resumable": resumable},
)
