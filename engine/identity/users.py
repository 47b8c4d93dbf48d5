"""Users: registration, lookup, PINs and preferences."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, replace

from engine.identity import pin_state
from engine.identity.events import PinChanged, PinLocked, PinReset, UserRegistered
from engine.identity.model import PinProof, User, user_accounts
from engine.identity.pin_state import ProofMint
from engine.identity.pins import check_pin, hash_pin, new_one_time_pin, validate_pin
from engine.identity.ports import IdentityUnit, IdentityUnits, PinHasher
from engine.kernel import daily_caps
from engine.kernel.clock import MICROS_PER_SECOND, Clock
from engine.kernel.config import EngineConfig
from engine.kernel.errors import (
    CounterpartyNotFound,
    InvalidInput,
    InvalidName,
    InvalidPinFormat,
    OutflowHeld,
    PinNotVerified,
    SelfTrade,
    UnsupportedLanguage,
    UserNotFound,
    WrongPin,
)
from engine.kernel.language import Language
from engine.kernel.local_time import local_day, local_text
from engine.kernel.phones import require_zambian_mobile
from engine.kernel.references import reference_for
from engine.ledger.accounts import PROMOTIONS
from engine.ledger.model import Ledger, Transfer, TransferCode
from engine.ledger.operations import apply_operation

MAX_NAME_LENGTH = 40


def clean_name(name: str) -> str:
    """Collapse spaces; letters, spaces and ``' - .`` only (they must fit a USSD screen)."""
    cleaned = " ".join(unicodedata.normalize("NFC", name).split())
    if not 1 <= len(cleaned) <= MAX_NAME_LENGTH:
        raise InvalidName("name must be 1 to 40 characters", max=MAX_NAME_LENGTH)
    if not all(c.isalpha() or c in " '-." for c in cleaned):
        raise InvalidName("name may hold letters, spaces, ' - and . only")
    return cleaned


def parse_language(value: str) -> Language:
    try:
        return Language(value.strip().lower())
    except ValueError:
        raise UnsupportedLanguage("language must be en, ny or bem", value=value) from None


@dataclass(frozen=True, slots=True)
class Counterparty:
    """Another user as someone about to trade with them may see them: number and short name only."""

    phone: str
    short_name: str


def check_outflow(user: User, now_us: int, offset_s: int) -> None:
    """Refuse anything leaving the wallet while an operator reset's hold lasts."""
    if user.hold_until > now_us:
        raise OutflowHeld(
            "outflow held after a PIN reset", until_us=user.hold_until, until=local_text(user.hold_until, offset_s)
        )


KYC_TIERS = (1, 2, 3)


