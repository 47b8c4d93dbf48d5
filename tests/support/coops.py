"""A co-op world for tests: members with money in their wallets, and the scheduler driven by a manual clock."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from engine.coops.bylaws import Bylaws
from engine.coops.model import Cooperative, Proposal
from engine.identity.model import PinProof, User
from engine.kernel.clock import ManualClock
from engine.ledger.accounts import PROMOTIONS
from engine.ledger.model import CreateTransferResult, Transfer
from engine.platform import Platform
from engine.scheduler.runner import RunReport
from tests.support.jobs import run_until_idle

PIN = "5173"
K = 100  # ngwee per Kwacha
HOUR, DAY = 3600, 24 * 3600
# Small co-ops for tests: three full members make one active.
TEST_BYLAWS = Bylaws(min_members=3)


def _letters(n: int) -> str:
    """A name-safe tag for the n-th test user (names hold letters only)."""
    out = ""
    while True:
        n, digit = divmod(n, 26)
        out = chr(ord("a") + digit) + out
        if not n:
            return out.capitalize()


@dataclass
class CoopWorld:
    platform: Platform
    clock: ManualClock
    _next_phone: int = 0

    async def user(self, name: str = "", *, ngwee: int = 10_000 * K, language: str = "en") -> User:
        self._next_phone += 1
        phone = f"+26097{self._next_phone:07d}"
        user = await self.platform.users.register(
            phone=phone, name=name or f"Member {_letters(self._next_phone)}", language=language, pin=PIN
        )
        if ngwee:
            await self.fund(user, ngwee)
        return user

    async def fund(self, user: User, ngwee: int) -> None:
        transfer = Transfer(f"fund:{user.id}:{self.clock.now_us()}:{ngwee}", PROMOTIONS, user.zmw_account_id, ngwee)
        assert await self.platform.store.ledger.create_transfers([transfer]) == [CreateTransferResult.OK]

    async def proof(self, user: User) -> PinProof:
        return await self.platform.users.verify_pin(user, PIN)

    async def balance(self, user: User) -> int:
        return (await self.platform.wallet.balances(user)).ngwee

    async def treasury(self, coop: Cooperative) -> int:
        accounts = await self.platform.store.ledger.lookup_accounts([coop.treasury_account_id])
        return accounts[coop.treasury_account_id].available

    async def form(self, founder: User, *, bylaws: Bylaws = TEST_BYLAWS, kind: str = "micro", **kw: Any) -> Cooperative:
        return await self.platform.coops.form(
            await self.proof(founder), founder, name=kw.pop("name", "Chawama Solar"), kind=kind,
            region=kw.pop("region", "lusaka"), bylaws=bylaws, **kw,
        )  # fmt: skip

    async def contribute(self, user: User, coop: Cooperative, ngwee: int, **kw: Any) -> Any:
        return await self.platform.coops.contribute(await self.proof(user), user, coop.id, ngwee, **kw)

    async def active_coop(self, members: int = 3, *, bylaws: Bylaws = TEST_BYLAWS) -> tuple[Cooperative, list[User]]:
        """A co-op whose ``members`` full members each paid the minimum."""
        bylaws = replace(bylaws, min_members=min(bylaws.min_members, members))
        founder = await self.user("Founder")
        coop = await self.form(founder, bylaws=bylaws)
        people = [founder]
        for _ in range(members - 1):
            person = await self.user()
            await self.platform.coops.join(person, coop.id)
            people.append(person)
        for person in people:
            await self.contribute(person, coop, bylaws.min_contribution_ngwee)
        return await self.platform.coops.get(coop.id), people

    async def propose(self, user: User, coop: Cooperative, kind: str, **payload: Any) -> Proposal:
        return await self.platform.governance.propose(await self.proof(user), user, coop.id, kind, payload)

    async def vote(self, user: User, proposal: Proposal, choice: int) -> Any:
        return await self.platform.governance.vote(await self.proof(user), user, proposal.id, choice)

    async def run_jobs(self) -> RunReport:
        """Run every job due now, until none is (handlers may make more work due at once)."""
        return await run_until_idle(self.platform.scheduler)

    async def wait(self, seconds: float) -> RunReport:
        """Let time pass and the scheduler catch up."""
        self.clock.advance(seconds)
        return await self.run_jobs()

    async def sms(self, user: User, template: str) -> list[dict[str, str | int]]:
        rows = await self.platform.store.outbox.list_outbox(recipient=user.phone, limit=500)
        return [r.message.params for r in rows if r.message.template == template]
