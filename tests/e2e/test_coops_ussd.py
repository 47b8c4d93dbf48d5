"""My co-op on USSD, in English, Chinyanja and Ichibemba, over HTTP on both databases.

Forming (8 replies from dialling, the home menu's included), joining by region
(6), paying in (5), proposing by template, voting (4 replies from *My co-op*),
members a page at a time, leaving with notice. Every screen is compared with
the catalog text the user should see, money and votes are checked in the
engine, SMS in the outbox and in the phone's inbox. Nobody closes a vote: a
scheduler worker whose clock reads later than the server's lives through the
voting period (the bylaws' shortest is ten minutes) in an instant.
"""

from __future__ import annotations

import itertools
import re
import secrets
from typing import Any

from engine.coops.bylaws import DAY_S, Admission, Bylaws, default_bylaws
from engine.coops.model import CatalogItem, Cooperative, MemberState, Proposal, ProposalState
from engine.identity.model import User
from engine.kernel.clock import MICROS_PER_SECOND
from engine.kernel.local_time import local_text
from engine.ledger.accounts import PROMOTIONS
from engine.ledger.model import CreateTransferResult, Transfer
from engine.notifications.model import OutboxRow
from tests.e2e.conftest import LANGUAGES, World
from tests.e2e.journeys import WRONG_PIN, choose, dial_home, lines
from tests.e2e.scheduling import run_due, scheduler_ahead
from tests.support.gateway import Phone, option, reference_in
from tests.support.phones import unique_phone
from ussd_server.demo import DEMO_PIN
from ussd_server.gsm7 import gsm7_length
from ussd_server.i18n import Catalogs
from ussd_server.menu.reply import SCREEN_LIMIT

K = 100  # ngwee per Kwacha
# Three full members make it active, voting opens at once and lasts the bylaws' shortest period,
# and what passes is carried out as soon as voting closes.
QUICK = Bylaws(min_members=3, voting_delay_s=0, voting_period_s=600, execution_delay_s=0)
MENU = (
    "coop.opt_summary",
    "coop.opt_proposals",
    "coop.opt_propose",
    "coop.opt_contribute",
    "coop.opt_members",
    "coop.opt_leave",
    "coop.opt_other",
)
VOTE = ("coop.yes", "coop.no", "coop.abstain")
PROPOSE = ("coop.k_decision", "coop.k_maintenance", "coop.k_equipment", "coop.k_price", "coop.k_bylaw", "coop.k_people")
NAMES = ("Mutale", "Chipo", "Bwalya", "Natasha", "Mwila", "Chanda", "Mapalo", "Kondwani", "Luyando", "Taonga")


# --- the world: members with money, co-ops made through the engine ---------------------------------


async def fund(world: World, user: User, ngwee: int) -> None:
    transfer = Transfer(f"test-fund:{user.id}:{secrets.token_hex(4)}", PROMOTIONS, user.zmw_account_id, ngwee)
    assert await world.platform.store.ledger.create_transfers([transfer]) == [CreateTransferResult.OK]


async def person(world: World, language: str, name: str, ngwee: int = 6_000 * K) -> User:
    user = await world.new_user(language, name)
    if ngwee:
        await fund(world, user, ngwee)
    return user


async def form(world: World, founder: User, name: str, *, bylaws: Bylaws = QUICK, kind: str = "micro") -> Cooperative:
    proof = await world.platform.users.verify_pin(founder, DEMO_PIN)
    return await world.platform.coops.form(proof, founder, name=name, kind=kind, region="lusaka", bylaws=bylaws)


async def pay_in(world: World, user: User, coop: Cooperative, ngwee: int) -> None:
    proof = await world.platform.users.verify_pin(user, DEMO_PIN)
    await world.platform.coops.contribute(proof, user, coop.id, ngwee)


async def active_coop(
    world: World, language: str, name: str = "Chawama Solar", *, members: int = 3, bylaws: Bylaws = QUICK
) -> tuple[Cooperative, list[User]]:
    """A co-op whose ``members`` full members each paid the minimum (its founder first)."""
    people = [await person(world, language, f"{first} Banda") for first in NAMES[:members]]
    coop = await form(world, people[0], name, bylaws=bylaws)
    for other in people[1:]:
        await world.platform.coops.join(other, coop.id)
    for member in people:
        await pay_in(world, member, coop, bylaws.min_contribution_ngwee)
    return await world.platform.coops.get(coop.id), people


async def outbox(world: World, phone: str, template: str) -> list[OutboxRow]:
    rows = await world.platform.store.outbox.list_outbox(recipient=phone, limit=100)
    return [r for r in rows if r.message.template == template]


