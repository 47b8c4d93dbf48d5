"""Mobile money on USSD, in English, Chinyanja and Ichibemba, over HTTP on both databases.

Deposit (4 replies from dialling), withdraw (5) and send money (6) from the
wallet menu; every screen compared with the catalog text the user should see,
money checked in the engine, SMS in the outbox and in the phone's inbox.
A refusal shows on the screen where the amount (or the number) was typed.
"""

from __future__ import annotations

import itertools

from engine.identity.model import User
from engine.notifications.model import OutboxRow
from engine.payments.model import Direction, Payment, PaymentState
from tests.e2e.conftest import LANGUAGES, World
from tests.e2e.journeys import MWILA, WRONG_PIN, choose, dial_home, lines
from tests.e2e.payments import HOLD_MS, mobile_money_user, provider_of, provider_rule, settled, today
from tests.support.gateway import Phone, reference_in
from tests.support.phones import unique_phone
from ussd_server.demo import DEMO_PIN
from ussd_server.gsm7 import gsm7_length
from ussd_server.i18n import Catalogs
from ussd_server.menu.reply import SCREEN_LIMIT

BEELINE = "+26098"  # a Zambian network no mobile-money provider of ours serves
ZAMTEL = "+26095"  # a network whose provider this app does not reach


def other_language(language: str) -> str:
    return LANGUAGES[(LANGUAGES.index(language) + 1) % len(LANGUAGES)]


async def outbox(world: World, phone: str, template: str) -> list[OutboxRow]:
    rows = await world.platform.store.outbox.list_outbox(recipient=phone, limit=100)
    return [r for r in rows if r.message.template == template]


async def payments_of(world: World, user: User) -> list[Payment]:
    return await world.platform.payments.history(user)


async def to_wallet(world: World, user: User, key: str) -> tuple[Phone, str]:
    """Dial, open the wallet, choose the option labelled ``key``: the phone and the screen it shows."""
    language = str(user.language)
    phone = await dial_home(world, user)
    await choose(world, phone, language, "home.balance")
    return phone, await choose(world, phone, language, key)


# --- deposit ---------------------------------------------------------------------------


async def deposit_journey(world: World, user: User, typed: str = "50") -> tuple[Phone, str]:
    """Wallet, Deposit, an amount: the phone and the END screen (4 replies from dialling)."""
    language = str(user.language)
    phone, reply = await to_wallet(world, user, "wallet.deposit")
    assert lines(reply) == [
        world.t(language, "deposit.amount", provider=provider_of(world, user)),
        world.t(language, "nav.back_home"),
    ], reply
    done = await phone.send(typed)
    assert len(phone.replies) == 4, phone.replies
    return phone, done


async def test_deposit_in_four_replies_credits_the_wallet_when_the_provider_confirms(
    world: World, language: str
) -> None:
    user = await mobile_money_user(world, language, "Mutale Chanda")
    before = await world.balances(user.phone)

    _, done = await deposit_journey(world, user)

    ref = reference_in(done)
    assert done == "END " + world.t(language, "deposit.done", ngwee=5000, ref=ref)
    [payment] = await payments_of(world, user)
    assert (payment.direction, payment.amount_ngwee, payment.reference) == (Direction.DEPOSIT, 5000, ref)
    assert (str(payment.provider), payment.msisdn) == (provider_of(world, user), user.phone)
    ended = await settled(world, payment.id)  # the simulator approves as the user's handset would
    assert ended.state is PaymentState.SUCCESSFUL, ended
    assert (await world.balances(user.phone)).ngwee == before.ngwee + 5000
    [row] = await outbox(world, user.phone, "sms.deposit_received")
    assert str(row.message.language) == language
    sms = await world.sms_containing(user.phone, ref[:5] + "-" + ref[5:])
    assert sms == world.t(language, "sms.deposit_received", **row.message.params)
    assert all(x in sms for x in ("K50.00", "K55.00", ended.provider_txn_id)), sms
    assert statement_line(world, language, "stmt.deposit", amount="+K50.00") in await read_statement(world, user)


