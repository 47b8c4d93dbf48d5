"""Africa's Talking USSD protocol: the callback's fields, the newest input, and one hop end to end.

A hop: validate the form, lock the session, load it, answer a repeated
request with the stored reply (running nothing), otherwise move through the
menu, store the reply and the session, and answer ``CON``/``END``. Failures
never reach the phone as anything but a short ``END``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from engine.kernel.errors import EnerlectraError
from engine.platform import Platform
from ussd_server.gsm7 import fit
from ussd_server.i18n import Catalogs
from ussd_server.logfields import log_phone, logfield
from ussd_server.menu.context import Hop, Limiter
from ussd_server.menu.reply import END, TEXT_BUDGET, Reply
from ussd_server.menu.resume import resumable_view
from ussd_server.menu.runtime import MenuRuntime
from ussd_server.phones import parse_zambian_mobile
from ussd_server.sessions import keys
from ussd_server.sessions.model import Session, TextDigest, new_nonce
from ussd_server.sessions.store import Held, HopCount, SessionStore, SessionStoreUnavailable
from ussd_server.settings import Settings

log = logging.getLogger("enerlectra.hop")
REQUIRED = ("sessionId", "serviceCode", "phoneNumber", "text")
MAX_FIELD = 2000
MAX_SESSION_ID = 200


class BadRequest(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class UssdRequest:
    session_id: str
    service_code: str
    phone: str  # as sent by the gateway
    network_code: str
    text: str


def parse_callback(form: Mapping[str, str]) -> UssdRequest:
    missing = [f for f in REQUIRED if f not in form]
    if missing:
        raise BadRequest(f"missing fields: {', '.join(missing)}")
    if any(len(str(form.get(f, ""))) > MAX_FIELD for f in (*REQUIRED, "networkCode")):
        raise BadRequest("field too long")
    session_id = str(form["sessionId"]).strip()
    if not session_id or len(session_id) > MAX_SESSION_ID:
        raise BadRequest("bad sessionId")
    return UssdRequest(
        session_id=session_id,
        service_code=str(form["serviceCode"]).strip(),
        phone=str(form["phoneNumber"]).strip(),
        network_code=str(form.get("networkCode", "")),
        text=str(form["text"]),
    )


def newest_input(text: str, session: Session, digest: TextDigest) -> str | None:
    """What the user typed this hop, from the cumulative ``*``-joined text.

    The previous text is known by length and digest, so an input that itself
    contains ``*`` is told apart from two inputs. A text that does not extend
    the previous one is a late retry of an older hop: None, and nothing runs.
    """
    previous = session.last_len
    if previous == 0:
        newest = text
    elif len(text) > previous and text[previous] == "*" and digest(text[:previous]) == session.last_digest:
        newest = text[previous + 1 :]
    else:
        return None
    return newest.replace("¡", "@").strip()


class UssdService:
    def __init__(
        self,
        *,
        platform: Platform,
        sessions: SessionStore,
        runtime: MenuRuntime,
        catalogs: Catalogs,
        settings: Settings,
        limiter: Limiter,
        on_sms_queued: Callable[[], None] = lambda: None,
        observe_hop: Callable[[str, str, float], None] = lambda _screen, _outcome, _s: None,
    ) -> None:
        self.on_sms_queued = on_sms_queued
        self.observe_hop = observe_hop
        self.platform = platform
        self.sessions = sessions
        self.runtime = runtime
        self.catalogs = catalogs
        self.settings = settings
        self.limiter = limiter
        self.digest = TextDigest(settings.pin_pepper.encode())
        self._codes = {c.strip("#").strip() for c in settings.ussd_service_codes}

    def _end(self, key: str, language: str = "en", **params: object) -> str:
        return END + fit(self.catalogs.render(language, key, params), TEXT_BUDGET)

    async def hop(self, request: UssdRequest) -> str:
        started = time.perf_counter()
        # No new step of this hop starts after the deadline (a reply after the gateway's own is lost).
        deadline = asyncio.get_running_loop().time() + self.settings.hop_deadline_ms / 1000
        outcome, screen = "error", "-"
        try:
            if request.service_code.strip("#").strip() not in self._codes:
                outcome = "unknown_code"
                return self._end("err.unknown_service")
            try:
                phone = parse_zambian_mobile(request.phone)
            except EnerlectraError:
                outcome = "not_zambian"
                return self._end("err.not_zambian")
            # The hop is counted for the phone in the same round trip that takes the session lock; a
            # plain dial also reads the phone's resume pointer there, so its resume costs no extra trip.
            count = HopCount(phone, keys.HOP_WINDOW_MS)
            resume_of = phone if not request.text else None
            async with self.sessions.hold(request.session_id, count, resume_of) as held:
                if held.count > self.settings.hops_per_minute:
                    # Nothing runs and nothing is saved: the session is as it was.
                    outcome = "rate_limited"
                    return self._end("err.slow_down", seconds=max(1, math.ceil(held.count_left_ms / 1000)))
                reply, outcome, screen, sms_queued = await self._locked_hop(request, phone, held, deadline)
            if sms_queued:  # only once the session is saved and the lock released
                self.on_sms_queued()  # deliver receipts now rather than at the next poll
            return reply
        except SessionStoreUnavailable as exc:
            outcome = "sessions_down"
            # Why, for the operator (a timeout, a refused connection, an overloaded pool).
            log.warning("hop session=%s: session store unavailable: %s", logfield(request.session_id, 40), exc)
            return self._end("err.busy")
        except Exception:
            code = secrets.token_hex(3).upper()
            log.exception("hop failed ref=%s session=%s", code, logfield(request.session_id, 40))
            return self._end("err.sorry", code=code)
        finally:
            elapsed = time.perf_counter() - started
            self.observe_hop(screen, outcome, elapsed)
            log.info(
                "hop session=%s phone=%s screen=%s outcome=%s ms=%.1f",
                logfield(request.session_id, 40),
                log_phone(request.phone),
                screen,
                outcome,
                elapsed * 1000,
            )

    async def _locked_hop(
        self, request: UssdRequest, phone: str, held: Held, deadline: float
    ) -> tuple[str, str, str, bool]:
        """The hop under its session's lock: (reply, outcome, screen, whether an SMS was queued)."""
        digest = self.digest(request.text)
        session = held.session
        if session is not None and session.phone != phone:
            return self._end("err.session_mismatch"), "phone_mismatch", "-", False  # never someone else's session
        if session is not None and session.last_digest == digest and session.last_reply:
            return session.last_reply, "replay", session.state, False  # a gateway retry: run nothing again
        if session is not None and session.ended and session.last_reply.startswith(END):
            return session.last_reply, "ended", session.state, False  # an ended session stays ended
        hop = Hop(
            session or Session(id=request.session_id, phone=phone, nonce=new_nonce()),
            self.platform,
            self.settings,
            self.catalogs,
            limiter=self.limiter,
            deadline=deadline,
        )
        s = hop.session
        if session is None:
            s.service_code = request.service_code
            s.started_ms = int(time.time() * 1000)
            shortcut = request.text.split("*") if request.text else []
            candidate = await self._resume_candidate(
                phone, request.session_id, shortcut=bool(shortcut), hint=held.resume_hint
            )
            if candidate is not None:
                hop.resume_candidate = candidate
                s.values["resume_id"] = candidate.id
            offered = None
            reply = await self.runtime.start(hop)
            reply = await self._walk_shortcut(hop, reply, shortcut)
        else:
            offered = s.values.get("resume_id")
            if offered is not None:
                old = await self.sessions.load(str(offered))
                hop.resume_candidate = resumable_view(old, self.runtime.screens) if old else None
            newest = newest_input(request.text, s, self.digest)
            if newest is None:
                return s.last_reply or self._end("err.busy"), "stale", s.state, False  # a late retry: change nothing
            reply = await self.runtime.respond(hop, newest)
        if offered is not None and s.state != "resume":
            # The offer was answered: the old session goes, so it is never offered twice.
            s.values.pop("resume_id", None)
            await self.sessions.delete(str(offered))
        s.hops += 1
        s.ended = s.ended or reply.end
        s.last_digest, s.last_len, s.last_reply = digest, len(request.text), reply.body
        held.keep(s, self.settings.session_ttl_s)  # written as the lock is released
        return reply.body, "end" if reply.end else "con", s.state, hop.sms_queued

    async def _walk_shortcut(self, hop: Hop, reply: Reply, inputs: list[str]) -> Reply:
        """A dial with inputs in it (*384*2025*2*1#) walks a few of them, never into a PIN screen.

        At most DIAL_SHORTCUT_MAX_INPUTS are taken: a long dial string must not
        make one request do a whole session's work. A PIN typed in a dial
        string stays in the phone's call history, so the walk stops at any
        screen that asks for a PIN and shows it: the PIN is typed there.
        """
        for token in inputs[: self.settings.dial_shortcut_max_inputs]:
            if reply.end or self.runtime.asks_for_pin(hop.session.state) or hop.budget_s() <= 0:
                break
            reply = await self.runtime.respond(hop, token.replace("¡", "@").strip())
        return reply

    async def _resume_candidate(
        self, phone: str, new_id: str, *, shortcut: bool, hint: str | None = None
    ) -> Session | None:
        """The phone's previous session, if it dropped mid-flow within the resume window with something to keep.

        A shortcut dial goes where it says and is never offered a resume (it
        still becomes the phone's latest dial, so the older one is not offered
        later either). ``hint``: the resume pointer as the lock was taken (the
        previous session is then read in the swap's round trip).
        """
        window = self.settings.resume_window_s
        if shortcut:
            await self.sessions.swap_resume(phone, new_id, window)
            return None
        previous_id, old = await self.sessions.swap_resume_and_load(phone, new_id, window, hint)
        if previous_id is None or previous_id == new_id:
            return None
        if old is None or old.phone != phone or old.ended:
            return None
        return resumable_view(old, self.runtime.screens)