async def sms_of(world: World, user: User, template: str) -> tuple[dict[str, str | int], str]:
    """The one SMS of ``template`` the user was sent: its parameters, and its text as the phone received it."""
    [row] = await outbox(world, user.phone, template)
    params = {**row.message.params, "shortcode": world.settings.shortcode}
    text = world.t(str(user.language), template, **params)
    assert await world.sms_containing(user.phone, text) == text
    return params, text


# --- what the phone shows -----------------------------------------------------------------------------


def screen(
    world: World, language: str, key: str, *options: str, nav: bool = True, say: str = "", **params: object
) -> str:
    """A CON screen as the app renders it: a reason, the text, numbered options, navigation."""
    parts = [world.t(language, say, **params)] if say else []
    parts.append(world.t(language, key, **params))
    parts += [f"{i} {world.t(language, label, **params)}" for i, label in enumerate(options, 1)]
    if nav:
        parts.append(world.t(language, "nav.back_home"))
    return "CON " + "\n".join(parts)


def when(world: World, at_us: int) -> str:
    return local_text(at_us, world.platform.config.local_utc_offset_s)


def days(world: World, language: str, n: int) -> str:
    return world.t(language, "coop.days", days=n)


def rules(world: World, language: str, bylaws: Bylaws) -> str:
    return world.t(
        language,
        "coop.rules",
        weighted=0,
        least=bylaws.min_contribution_ngwee,
        most=bylaws.max_contribution_ngwee,
        deadline=days(world, language, bylaws.contribution_deadline_days),
        notice=days(world, language, bylaws.exit_notice_days),
    )


async def my_coop(world: World, user: User) -> tuple[Phone, str]:
    """Dial and choose *My co-op*: the phone and the screen it shows."""
    phone = await dial_home(world, user)
    return phone, await choose(world, phone, str(user.language), "home.coop")


async def pick(phone: Phone, label: str) -> int:
    """Choose the list line showing ``label``, paging with 98 until it is on the screen; the pages turned."""
    turned = 0
    while label not in phone.last:
        assert "\n98 " in phone.last, f"{label!r} is on no page:\n{phone.last}"
        await phone.send("98")
        turned += 1
    await phone.send(option(phone.last, label))
    return turned


# --- form, join, pay in, active -------------------------------------------------------------------------


async def form_by_ussd(world: World, founder: User, name: str) -> Cooperative:
    """My co-op, Form a co-op, the name, Micro, Lusaka, Agree, PIN: 8 replies from dialling."""
    language = str(founder.language)
    phone, reply = await my_coop(world, founder)
    assert reply == screen(world, language, "coop.none", "coop.opt_join", "coop.opt_form"), reply
    reply = await choose(world, phone, language, "coop.opt_form")
    assert reply == screen(world, language, "coop.form_name"), reply
    reply = await phone.send(name)
    types = ("coop.t_micro", "coop.t_neighbourhood", "coop.t_industrial", "coop.t_supply")
    assert reply == screen(world, language, "coop.form_type", *types), reply
    await choose(world, phone, language, "coop.t_micro")
    regions = ("coop.r_lusaka", "coop.r_kabwe", "coop.r_copperbelt", "coop.r_rural")
    assert phone.last == screen(world, language, "coop.form_region", *regions), phone.last
    reply = await choose(world, phone, language, "coop.r_lusaka")
    micro = default_bylaws("micro")
    shown = rules(world, language, micro)
    assert reply == screen(world, language, "coop.form_rules", "coop.opt_agree", needed=10, rules=shown), reply
    reply = await choose(world, phone, language, "coop.opt_agree")
    region, kind = world.t(language, "coop.region", region_no=1), world.t(language, "coop.type", type_no=1)
    assert reply == screen(world, language, "coop.form_confirm", coop_name=name, type=kind, region_name=region)
    done = await phone.send(DEMO_PIN)
    assert done == "END " + world.t(language, "coop.formed", coop_name=name, needed=10), done
    assert len(phone.replies) == 8, phone.replies
    [(coop, member)] = await world.platform.coops.memberships(founder)
    assert (coop.name, coop.kind, str(coop.region), member.state) == (name, "micro", "lusaka", MemberState.ADMITTED)
    return coop