async def test_a_deposit_not_yet_approved_credits_nothing(world: World, language: str) -> None:
    user = await mobile_money_user(world, language, "Mutale Chanda")
    await provider_rule(world, msisdn=user.phone, kind="collection", delay_ms=HOLD_MS)

    _, done = await deposit_journey(world, user, "20")

    assert done == "END " + world.t(language, "deposit.done", ngwee=2000, ref=reference_in(done))
    [payment] = await payments_of(world, user)
    assert not (await world.platform.payments.get(payment.id)).final
    assert (await world.balances(user.phone)).ngwee == 500, "nothing is credited before the provider says so"
    waiting = statement_line(world, language, "stmt.deposit_pending", amount="K20.00")
    assert waiting in await read_statement(world, user)


async def test_a_deposit_the_provider_refuses_is_told_by_sms(world: World, language: str) -> None:
    user = await mobile_money_user(world, language, "Mutale Chanda")
    await provider_rule(world, msisdn=user.phone, kind="collection", reason="NOT_ENOUGH_FUNDS")

    _, done = await deposit_journey(world, user)

    [payment] = await payments_of(world, user)
    assert (await settled(world, payment.id)).state is PaymentState.FAILED
    assert (await world.balances(user.phone)).ngwee == 500
    [row] = await outbox(world, user.phone, "sms.deposit_failed")
    sms = await world.sms_containing(user.phone, reference_in(done)[:5])
    assert sms == world.t(language, "sms.deposit_failed", **row.message.params)


