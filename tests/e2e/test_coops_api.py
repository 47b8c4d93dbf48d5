"""Energy co-ops through the REST API, on SQLite and PostgreSQL: form, join, contribute, propose, vote, execute.

Money leaves a wallet only with its owner's PIN, a contribution pays once
whatever the retries, a member's last vote is the one that counts, and what
the members decided is carried out once voting has closed, by the scheduler:
nobody closes a vote by hand.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass
from typing import Any

from engine.access.model import Scope
from engine.identity.model import User
from engine.platform import Platform
from tests.e2e.api_client import Answer, Api, new_key
from tests.e2e.conftest import World
from tests.e2e.journeys import WRONG_PIN
from tests.e2e.scheduling import run_due, scheduler_ahead
from ussd_server.demo import DEMO_PIN

# Small and quick: two full members make it active, shares of K1, voting opens at once and lasts the
# bylaws' shortest period, and what passes is carried out as soon as voting closes.
BYLAWS = {
    "par_value_ngwee": 100,
    "min_contribution_ngwee": 200,
    "max_contribution_ngwee": 400,
    "min_members": 2,
    "voting_delay_s": 0,
    "voting_period_s": 600,
    "execution_delay_s": 0,
}
WAIT_S = 10.0  # for a state the server reaches on its own: a deadline, never a measure of speed


def money(ngwee: int) -> dict[str, Any]:
    return {"ngwee": ngwee, "currency": "ZMW"}


@dataclass
class Person:
    user: User
    token: str

    @property
    def phone(self) -> str:
        return self.user.phone


async def person(world: World, api: Api, name: str) -> Person:
    """A new user with the starting credit (K5.00), signed in."""
    user = await world.new_user(name=name)
    return Person(user, await api.sign_in(user.phone))


async def form(api: Api, founder: Person, *, key: str | None = None, **changes: Any) -> Answer:
    body = {"name": "Chawama Solar", "kind": "micro", "region": "lusaka", "bylaws": {**BYLAWS, **changes}}
    return await api.call("POST", "/coops", auth=founder.token, json={**body, "pin": DEMO_PIN}, key=key or new_key())


async def contribute(api: Api, who: Person, coop_id: str, ngwee: int, *, key: str | None = None) -> Answer:
    body = {"amount_ngwee": ngwee, "pin": DEMO_PIN}
    return await api.call("POST", f"/coops/{coop_id}/contributions", auth=who.token, json=body, key=key or new_key())


async def active_coop(world: World, api: Api, **changes: Any) -> tuple[str, Person, Person]:
    """A co-op of two full members: its founder paid K2.50 (two shares and 50 ngwee), the other K2.00."""
    founder, member = await person(world, api, "Mutale Banda"), await person(world, api, "Chipo Phiri")
    coop_id = str((await form(api, founder, **changes)).data["id"])
    assert (await api.call("POST", f"/coops/{coop_id}/join", auth=member.token)).status == 201
    assert (await contribute(api, founder, coop_id, 250)).status == 201
    assert (await contribute(api, member, coop_id, 200)).data["coop_state"] == "active"
    return coop_id, founder, member


async def propose(api: Api, who: Person, coop_id: str, kind: str, **payload: Any) -> Answer:
    body = {"kind": kind, "payload": payload, "pin": DEMO_PIN}
    return await api.call("POST", f"/coops/{coop_id}/proposals", auth=who.token, json=body)


async def vote(api: Api, who: Person, coop_id: str, proposal_id: str, choice: Any, pin: str = DEMO_PIN) -> Answer:
    path = f"/coops/{coop_id}/proposals/{proposal_id}/votes"
    return await api.call("POST", path, auth=who.token, json={"choice": choice, "pin": pin})


async def proposal(api: Api, who: Person, coop_id: str, proposal_id: str) -> dict[str, Any]:
    return dict((await api.call("GET", f"/coops/{coop_id}/proposals/{proposal_id}", auth=who.token)).data)


async def reaches(
    api: Api, who: Person, coop_id: str, proposal_id: str, state: str, *, worker: Platform | None = None
) -> dict[str, Any]:
    """The proposal once it is in ``state``, polled until a deadline (running ``worker``'s due jobs meanwhile)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    while True:
        if worker is not None:
            await run_due(worker)
        seen = await proposal(api, who, coop_id, proposal_id)
        if seen["state"] == state:
            return seen
        assert loop.time() < deadline, f"still {seen['state']} after {WAIT_S} s, waiting for {state}: {seen}"
        await asyncio.sleep(0.05)


# --- forming, joining, contributing ---------------------------------------------------------------------


async def test_a_coop_is_formed_joined_and_active_once_its_members_have_paid_in(world: World) -> None:
    api = Api(world)
    founder, member = await person(world, api, "Mutale Banda"), await person(world, api, "Chipo Phiri")
    key = new_key()

    formed = await form(api, founder, key=key)
    again = await form(api, founder, key=key)

    assert formed.status == again.status == 201, formed.body
    assert again.body == formed.body, "a retry forms no second co-op"
    coop = formed.data
    coop_id = coop["id"]
    assert (coop["name"], coop["kind"], coop["region"]) == ("Chawama Solar", "micro", "lusaka")
    assert coop["state"] == "forming"
    assert {k: coop["bylaws"][k] for k in BYLAWS} == BYLAWS
    assert coop["bylaws"]["voting_mode"] == "one_member_one_vote"
    assert (coop["treasury"], coop["members"], coop["min_members"]) == (money(0), 1, 2)
    assert (coop["me"]["state"], coop["me"]["shares"]) == ("admitted", 0)
    listed = await api.call("GET", "/coops?region=lusaka", auth=member.token)
    assert coop_id in [c["id"] for c in listed.data]
    assert coop_id not in [c["id"] for c in (await api.call("GET", "/coops?region=kabwe", auth=member.token)).data]

    joined = await api.call("POST", f"/coops/{coop_id}/join", auth=member.token)
    assert (joined.status, joined.data["state"]) == (201, "admitted")
    twice = await api.call("POST", f"/coops/{coop_id}/join", auth=member.token)
    assert (twice.status, twice.code) == (409, "ALREADY_MEMBER")

    paid = await contribute(api, founder, coop_id, 250)
    assert paid.status == 201, paid.body
    assert paid.data["membership"]["state"] == "full"
    assert (paid.data["membership"]["shares"], paid.data["membership"]["credit"]) == (2, money(50))
    assert paid.data["coop_state"] == "forming", "one full member of the two it needs"
    last = await contribute(api, member, coop_id, 200)
    assert (last.data["coop_state"], last.data["membership"]["shares"]) == ("active", 2)

    summary = (await api.call("GET", f"/coops/{coop_id}", auth=member.token)).data
    assert (summary["state"], summary["full_members"], summary["members"]) == ("active", 2, 2)
    assert summary["treasury"] == money(450)
    assert (summary["me"]["state"], summary["me"]["contributed"]) == ("full", money(200))
    register = (await api.call("GET", f"/coops/{coop_id}/members", auth=member.token)).data
    assert [(m["phone"], m["name"], m["shares"]) for m in register] == [
        (founder.phone, "Mutale B.", 2),
        (member.phone, "Chipo P.", 2),
    ]
    mine = (await api.call("GET", "/me/coops", auth=founder.token)).data
    assert [(c["coop"]["id"], c["me"]["contributed"]) for c in mine] == [(coop_id, money(250))]


async def test_a_contribution_retried_with_its_key_pays_once_and_gets_the_same_receipt(world: World) -> None:
    api = Api(world)
    founder = await person(world, api, "Mutale Banda")
    coop_id = (await form(api, founder)).data["id"]
    before = (await api.wallet(founder.token))["money"]["ngwee"]
    key = new_key()

    first = await contribute(api, founder, coop_id, 300, key=key)
    retry = await contribute(api, founder, coop_id, 300, key=key)
    other = await contribute(api, founder, coop_id, 100, key=key)

    assert first.status == retry.status == 201, first.body
    assert retry.body == first.body
    assert retry.headers.get("Idempotent-Replayed") == "true"
    assert (other.status, other.code) == (422, "IDEMPOTENCY_KEY_REUSED"), "the same key for another amount"
    assert (await api.wallet(founder.token))["money"]["ngwee"] == before - 300
    statement = (await api.call("GET", "/wallet/statement", auth=founder.token)).data
    assert [line["reference"] for line in statement].count(first.data["reference"]) == 1
    coop = (await api.call("GET", f"/coops/{coop_id}", auth=founder.token)).data
    assert (coop["treasury"], coop["me"]["shares"]) == (money(300), 3)
    unkeyed = await api.call(
        "POST", f"/coops/{coop_id}/contributions", auth=founder.token, json={"amount_ngwee": 100, "pin": DEMO_PIN}
    )
    assert (unkeyed.status, unkeyed.code) == (400, "IDEMPOTENCY_KEY_MISSING")
    over = await contribute(api, founder, coop_id, 101)
    assert (over.status, over.code, over.details["most_ngwee"]) == (422, "CONTRIBUTION_OUT_OF_RANGE", 100)
    assert (await api.wallet(founder.token))["money"]["ngwee"] == before - 300


# --- proposing and voting ------------------------------------------------------------------------------


async def test_members_vote_and_change_their_vote_and_only_the_last_counts(world: World) -> None:
    api = Api(world)
    coop_id, founder, member = await active_coop(world, api)

    made = await propose(api, founder, coop_id, "decision", text="Clean the panels every Saturday")
    assert made.status == 201, made.body
    pid = made.data["id"]
    assert (made.data["kind"], made.data["payload"]) == ("decision", {"text": "Clean the panels every Saturday"})
    assert (made.data["yours"], made.data["electorate"], made.data["two_thirds"]) == (True, 2, False)
    assert made.data["state"] in ("pending", "active")

    first = await vote(api, founder, coop_id, pid, "yes")
    changed = await vote(api, founder, coop_id, pid, 2)
    other = await vote(api, member, coop_id, pid, "abstain")

    assert (first.status, first.data["changed"]) == (200, False), first.body
    assert (changed.data["choice"], changed.data["changed"]) == ("no", True)
    assert other.data["proposal"]["tally"] == {"yes": 0, "no": 1, "abstain": 1, "voters": 2}
    seen = await proposal(api, founder, coop_id, pid)
    assert (seen["my_vote"]["choice"], seen["my_vote"]["changes"]) == ("no", 1)
    assert seen["tally"] == {"yes": 0, "no": 1, "abstain": 1, "voters": 2}
    listed = (await api.call("GET", f"/coops/{coop_id}/proposals?open=true", auth=member.token)).data
    assert [(p["id"], p["my_vote"]["choice"], p["yours"]) for p in listed] == [(pid, "abstain", False)]


async def test_hidden_results_stay_hidden_until_voting_closes(world: World) -> None:
    api = Api(world)
    coop_id, founder, member = await active_coop(world, api, hide_results_until_close=True)
    pid = (await propose(api, member, coop_id, "set_price", price_ngwee_per_kwh=110)).data["id"]

    cast = await vote(api, founder, coop_id, pid, 1)

    assert (cast.data["proposal"]["tally"], cast.data["proposal"]["results_hidden"]) == (None, True)
    assert cast.data["proposal"]["my_vote"]["choice"] == "yes", "your own vote is yours to see"
    operator = await api.api_key(Scope.ADMIN)
    seen = await api.call("GET", f"/coops/{coop_id}/proposals/{pid}", auth=operator)
    assert (seen.data["tally"], seen.data["my_vote"]) == (None, None), "hidden from operators too"


async def test_a_proposal_is_decided_when_voting_closes_and_carried_out_once(world: World) -> None:
    api = Api(world)
    coop_id, founder, member = await active_coop(world, api)
    electrician = await person(world, api, "Bupe Zulu")
    before = (await api.wallet(electrician.token))["money"]["ngwee"]
    made = await propose(
        api, member, coop_id, "maintenance", phone=electrician.phone, amount_ngwee=150, text="Fix the inverter"
    )
    pid = made.data["id"]
    assert made.data["payload"] == {"phone": electrician.phone, "amount_ngwee": 150, "text": "Fix the inverter"}
    assert (await vote(api, founder, coop_id, pid, "no")).status == 200
    assert (await vote(api, founder, coop_id, pid, "yes")).status == 200  # changed: the last one counts
    assert (await vote(api, member, coop_id, pid, 3)).status == 200

    async with scheduler_ahead(world, BYLAWS["voting_period_s"] + 60) as worker:
        # The server's own worker may be moving the proposal too (voting opened at once): claims are safe.
        done = await reaches(api, founder, coop_id, pid, "executed", worker=worker)
        await run_due(worker)  # nothing is carried out twice, however often the scheduler runs

    assert done["tally"] == {"yes": 1, "no": 0, "abstain": 1, "voters": 2}
    assert (done["open"], done["failure"], done["executed_at"] is not None) == (False, None, True)
    assert (await api.wallet(electrician.token))["money"]["ngwee"] == before + 150
    coop = (await api.call("GET", f"/coops/{coop_id}", auth=founder.token)).data
    assert (coop["treasury"], coop["open_proposals"]) == (money(450 - 150), 0)
    late = await vote(api, member, coop_id, pid, "no")
    assert (late.status, late.code) == (422, "VOTING_CLOSED")
    admin = await api.api_key(Scope.ADMIN)
    audit = await api.call("GET", f"/coops/{coop_id}/verify", auth=admin)
    assert (audit.data["chain_ok"], audit.data["proposals"], audit.data["recounts_disagree"]) == (True, 1, [])
    log = (await api.call("GET", f"/coops/{coop_id}/audit?limit=1000", auth=admin)).data
    assert [e["seq"] for e in log] == list(range(1, len(log) + 1))
    assert all(later["prev_hash"] == earlier["hash"] for earlier, later in itertools.pairwise(log))
    votes = [
        (e["kind"], e["actor_phone"], e["body"]["choice"])
        for e in log
        if e["proposal_id"] == pid and "choice" in e["body"]
    ]
    assert votes == [  # the log keeps every vote and every change; the tally counts the last
        ("voted", founder.phone, 2),
        ("vote_changed", founder.phone, 1),
        ("voted", member.phone, 3),
    ]
    assert [e["kind"] for e in log if e["proposal_id"] == pid][-1] == "executed"
    page = (await api.call("GET", f"/coops/{coop_id}/audit?after_seq=2&limit=1", auth=admin)).data
    assert [e["seq"] for e in page] == [3]
    refused = await api.call("GET", f"/coops/{coop_id}/audit", auth=founder.token)
    assert refused.status == 403


# --- refusals --------------------------------------------------------------------------------------------


async def test_votes_are_refused_without_a_pin_from_outsiders_and_for_what_is_no_choice(world: World) -> None:
    api = Api(world)
    coop_id, founder, member = await active_coop(world, api)
    outsider = await person(world, api, "Bupe Zulu")
    pid = (await propose(api, founder, coop_id, "decision", text="Buy a padlock")).data["id"]
    path = f"/coops/{coop_id}/proposals/{pid}/votes"

    no_pin = await api.call("POST", path, auth=member.token, json={"choice": 1})
    wrong_pin = await vote(api, member, coop_id, pid, 1, pin=WRONG_PIN)
    no_choice = [await vote(api, member, coop_id, pid, choice) for choice in (4, 0, "maybe", "1", None)]
    outside = await vote(api, outsider, coop_id, pid, "yes")
    unknown = await vote(api, member, "no-such-coop", pid, "yes")
    elsewhere = await vote(api, member, coop_id, "pr-0000000000", "yes")

    assert (no_pin.status, no_pin.code) == (400, "INVALID_REQUEST")
    assert (wrong_pin.status, wrong_pin.code) == (422, "WRONG_PIN")
    assert [(a.status, a.code) for a in no_choice] == [(400, "INVALID_REQUEST")] * 5
    assert (outside.status, outside.code) == (422, "NOT_IN_ELECTORATE")
    assert (unknown.status, unknown.code) == (404, "COOP_NOT_FOUND")
    assert (elsewhere.status, elsewhere.code) == (404, "PROPOSAL_NOT_FOUND")
    seen = await proposal(api, founder, coop_id, pid)
    assert seen["tally"] == {"yes": 0, "no": 0, "abstain": 0, "voters": 0}, "no refused vote counted"
    peek = await api.call("GET", f"/coops/{coop_id}/proposals/{pid}", auth=outsider.token)
    assert (peek.status, peek.code) == (422, "NOT_A_MEMBER")
    assert (await api.call("GET", "/coops/no-such-coop", auth=outsider.token)).code == "COOP_NOT_FOUND"