async def join_by_ussd(world: World, user: User, coop: Cooperative) -> str:
    """My co-op, Join a co-op, Lusaka, the co-op, Join: 6 replies from dialling (and a page turned); the END."""
    language = str(user.language)
    coop = await world.platform.coops.get(coop.id)  # as listed now (its count of full members)
    phone, _ = await my_coop(world, user)
    await choose(world, phone, language, "coop.opt_join")
    regions = ("coop.r_lusaka", "coop.r_kabwe", "coop.r_copperbelt", "coop.r_rural")
    assert phone.last == screen(world, language, "coop.join_region", *regions), phone.last
    reply = await choose(world, phone, language, "coop.r_lusaka")
    lusaka = world.t(language, "coop.region", region_no=1)
    assert lines(reply)[0] == world.t(language, "coop.join_list", region_name=lusaka), reply
    turned = await pick(phone, world.t(language, "coop.join_item", name=coop.name, members=coop.full_members))
    assert phone.last == screen(
        world,
        language,
        "coop.join_view",
        "coop.opt_join_this",
        coop_name=coop.name,
        rules=rules(world, language, coop.bylaws),
    ), phone.last
    done = await choose(world, phone, language, "coop.opt_join_this")
    assert len(phone.replies) == 6 + turned, phone.replies
    return done


async def pay_in_by_ussd(world: World, user: User, coop: Cooperative, kwacha: int) -> str:
    """My co-op, Contribute, the amount, PIN: the END screen (a member of one co-op)."""
    language = str(user.language)
    phone, reply = await my_coop(world, user)
    assert reply == screen(world, language, "coop.menu", *MENU, coop_name=coop.name), reply
    reply = await choose(world, phone, language, "coop.opt_contribute")
    member = await world.platform.coops.member(coop.id, user)
    paid = member.holding_ngwee if member else 0
    rules_ = coop.bylaws
    least, most = max(rules_.min_contribution_ngwee - paid, 1), rules_.max_contribution_ngwee - paid
    terms: dict[str, Any] = {"coop_name": coop.name, "paid": paid, "least": least, "most": most}
    assert reply == screen(world, language, "coop.contribute", **terms), reply
    reply = await phone.send(str(kwacha))
    confirm = screen(world, language, "coop.contribute_confirm", pay_ngwee=kwacha * K, coop_name=coop.name)
    assert reply == confirm, reply
    done = await phone.send(DEMO_PIN)
    assert len(phone.replies) == 5, phone.replies  # dial, then 4
    return done


async def test_a_coop_is_formed_joined_and_paid_into_until_it_is_active(world: World, language: str) -> None:
    founder = await person(world, language, "Mutale Chanda")
    coop = await form_by_ussd(world, founder, "Chawama Solar")

    done = await pay_in_by_ussd(world, founder, coop, 2_500)
    ref = reference_in(done)
    paid: dict[str, Any] = {"ngwee": 250_000, "shares": 25, "credit": 0, "ref": ref, "full": 1}
    assert done == "END " + world.t(language, "coop.contributed", coop_name=coop.name, **paid), done
    params, _ = await sms_of(world, founder, "sms.coop_contribution")
    assert (params["ngwee"], params["shares"], params["full"]) == (250_000, 25, 1)

    joiner = await person(world, language, "Chipo Phiri")
    done = await join_by_ussd(world, joiner, coop)
    welcome: dict[str, Any] = {"applied": 0, "least": 200_000, "most": 500_000, "deadline": days(world, language, 90)}
    assert done == "END " + world.t(language, "coop.joined", coop_name=coop.name, **welcome), done
    done = await pay_in_by_ussd(world, joiner, coop, 2_050)  # 20 shares at K100, K50 toward the next
    paid = {"ngwee": 205_000, "shares": 20, "credit": 5_000, "ref": reference_in(done), "full": 1}
    assert done == "END " + world.t(language, "coop.contributed", coop_name=coop.name, **paid), done

    for first in NAMES[2:9]:  # seven more through the engine: nine full members
        other = await person(world, language, f"{first} Mwale")
        await world.platform.coops.join(other, coop.id)
        await pay_in(world, other, coop, 200_000)
    assert (await world.platform.coops.get(coop.id)).state == "forming"
    last = await person(world, language, "Taonga Zulu")
    await join_by_ussd(world, last, await world.platform.coops.get(coop.id))
    await pay_in_by_ussd(world, last, coop, 2_000)

    assert (await world.platform.coops.get(coop.id)).state == "active"
    params, _ = await sms_of(world, founder, "sms.coop_active")
    assert params["members"] == 10
    phone, _ = await my_coop(world, founder)
    reply = await choose(world, phone, language, "coop.opt_summary")
    summary = await world.platform.coops.summary(coop.id, founder)
    assert summary.treasury_ngwee == 250_000 + 205_000 + 8 * 200_000
    assert reply == screen(
        world,
        language,
        "coop.summary",
        state=world.t(language, "coop.state", forming=0),
        members=10,
        open=0,
        treasury=summary.treasury_ngwee,
        wh=0,
        me=world.t(language, "coop.me", status_no=3),
        shares=25,
        credit=0,
    ), reply