class UserService:
    def __init__(self, units: IdentityUnits, config: EngineConfig, clock: Clock, hasher: PinHasher) -> None:
        self._units = units
        self._config = config
        self._clock = clock
        self.hasher = hasher  # where every PIN hash and check runs (public: a test may give it its own)
        self._proofs = ProofMint()

    def _pin_wait_s(self, retry: bool, budget_s: float | None = None) -> float | None:
        wait_ms = self._config.pin_retry_max_wait_ms if retry else self._config.pin_max_wait_ms
        wait_s = None if wait_ms is None else wait_ms / 1000
        if budget_s is None:
            return wait_s
        return budget_s if wait_s is None else min(wait_s, budget_s)

    async def hash_new_pin(self, pin: str, *, retry: bool = False, budget_s: float | None = None) -> str:
        """Check a PIN someone is choosing and return its salted hash (slow: runs off the loop).

        Raises :class:`PinBusy` when the KDF queue is too deep to answer in time
        (within ``budget_s`` too, when given); ``retry`` (their last PIN got that
        answer) allows the longer wait.
        """
        validate_pin(pin)
        cost, wait_s = self._config.pin_kdf_log2_n, self._pin_wait_s(retry, budget_s)
        pepper = self._config.pin_pepper
        with self.hasher.admit(wait_s):
            return await self.hasher.run(lambda: hash_pin(pin, pepper=pepper, log2_n=cost))

    async def pin_matches(self, pin: str, pin_hash: str, *, retry: bool = False, budget_s: float | None = None) -> bool:
        """Whether ``pin`` is the one hashed in ``pin_hash`` (a PIN typed twice); counts no attempt.

        Raises :class:`PinBusy` like :meth:`hash_new_pin`.
        """
        wait_s = self._pin_wait_s(retry, budget_s)
        pepper = self._config.pin_pepper
        with self.hasher.admit(wait_s):
            return await self.hasher.run(lambda: check_pin(pin, pin_hash, pepper=pepper))

    async def register(
        self, *, phone: str, name: str, language: Language | str, pin: str | None = None, pin_hash: str | None = None
    ) -> User:
        """Create a user with ZMW and kWh wallets and the configured starting credit.

        The credit comes from a platform-wide daily budget (``starting_credits_per_day``):
        once it is spent, new users that day start with none, so registering many
        numbers is no way to collect money.

        ``phone`` must already be E.164 (entry points normalise what people type).
        Give ``pin``, or ``pin_hash`` from :meth:`hash_new_pin` when the PIN was
        chosen on an earlier screen (so the PIN itself was never kept).
        """
        phone = require_zambian_mobile(phone)
        name = clean_name(name)
        lang = language if isinstance(language, Language) else parse_language(language)
        if pin is not None:
            pin_hash = await self.hash_new_pin(pin)
        if not pin_hash:
            raise InvalidPinFormat("a PIN is required")

        async def work(uow: IdentityUnit) -> User:
            user = await uow.users.insert_user(phone=phone, name=name, language=lang, pin_hash=pin_hash)
            await uow.ledger.create_accounts(user_accounts(user))
            credit = self._config.starting_credit_ngwee
            if credit > 0 and not await uow.counters.bump_daily(
                daily_caps.PLATFORM,
                str(daily_caps.Cap.STARTING_CREDITS),
                local_day(self._clock.now_us(), self._config.local_utc_offset_s),
                self._config.starting_credits_per_day,
            ):
                # Today's budget of starting credit is spent: a farm of new SIMs gets no money.
                credit = 0
            if credit > 0:
                operation = f"starting-credit:{user.id}"
                transfer = Transfer(
                    id=operation,
                    debit_account_id=PROMOTIONS,
                    credit_account_id=user.zmw_account_id,
                    amount=credit,
                    ledger=Ledger.ZMW,
                    code=TransferCode.STARTING_CREDIT,
                    reference=reference_for(operation),
                )
                await apply_operation(uow.ledger, [transfer], lambda _i, _r: None)
            uow.record(
                UserRegistered(
                    operation_id=f"welcome:{user.id}",
                    at_us=self._clock.now_us(),
                    user=user,
                    starting_credit_ngwee=credit,
                )
            )
            return user

        return await self._units.run(work)

    async def find(self, phone: str) -> User | None:
        return await self._units.reads.users.user_by_phone(phone)

    async def get(self, phone: str) -> User:
        user = await self._units.reads.users.user_by_phone(phone)
        if user is None:
            raise UserNotFound("no user with that phone number")
        return user

    async def verify_pin(self, user: User, pin: str, *, retry: bool = False, budget_s: float | None = None) -> PinProof:
        """Check a PIN and return proof of it; wrong ones count in the database and lock the PIN.

        Raises :class:`PinLocked` while locked (``until_us``; ``until_reset`` when
        only an operator can lift it), :class:`WrongPin` (with ``attempts_left``)
        for a wrong PIN, and :class:`PinBusy`, with no attempt counted, when the
        KDF queue is too deep to answer in time (``retry``: their last PIN got
        that answer, so they may wait longer; ``budget_s``: what is left of the
        caller's own deadline). The owner gets an SMS whenever their PIN locks.
        """
        # A place in the KDF queue comes first: a caller refused as busy has
        # used none of their tries.
        with self.hasher.admit(self._pin_wait_s(retry, budget_s)):
            now = self._clock.now_us()
            claimed = await self._units.run(lambda uow: self._count_attempt(uow, user.id, now))
            # The slow hash runs off the event loop and outside any transaction.
            pepper = self._config.pin_pepper
            matches = await self.hasher.run(lambda: check_pin(pin, claimed.pin_hash, pepper=pepper))
        if matches:
            await self._units.run(lambda uow: self._right_pin(uow, claimed.id))
            return self._proofs.issue(claimed.id, now)
        if claimed.locked_at(now):  # this attempt was the one that locked it
            await self._units.run(lambda uow: self._tell_locked(uow, claimed, now))
            raise pin_state.locked_error(claimed)
        raise WrongPin("wrong PIN", attempts_left=self._config.pin_max_failures - claimed.pin_failures)

    async def _count_attempt(self, uow: IdentityUnit, user_id: int, now_us: int) -> User:
        current = await uow.users.user_for_update(user_id)
        if current is None:
            raise UserNotFound("user vanished")
        if current.locked_at(now_us):
            raise pin_state.locked_error(current)
        # Counted before it is checked: concurrent guesses from many sessions or
        # processes can then never check more than the allowed tries.
        counted = pin_state.count_attempt(current, self._config, now_us)
        await uow.users.save_pin_state(counted)
        return counted

    async def _right_pin(self, uow: IdentityUnit, user_id: int) -> None:
        current = await uow.users.user_for_update(user_id)
        if current is not None:
            await uow.users.save_pin_state(pin_state.right_pin(current))

    async def _tell_locked(self, uow: IdentityUnit, user: User, now_us: int) -> None:
        operation = f"pin-locked:{user.id}:{user.pin_locked_until}"
        uow.record(PinLocked(operation_id=operation, at_us=now_us, user=user))

    def proof_is_valid(self, proof: PinProof, user: User) -> bool:
        """Whether ``proof`` is a fresh proof, from this process, of ``user``'s PIN."""
        return self._proofs.valid(proof, user.id, self._clock.now_us())

    async def change_pin(self, proof: PinProof, *, new_pin: str | None = None, new_pin_hash: str | None = None) -> User:
        """Set a new PIN for the user ``proof`` was issued for; the owner gets an SMS.

        ``proof`` comes from :meth:`verify_pin` in the same request (it expires
        within seconds and cannot be made elsewhere): without it nothing
        changes (:class:`PinNotVerified`). Give ``new_pin``, or ``new_pin_hash``
        from :meth:`hash_new_pin` when the PIN was chosen on an earlier screen.
        A one-time PIN from an operator reset stops being one.
        """
        if new_pin is not None:
            new_pin_hash = await self.hash_new_pin(new_pin)
        if not new_pin_hash:
            raise InvalidPinFormat("a new PIN is required")
        if not self._proofs.valid(proof, proof.user_id, self._clock.now_us()):
            raise PinNotVerified("the current PIN was not checked in this request")
        pin_hash = new_pin_hash

        async def work(uow: IdentityUnit) -> User:
            current = await uow.users.user_for_update(proof.user_id)
            if current is None:
                raise UserNotFound("user vanished")
            changed = replace(current, pin_hash=pin_hash, pin_must_change=False)
            await uow.users.update_user(changed)
            await uow.users.save_pin_state(changed)
            stamp = self._clock.now_us()
            uow.record(PinChanged(operation_id=f"pin-changed:{current.id}:{stamp}", at_us=stamp, user=changed))
            return changed

        return await self._units.run(work)

    async def reset_pin(self, user: User) -> User:
        """An operator's reset: a one-time PIN by SMS, to be changed on the next dial; outflows held.

        Clears every lock and count except the lifetime count of wrong PINs.
        For ``reset_hold_s`` (24 h) nothing may leave the wallet: a reset is how
        a SIM swap would take an account over. The one-time PIN exists only in
        the SMS (the outbox row is scrubbed once it is sent).
        """
        one_time = new_one_time_pin()
        pin_hash = await self.hash_new_pin(one_time)

        async def work(uow: IdentityUnit) -> User:
            current = await uow.users.user_for_update(user.id)
            if current is None:
                raise UserNotFound("user vanished")
            now = self._clock.now_us()
            hold = now + self._config.reset_hold_s * MICROS_PER_SECOND
            changed = replace(
                current,
                pin_hash=pin_hash,
                pin_failures=0,
                pin_locked_until=0,
                pin_lock_stage=0,
                pin_must_change=True,
                hold_until=max(current.hold_until, hold),
            )
            await uow.users.update_user(changed)
            await uow.users.save_pin_state(changed)
            uow.record(
                PinReset(operation_id=f"pin-reset:{current.id}:{now}", at_us=now, user=changed, one_time_pin=one_time)
            )
            return changed

        return await self._units.run(work)

    def check_outflow(self, user: User) -> None:
        """Raise :class:`OutflowHeld` if nothing may leave ``user``'s wallet now."""
        check_outflow(user, self._clock.now_us(), self._config.local_utc_offset_s)

    async def look_up(self, viewer: User, phone: str) -> Counterparty:
        """Another registered user, as ``viewer`` may see them before trading; counts toward a daily cap.

        Showing the name before the PIN stops money going to a wrong number, but
        it also tells who is registered: so lookups are capped per day and the
        name is shortened (``Chipo P.``).
        """
        phone = require_zambian_mobile(phone)
        if phone == viewer.phone:
            raise SelfTrade("cannot trade with yourself")
        now, offset = self._clock.now_us(), self._config.local_utc_offset_s
        limit = self._config.lookups_per_day

        async def work(uow: IdentityUnit) -> User | None:
            await daily_caps.use(uow.counters, viewer.id, daily_caps.Cap.LOOKUPS, limit, now_us=now, offset_s=offset)
            return await uow.users.user_by_phone(phone)

        other = await self._units.run(work)
        if other is None:
            raise CounterpartyNotFound("the other number is not registered", counterpart=phone)
        return Counterparty(other.phone, other.short_name)

    async def change_language(self, user: User, language: Language | str) -> User:
        lang = language if isinstance(language, Language) else parse_language(language)
        return await self._update(user, language=lang)

    async def rename(self, user: User, name: str) -> User:
        return await self._update(user, name=clean_name(name))

    async def set_kyc_tier(self, user: User, tier: int) -> User:
        """An operator records how well we know who ``user`` is (1-3): it sets their payment limits."""
        if tier not in KYC_TIERS:
            raise InvalidInput("KYC tier must be 1, 2 or 3", tier=tier)
        return await self._update(user, kyc_tier=tier)

    async def _update(self, user: User, **changes: object) -> User:
        async def work(uow: IdentityUnit) -> User:
            current = await uow.users.user_by_id(user.id)
            if current is None:
                raise UserNotFound("user vanished")
            changed = replace(current, **changes)  # type: ignore[arg-type]
            await uow.users.update_user(changed)
            return changed

        return await self._units.run(work)

    async def by_ids(self, user_ids: Sequence[int]) -> dict[int, User]:
        """The registered users among ``user_ids`` (one read for a page of names or numbers)."""
        return await self._units.reads.users.users_by_ids(list(user_ids))

    async def list(self, *, limit: int = 50, offset: int = 0) -> list[User]:
        return await self._units.reads.users.list_users(limit=limit, offset=offset)

    async def counts(self) -> dict[str, int]:
        by_language = await self._units.reads.users.count_users_by_language()
        return {"total": await self._units.reads.users.count_users(), **{str(k): v for k, v in by_language.items()}}
