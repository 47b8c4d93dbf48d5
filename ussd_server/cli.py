"""``enerlectra``: the management command line.

enerlectra db migrate            apply database migrations
enerlectra ledger verify         recompute the hash chain and balances (exit 1 on any break)
enerlectra ledger expire         release pending transfers whose timeout passed
enerlectra demo seed             load demo clusters, users and co-ops with their history (idempotent)
enerlectra user show PHONE       one user's profile, balances and last transactions
enerlectra user list             users, oldest first
enerlectra user reset-pin PHONE  send a one-time PIN by SMS (changed on the next dial; outflows held 24 h)
enerlectra stats                 users, clusters and platform carbon savings
enerlectra ussd funnel           how USSD sessions ended, per last screen (drop-off)
enerlectra menus lint            check menu trees and catalogs (exit 1 naming every problem)
enerlectra menus graph           print the menu tree as a Mermaid diagram
enerlectra user tier PHONE N     set a user's KYC tier (1-3: their payment limits)
enerlectra payments review|show|recheck|resolve|reconcile|limits   mobile money (see ussd_server/payments/commands.py)
enerlectra momo-sim [--port N]   serve the mobile-money provider simulator (MTN and Airtel APIs)
enerlectra api-key create NAME --scope SCOPE   a REST API key (admin, partner, read); its secret shown once
enerlectra api-key list          API keys (never their secrets)
enerlectra api-key revoke KEY_ID refuse a key from its next request on
enerlectra coop list|show|verify|catalog    co-ops (see ussd_server/coops/commands.py)
enerlectra scheduler status|run|retry        due work: proposals' deadlines, refunds (ussd_server/scheduler/commands.py)
enerlectra prices explain|show|tariff|tariff-set CLUSTER   a cluster's price and why, its history, its tariffs
enerlectra market book|trades CLUSTER        a cluster's order book and trades (ussd_server/markets/commands.py)
enerlectra serve                 run the HTTP server
enerlectra settings              every setting with its default and meaning (the README's Markdown table)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

from engine.energy.carbon import format_kg, format_tenths
from engine.kernel.errors import EnerlectraError
from engine.kernel.phones import local_format, mask_phone
from engine.kernel.references import format_reference
from engine.kernel.units import format_energy, format_money, format_price
from engine.ledger.model import Ledger, TransferCode
from engine.platform import Platform
from ussd_server.api import key_commands as api_key_commands
from ussd_server.bootstrap import open_platform
from ussd_server.coops import commands as coop_commands
from ussd_server.kdf_pool import kdf_pool_for_this_machine
from ussd_server.markets import commands as market_commands
from ussd_server.payments import commands as payment_commands
from ussd_server.payments.providers import open_providers
from ussd_server.phones import parse_zambian_mobile
from ussd_server.scheduler import commands as scheduler_commands
from ussd_server.settings import Settings, SettingsError, settings_table

Command = Callable[[Platform, argparse.Namespace], Awaitable[int]]


def _when(us: int) -> str:
    return datetime.fromtimestamp(us / 1_000_000, UTC).strftime("%Y-%m-%d %H:%M")


async def cmd_verify(platform: Platform, _args: argparse.Namespace) -> int:
    report = await platform.verify_ledger()
    if report.ok:
        print(f"ledger OK: {report.entries} entries, {report.accounts} accounts, chain and balances verified")
        return 0
    if report.first_bad_seq is not None:
        print(f"ledger BROKEN: first bad entry seq={report.first_bad_seq} id={report.first_bad_id!r}")
    else:
        print("ledger BROKEN")
    for problem in report.problems:
        print(f"  - {problem}")
    return 1


async def cmd_expire(platform: Platform, _args: argparse.Namespace) -> int:
    print(f"released {await platform.expire_reservations()} expired reservations")
    return 0


async def cmd_seed(platform: Platform, args: argparse.Namespace) -> int:
    from ussd_server.demo import DEMO_PIN, seed_demo, seed_everything

    # Demo users have a published PIN and free energy: never in a real database.
    settings = Settings.from_env()
    if not settings.dev_mode:
        print("enerlectra demo seed runs only in dev mode (ENERLECTRA_ENV=dev); nothing was changed", file=sys.stderr)
        return 1
    if args.basic:  # no co-op history, which takes seconds (tests and drills that need none)
        made = await seed_demo(platform)
        print(f"demo data ready: {made['clusters']} new clusters, {made['users']} new users (demo PIN {DEMO_PIN})")
        return 0
    made = await seed_everything(platform, settings)
    print(f"demo data ready: {made['clusters']} new clusters, {made['users']} new users (demo PIN {DEMO_PIN})")
    print(f"demo co-ops: {made['coops']} new (with six weeks of history), {made['members']} new members")
    if "price_rows" in made:
        print(
            f"demo market: {made['price_rows']} new price rows (three weeks per cluster), "
            f"{made['orders']} new orders, {made['trades']} trades"
        )
    return 0


async def cmd_user_show(platform: Platform, args: argparse.Namespace) -> int:
    user = await platform.users.get(parse_zambian_mobile(args.phone))
    balances = await platform.wallet.balances(user)
    carbon = await platform.carbon.for_user(user)
    print(f"{user.name}  {user.phone} ({local_format(user.phone)})  language={user.language}  id={user.id}")
    now = platform.clock.now_us()
    print(
        f"  registered {_when(user.created_at)}; wrong PINs {user.pin_failures} now, {user.pin_failures_total} ever",
        end="",
    )
    if user.locked_until_reset:
        print("; PIN locked until an operator resets it (enerlectra user reset-pin)")
    elif user.locked_at(now):
        print(f"; PIN locked until {_when(user.pin_locked_until)} UTC")
    else:
        print()
    if user.pin_must_change:
        print("  one-time PIN from a reset: must be changed on the next dial")
    if user.hold_until > now:
        print(f"  sending and paying held until {_when(user.hold_until)} UTC (after a PIN reset)")
    print(
        f"  balance {format_money(balances.ngwee)}  energy {format_energy(balances.wh)}"
        f"  (reserved {format_money(balances.ngwee_reserved)})  KYC tier {user.kyc_tier}"
    )
    for payment in await platform.payments.history(user, limit=args.history):
        print(f"  {payment_commands.summary(payment)}")
    print(f"  carbon saved {format_kg(carbon.co2_grams)} CO2 ({format_tenths(carbon.trees_tenths)} trees)")
    page = await platform.wallet.history(user, limit=args.history)
    for e in page.entries:
        amount = format_money(e.amount) if e.ledger is Ledger.ZMW else format_energy(e.amount)
        code = TransferCode.label(e.code)
        print(f"  {_when(e.timestamp)}  {format_reference(e.reference):12} {code:18} {amount:>14}")
    return 0


async def cmd_reset_pin(platform: Platform, args: argparse.Namespace) -> int:
    """A locked or forgetful user's way back: a one-time PIN by SMS, to be changed on the next dial."""
    user = await platform.users.get(parse_zambian_mobile(args.phone))
    reset = await platform.users.reset_pin(user)
    print(
        f"{mask_phone(reset.phone)}: one-time PIN queued by SMS (never shown here); it must be changed on the "
        f"next dial; sending and paying are held until {_when(reset.hold_until)} UTC"
    )
    return 0