async def test_a_coop_that_admits_by_vote_takes_an_application(world: World, language: str) -> None:
    coop, _ = await active_coop(world, language, "Kanyama Energy", bylaws=QUICK.changed({"admission": "by_vote"}))
    assert coop.bylaws.admission is Admission.BY_VOTE
    applicant = await person(world, language, "Luyando Tembo")

    done = await join_by_ussd(world, applicant, coop)

    assert done == "END " + world.t(language, "coop.joined", coop_name=coop.name, applied=1), done
    phone, _ = await my_coop(world, applicant)
    reply = await choose(world, phone, language, "coop.opt_contribute")
    assert reply == screen(world, language, "coop.why", why_no=1), reply
    [application] = await world.platform.governance.proposals(coop.id)
    assert application.kind == "admit_member"


# --- paying in: every refusal on the amount's screen ----------------------------------------------------


async def test_a_refused_contribution_says_why_on_the_same_screen(world: World, language: str) -> None:
    founder = await person(world, language, "Natasha Mwale", ngwee=3_000 * K)
    coop = await form(world, founder, "Misisi Sunshine")
    phone, _ = await my_coop(world, founder)
    await choose(world, phone, language, "coop.opt_contribute")
    have = (await world.balances(founder.phone)).ngwee
    terms: dict[str, Any] = {"coop_name": coop.name, "paid": 0, "least": 200_000, "most": 500_000}
    out_of_range: dict[str, Any] = {
        "say": "err.contribution_out_of_range",
        "most_ngwee": 500_000,
        "least_ngwee": 200_000,
    }

    assert await phone.send("6000") == screen(world, language, "coop.contribute", **terms, **out_of_range)
    assert await phone.send("1999.99") == screen(world, language, "coop.contribute", **terms, **out_of_range)
    short = screen(world, language, "coop.contribute", say="err.insufficient_funds", ngwee=have, **terms)
    assert await phone.send("4000") == short
    reply = await phone.send("2500")
    confirm: dict[str, Any] = {"pay_ngwee": 250_000, "coop_name": coop.name}
    assert reply == screen(world, language, "coop.contribute_confirm", **confirm), reply
    wrong = screen(world, language, "coop.contribute_confirm", say="err.wrong_pin", attempts_left=2, **confirm)
    assert await phone.send(WRONG_PIN) == wrong
    done = await phone.send(DEMO_PIN)

    paid: dict[str, Any] = {"ngwee": 250_000, "shares": 25, "credit": 0, "ref": reference_in(done), "full": 1}
    assert done == "END " + world.t(language, "coop.contributed", coop_name=coop.name, **paid), done
    assert (await world.balances(founder.phone)).ngwee == have - 250_000
    phone, _ = await my_coop(world, founder)
    reply = await choose(world, phone, language, "coop.opt_contribute")
    assert reply == screen(world, language, "coop.contribute", coop_name=coop.name, paid=250_000, least=1, most=250_000)


# --- which co-op, what cannot be done now -------------------------------------------------------------


async def test_a_member_of_two_coops_picks_one_first(world: World, language: str) -> None:
    member = await person(world, language, "Bwalya Mulenga")
    first = await form(world, member, "Kanyama Energy")
    second = await form(world, await person(world, language, "Chanda Phiri"), "Chawama Solar")
    await world.platform.coops.join(member, second.id)

    phone, reply = await my_coop(world, member)

    assert reply == "CON " + "\n".join(
        [
            world.t(language, "coop.pick"),
            "1 " + world.t(language, "coop.pick_item", name="Chawama Solar"),
            "2 " + world.t(language, "coop.pick_item", name="Kanyama Energy"),
            world.t(language, "nav.back_home"),
        ]
    ), reply
    reply = await phone.send(option(reply, "Kanyama Energy"))
    assert reply == screen(world, language, "coop.menu", *MENU, coop_name=first.name), reply
    reply = await choose(world, phone, language, "coop.opt_propose")
    forming: dict[str, Any] = {"coop_name": first.name, "full": 0, "needed": 3}
    assert reply == screen(world, language, "coop.why", why_no=4, **forming), reply
    assert await phone.send("0") == screen(world, language, "coop.menu", *MENU, coop_name=first.name)
    reply = await choose(world, phone, language, "coop.opt_other")
    assert reply == screen(world, language, "coop.none_more", "coop.opt_join", "coop.opt_form"), reply
    await phone.send("0")
    assert lines(await phone.send("0"))[0] == world.t(language, "coop.pick")


