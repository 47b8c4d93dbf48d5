"""Who uses the platform: a user, their language and the state of their PIN."""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.kernel.language import Language as Language  # re-exported: a user's language
from engine.ledger.accounts import USER_OWNER, WALLET_FLAGS
from engine.ledger.model import Account, AccountKind, Ledger

# pin_locked_until for a PIN locked until an operator resets it (far beyond any real date,
# well inside a 64-bit column).
LOCKED_UNTIL_RESET = 2**62


@dataclass(frozen=True, slots=True)
class User:
    id: int
    phone: str  # E.164, e.g. +260977123456
    name: str
    language: Language
    pin_hash: str = field(repr=False)
    pin_failures: int = 0  # wrong PINs since the last right one or the last lock
    pin_locked_until: int = 0  # microseconds since the epoch; 0 = not locked; LOCKED_UNTIL_RESET
    created_at: int = 0
    pin_failures_total: int = 0  # every wrong PIN ever (for operators)
    pin_lock_stage: int = 0  # locks since the last right PIN or reset: each lasts longer
    pin_must_change: bool = False  # the PIN is a one-time PIN from an operator reset
    hold_until: int = 0  # nothing leaves the wallet before this (after an operator reset)
    kyc_tier: int = 1  # how well we know who this is (1: a phone number and a name); sets payment limits

    @property
    def short_name(self) -> str:
        """First name and last initial (``Chipo P.``): what another user may see."""
        parts = self.name.split()
        if len(parts) < 2:
            return parts[0] if parts else ""
        return f"{parts[0]} {parts[-1][0]}."

    def locked_at(self, now_us: int) -> bool:
        return self.pin_locked_until > now_us

    @property
    def locked_until_reset(self) -> bool:
        return self.pin_locked_until >= LOCKED_UNTIL_RESET

    @property
    def zmw_account_id(self) -> str:
        return user_account_id(self.id, "ZMW")

    @property
    def kwh_account_id(self) -> str:
        return user_account_id(self.id, "KWH")


def user_account_id(user_id: int, ledger: str) -> str:
    return f"user:{user_id}:{ledger}"


def user_accounts(user: User) -> list[Account]:
    owner = f"{USER_OWNER}{user.id}"
    return [
        Account(user.zmw_account_id, Ledger.ZMW, AccountKind.USER_WALLET, owner=owner, flags=WALLET_FLAGS),
        Account(user.kwh_account_id, Ledger.KWH, AccountKind.USER_WALLET, owner=owner, flags=WALLET_FLAGS),
    ]


@dataclass(frozen=True, slots=True)
class PinProof:
    """The user's PIN was checked at ``issued_us``, by this process (see ``pin_state.ProofMint``).

    Services that need the owner's PIN take one; it cannot be made outside
    identity's :meth:`UserService.verify_pin`, and it expires within seconds.
    """

    user_id: int
    issued_us: int
    seal: bytes = field(repr=False)
