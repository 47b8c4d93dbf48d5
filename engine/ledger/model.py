"""Ledger value types, modelled on TigerBeetle's accounts and transfers.

An account lives on one ledger (ZMW in ngwee, KWH in Wh) and holds four
counters: debits/credits, each pending and posted. A transfer debits one
account and credits another on the same ledger. Transfers are immutable and
carry a caller-chosen id, which makes every write idempotent.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace


class Ledger(enum.StrEnum):
    ZMW = "ZMW"  # amounts in ngwee
    KWH = "KWH"  # amounts in Wh


class AccountKind(enum.StrEnum):
    USER_WALLET = "user_wallet"
    CLUSTER_TREASURY = "cluster_treasury"
    CLUSTER_POOL = "cluster_pool"
    ISSUANCE = "issuance"
    MOBILE_MONEY_CLEARING = "mobile_money_clearing"
    FEES = "fees"
    PROMOTIONS = "promotions"
    COOPERATIVE_FUND = "cooperative_fund"
    MARKET_ESCROW = "market_escrow"  # a cluster market's pass-through: reservations post in, fills pay out
    MARKET_ROUNDING = "market_rounding"  # the ngwee by which a fill's two sides round apart
    TEST = "test"


class AccountFlags(enum.IntFlag):
    NONE = 0
    DEBITS_MUST_NOT_EXCEED_CREDITS = 1
    CREDITS_MUST_NOT_EXCEED_DEBITS = 2


class TransferFlags(enum.IntFlag):
    NONE = 0
    LINKED = 1  # this transfer succeeds or fails together with the next one
    PENDING = 2  # reserve, to be posted or voided later
    POST_PENDING = 4
    VOID_PENDING = 8
    # Set only by the ledger itself when a pending transfer's timeout passed.
    EXPIRE_PENDING = 16


TWO_PHASE_FLAGS = (
    TransferFlags.PENDING | TransferFlags.POST_PENDING | TransferFlags.VOID_PENDING | TransferFlags.EXPIRE_PENDING
)
# Entries that settle nothing: a reservation, and its void or its expiry. What settles a
# reservation is its post, whose record carries the reservation's accounts and the amount
# posted; so counting every entry without these flags counts each settled movement once.
UNSETTLED_FLAGS = TransferFlags.PENDING | TransferFlags.VOID_PENDING | TransferFlags.EXPIRE_PENDING


class TransferCode(enum.IntEnum):
    """What a transfer is for; shown in histories and used for reporting."""

    GENERIC = 0
    STARTING_CREDIT = 1
    ENERGY_TRADE = 10  # kWh seller -> buyer
    ENERGY_PAYMENT = 11  # ZMW buyer -> seller
    TRADE_FEE = 12  # ZMW buyer -> fees
    ENERGY_GIFT = 13  # kWh sender -> receiver, nothing paid
    CLUSTER_ENERGY = 20  # kWh cluster pool -> user
    CLUSTER_PAYMENT = 21  # ZMW user -> cluster treasury
    CLUSTER_GENERATION = 22  # kWh issuance -> cluster pool
    DEPOSIT = 30
    WITHDRAWAL = 31
    MONEY_TRANSFER = 32
    COOP_CONTRIBUTION = 40  # ZMW member -> co-op treasury
    COOP_REFUND = 41  # ZMW co-op treasury -> a leaving member
    COOP_EQUIPMENT = 42  # ZMW co-op treasury -> a supply co-op's treasury
    COOP_SPEND = 43  # ZMW co-op treasury -> whoever a proposal pays (maintenance)
    MARKET_BID = 50  # ZMW buyer -> market escrow: reserved with the order, posted per fill
    MARKET_ASK = 51  # kWh seller -> market escrow: reserved with the order, posted per fill
    MARKET_ENERGY = 52  # kWh market escrow -> buyer
    MARKET_PAYMENT = 53  # ZMW market escrow -> seller
    MARKET_FEE = 54  # ZMW market escrow -> fees
    MARKET_ROUNDING = 55  # ZMW between market escrow and the rounding account
    EXPIRY = 90  # a pending reservation released by its timeout

    @classmethod
    def label(cls, code: int) -> str:
        """A readable name for any stored code, known or not."""
        try:
            return cls(code).name.lower()
        except ValueError:
            return f"code_{code}"


class PendingStatus(enum.StrEnum):
    PENDING = "pending"
    POSTED = "posted"
    VOIDED = "voided"
    EXPIRED = "expired"


class CreateAccountResult(enum.StrEnum):
    OK = "ok"
    EXISTS = "exists"
    EXISTS_WITH_DIFFERENT_FIELDS = "exists_with_different_fields"
    ID_MUST_NOT_BE_EMPTY = "id_must_not_be_empty"
    FLAGS_ARE_MUTUALLY_EXCLUSIVE = "flags_are_mutually_exclusive"


class CreateTransferResult(enum.StrEnum):
    OK = "ok"
    EXISTS = "exists"
    EXISTS_WITH_DIFFERENT_FIELDS = "exists_with_different_fields"
    LINKED_EVENT_FAILED = "linked_event_failed"
    LINKED_EVENT_CHAIN_OPEN = "linked_event_chain_open"
    ID_MUST_NOT_BE_EMPTY = "id_must_not_be_empty"
    ID_TOO_LONG = "id_too_long"
    FLAGS_ARE_MUTUALLY_EXCLUSIVE = "flags_are_mutually_exclusive"
    RESERVED_FLAG = "reserved_flag"
    AMOUNT_MUST_BE_POSITIVE = "amount_must_be_positive"
    AMOUNT_TOO_LARGE = "amount_too_large"
    ACCOUNTS_MUST_BE_DIFFERENT = "accounts_must_be_different"
    DEBIT_ACCOUNT_NOT_FOUND = "debit_account_not_found"
    CREDIT_ACCOUNT_NOT_FOUND = "credit_account_not_found"
    ACCOUNTS_MUST_HAVE_THE_SAME_LEDGER = "accounts_must_have_the_same_ledger"
    TRANSFER_MUST_HAVE_THE_SAME_LEDGER_AS_ACCOUNTS = "transfer_must_have_the_same_ledger_as_accounts"
    PENDING_ID_MUST_BE_EMPTY = "pending_id_must_be_empty"
    PENDING_ID_REQUIRED = "pending_id_required"
    PENDING_TRANSFER_NOT_FOUND = "pending_transfer_not_found"
    PENDING_TRANSFER_NOT_PENDING = "pending_transfer_not_pending"
    PENDING_TRANSFER_HAS_DIFFERENT_ACCOUNTS = "pending_transfer_has_different_accounts"
    PENDING_TRANSFER_HAS_DIFFERENT_LEDGER = "pending_transfer_has_different_ledger"
    PENDING_TRANSFER_ALREADY_POSTED = "pending_transfer_already_posted"
    PENDING_TRANSFER_ALREADY_VOIDED = "pending_transfer_already_voided"
    PENDING_TRANSFER_EXPIRED = "pending_transfer_expired"
    EXCEEDS_PENDING_TRANSFER_AMOUNT = "exceeds_pending_transfer_amount"
    PENDING_TRANSFER_HAS_DIFFERENT_AMOUNT = "pending_transfer_has_different_amount"
    TIMEOUT_RESERVED_FOR_PENDING_TRANSFER = "timeout_reserved_for_pending_transfer"
    TIMEOUT_MUST_NOT_BE_NEGATIVE = "timeout_must_not_be_negative"
    EXCEEDS_CREDITS = "exceeds_credits"
    EXCEEDS_DEBITS = "exceeds_debits"

    @property
    def applied(self) -> bool:
        """The transfer is in the ledger (now or from an earlier identical request)."""
        return self in (CreateTransferResult.OK, CreateTransferResult.EXISTS)


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    ledger: Ledger
    kind: AccountKind
    owner: str | None = None
    flags: AccountFlags = AccountFlags.NONE
    debits_pending: int = 0
    debits_posted: int = 0
    credits_pending: int = 0
    credits_posted: int = 0
    timestamp: int = 0

    @property
    def balance(self) -> int:
        """Posted credits minus posted debits (what a credit-normal wallet holds)."""
        return self.credits_posted - self.debits_posted

    @property
    def available(self) -> int:
        """What can still be spent: the balance less what is reserved by pending debits."""
        return self.credits_posted - self.debits_posted - self.debits_pending

    def same_definition(self, other: Account) -> bool:
        return (self.ledger, self.kind, self.owner, self.flags) == (
            other.ledger,
            other.kind,
            other.owner,
            other.flags,
        )

    def with_balances(self, dp: int, dpo: int, cp: int, cpo: int) -> Account:
        return replace(self, debits_pending=dp, debits_posted=dpo, credits_pending=cp, credits_posted=cpo)


@dataclass(frozen=True, slots=True)
class Transfer:
    """A transfer as a caller submits it.

    For ``POST_PENDING``/``VOID_PENDING`` the accounts and ledger may be left
    empty: they are taken from the pending transfer (given, they must match).
    A post with ``amount == 0`` posts the whole pending amount.
    """

    id: str
    debit_account_id: str = ""
    credit_account_id: str = ""
    amount: int = 0
    ledger: Ledger | None = None
    code: int = TransferCode.GENERIC
    flags: TransferFlags = TransferFlags.NONE
    pending_id: str | None = None
    timeout_s: int = 0
    reference: str = ""  # the human-friendly reference of the operation

    def request_fields(self) -> tuple[object, ...]:
        """The caller-supplied fields compared for idempotent retries.

        ``LINKED`` is left out: it says how a batch was sent, not what moved, so
        a chain member can be retried on its own.
        """
        return (
            self.debit_account_id,
            self.credit_account_id,
            self.amount,
            self.ledger,
            int(self.code),
            int(self.flags & ~TransferFlags.LINKED),
            self.pending_id,
            self.timeout_s,
            self.reference,
        )


@dataclass(frozen=True, slots=True)
class TransferRecord:
    """A transfer as applied: resolved fields plus its place in the hash chain."""

    id: str
    debit_account_id: str
    credit_account_id: str
    amount: int
    ledger: Ledger
    code: int
    flags: TransferFlags
    pending_id: str | None
    timeout_s: int
    reference: str
    timestamp: int
    seq: int = 0
    hash: str = ""
    # What the caller sent, so retries compare against the request, not the
    # resolved record (a post may omit accounts and amount).
    request_debit_account_id: str = ""
    request_credit_account_id: str = ""
    request_amount: int = 0
    request_ledger: Ledger | None = None

    def request_fields(self) -> tuple[object, ...]:
        return (
            self.request_debit_account_id,
            self.request_credit_account_id,
            self.request_amount,
            self.request_ledger,
            int(self.code),
            int(self.flags & ~TransferFlags.LINKED),
            self.pending_id,
            self.timeout_s,
            self.reference,
        )

    @property
    def settled(self) -> bool:
        """The entry moved posted balances: a single-phase transfer or the post of a reservation."""
        return not self.flags & UNSETTLED_FLAGS

    @property
    def expires_at(self) -> int | None:
        if not self.flags & TransferFlags.PENDING or self.timeout_s <= 0:
            return None
        return self.timestamp + self.timeout_s * 1_000_000


@dataclass(frozen=True, slots=True)
class PendingState:
    """The live state of a pending transfer."""

    transfer: TransferRecord
    status: PendingStatus

    @property
    def expires_at(self) -> int | None:
        return self.transfer.expires_at