async def test_members_are_listed_a_page_at_a_time(world: World) -> None:
    people = [await person(world, "en", f"{first} Lungu") for first in NAMES]
    people += [await person(world, "en", f"{first} Sakala") for first in NAMES[:4]]
    coop = await form(world, people[0], "Chelstone Power")
    for i, someone in enumerate(people):
        if i:
            await world.platform.coops.join(someone, coop.id)
        await pay_in(world, someone, coop, 200_000 + i * 10_000)  # one more share each: the last has the most
    phone, _ = await my_coop(world, people[0])

    reply = await choose(world, phone, "en", "coop.opt_members")

    pages = [lines(reply)]
    while "98 More" in pages[-1]:
        pages.append(lines(await phone.send("98")))
    assert len(pages) > 2, pages
    rows = [row for page in pages for row in page if re.match(r"^0\d{9} ", row)]
    expected = [
        world.t("en", "coop.member_item", phone=p.phone, name=p.short_name, shares=20 + i, tag="")
        for i, p in reversed(list(enumerate(people)))
    ]
    assert rows == expected, pages
    assert all(page[0] == world.t("en", "coop.members") for page in pages), pages


# --- proposing by template ----------------------------------------------------------------------------


async def to_propose(world: World, user: User) -> Phone:
    language = str(user.language)
    phone, _ = await my_coop(world, user)
    reply = await choose(world, phone, language, "coop.opt_propose")
    assert reply == screen(world, language, "coop.propose", *PROPOSE), reply
    return phone


async def test_templates_check_what_is_typed_before_the_pin(world: World, language: str) -> None:
    coop, (mutale, chipo, _bwalya) = await active_coop(world, language)
    outsider = await person(world, language, "Mapalo Sakala")

    phone = await to_propose(world, mutale)
    await choose(world, phone, language, "coop.k_people")
    reply = await choose(world, phone, language, "coop.k_treasurer")
    treasurer = world.t(language, "coop.role_name", role_no=3)
    assert reply == screen(world, language, "coop.p_member", role=treasurer), reply
    refused = screen(world, language, "coop.p_member", say="err.not_full_member", role=treasurer)
    assert await phone.send(outsider.phone) == refused
    assert await phone.send(unique_phone()) == refused, "a number nobody registered reads the same"
    reply = await phone.send(chipo.phone)
    what = world.t(language, "coop.what", kind_no=7, phone=chipo.phone, role=treasurer)
    assert reply == screen(world, language, "coop.p_confirm", what=what), reply
    done = await phone.send(DEMO_PIN)
    [elect] = await world.platform.governance.proposals(coop.id)
    timing: dict[str, Any] = {"opens": when(world, elect.vote_start_us), "closes": when(world, elect.vote_end_us)}
    assert done == "END " + world.t(language, "coop.p_done", number=elect.number, what=what, **timing), done
    assert len(phone.replies) == 2 + 5 + 2, phone.replies  # dial, My co-op, 5 from there, 2 numbers refused

    phone = await to_propose(world, mutale)
    await choose(world, phone, language, "coop.k_bylaw")
    reply = await choose(world, phone, language, "coop.b_quorum")
    quorum: dict[str, Any] = {"bylaw": world.t(language, "coop.bylaw_name", bylaw_no=3), "now": "50%"}
    assert reply == screen(world, language, "coop.p_bylaw_pct", **quorum), reply
    assert await phone.send("150") == screen(world, language, "coop.p_bylaw_pct", say="err.invalid_bylaws", **quorum)
    reply = await phone.send("60")
    what = world.t(language, "coop.what", kind_no=6, bylaw=quorum["bylaw"], value="60%")
    assert reply == screen(world, language, "coop.p_confirm", what=what), reply
    await phone.send(DEMO_PIN)

    phone = await to_propose(world, mutale)
    reply = await choose(world, phone, language, "coop.k_maintenance")
    assert reply == screen(world, language, "coop.p_payee"), reply
    stranger = unique_phone()
    unknown = screen(world, language, "coop.p_payee", say="err.counterparty_not_found", counterpart=stranger)
    assert await phone.send(stranger) == unknown
    reply = await phone.send(outsider.phone)
    assert reply == screen(world, language, "coop.p_amount", name=outsider.short_name, phone=outsider.phone)
    assert lines(await phone.send("350"))[0] == world.t(language, "coop.p_what")
    reply = await phone.send("Fix the inverter fan")
    what = world.t(language, "coop.what", kind_no=2, ngwee=35_000, phone=outsider.phone, text="Fix the inverter fan")
    assert reply == screen(world, language, "coop.p_confirm", what=what), reply
    await phone.send(DEMO_PIN)

    most = world.platform.governance.config.max_open_proposals_per_member
    assert len(await world.platform.governance.proposals(coop.id, open_only=True)) == most
    phone, _ = await my_coop(world, mutale)
    reply = await choose(world, phone, language, "coop.opt_propose")
    assert reply == screen(world, language, "coop.why", why_no=5, max=most), reply


