"""Users: registration, lookup, PINs and preferences."""

from __future__ import annotations

import unicodedata
from dataclasses import replace

from engine import notifications
from engine.accounts import PROMOTIONS, user_accounts
from engine.clock import MICROS_PER_SECOND, Clock
from engine.config import EngineConfig
from engine.errors import InvalidName, InvalidPinFormat, PinLocked, UnsupportedLanguage, UserNotFound, WrongPin
from engine.ledger.model import Ledger, Transfer, TransferCode
from engine.model import Language, User
from engine.operations import apply_operation
from engine.phones import require_zambian_mobile
from engine.pins import KdfQueue, check_pin, kdf_queue, validate_pin
from engine.ports import Store, Transaction
from engine.references import reference_for

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


class UserService:
    def __init__(self, store: Store, config: EngineConfig, clock: Clock, kdf: KdfQueue = kdf_queue) -> None:
        self._store = store
        self._config = config
        self._clock = clock
        self.kdf = kdf  # where every PIN hash and check runs (public: a drill may give it its own)

    def _pin_wait_s(self, retry: bool) -> float | None:
        wait_ms = self._config.pin_retry_max_wait_ms if retry else self._config.pin_max_wait_ms
        return None if wait_ms is None else wait_ms / 1000

    async def hash_new_pin(self, pin: str, *, retry: bool = False) -> str:
        """Check a PIN someone is choosing and return its salted hash (slow: runs off the loop).

        Raises :class:`PinBusy` when the KDF queue is too deep to answer in time;
        ``retry`` (their last PIN got that answer) allows the longer wait.
        """
        validate_pin(pin)
        cost, wait_s = self._config.pin_kdf_log2_n, self._pin_wait_s(retry)
        return await self.kdf.hash(pin, pepper=self._config.pin_pepper, log2_n=cost, max_wait_s=wait_s)

    async def pin_matches(self, pin: str, pin_hash: str, *, retry: bool = False) -> bool:
        """Whether ``pin`` is the one hashed in ``pin_hash`` (a PIN typed twice); counts no attempt.

        Raises :class:`PinBusy` like :meth:`hash_new_pin`.
        """
        wait_s = self._pin_wait_s(retry)
        return await self.kdf.check(pin, pin_hash, pepper=self._config.pin_pepper, max_wait_s=wait_s)

    async def register(
        self, *, phone: str, name: str, language: Language | str, pin: str | None = None, pin_hash: str | None = None
    ) -> User:
        """Create a user with ZMW and kWh wallets and the configured starting credit.

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

        async def work(tx: Transaction) -> User:
            user = await tx.insert_user(phone=phone, name=name, language=lang, pin_hash=pin_hash)
            await tx.create_accounts(user_accounts(user))
            credit = self._config.starting_credit_ngwee
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
                await apply_operation(tx, [transfer], lambda _i, _r: None)
            await tx.add_outbox(
                [notifications.sms(f"welcome:{user.id}", "user", user, notifications.WELCOME, credit=credit)]
            )
            return user

        return await self._store.atomic(work)

    async def find(self, phone: str) -> User | None:
        return await self._store.user_by_phone(phone)

    async def get(self, phone: str) -> User:
        user = await self._store.user_by_phone(phone)
        if user is None:
            raise UserNotFound("no user with that phone number")
        return user

    async def verify_pin(self, user: User, pin: str, *, retry: bool = False) -> User:
        """Check a PIN; wrong ones count in the database and lock money actions when too many.

        Raises :class:`PinLocked` while locked, :class:`WrongPin` (with
        ``attempts_left``) for a wrong PIN, and :class:`PinBusy`, with no
        attempt counted, when the KDF queue is too deep to answer in time
        (``retry``: their last PIN got that answer, so they may wait longer).
        """
        # A place in the KDF queue comes first: a caller refused as busy has
        # used none of their tries.
        with self.kdf.admit(self._pin_wait_s(retry)):
            now = self._clock.now_us()
            lock_until = now + self._config.pin_lock_seconds * MICROS_PER_SECOND
            # Count the attempt before checking it: concurrent guesses from many
            # sessions or processes can then never check more than the allowed tries.
            claimed = await self._store.atomic(
                lambda tx: tx.claim_pin_attempt(
                    user.id, max_failures=self._config.pin_max_failures, lock_until=lock_until, now_us=now
                )
            )
            if claimed is None:
                locked = await self._store.user_by_id(user.id)
                if locked is None:
                    raise UserNotFound("user vanished")
                raise PinLocked("too many wrong PINs", until_us=locked.pin_locked_until)
            # The slow hash runs off the event loop and outside any transaction.
            pepper = self._config.pin_pepper
            matches = await self.kdf.run(lambda: check_pin(pin, claimed.pin_hash, pepper=pepper))
        if matches:
            await self._store.atomic(lambda tx: tx.clear_pin_failures(claimed.id))
            return replace(claimed, pin_failures=0, pin_locked_until=0)
        if claimed.pin_locked_until > now:
            raise PinLocked("too many wrong PINs", until_us=claimed.pin_locked_until)
        raise WrongPin("wrong PIN", attempts_left=self._config.pin_max_failures - claimed.pin_failures)

    async def change_pin(self, user: User, *, old_pin: str, new_pin: str) -> User:
        validate_pin(new_pin)
        current = await self.verify_pin(user, old_pin)
        changed = replace(current, pin_hash=await self.hash_new_pin(new_pin))
        await self._store.atomic(lambda tx: tx.update_user(changed))
        return changed

    async def replace_pin(self, user: User, pin_hash: str) -> User:
        """Set a new PIN hash; callers must have checked the current PIN this session."""
        return await self._update(user, pin_hash=pin_hash)

    async def change_language(self, user: User, language: Language | str) -> User:
        lang = language if isinstance(language, Language) else parse_language(language)
        return await self._update(user, language=lang)

    async def rename(self, user: User, name: str) -> User:
        return await self._update(user, name=clean_name(name))

    async def _update(self, user: User, **changes: object) -> User:
        async def work(tx: Transaction) -> User:
            current = await tx.user_by_id(user.id)
            if current is None:
                raise UserNotFound("user vanished")
            changed = replace(current, **changes)  # type: ignore[arg-type]
            await tx.update_user(changed)
            return changed

        return await self._store.atomic(work)

    async def list(self, *, limit: int = 50, offset: int = 0) -> list[User]:
        return await self._store.list_users(limit=limit, offset=offset)

    async def counts(self) -> dict[str, int]:
        by_language = await self._store.count_users_by_language()
        return {"total": await self._store.count_users(), **{str(k): v for k, v in by_language.items()}}
