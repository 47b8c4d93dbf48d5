"""Demo co-operatives with six weeks of history: a newcomer sees living co-ops at once.

The history is made the way it would have happened: a second platform over
the same database runs on a :class:`ManualClock` set six weeks back, members
deposit by mobile money (a provider that approves at once), join, contribute,
propose and vote, and the scheduler moves every proposal at its deadlines as
the clock is advanced to now. What is still open at the end (a proposal
pending, others being voted on, an application) is left to the server's
scheduler, on the real clock.

Safe to run twice: a co-op that exists is left as it is, with its story.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from engine.coops.bylaws import Admission, Bylaws
from engine.coops.model import CatalogItem, Choice, Cooperative, Proposal
from engine.identity.model import PinProof, User
from engine.kernel.clock import MICROS_PER_SECOND, ManualClock, SystemClock
from engine.kernel.errors import AlreadyRegistered, CoopNotFound
from engine.kernel.events import EventBus
from engine.payments.model import (
    Direction,
    PaymentOrder,
    Provider,
    ProviderState,
    ProviderStatus,
    SubmitOutcome,
    SubmitResult,
)
from engine.platform import Platform
from ussd_server.bootstrap import open_platform
from ussd_server.kdf_pool import kdf_pool_for_this_machine, usable_cores
from ussd_server.settings import Settings

log = logging.getLogger("enerlectra")

K = 100  # ngwee per Kwacha
DAY_S, HOUR_S = 24 * 3600, 3600
SUPPLIER = "cb-solar-suppliers"
LUSAKA = "lsk-kalingalinga-solar"
KABWE = "kbw-makululu-energy"
KITWE = "cb-kitwe-producers"
CHONGWE = "rural-chongwe-community"
COOP_IDS = (SUPPLIER, LUSAKA, KABWE, KITWE, CHONGWE)
MWILA, CHIPO, NATASHA, JOSEPH = "+260977123456", "+260966234567", "+260955345678", "+260761456789"

# Bulk prices a Copperbelt supplier quotes co-ops (2025 Lusaka and Kitwe retail, less a bulk discount).
CATALOG = (
    CatalogItem(SUPPLIER, "panel-450w", "450 W mono solar panel", 2_350 * K, 2_000),
    CatalogItem(SUPPLIER, "battery-200ah", "200 Ah 12 V gel battery", 4_800 * K),
    CatalogItem(SUPPLIER, "lithium-5kwh", "5 kWh lithium battery 48 V", 27_500 * K),
    CatalogItem(SUPPLIER, "inverter-5kva", "5 kVA hybrid inverter", 12_800 * K),
    CatalogItem(SUPPLIER, "mount-kit", "Roof mounting kit, 1 panel", 650 * K),
    CatalogItem(SUPPLIER, "cable-6mm-100m", "6 mm2 solar cable, 100 m", 2_400 * K),
)

# Generated members: (phone, name, language). Numbers in a range of their own (MTN 096, Airtel 097).
PEOPLE = {
    "sup1": ("+260966500101", "Bwalya Mwansa", "bem"),
    "sup2": ("+260976500102", "Mutale Chanda", "bem"),
    "sup3": ("+260966500103", "Chilufya Mumba", "en"),
    "lsk1": ("+260976500201", "Thandiwe Banda", "ny"),
    "lsk2": ("+260966500202", "Kondwani Phiri", "ny"),
    "lsk3": ("+260976500203", "Grace Zulu", "en"),
    "lsk4": ("+260966500204", "Emmanuel Daka", "ny"),
    "lsk5": ("+260976500205", "Ruth Mwale", "ny"),
    "lsk6": ("+260966500206", "Peter Lungu", "en"),
    "lsk7": ("+260976500207", "Agness Tembo", "ny"),
    "lsk8": ("+260966500208", "Moses Njobvu", "ny"),
    "lsk9": ("+260976500209", "Sarah Ngoma", "en"),
    "kbw1": ("+260966500301", "Mulenga Kapwepwe", "bem"),
    "kbw2": ("+260976500302", "Lombe Musonda", "bem"),
    "kbw3": ("+260966500303", "Namwinga Sakala", "bem"),
    "kbw4": ("+260976500304", "Chanda Mwila", "en"),
    "kbw5": ("+260966500305", "Kabwe Chisenga", "bem"),
    "kbw6": ("+260976500306", "Mirriam Bwalya", "bem"),
    "kbw7": ("+260966500307", "Francis Kasonde", "en"),
    "kit1": ("+260976500401", "Kelvin Mumba", "bem"),
    "kit2": ("+260966500402", "Esther Chola", "en"),
    "chg1": ("+260976500501", "Jonas Mbewe", "ny"),
    "chg2": ("+260966500502", "Loveness Phiri", "ny"),
    "chg3": ("+260976500503", "Gift Banda", "ny"),
    "chg4": ("+260966500504", "Memory Zimba", "ny"),
    "chg5": ("+260976500505", "Brian Sakala", "ny"),
    "chg6": ("+260966500506", "Doris Mvula", "ny"),
}
DEMO_PIN = "5173"  # the demo users' (ussd_server.demo.DEMO_PIN)
YES, NO, ABSTAIN = Choice.YES, Choice.NO, Choice.ABSTAIN


class InstantMobileMoney:
    """Zamtel Kwacha as the history sees it: every deposit approved on the handset at once.

    Zamtel, because the server reaches no Zamtel API: MTN's and Airtel's statements (which
    ``enerlectra payments reconcile`` compares with ours) never meet a payment only the demo made.
    """

    def __init__(self, provider: Provider) -> None:
        self._provider = provider

    @property
    def provider(self) -> Provider:
        return self._provider

    async def request_payment(self, order: PaymentOrder) -> SubmitOutcome:
        return SubmitOutcome(SubmitResult.ACCEPTED)

    async def pay_out(self, order: PaymentOrder) -> SubmitOutcome:
        return SubmitOutcome(SubmitResult.REJECTED, detail="the demo history makes no withdrawals")

    async def status(self, direction: Direction, attempt_id: str) -> ProviderStatus:
        return ProviderStatus(ProviderState.SUCCESSFUL, provider_txn_id=f"DEMO{attempt_id[:8].upper()}")


class InstantProviders:
    def get(self, provider: Provider) -> InstantMobileMoney | None:
        return InstantMobileMoney(provider) if provider is Provider.ZAMTEL else None


@dataclass
class History:
    """The demo's past: a platform on a manual clock, moved forward event by event up to now."""

    platform: Platform
    clock: ManualClock
    now_us: int  # the real now: the story ends here
    offset_s: int  # local time (CAT)
    pin_hash: str = ""
    made_users: int = 0  # generated members registered
    made_demo_users: int = 0  # demo users registered (the ones with names in the README)
    kdf_threads: int = 1  # PIN checks in flight at once: no more than the threads, so none queues past its budget

    def moment(self, *, days_ago: int = 0, hour: int = 0, hours_ago: float | None = None) -> int:
        if hours_ago is not None:
            return self.now_us - int(hours_ago * HOUR_S * MICROS_PER_SECOND)
        local_s = self.now_us // MICROS_PER_SECOND + self.offset_s
        midnight_s = local_s - local_s % DAY_S - self.offset_s
        return (midnight_s - days_ago * DAY_S + hour * HOUR_S) * MICROS_PER_SECOND

    async def at(self, *, days_ago: int = 0, hour: int = 0, hours_ago: float | None = None) -> None:
        """Move the clock on to this moment (never back), running every job that fell due on the way."""
        target = min(self.moment(days_ago=days_ago, hour=hour, hours_ago=hours_ago), self.now_us)
        self.clock.set(max(target, self.clock.now_us()))
        await self.run_due()

    async def run_due(self) -> None:
        while (await self.platform.scheduler.run_due(limit=500)).claimed:
            pass

    async def person(self, tag: str) -> User:
        phone, name, language = PEOPLE[tag]
        try:
            user = await self.platform.users.register(phone=phone, name=name, language=language, pin_hash=self.pin_hash)
        except AlreadyRegistered:
            return await self.platform.users.get(phone)
        self.made_users += 1
        return user

    async def proof(self, user: User) -> PinProof:
        return await self.platform.users.verify_pin(user, DEMO_PIN)

    async def proofs(self, users: Iterable[User]) -> list[PinProof]:
        """Each user's PIN checked, as many at once as there are KDF threads (a small PIN_MAX_WAIT_MS sheds more)."""
        gate = asyncio.Semaphore(self.kdf_threads)

        async def one(user: User) -> PinProof:
            async with gate:
                return await self.proof(user)

        return list(await asyncio.gather(*(one(user) for user in users)))

    async def contribute(
        self, user: User, coop_id: str, kwacha: int, n: int = 1, *, proof: PinProof | None = None
    ) -> None:
        """Deposit the amount by mobile money, then pay it in (the wallet ends where it started)."""
        tag = f"{coop_id}:{user.phone[4:]}:{n}"
        payment = (
            await self.platform.payments.deposit(
                user, kwacha * K, provider=Provider.ZAMTEL, operation_id=f"dep-demo-{tag}"
            )
        ).payment
        for _ in range(5):
            if payment.final:
                break
            payment = await self.platform.payments.advance(payment)
        await self.platform.coops.contribute(
            proof or await self.proof(user), user, coop_id, kwacha * K, operation_id=f"demo-coop:{tag}"
        )

    async def members(self, coop_id: str, paid: Iterable[tuple[User, int]]) -> None:
        """Each joins (a founder is in already) and pays their first contribution."""
        payers = list(paid)
        for (user, kwacha), proof in zip(payers, await self.proofs(u for u, _ in payers), strict=True):
            if await self.platform.coops.member(coop_id, user) is None:
                await self.platform.coops.join(user, coop_id)
            await self.contribute(user, coop_id, kwacha, proof=proof)

    async def form(
        self, founder: User, coop_id: str, name: str, kind: str, region: str, bylaws: Bylaws | None = None
    ) -> None:
        proof = await self.proof(founder)
        await self.platform.coops.form(
            proof, founder, name=name, kind=kind, region=region, coop_id=coop_id, bylaws=bylaws
        )

    async def propose(self, user: User, coop_id: str, kind: str, **payload: str | int) -> Proposal:
        return await self.platform.governance.propose(await self.proof(user), user, coop_id, kind, dict(payload))

    async def votes(self, proposal: Proposal, ballots: Iterable[tuple[User, Choice]]) -> None:
        cast = list(ballots)
        for (user, choice), proof in zip(cast, await self.proofs(u for u, _ in cast), strict=True):
            await self.platform.governance.vote(proof, user, proposal.id, choice)

    async def leave(self, user: User, coop_id: str) -> None:
        await self.platform.coops.leave(await self.proof(user), user, coop_id)