async def test_equipment_is_proposed_from_a_supply_coops_catalog(world: World, language: str) -> None:
    coop, (mutale, *_others) = await active_coop(world, language)
    supplier = await form(world, await person(world, language, "Kondwani Daka"), "Kitwe Panel Traders", kind="supply")
    battery = CatalogItem(supplier.id, "gel-200ah", "200 Ah gel battery", 480_000)
    await world.platform.coops.offer_item(supplier.id, battery)

    phone = await to_propose(world, mutale)
    reply = await choose(world, phone, language, "coop.k_equipment")
    assert lines(reply)[0] == world.t(language, "coop.p_supplier"), reply
    reply = await phone.send(option(reply, "Kitwe Panel Traders"))  # the demo's supply co-op is listed too
    assert lines(reply)[:2] == [world.t(language, "coop.p_item"), "1 200 Ah gel battery K4,800.00"], reply
    reply = await phone.send("1")
    item: dict[str, Any] = {"item_name": battery.name, "price": battery.price_ngwee}
    assert reply == screen(world, language, "coop.p_qty", **item), reply
    refused = screen(world, language, "coop.p_qty", say="err.quantity", max=1000, **item)
    assert await phone.send("1001") == refused
    reply = await phone.send("2")
    what = world.t(language, "coop.what", kind_no=1, quantity=2, item=battery.name, ngwee=960_000)
    assert reply == screen(world, language, "coop.p_confirm", what=what), reply
    await phone.send(DEMO_PIN)

    [proposal] = await world.platform.governance.proposals(coop.id)
    assert (proposal.kind, proposal.payload["amount_ngwee"], proposal.payload["supplier"]) == (
        "buy_equipment",
        960_000,
        supplier.id,
    )


# --- voting: 4 replies from My co-op; the scheduler carries out the result -------------------------------


async def vote_by_ussd(world: World, user: User, proposal: Proposal, label: str) -> str:
    """Proposals, the proposal, the choice, PIN: 4 replies from *My co-op*; the END screen."""
    language = str(user.language)
    phone, _ = await my_coop(world, user)
    reply = await choose(world, phone, language, "coop.opt_proposals")
    assert lines(reply)[0] == world.t(language, "coop.proposals"), reply
    reply = await phone.send(option(reply, proposal.number))
    options = [f"{i} {world.t(language, label)}" for i, label in enumerate(VOTE, 1)]
    assert lines(reply)[-4:] == [*options, world.t(language, "nav.back_home")], reply
    reply = await choose(world, phone, language, label)
    choice = VOTE.index(label) + 1
    word = world.t(language, "coop.choice", choice=choice)
    assert reply == screen(world, language, "coop.vote_confirm", choice_word=word, number=proposal.number), reply
    done = await phone.send(DEMO_PIN)
    assert len(phone.replies) - 2 == 4, phone.replies
    return done


def tally(world: World, language: str, yes: int, no: int, abstain: int) -> str:
    return world.t(language, "coop.tally", hidden=0, yes=yes, no=no, abstain=abstain)


