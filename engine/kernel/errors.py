"""One error hierarchy for the whole platform.

Every error carries a stable ``code`` (for logs, APIs and the menu router) and
a ``message_key`` (for the message catalogs), plus named ``params`` that a
catalog may interpolate. Only the entry points (USSD, CLI) turn them into text.
"""

from __future__ import annotations

from typing import Any, ClassVar


class EnerlectraError(Exception):
    """Base of every error the engine raises on purpose."""

    code: ClassVar[str] = "error"

    def __init__(self, detail: str = "", **params: Any) -> None:
        self.detail = detail or self.code
        self.params: dict[str, Any] = params
        super().__init__(self.detail)

    @property
    def message_key(self) -> str:
        return f"error.{self.code}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, detail={self.detail!r})"


# --- bad input -------------------------------------------------------------


class InvalidInput(EnerlectraError):
    code = "invalid_input"


class InvalidAmount(InvalidInput):
    code = "invalid_amount"


class AmountNotPositive(InvalidAmount):
    code = "amount_not_positive"


class TooManyDecimals(InvalidAmount):
    code = "too_many_decimals"


class AmbiguousAmount(InvalidAmount):
    code = "ambiguous_amount"


class AmountTooLarge(InvalidAmount):
    code = "amount_too_large"


class InvalidPhoneNumber(InvalidInput):
    code = "invalid_phone"


class InvalidPinFormat(InvalidInput):
    code = "invalid_pin_format"


class WeakPin(InvalidPinFormat):
    code = "weak_pin"


class InvalidName(InvalidInput):
    code = "invalid_name"


class UnsupportedLanguage(InvalidInput):
    code = "unsupported_language"


class InvalidPrice(InvalidInput):
    code = "invalid_price"


class AmountTooSmall(InvalidAmount):
    """Too little to be worth a ngwee at the going price."""

    code = "amount_too_small"


class InvalidCluster(InvalidInput):
    code = "invalid_cluster"


class InvalidBylaws(InvalidInput):
    code = "invalid_bylaws"  # A bylaw out of its range or of the wrong kind (``bylaw`` names it).


class InvalidProposal(InvalidInput):
    code = "invalid_proposal"  # A proposal that does not say what it needs (``field`` names what is missing or wrong).


class InvalidChoice(InvalidInput):
    code = "invalid_choice"  # A vote that is not 1 Yes, 2 No or 3 Abstain.


class SelfTrade(InvalidInput):
    code = "self_trade"


class BatchTooLarge(InvalidInput):
    code = "batch_too_large"


class InvalidRequest(InvalidInput):
    """A request that does not have the form its entry point's contract describes (nothing was looked at)."""

    code = "invalid_request"


class IdempotencyKeyMissing(InvalidRequest):
    """An operation that moves money or energy came without the key that makes a retry safe."""

    code = "idempotency_key_missing"


class IdempotencyKeyReused(InvalidInput):
    """An idempotency key already used by this caller for a different request."""

    code = "idempotency_key_reused"


# --- not found / conflicts --------------------------------------------------


class NotFound(EnerlectraError):
    code = "not_found"


class UserNotFound(NotFound):
    code = "user_not_found"


class CounterpartyNotFound(NotFound):
    code = "counterparty_not_found"


class ClusterNotFound(NotFound):
    code = "cluster_not_found"


class OfferNotFound(NotFound):
    code = "offer_not_found"


class TransactionNotFound(NotFound):
    code = "transaction_not_found"


class ApiKeyNotFound(NotFound):
    code = "api_key_not_found"


class PaymentNotFound(NotFound):
    code = "payment_not_found"


class CoopNotFound(NotFound):
    code = "coop_not_found"


class ProposalNotFound(NotFound):
    code = "proposal_not_found"


class CatalogItemNotFound(NotFound):
    code = "catalog_item_not_found"


class Conflict(EnerlectraError):
    code = "conflict"


class AlreadyRegistered(Conflict):
    code = "already_registered"


class ClusterExists(Conflict):
    code = "cluster_exists"


class IdempotencyConflict(Conflict):
    """The same operation id was used before with different details."""

    code = "idempotency_conflict"


class IdempotencyKeyInProgress(Conflict):
    """The first request with this idempotency key has not finished yet: retry later."""

    code = "idempotency_key_in_progress"


# --- refusals by the rules ---------------------------------------------------


class Refused(EnerlectraError):
    code = "refused"


class InsufficientFunds(Refused):
    code = "insufficient_funds"


class InsufficientEnergy(Refused):
    code = "insufficient_energy"


class BuyerInsufficientFunds(Refused):
    """The buyer in a seller-initiated trade cannot pay."""

    code = "buyer_insufficient_funds"