async def cmd_user_list(platform: Platform, args: argparse.Namespace) -> int:
    for user in await platform.users.list(limit=args.limit, offset=args.offset):
        print(f"{user.id:>6}  {user.phone}  {user.language:3}  {user.name}")
    counts = await platform.users.counts()
    print(f"{counts['total']} users: " + ", ".join(f"{k}={v}" for k, v in counts.items() if k != "total"))
    return 0


async def cmd_funnel(platform: Platform, _args: argparse.Namespace) -> int:
    rows = await platform.ussd_funnel()
    print(f"{'last screen':24} {'sessions':>8} {'completed':>9} {'dropped':>8}")
    for row in rows:
        print(f"{row.screen or '-':24} {row.sessions:>8} {row.completed:>9} {row.dropped:>8}")
    return 0


async def cmd_stats(platform: Platform, _args: argparse.Namespace) -> int:
    counts = await platform.users.counts()
    carbon = await platform.carbon.platform()
    print(f"users: {counts['total']}")
    for view in await platform.clusters.list():
        c = view.cluster
        print(
            f"cluster {c.id:24} {c.region:11} {c.kind:13} {format_price(c.price_ngwee_per_kwh):>12}"
            f"  available {format_energy(view.available_wh)} of {format_energy(c.capacity_wh)}"
        )
    print(
        f"renewable energy delivered {format_energy(carbon.renewable_wh)}: {format_kg(carbon.co2_grams)} CO2 saved"
        f" = {format_tenths(carbon.trees_tenths)} trees, {carbon.car_km:,} km of driving"
    )
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="enerlectra", description="Enerlectra management commands")
    sub = parser.add_subparsers(dest="group", required=True)
    db = sub.add_parser("db", help="database").add_subparsers(dest="action", required=True)
    db.add_parser("migrate", help="apply migrations")
    ledger = sub.add_parser("ledger", help="ledger audits").add_subparsers(dest="action", required=True)
    ledger.add_parser("verify", help="verify hash chain and balances")
    ledger.add_parser("expire", help="release expired reservations")
    demo = sub.add_parser("demo", help="demo data").add_subparsers(dest="action", required=True)
    seed = demo.add_parser("seed", help="load demo clusters, users and co-ops with their history")
    seed.add_argument("--basic", action="store_true", help="clusters and users only (no co-ops: seconds faster)")
    user = sub.add_parser("user", help="users").add_subparsers(dest="action", required=True)
    show = user.add_parser("show", help="show one user")
    show.add_argument("phone")
    show.add_argument("--history", type=int, default=10)
    reset = user.add_parser("reset-pin", help="send a one-time PIN by SMS")
    reset.add_argument("phone")
    payment_commands.add_user_parser(user)
    listing = user.add_parser("list", help="list users")
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--offset", type=int, default=0)
    sub.add_parser("stats", help="platform statistics")
    ussd = sub.add_parser("ussd", help="USSD analytics").add_subparsers(dest="action", required=True)
    ussd.add_parser("funnel", help="how sessions ended, per last screen")
    menus = sub.add_parser("menus", help="menu trees").add_subparsers(dest="action", required=True)
    menus.add_parser("lint", help="check menu trees and catalogs")
    menus.add_parser("graph", help="print a Mermaid diagram of the menu tree")
    api_key_commands.add_parser(sub)
    payment_commands.add_parser(sub)
    coop_commands.add_parser(sub)
    scheduler_commands.add_parser(sub)
    market_commands.add_parser(sub)
    momo = sub.add_parser("momo-sim", help="serve the mobile-money provider simulator")
    momo.add_argument("args", nargs=argparse.REMAINDER, help="its options (see `enerlectra momo-sim --help`)")
    sub.add_parser("serve", help="run the HTTP server")
    sub.add_parser("settings", help="print every setting, its default and meaning (Markdown)")
    return parser