async def test_a_vote_takes_four_replies_and_the_scheduler_carries_out_the_result(world: World, language: str) -> None:
    coop, (mutale, chipo, bwalya) = await active_coop(world, language)
    phone = await to_propose(world, mutale)
    reply = await choose(world, phone, language, "coop.k_decision")
    assert reply == screen(world, language, "coop.p_text"), reply
    assert await phone.send("No") == screen(world, language, "coop.p_text", say="err.proposal_text", min=3, max=120)
    assert await phone.send("Clean the panels monthly") == screen(
        world, language, "coop.p_confirm", what="Clean the panels monthly"
    )
    await phone.send(DEMO_PIN)
    assert len(phone.replies) - 2 == 4 + 1, phone.replies  # 4 from My co-op, and the text refused once
    [proposal] = await world.platform.governance.proposals(coop.id)
    closes = when(world, proposal.vote_end_us)

    phone, _ = await my_coop(world, chipo)
    await choose(world, phone, language, "coop.opt_proposals")
    reply = await phone.send(option(phone.last, proposal.number))
    assert reply == screen(
        world,
        language,
        "coop.proposal",
        *VOTE,
        number=proposal.number,
        what="Clean the panels monthly",
        status=world.t(language, "coop.status", state_no=2, closes=closes),
        tally=tally(world, language, 0, 0, 0),
        mine=world.t(language, "coop.mine", choice=0),
    ), reply
    await phone.send(option(reply, world.t(language, "coop.yes")))
    done = await phone.send(DEMO_PIN)
    yes = world.t(language, "coop.choice", choice=1)
    counted: dict[str, Any] = {"choice_word": yes, "number": proposal.number, "closes": closes}
    assert done == "END " + world.t(
        language, "coop.voted", changed=0, tally=tally(world, language, 1, 0, 0), **counted
    ), done
    assert len(phone.replies) - 2 == 4, phone.replies

    await vote_by_ussd(world, bwalya, proposal, "coop.no")
    changed = await vote_by_ussd(world, bwalya, proposal, "coop.yes")  # only the last vote counts
    assert changed == "END " + world.t(
        language, "coop.voted", changed=1, tally=tally(world, language, 2, 0, 0), **counted
    ), changed
    await vote_by_ussd(world, mutale, proposal, "coop.abstain")

    async with scheduler_ahead(world, 601) as worker:
        await run_due(worker)
    decided = await world.platform.governance.get(proposal.id)
    assert decided.state is ProposalState.EXECUTED
    assert (decided.tally.yes, decided.tally.no, decided.tally.abstain) == (2, 0, 1)

    phone, _ = await my_coop(world, chipo)
    await choose(world, phone, language, "coop.opt_proposals")
    reply = await phone.send(option(phone.last, proposal.number))
    assert reply == screen(
        world,
        language,
        "coop.proposal",
        number=proposal.number,
        what="Clean the panels monthly",
        status=world.t(language, "coop.status", state_no=6),
        tally=tally(world, language, 2, 0, 1),
        mine=world.t(language, "coop.mine", choice=1),
    ), reply
    params, _ = await sms_of(world, chipo, "sms.coop_passed")
    assert (params["yes"], params["no"], params["abstain"], params["quorum"]) == (2, 0, 1, 1)
    await sms_of(world, chipo, "sms.coop_executed")


async def test_a_vote_after_the_close_is_refused_on_the_proposals_screen(world: World, language: str) -> None:
    coop, (mutale, chipo, _bwalya) = await active_coop(world, language)
    proof = await world.platform.users.verify_pin(mutale, DEMO_PIN)
    proposal = await world.platform.governance.propose(proof, mutale, coop.id, "decision", {"text": "Paint the shed"})
    phone, _ = await my_coop(world, chipo)
    await choose(world, phone, language, "coop.opt_proposals")
    await phone.send(option(phone.last, proposal.number))
    await choose(world, phone, language, "coop.no")

    async with scheduler_ahead(world, 601) as worker:
        await run_due(worker)  # closed meanwhile (defeated: nobody voted)
    reply = await phone.send(DEMO_PIN)

    assert lines(reply)[0] == world.t(language, "err.voting_closed"), reply
    assert lines(reply)[1] == f"{proposal.number}: Paint the shed", reply
    assert lines(reply)[2] == world.t(language, "coop.status", state_no=3), reply


# --- long names and texts: what people wrote is shortened, never a screen's choices ----------------------

LONG_NAME = "Chawama Women's Solar Savings Cooperativ"  # 40 characters, the most a co-op's name may have
LONG_TEXT = (
    "Hire a watchman for the panels at night, paid from energy sales, and fence the site before the rainy season begins"
)


def ends_with(reply: str, world: World, language: str, *options: str) -> None:
    """The screen's last lines are its numbered options and the navigation line, whole."""
    shown = [f"{i} {world.t(language, label)}" for i, label in enumerate(options, 1)]
    assert lines(reply)[-len(options) - 1 :] == [*shown, world.t(language, "nav.back_home")], reply


async def test_long_names_and_texts_are_shortened_never_the_choices(world: World, language: str) -> None:
    coop, (mutale, chipo, _bwalya) = await active_coop(world, language, LONG_NAME)
    proof = await world.platform.users.verify_pin(mutale, DEMO_PIN)
    proposal = await world.platform.governance.propose(proof, mutale, coop.id, "decision", {"text": LONG_TEXT})

    phone, reply = await my_coop(world, chipo)
    ends_with(reply, world, language, *MENU)
    assert lines(reply)[0].startswith(LONG_NAME[:12]), reply
    await choose(world, phone, language, "coop.opt_proposals")
    reply = await phone.send(option(phone.last, proposal.number))
    ends_with(reply, world, language, *VOTE)
    assert lines(reply)[0].startswith(f"{proposal.number}: {LONG_TEXT[:12]}"), reply
    assert lines(await phone.send("7"))[-1] != "", "an invalid choice keeps the screen"

    phone, _ = await my_coop(world, chipo)
    reply = await choose(world, phone, language, "coop.opt_contribute")
    ends_with(reply, world, language)
    ends_with(await phone.send("9000"), world, language)  # with the refusal's line above it
    await phone.send("00")  # home: nothing typed is left to offer back on the next dial
    phone, _ = await my_coop(world, chipo)
    reply = await choose(world, phone, language, "coop.opt_leave")
    ends_with(reply, world, language)
    ends_with(await phone.send(WRONG_PIN), world, language)

    joiner = await person(world, language, "Taonga Banda")
    phone, _ = await my_coop(world, joiner)
    await choose(world, phone, language, "coop.opt_join")
    await choose(world, phone, language, "coop.r_lusaka")
    await pick(phone, LONG_NAME[:20])
    ends_with(phone.last, world, language, "coop.opt_join_this")