class ClusterCapacityShort(Refused):
    code = "cluster_capacity_short"


class OfferExpired(Refused):
    code = "offer_expired"


class OfferClosed(Refused):
    """The offer was accepted or declined already."""

    code = "offer_closed"


class WrongPin(Refused):
    code = "wrong_pin"


class PinLocked(Refused):
    """Too many wrong PINs: ``until_us`` says when it lifts (``until_reset``: only an operator can lift it)."""

    code = "pin_locked"


class PinNotVerified(Refused):
    """A change that needs a freshly checked PIN came without one (or with a stale or foreign proof)."""

    code = "pin_not_verified"


class PinChangeRequired(Refused):
    """The PIN is a one-time PIN from an operator reset: choose a new one first."""

    code = "pin_change_required"


class OutflowHeld(Refused):
    """Nothing may leave this wallet yet (``until_us``): the PIN was reset by an operator recently."""

    code = "outflow_held"


class Limited(Refused):
    """A limit on how often something may be done is used up until later (``retry_after_s`` or ``until_us``)."""

    code = "limited"


class PaymentLimitReached(Limited):
    """An amount over the user's KYC tier: ``kind`` (per_transaction, daily, monthly, balance,
    recipient_balance), ``limit_ngwee`` and ``left_ngwee`` (what may still move)."""

    code = "payment_limit"


class ProviderUnavailable(Refused):
    """No mobile-money provider we can reach serves this number (``provider`` names the one it would be)."""

    code = "provider_unavailable"


class PaymentNotFinal(Refused):
    """An operator tried to resolve a payment that has already ended (``state``)."""

    code = "payment_final"


class DailyLimitReached(Limited):
    """A per-user daily cap (``kind``: gifts, offers, lookups) is used up until ``until_us``."""

    code = "daily_limit"


class BelowMinimum(Refused):
    """Smaller than the smallest gift or offer (``min_wh``)."""

    code = "below_minimum"


class TooManyOpenOffers(Refused):
    """This seller already has as many open offers to this buyer as allowed (``max``)."""

    code = "too_many_open_offers"


class PinChecksLimited(Limited):
    """This phone used its PIN checks for the minute (``retry_after_s``); nothing was checked or counted."""

    code = "pin_rate_limited"


class SignInsLimited(Limited):
    """Too many failed sign-ins from this address for the minute (``retry_after_s``)."""

    code = "sign_in_limited"


class NotAMember(Refused):
    code = "not_a_member"  # only a current member may do this (``needs``: full, where only full members may)


class AlreadyMember(Refused):
    code = "already_member"  # The user is in this co-op's register already (``state``).


class CoopNotActive(Refused):
    code = "coop_not_active"  # The co-op has fewer full members than its bylaws need (``needed``) to decide anything.


class ContributionOutOfRange(Refused):
    code = "contribution_out_of_range"  # over the maximum, or late and short of the minimum (most_ngwee, least_ngwee)


class VotingClosed(Refused):
    code = "voting_closed"  # Voting on this proposal has not opened yet or is over (``state``).


class NotInElectorate(Refused):
    code = "not_in_electorate"  # The member was not a full member when the proposal was made, so does not vote on it.


class TooManyOpenProposals(Refused):
    code = "too_many_open_proposals"  # This member already has as many open proposals as allowed (``max``).


class ProposalNotCancellable(Refused):
    code = "proposal_not_cancellable"  # Only its proposer may cancel a proposal, and only before voting opens.


class LedgerRejected(Refused):
    """A ledger rule refused a transfer the service did not expect to fail."""

    code = "ledger_rejected"


# --- who is asking ------------------------------------------------------------


class Unauthenticated(EnerlectraError):
    """No credential, or one that is unknown, expired or revoked."""

    code = "unauthenticated"


class InvalidCredentials(Unauthenticated):
    """Signing in with a number that has no account (a wrong PIN is :class:`WrongPin`)."""

    code = "invalid_credentials"


class Forbidden(EnerlectraError):
    """A known caller asking for something its credential does not allow (``needs``: the scopes that would)."""

    code = "forbidden"


# --- momentarily unable ----------------------------------------------------


class Busy(EnerlectraError):
    """The platform cannot take this request right now; nothing was done, so trying again is safe."""

    code = "busy"


class PinBusy(Busy):
    """PIN checks are queued too deep to answer within the gateway's deadline; no attempt was counted."""

    code = "pin_busy"


# --- integrity --------------------------------------------------------------


class IntegrityError(EnerlectraError):
    """Stored data contradicts itself (e.g. a broken hash chain)."""

    code = "integrity"
