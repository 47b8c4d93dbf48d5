"""A handset's mobile-money push prompts: "Pay K50.00 to ENERLECTRA? Enter MoMo PIN".

When a user deposits, the server asks the provider to collect and the
provider pushes an approval prompt to the user's own handset. In dev the
provider is the simulator in ``simulator.momo``; a server serving it says
where at ``GET /dev/momo`` (``{"simulator_url": ...}``, 404 otherwise). This
module finds it once (quietly nothing on a 404), lists what waits for a
handset (``GET /_sim/approvals?msisdn=``) and answers it (``POST
/_sim/approvals/{reference_id}``): any 4-digit MoMo PIN approves, ``2``
rejects. Like ``sms``, it only speaks HTTP: nothing of the server is imported.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

import aiohttp
from yarl import URL

POLL_S = 1.0  # how often a handset looks for prompts (cheap: one GET per phone to a loopback simulator)
MERCHANT = "ENERLECTRA"  # the name the provider shows for the merchant account (the simulator keeps none)
REJECT = "2"
_PIN = re.compile(r"\d{4}")
_WALLETS = {"mtn": "MTN MoMo", "airtel": "Airtel Money"}
_TIMEOUT = aiohttp.ClientTimeout(total=5)
# A call that fails is asked again at the next poll (RuntimeError: the app closed the HTTP session meanwhile).
_FAILED = (aiohttp.ClientError, TimeoutError, RuntimeError)


def money(ngwee: int) -> str:
    """``5000`` -> ``K50.00``, ``123456`` -> ``K1,234.56`` (how Zambian wallets write Kwacha)."""
    return f"K{ngwee // 100:,}.{ngwee % 100:02d}"


def parse_answer(typed: str) -> bool | None:
    """What the keys typed on the prompt mean: True approves (a 4-digit PIN), False rejects (2), None neither."""
    typed = typed.strip()
    if _PIN.fullmatch(typed):
        return True
    if typed == REJECT:
        return False
    return None


@dataclass(frozen=True, slots=True)
class MomoPrompt:
    """A collection waiting for this handset's approval."""

    reference_id: str  # the provider's id of the collection (MTN's X-Reference-Id, Airtel's transaction id)
    provider: str  # mtn or airtel
    msisdn: str  # E.164
    amount_ngwee: int

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> MomoPrompt | None:
        """One of ``GET /_sim/approvals``'s items; None if it is not a collection waiting for approval."""
        ref, provider, msisdn, amount = (data.get(k) for k in ("reference_id", "provider", "msisdn", "amount_ngwee"))
        if not (isinstance(ref, str) and ref and isinstance(provider, str) and isinstance(msisdn, str)):
            return None
        if not isinstance(amount, int) or isinstance(amount, bool) or data.get("status", "PENDING") != "PENDING":
            return None
        return cls(ref, provider, msisdn, amount)

    @property
    def wallet(self) -> str:
        return _WALLETS.get(self.provider, self.provider.upper() or "Mobile money")

    @property
    def ref(self) -> str:
        """A short form of the provider's id, as a handset's pop-up shows it."""
        return self.reference_id.replace("-", "")[:8].upper()

    @property
    def amount(self) -> str:
        return money(self.amount_ngwee)

    @property
    def text(self) -> str:
        """The pop-up, as the handset shows it."""
        return (
            f"{self.wallet}: Pay {self.amount} to {MERCHANT}? Ref {self.ref}\n"
            f"Enter MoMo PIN to approve, or {REJECT} to reject"
        )


class Outcome(StrEnum):
    APPROVED = "approved"
    REJECTED = "rejected"
    GONE = "gone"  # no longer waiting: answered already (the simulator may approve by itself), or expired
    UNREACHED = "unreached"  # the provider simulator did not answer: the prompt is still there to answer