async def seed_coops(settings: Settings, demo_users: Sequence[tuple[str, str, str]] = ()) -> dict[str, int]:
    """The demo co-ops that do not exist yet, each with its history: how many co-ops, members and users were made.

    ``demo_users`` (phone, name, language) who are not registered yet are registered when the history
    starts, so that everything in their wallets happens in the order it is dated.
    """
    made = {"coops": 0, "members": 0, "users": 0}
    if settings.database_url == "memory:":  # another platform would open another, empty, database
        return made
    cores = usable_cores()
    pool = kdf_pool_for_this_machine(cores)  # every core: nothing else waits on this process's PINs
    now = SystemClock().now_us()
    clock = ManualClock(now - 43 * DAY_S * MICROS_PER_SECOND)
    try:
        # No receipts: the history's SMS would all go out (or print in dev) at the first start.
        platform = await open_platform(settings, hasher=pool, clock=clock, providers=InstantProviders(), bus=EventBus())
        try:
            fresh = [coop_id for coop_id in COOP_IDS if not await _exists(platform, coop_id)]
            if fresh:
                history = History(platform, clock, now, settings.local_utc_offset_hours * HOUR_S, kdf_threads=cores)
                history.pin_hash = await platform.users.hash_new_pin(DEMO_PIN)
                for phone, name, language in demo_users:
                    with contextlib.suppress(AlreadyRegistered):
                        await platform.users.register(
                            phone=phone, name=name, language=language, pin_hash=history.pin_hash
                        )
                        history.made_demo_users += 1
                await tell(history, set(fresh))
                clock.set(max(SystemClock().now_us(), clock.now_us()))
                await history.run_due()
                made = {"coops": len(fresh), "members": history.made_users, "users": history.made_demo_users}
                log.info(
                    "demo co-ops: %d formed, with six weeks of history and %d new members",
                    len(fresh),
                    history.made_users,
                )
        finally:
            await platform.close()
    finally:
        pool.close()
    return made