COMMANDS: dict[tuple[str, str | None], Command] = {
    ("ledger", "verify"): cmd_verify,
    ("ledger", "expire"): cmd_expire,
    ("demo", "seed"): cmd_seed,
    ("user", "show"): cmd_user_show,
    ("user", "list"): cmd_user_list,
    ("user", "reset-pin"): cmd_reset_pin,
    ("stats", None): cmd_stats,
    ("ussd", "funnel"): cmd_funnel,
    **api_key_commands.COMMANDS,
    **payment_commands.COMMANDS,
    **coop_commands.COMMANDS,
    **scheduler_commands.COMMANDS,
    **market_commands.COMMANDS,
}


async def _run(settings: Settings, args: argparse.Namespace) -> int:
    migrate = (args.group, getattr(args, "action", None)) == ("db", "migrate")
    kdf_pool = kdf_pool_for_this_machine(settings.pin_kdf_threads)
    try:
        async with open_providers(settings, embedded=False) as mobile_money:  # `payments recheck` asks them
            platform = await open_platform(settings, hasher=kdf_pool, migrate=migrate, providers=mobile_money.providers)
            try:
                if migrate:
                    print(f"database migrated ({platform.backend})")
                    return 0
                return await COMMANDS[(args.group, getattr(args, "action", None))](platform, args)
            finally:
                await platform.close()
    finally:
        kdf_pool.close()


def menus_command(action: str) -> int:
    """Menu checks need no database: they run before anything is opened."""
    from ussd_server.app import build_runtime
    from ussd_server.menu.tree import MenuError, mermaid

    try:
        runtime, _ = build_runtime()
    except MenuError as exc:
        for problem in exc.problems:
            print(problem)
        print(f"{len(exc.problems)} problems")
        return 1
    if action == "graph":
        print(mermaid(runtime.tree.tree))
        return 0
    files = len(runtime.tree.files)
    print(f"menus OK: {files} files ({len(runtime.screens)} screens) and catalogs for en, ny, bem")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:
        # The reader went away (`enerlectra user show ... | head`): stop quietly, like other tools.
        # stdout is pointed at /dev/null so the interpreter's final flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, as a shell reports a command ended by a broken pipe


def _main(argv: Sequence[str] | None) -> int:
    args = _parser().parse_args(argv)
    if args.group == "settings":
        # What can be set, not what is: works before (and whatever) the environment is set.
        print(settings_table(), end="")
        return 0
    if args.group == "momo-sim":
        # Imported here: the simulator is a development tool, never loaded by the server in production.
        from simulator.momo import main as momo_sim

        return momo_sim(args.args)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.group == "menus":
        return menus_command(args.action)
    if args.group == "serve":
        from ussd_server.app import serve

        serve(settings)
        return 0
    try:
        return asyncio.run(_run(settings, args))
    except EnerlectraError as exc:
        print(f"error [{exc.code}]: {exc.detail}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