@dataclass(frozen=True, slots=True)
class PromptAnswer:
    prompt: MomoPrompt
    outcome: Outcome
    detail: str = ""

    @property
    def settled(self) -> bool:
        """True when the prompt is gone from the handset (answered, or no longer waiting)."""
        return self.outcome is not Outcome.UNREACHED

    @property
    def text(self) -> str:
        """What the handset shows after the answer."""
        p = self.prompt
        if self.outcome is Outcome.APPROVED:
            return f"{p.wallet}: you approved paying {p.amount} to {MERCHANT}. Ref {p.ref}"
        if self.outcome is Outcome.REJECTED:
            return f"{p.wallet}: you rejected paying {p.amount} to {MERCHANT}. No money moved. Ref {p.ref}"
        if self.outcome is Outcome.GONE:
            return f"{p.wallet}: the payment of {p.amount} no longer waits for you (answered or expired). Ref {p.ref}"
        return f"{p.wallet}: no network ({self.detail}). Try again."


class PromptSource(Protocol):
    available: bool  # False once the server showed it has no provider simulator

    async def pending(self, msisdn: str) -> list[MomoPrompt]:
        """The prompts waiting for this handset, oldest first ([] if none, or if nobody can say)."""
        ...

    async def answer(self, prompt: MomoPrompt, approve: bool) -> PromptAnswer: ...


class NoPrompts:
    """A server with no provider simulator: a handset never gets a prompt."""

    available = False

    async def pending(self, msisdn: str) -> list[MomoPrompt]:
        return []

    async def answer(self, prompt: MomoPrompt, approve: bool) -> PromptAnswer:
        return PromptAnswer(prompt, Outcome.UNREACHED, "no provider simulator")


class SimulatorPrompts:
    """The provider simulator a server names at ``GET /dev/momo``, asked for each handset's prompts."""

    def __init__(self, http: aiohttp.ClientSession, dev_momo: URL) -> None:
        self.http = http
        self.dev_momo = dev_momo
        self.available = True
        self._simulator: URL | None = None

    async def simulator_url(self) -> URL | None:
        """Where the provider simulator listens (asked once, then cached); None if not (yet) known."""
        if self._simulator is not None or not self.available:
            return self._simulator
        try:
            async with self.http.get(self.dev_momo, timeout=_TIMEOUT) as r:
                if r.status == 404:
                    self.available = False  # not in dev, or real providers: stop asking
                    return None
                if r.status != 200:
                    return None
                body = await r.json()
        except (*_FAILED, ValueError):
            return None  # asked again at the next poll
        url = body.get("simulator_url") if isinstance(body, dict) else None
        if not isinstance(url, str) or not url:
            self.available = False
            return None
        self._simulator = URL(url)
        return self._simulator

    def _lost(self) -> None:
        # The simulator went away (the server restarted on another port?): ask /dev/momo again next time.
        self._simulator = None

    async def pending(self, msisdn: str) -> list[MomoPrompt]:
        sim = await self.simulator_url()
        if sim is None:
            return []
        try:
            async with self.http.get(sim / "_sim" / "approvals", params={"msisdn": msisdn}, timeout=_TIMEOUT) as r:
                if r.status != 200:
                    return []
                body = await r.json()
        except aiohttp.ClientConnectionError:
            self._lost()
            return []
        except (*_FAILED, ValueError):
            return []  # a failed or odd poll is retried at the next one
        items = body.get("approvals", []) if isinstance(body, dict) else []
        found = (MomoPrompt.from_json(item) for item in items if isinstance(item, dict))
        return [p for p in found if p is not None and p.msisdn == msisdn]

    async def answer(self, prompt: MomoPrompt, approve: bool) -> PromptAnswer:
        sim = await self.simulator_url()
        if sim is None:
            return PromptAnswer(prompt, Outcome.UNREACHED, "no provider simulator")
        url = sim / "_sim" / "approvals" / prompt.reference_id
        try:
            async with self.http.post(url, json={"approve": approve}, timeout=_TIMEOUT) as r:
                if r.status == 404:
                    return PromptAnswer(prompt, Outcome.GONE)
                if r.status != 200:
                    return PromptAnswer(prompt, Outcome.UNREACHED, f"HTTP {r.status}")
        except aiohttp.ClientConnectionError as exc:
            self._lost()
            return PromptAnswer(prompt, Outcome.UNREACHED, type(exc).__name__)
        except _FAILED as exc:
            return PromptAnswer(prompt, Outcome.UNREACHED, type(exc).__name__)
        return PromptAnswer(prompt, Outcome.APPROVED if approve else Outcome.REJECTED)