async def _exists(platform: Platform, coop_id: str) -> Cooperative | None:
    try:
        return await platform.coops.get(coop_id)
    except CoopNotFound:
        return None


async def tell(h: History, fresh: set[str]) -> None:
    """Six weeks in five co-ops, in the order it happened (each co-op's part only if it is new)."""
    p = {tag: await h.person(tag) for tag in PEOPLE}
    mwila, chipo, natasha, joseph = [await h.platform.users.get(n) for n in (MWILA, CHIPO, NATASHA, JOSEPH)]
    lsk = [chipo, mwila, *(p[f"lsk{n}"] for n in range(1, 10))]  # lsk9 leaves
    kbw = [p["kbw1"], natasha, *(p[f"kbw{n}"] for n in range(2, 8))]
    chg = [p[f"chg{n}"] for n in range(1, 7)]

    await h.at(days_ago=42, hour=9)
    if SUPPLIER in fresh:  # three Copperbelt shops pool their stock to sell co-ops at bulk prices
        await h.form(p["sup1"], SUPPLIER, "Copperbelt Solar Suppliers", "supply", "copperbelt")
        await h.members(SUPPLIER, [(p["sup1"], 5_000), (p["sup2"], 3_000), (p["sup3"], 3_000)])
        for item in CATALOG:
            await h.platform.coops.offer_item(SUPPLIER, item)
    await h.at(days_ago=40, hour=10)
    if LUSAKA in fresh:
        await h.form(chipo, LUSAKA, "Kalingalinga Solar Co-op", "micro", "lusaka")
        await h.contribute(chipo, LUSAKA, 5_000)
    if KITWE in fresh:  # two independent producers by the mine: one vote each
        await h.form(p["kit1"], KITWE, "Kitwe Mine-Edge Producers", "industrial", "copperbelt")
        await h.members(KITWE, [(p["kit1"], 5_000), (p["kit2"], 4_000)])
    await h.at(days_ago=39, hour=10)
    if LUSAKA in fresh:
        paid = (3_000, 2_000, 2_500, 5_000, 2_000, 1_500, 3_000, 2_000, 2_000, 2_000)  # lsk5 pays in instalments
        await h.members(LUSAKA, zip(lsk[1:], paid, strict=True))  # the tenth full member makes it active
    await h.at(days_ago=37, hour=18)
    if KITWE in fresh:
        price = await h.propose(p["kit1"], KITWE, "set_price", price_ngwee_per_kwh=105)
        await h.at(days_ago=37, hour=20)
        await h.votes(price, [(p["kit1"], YES), (p["kit2"], YES)])
    await h.at(days_ago=36, hour=9)
    if LUSAKA in fresh:  # eight panels from the supply co-op: passed, executed, the supplier paid
        panels = await h.propose(chipo, LUSAKA, "buy_equipment", supplier=SUPPLIER, item="panel-450w", quantity=8)
        await h.at(days_ago=36, hour=11)
        ballots = (YES, YES, YES, YES, YES, NO, ABSTAIN, YES, ABSTAIN, YES, YES)
        await h.votes(panels, [(m, c) for m, c in zip(lsk, ballots, strict=True) if m is not p["lsk5"]])
    await h.at(days_ago=35, hour=10)
    if KABWE in fresh:  # a neighbourhood co-op whose bylaws ask fewer members and a lower quorum
        await h.form(p["kbw1"], KABWE, "Makululu Neighbourhood Energy", "neighbourhood", "kabwe",
                     Bylaws(min_members=8, quorum_pct=40))  # fmt: skip
        await h.contribute(p["kbw1"], KABWE, 4_000)
        await h.at(days_ago=34, hour=12)
        await h.members(KABWE, zip(kbw[1:], (2_000, 2_500, 2_000, 3_000, 2_000, 2_000, 2_000), strict=True))
    await h.at(days_ago=33, hour=15)
    if LUSAKA in fresh:
        await h.contribute(p["lsk5"], LUSAKA, 1_000, 2)  # the second instalment: a full member now
    await h.at(days_ago=32, hour=10)
    if LUSAKA in fresh:
        await h.leave(p["lsk9"], LUSAKA)  # refunded at par when the 30 days' notice ends, by the scheduler
    await h.at(days_ago=31, hour=10)
    if KABWE in fresh:
        fix = await h.propose(p["kbw4"], KABWE, "maintenance", phone=PEOPLE["kbw7"][0], amount_ngwee=1_200 * K,
                              text="Rewire the battery room and fit a breaker")  # fmt: skip
        await h.at(days_ago=31, hour=12)
        await h.votes(fix, zip(kbw[:7], (YES, YES, YES, ABSTAIN, NO, YES, NO), strict=True))
    await h.at(days_ago=28, hour=8)
    if CHONGWE in fresh:  # a village co-op that admits new members by vote, with smaller shares
        rules = Bylaws(par_value_ngwee=50 * K, min_contribution_ngwee=1_000 * K, max_contribution_ngwee=3_000 * K,
                       min_members=6, admission=Admission.BY_VOTE)  # fmt: skip
        await h.form(chg[0], CHONGWE, "Chongwe Village Power", "micro", "rural", rules)
        await h.members(CHONGWE, zip(chg, (1_500, 1_000, 1_000, 1_200, 1_000, 2_000), strict=True))
    await h.at(days_ago=27, hour=17)
    if LUSAKA in fresh:  # a higher energy price, voted down
        price = await h.propose(p["lsk4"], LUSAKA, "set_price", price_ngwee_per_kwh=150)
        await h.at(days_ago=27, hour=19)
        await h.votes(price, zip(lsk[:9], (NO, NO, NO, YES, NO, YES, NO, NO, YES), strict=True))
    await h.at(days_ago=25, hour=9)
    if CHONGWE in fresh:  # Mwila asks to join his home village's co-op: the members admit him
        await h.platform.coops.join(mwila, CHONGWE)
        (admit,) = await h.platform.governance.proposals(CHONGWE, open_only=True, limit=1)
        await h.at(days_ago=25, hour=11)
        await h.votes(admit, zip(chg[:5], (YES, YES, YES, YES, ABSTAIN), strict=True))
    await h.at(days_ago=24, hour=10)
    if KABWE in fresh:  # hiding results until the close needs two-thirds: 4 of 7 is not enough
        hide = await h.propose(p["kbw2"], KABWE, "change_bylaw", bylaw="hide_results_until_close", value=1)
        await h.at(days_ago=24, hour=12)
        await h.votes(hide, zip(kbw[:7], (NO, YES, YES, YES, NO, YES, NO), strict=True))
    await h.at(days_ago=21, hour=16)
    if CHONGWE in fresh:
        await h.contribute(mwila, CHONGWE, 500)  # an instalment: admitted, not yet a full member
    await h.at(days_ago=20, hour=9)
    if LUSAKA in fresh:
        chair = await h.propose(p["lsk3"], LUSAKA, "elect_role", phone=CHIPO, role="chair")
        treasurer = await h.propose(chipo, LUSAKA, "elect_role", phone=PEOPLE["lsk3"][0], role="treasurer")
        await h.at(days_ago=20, hour=12)
        await h.votes(chair, [(m, YES) for m in lsk[:8]])
        await h.votes(treasurer, [(m, YES) for m in lsk[:7]])
    await h.at(days_ago=18, hour=14)
    if KITWE in fresh:
        sell = await h.propose(p["kit2"], KITWE, "decision", text="Sell daytime surplus to Lusaka co-ops at K1.05/kWh")
        await h.at(days_ago=18, hour=16)
        await h.votes(sell, [(p["kit1"], YES), (p["kit2"], YES)])
    # What is still open now, for the server's scheduler to carry on.
    await h.at(hours_ago=30)
    if KABWE in fresh:
        meet = await h.propose(natasha, KABWE, "decision", text="Members meet at Makululu school on Saturday at 10")
        await h.at(hours_ago=28)
        await h.votes(meet, [(p["kbw1"], YES), (p["kbw2"], YES), (natasha, YES), (p["kbw3"], NO)])
    await h.at(hours_ago=26)
    if LUSAKA in fresh:
        batteries = await h.propose(mwila, LUSAKA, "buy_equipment", supplier=SUPPLIER, item="battery-200ah", quantity=2)
        await h.at(hours_ago=24)
        await h.votes(batteries, zip(lsk[:6], (YES, YES, YES, NO, YES, ABSTAIN), strict=True))
    await h.at(hours_ago=10)
    if CHONGWE in fresh:
        await h.platform.coops.join(joseph, CHONGWE)
        (admit,) = await h.platform.governance.proposals(CHONGWE, open_only=True, limit=1)
        await h.at(hours_ago=8)
        await h.votes(admit, zip(chg[:3], (YES, YES, NO), strict=True))
    await h.at(hours_ago=5)
    if KITWE in fresh:
        await h.propose(p["kit1"], KITWE, "set_price", price_ngwee_per_kwh=110)
    await h.at(hours_ago=0.3)
    if LUSAKA in fresh:  # pending: voting opens within the hour, on the server's own clock
        await h.propose(p["lsk1"], LUSAKA, "decision", text="Clean the panels together on the first Saturday")