async def test_deposit_over_a_limit_says_the_limit_on_the_amount_screen(world: World, language: str) -> None:
    user = await mobile_money_user(world, language, "Mutale Chanda")
    provider = provider_of(world, user)
    tier = world.platform.payments.config.tier(user.kyc_tier)
    phone, _ = await to_wallet(world, user, "wallet.deposit")

    reply = await phone.send(str(tier.per_transaction // 100 + 1))  # K1.00 over the most for one payment

    amount = world.t(language, "deposit.amount", provider=provider)
    limit = world.t(language, "err.limit_per_transaction", limit_ngwee=tier.per_transaction)
    assert lines(reply) == [limit, amount, world.t(language, "nav.back_home")], reply
    # Most of the day's limit used by deposits started elsewhere (pending ones count): what is left is said.
    used = tier.per_day - 2500
    for part in (tier.per_transaction, used - tier.per_transaction):
        await world.platform.payments.deposit(user, part)
    reply = await phone.send("30")
    daily = world.t(language, "err.limit_daily", limit_ngwee=tier.per_day, left_ngwee=2500)
    assert lines(reply) == [daily, amount, world.t(language, "nav.back_home")], reply
    assert "K25.00" in daily, daily
    done = await phone.send("25")
    assert done == "END " + world.t(language, "deposit.done", ngwee=2500, ref=reference_in(done))
    assert len(await payments_of(world, user)) == 3, "the refused amounts started nothing"


async def test_a_network_without_mobile_money_says_so_before_an_amount(world: World, language: str) -> None:
    # Zamtel (no provider adapter yet) and Beeline (none at all): nothing to type an amount for.
    for prefix in (ZAMTEL, BEELINE):
        number = prefix + unique_phone()[-7:]
        user = await world.platform.users.register(phone=number, name="Bupe Zulu", language=language, pin=DEMO_PIN)
        for key in ("wallet.deposit", "wallet.withdraw"):
            phone, reply = await to_wallet(world, user, key)
            assert lines(reply) == [world.t(language, "payments.unavailable"), world.t(language, "nav.back_home")]
            assert len(phone.replies) == 3, phone.replies
        assert await payments_of(world, user) == []


# --- withdraw --------------------------------------------------------------------------


async def withdraw_journey(world: World, user: User, typed: str, ngwee: int) -> str:
    """Wallet, Withdraw, an amount, the PIN: the END screen (5 replies from dialling)."""
    language, provider = str(user.language), provider_of(world, user)
    phone, reply = await to_wallet(world, user, "wallet.withdraw")
    have = (await world.balances(user.phone)).ngwee
    nav = world.t(language, "nav.back_home")
    assert lines(reply) == [world.t(language, "withdraw.amount", provider=provider, phone=user.phone, have=have), nav]
    reply = await phone.send(typed)
    confirm = world.t(language, "withdraw.confirm", pay_ngwee=ngwee, provider=provider, phone=user.phone)
    assert lines(reply) == [confirm, nav], reply
    done = await phone.send(DEMO_PIN)
    assert len(phone.replies) == 5, phone.replies
    assert done == "END " + world.t(
        language, "withdraw.done", ngwee=ngwee, provider=provider, phone=user.phone, ref=reference_in(done)
    )
    return done


async def test_withdraw_in_five_replies_reserves_the_amount_at_once(world: World, language: str) -> None:
    user = await mobile_money_user(world, language, "Chileshe Banda")
    await provider_rule(world, msisdn=user.phone, kind="disbursement", delay_ms=HOLD_MS)

    done = await withdraw_journey(world, user, "2.50", 250)

    [payment] = await payments_of(world, user)
    ref = reference_in(done)
    assert (payment.direction, payment.amount_ngwee, payment.reference) == (Direction.WITHDRAWAL, 250, ref)
    # Reserved at once, before the provider pays: no longer spendable, shown as reserved.
    b = await world.balances(user.phone)
    assert (b.ngwee, b.ngwee_reserved) == (250, 250)
    held = statement_line(world, language, "stmt.withdrawal_held", amount="-K2.50")
    assert held in await read_statement(world, user)


async def test_a_withdrawal_paid_out_is_told_by_sms(world: World, language: str) -> None:
    user = await mobile_money_user(world, language, "Chileshe Banda")

    done = await withdraw_journey(world, user, "2.50", 250)

    [payment] = await payments_of(world, user)
    ended = await settled(world, payment.id)
    assert ended.state is PaymentState.SUCCESSFUL, ended
    b = await world.balances(user.phone)
    assert (b.ngwee, b.ngwee_reserved) == (250, 0)
    [row] = await outbox(world, user.phone, "sms.withdrawal_paid")
    ref = reference_in(done)
    sms = await world.sms_containing(user.phone, ref[:5] + "-" + ref[5:])
    assert sms == world.t(language, "sms.withdrawal_paid", **row.message.params)
    assert statement_line(world, language, "stmt.withdrawal", amount="-K2.50") in await read_statement(world, user)


async def test_a_withdrawal_the_provider_refuses_gives_the_money_back(world: World, language: str) -> None:
    user = await mobile_money_user(world, language, "Chileshe Banda")
    await provider_rule(world, msisdn=user.phone, kind="disbursement", reason="PAYEE_LIMIT_REACHED")

    done = await withdraw_journey(world, user, "4", 400)

    [payment] = await payments_of(world, user)
    assert (await settled(world, payment.id)).state is PaymentState.FAILED
    b = await world.balances(user.phone)
    assert (b.ngwee, b.ngwee_reserved) == (500, 0), "the reservation is released"
    [row] = await outbox(world, user.phone, "sms.withdrawal_failed")
    sms = await world.sms_containing(user.phone, reference_in(done)[:5])
    assert sms == world.t(language, "sms.withdrawal_failed", **row.message.params)
    assert "K5.00" in sms, sms


async def test_a_withdrawal_with_a_wrong_pin_moves_nothing(world: World, language: str) -> None:
    user = await mobile_money_user(world, language, "Chileshe Banda")
    provider = provider_of(world, user)
    phone, _ = await to_wallet(world, user, "wallet.withdraw")
    await phone.send("3")

    reply = await phone.send(WRONG_PIN)

    assert reply.startswith("CON "), reply
    confirm = world.t(language, "withdraw.confirm", pay_ngwee=300, provider=provider, phone=user.phone)
    assert lines(reply)[:2] == [world.t(language, "err.wrong_pin", attempts_left=2), confirm], reply
    b = await world.balances(user.phone)
    assert (b.ngwee, b.ngwee_reserved) == (500, 0)
    assert await payments_of(world, user) == []
    # The right PIN on the same screen goes on; a replayed hop reserves nothing more.
    done = await phone.send(DEMO_PIN)
    assert done.startswith("END "), done
    assert await phone.resend() == done
    assert len(await payments_of(world, user)) == 1
    assert (await world.balances(user.phone)).ngwee == 200


async def test_withdrawing_more_than_the_wallet_holds_is_refused_before_the_pin(world: World, language: str) -> None:
    user = await mobile_money_user(world, language, "Chileshe Banda")
    provider = provider_of(world, user)
    phone, _ = await to_wallet(world, user, "wallet.withdraw")

    reply = await phone.send("6")

    amount = world.t(language, "withdraw.amount", provider=provider, phone=user.phone, have=500)
    assert lines(reply)[:2] == [world.t(language, "err.insufficient_funds", ngwee=500), amount], reply
    assert await payments_of(world, user) == []


# --- send money ------------------------------------------------------------------------


async def test_send_money_names_the_recipient_and_moves_money_with_receipts_to_both(
    world: World, language: str
) -> None:
    sender = await world.new_user(language, "Chola Mumba")
    recipient_language = other_language(language)
    recipient = await world.platform.users.change_language(await world.user(MWILA), recipient_language)
    sender_before, recipient_before = await world.balances(sender.phone), await world.balances(recipient.phone)
    nav = world.t(language, "nav.back_home")

    phone, reply = await to_wallet(world, sender, "wallet.send_money")
    assert lines(reply) == [world.t(language, "money.phone"), nav], reply
    reply = await phone.send("0977 123 456")
    assert recipient.short_name == "Mwila B."
    assert lines(reply) == [world.t(language, "money.amount", have=500, counterpart_name="Mwila B."), nav], reply
    reply = await phone.send("2")
    confirm = world.t(language, "money.confirm", pay_ngwee=200, counterpart_name="Mwila B.", counterpart=MWILA)
    assert lines(reply) == [confirm, nav], reply
    assert recipient.name not in reply, reply
    done = await phone.send(DEMO_PIN)

    assert len(phone.replies) == 6, phone.replies
    ref = reference_in(done)
    assert done == "END " + world.t(
        language, "money.done", counterpart_name="Mwila B.", ngwee=200, ref=ref, balance=sender_before.ngwee - 200
    )
    s, r = await world.balances(sender.phone), await world.balances(recipient.phone)
    assert (s.ngwee, r.ngwee) == (sender_before.ngwee - 200, recipient_before.ngwee + 200)
    assert (s.wh, r.wh) == (sender_before.wh, recipient_before.wh), "money only"
    [sent] = await outbox(world, sender.phone, "sms.money_sent")
    [received] = await outbox(world, recipient.phone, "sms.money_received")
    assert (str(sent.message.language), str(received.message.language)) == (language, recipient_language)
    shown = ref[:5] + "-" + ref[5:]
    assert await world.sms_containing(sender.phone, shown) == world.t(language, "sms.money_sent", **sent.message.params)
    recipient_sms = await world.sms_containing(recipient.phone, shown)
    assert recipient_sms == world.t(recipient_language, "sms.money_received", **received.message.params)
    assert all(x in recipient_sms for x in ("Chola M.", "K2.00")), recipient_sms
    # A replayed hop sends nothing more.
    assert await phone.resend() == done
    assert (await world.balances(sender.phone)).ngwee == sender_before.ngwee - 200
    # Both statements name the operation and the other person (a name shortened where the line is full).
    sent_lines = {
        statement_line(world, language, "stmt.money_out", name=n, amount="-K2.00") for n in ("Mwila B.", "Mwila")
    }
    assert sent_lines & set(await read_statement(world, sender))
    got_lines = {
        statement_line(world, recipient_language, "stmt.money_in", name=n, amount="+K2.00")
        for n in ("Chola M.", "Chola")
    }
    assert got_lines & set(await read_statement(world, recipient))


async def test_sending_to_a_number_without_an_account_is_refused_at_the_number(world: World, language: str) -> None:
    sender = await world.new_user(language, "Chola Mumba")
    stranger = unique_phone()
    phone, _ = await to_wallet(world, sender, "wallet.send_money")

    reply = await phone.send("0" + stranger[4:])

    reason = world.t(language, "err.counterparty_not_found", counterpart=stranger)
    assert lines(reply)[:2] == [reason, world.t(language, "money.phone")], reply
    reply = await phone.send("0" + sender.phone[4:])
    assert lines(reply)[:2] == [world.t(language, "err.self_trade"), world.t(language, "money.phone")], reply
    assert (await world.balances(sender.phone)).ngwee == 500


async def test_sending_more_than_the_wallet_holds_is_refused_before_the_pin(world: World, language: str) -> None:
    sender = await world.new_user(language, "Chola Mumba")
    phone, _ = await to_wallet(world, sender, "wallet.send_money")
    await phone.send("0977123456")

    reply = await phone.send("5.01")

    amount = world.t(language, "money.amount", have=500, counterpart_name="Mwila B.")
    assert lines(reply)[:2] == [world.t(language, "err.insufficient_funds", ngwee=500), amount], reply


# --- the wallet menu and the texts -------------------------------------------------------


async def test_the_wallet_menu_keeps_its_options_and_adds_mobile_money(world: World, language: str) -> None:
    user = await world.new_user(language, "Natasha Mwale")
    phone = await dial_home(world, user)

    reply = await choose(world, phone, language, "home.balance")

    keys = ("wallet.statement", "wallet.carbon", "wallet.deposit", "wallet.withdraw", "wallet.send_money")
    assert lines(reply) == [
        *world.t(language, "wallet.balance", ngwee=500, wh=0).split("\n"),
        *(f"{i} {world.t(language, key)}" for i, key in enumerate(keys, 1)),
        world.t(language, "nav.back_home"),
    ], reply


SMS_TEMPLATES = (
    "sms.deposit_received",
    "sms.deposit_failed",
    "sms.withdrawal_paid",
    "sms.withdrawal_failed",
    "sms.payment_delayed",
    "sms.money_sent",
    "sms.money_received",
)
# The longest values a payment's SMS can carry: tier 3's largest payment, a wallet at its cap,
# the longest provider name, a long short name and a provider transaction id of 20 characters.
LONGEST = {
    "ngwee": 5_000_000,
    "balance_ngwee": 50_000_000,
    "ref": "K7M3Q9XP2A",
    "provider": "zamtel",
    "provider_ref": "MP210603.1234.A12345",
    "reason": "INTERNAL_PROCESSING_ERROR",
    "counterpart": "+260971234567",
    "name": "Bartholomew K.",
    "shortcode": "*384*2025#",
}


def test_every_payment_sms_fits_one_message_in_every_language() -> None:
    catalogs = Catalogs.load()
    # Every wording: why a payment failed (0: in general), with or without the provider's reference.
    choices = [{"why": why, "has_provider_ref": ref} for why in range(6) for ref in (0, 1)]
    for language in LANGUAGES:
        for template, choice in itertools.product(SMS_TEMPLATES, choices):
            text = catalogs.render(language, template, {**LONGEST, **choice})
            assert "{" not in text, text
            assert gsm7_length(text) <= SCREEN_LIMIT, f"{language} {template}: {gsm7_length(text)}: {text}"
            assert all(shown in text for shown in ("K50,000.00", "K7M3Q-9XP2A")), text
            assert "zamtel" not in text, f"the provider is named as its brand: {text}"


# --- helpers -------------------------------------------------------------------------------


def statement_line(world: World, language: str, key: str, **params: object) -> str:
    return world.t(language, "statement.item", when=today(world), what=world.t(language, key, **params))


async def read_statement(world: World, user: User) -> list[str]:
    """The mini-statement's first page, as lines."""
    _, reply = await to_wallet(world, user, "wallet.statement")
    return lines(reply)