# --- leaving -----------------------------------------------------------------------------------------------


async def test_a_member_leaves_with_notice_and_is_refunded_when_it_ends(world: World, language: str) -> None:
    coop, (_mutale, chipo, _bwalya) = await active_coop(world, language)
    before = (await world.balances(chipo.phone)).ngwee
    phone, _ = await my_coop(world, chipo)

    reply = await choose(world, phone, language, "coop.opt_leave")

    notice_us = 30 * DAY_S * MICROS_PER_SECOND
    shown = {when(world, world.platform.clock.now_us() + notice_us + d) for d in (-60 * MICROS_PER_SECOND, 0)}
    assert reply in {screen(world, language, "coop.leave", coop_name=coop.name, ngwee=200_000, date=d) for d in shown}
    done = await phone.send(DEMO_PIN)
    member = await world.platform.coops.member(coop.id, chipo)
    assert member is not None
    assert member.state is MemberState.LEAVING
    date = when(world, member.exit_at_us)
    assert done == "END " + world.t(language, "coop.left", coop_name=coop.name, ngwee=200_000, date=date), done
    params, _ = await sms_of(world, chipo, "sms.coop_notice")
    assert (params["ngwee"], params["date"]) == (200_000, date)

    async with scheduler_ahead(world, 30 * DAY_S + 1) as worker:
        await run_due(worker)
    assert (await world.balances(chipo.phone)).ngwee == before + 200_000
    params, _ = await sms_of(world, chipo, "sms.coop_refund")
    assert params["ngwee"] == 200_000
    phone, reply = await my_coop(world, chipo)
    assert reply == screen(world, language, "coop.none", "coop.opt_join", "coop.opt_form"), reply


# --- SMS ---------------------------------------------------------------------------------------------------

SMS_TEMPLATES = (
    "sms.coop_contribution",
    "sms.coop_active",
    "sms.coop_admitted",
    "sms.coop_rejected",
    "sms.coop_notice",
    "sms.coop_refund",
    "sms.coop_voting_open",
    "sms.coop_vote_reminder",
    "sms.coop_passed",
    "sms.coop_defeated",
    "sms.coop_executed",
    "sms.coop_execution_failed",
    "sms.coop_expired",
)
# The longest values a co-op's SMS can carry: a name of 40 characters (the most a co-op's may have), the
# largest contribution any bylaws allow (K1,000,000), 10,000 members and votes, a wallet at a high balance.
LONGEST: dict[str, Any] = {
    "coop": "Chawama Women's Solar Savings Cooperativ",
    "ngwee": 100_000_000,
    "shares": 10_000,
    "credit_ngwee": 9_999,
    "ref": "K7M3Q9XP2A",
    "members": 10_000,
    "date": "30/12 23:59",
    "balance_ngwee": 50_000_000,
    "number": "3FA9C",
    "closes": "30/12 23:59",
    "executes": "31/12 23:59",
    "yes": 10_000,
    "no": 10_000,
    "abstain": 10_000,
    "shortcode": "*384*2025#",
}


def test_every_coop_sms_fits_one_message_in_every_language() -> None:
    catalogs = Catalogs.load()
    assert len(LONGEST["coop"]) == 40
    # Every wording: a full member or not, quorum or not, why an execution failed, each kind of proposal.
    choices = [
        {"full": full, "quorum": quorum, "why": why, "kind_no": kind, "ngwee": ngwee}
        for full, quorum, why, kind, ngwee in itertools.product((0, 1), (0, 1), (0, 1), range(1, 9), (0, 100_000_000))
    ]
    for language in LANGUAGES:
        for template, choice in itertools.product(SMS_TEMPLATES, choices):
            text = catalogs.render(language, template, {**LONGEST, **choice})
            assert "{" not in text, text
            assert gsm7_length(text) <= SCREEN_LIMIT, f"{language} {template}: {gsm7_length(text)}: {text}"
            assert LONGEST["coop"] in text, text
