"""``enerlectra coop ...``: operators look at co-ops, check their governance logs, keep suppliers' catalogs.

enerlectra coop list [--region R]             co-ops, by region: state, members, treasury, open proposals
enerlectra coop show ID                        one co-op: summary, bylaws, top members, open proposals (a
                                               supply co-op's catalog too)
enerlectra coop verify [ID]                    every co-op's (or one's) governance log chain, and every tally
                                               recounted from the votes and from the log (exit 1 on any break)
enerlectra coop catalog SUPPLIER ITEM NAME PRICE_K [CAPACITY_WH]
                                               add or change an item a supply co-op sells at its bulk price
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from engine.coops.model import CatalogItem, Cooperative, Proposal, ProposalState, Region, Role, Tally
from engine.energy.model import ClusterKind
from engine.kernel.clock import MICROS_PER_SECOND
from engine.kernel.errors import InvalidInput
from engine.kernel.units import format_energy, format_money, parse_money
from engine.platform import Platform
from ussd_server.coops.describe import bylaws_lines, payload_text

Command = Callable[[Platform, argparse.Namespace], Awaitable[int]]
PAGE = 200


def _when(us: int) -> str:
    return datetime.fromtimestamp(us / MICROS_PER_SECOND, UTC).strftime("%Y-%m-%d %H:%M UTC") if us else "-"


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    coop = sub.add_parser("coop", help="energy co-operatives").add_subparsers(dest="action", required=True)
    listing = coop.add_parser("list", help="co-ops, by region")
    listing.add_argument("--region", choices=[r.value for r in Region])
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--offset", type=int, default=0)
    show = coop.add_parser("show", help="one co-op: summary, bylaws, members, open proposals")
    show.add_argument("coop_id")
    show.add_argument("--members", type=int, default=10, help="how many members to list (most shares first)")
    verify = coop.add_parser("verify", help="check governance logs and recount every tally (exit 1 on any break)")
    verify.add_argument("coop_id", nargs="?", help="one co-op (default: every co-op)")
    catalog = coop.add_parser("catalog", help="add or change an item of a supply co-op's catalog")
    catalog.add_argument("supplier", help="the supply co-op's id")
    catalog.add_argument("item", help="a short slug, e.g. panel-450w")
    catalog.add_argument("name", help="what members see, e.g. '450 W solar panel'")
    catalog.add_argument("price", help="the bulk price in Kwacha, e.g. 2350 or 2350.00")
    catalog.add_argument("capacity_wh", nargs="?", type=int, default=0, help="Wh a generation cycle adds (panels)")


async def every_coop(platform: Platform) -> list[Cooperative]:
    coops: list[Cooperative] = []
    while page := await platform.coops.find(limit=PAGE, offset=len(coops)):
        coops += page
        if len(page) < PAGE:
            break
    return coops


async def list_coops(platform: Platform, args: argparse.Namespace) -> int:
    coops = await platform.coops.find(region=args.region, limit=args.limit, offset=args.offset)
    if not coops:
        print("no co-ops" + (f" in {args.region}" if args.region else ""))
        return 0
    print(f"{'id':28} {'name':32} {'kind':13} {'region':10} {'state':8} {'members':>9} {'treasury':>14} {'open':>4}")
    for coop in coops:
        summary = await platform.coops.summary(coop.id)
        full = f"{coop.full_members}/{coop.bylaws.min_members}"
        print(
            f"{coop.id:28} {coop.name:32} {coop.kind:13} {coop.region:10} {coop.state:8} {full:>9}"
            f" {format_money(summary.treasury_ngwee):>14} {summary.open_proposals:>4}"
        )
    print(f"{_coops(len(coops))} (members: full members / the bylaws' minimum to be active)")
    return 0


def tally_text(tally: Tally | None, proposal: Proposal) -> str:
    if tally is None:
        return f"results hidden until the close ({proposal.tally.voters}/{proposal.electorate_size} voted)"
    return (
        f"yes {tally.yes}, no {tally.no}, abstain {tally.abstain} ({tally.voters}/{proposal.electorate_size} voted,"
        f" quorum {proposal.quorum_pct}%)"
    )


async def show(platform: Platform, args: argparse.Namespace) -> int:
    summary = await platform.coops.summary(args.coop_id)
    coop = summary.coop
    print(f"{coop.name}  ({coop.id})  {coop.kind} co-op in {coop.region}, {coop.state}")
    print(
        f"  formed {_when(coop.created_at_us)}; {summary.members} members, {coop.full_members} full"
        f" (active from {coop.bylaws.min_members}); treasury {format_money(summary.treasury_ngwee)};"
        f" energy available {format_energy(summary.energy_available_wh)}"
    )
    print("bylaws")
    for line in bylaws_lines(coop.bylaws):
        print(f"  {line}")
    members = await platform.coops.members(coop.id, limit=max(args.members, 0))
    print(f"members (most shares first, {len(members)} of {summary.members})")
    for member in members:
        user = await platform.users.find(member.phone)
        name = user.name if user else "?"
        role = "" if member.role is Role.MEMBER else f" {member.role}"
        print(
            f"  {name:24} {member.phone}  {member.state:8}{role:10} {member.shares:>4} shares"
            f"  paid {format_money(member.contributed_ngwee):>12}"
            + (f"  refunded {format_money(member.refunded_ngwee)}" if member.refunded_ngwee else "")
        )
    proposals = await platform.governance.proposals(coop.id, open_only=True, limit=50)
    print(f"open proposals ({len(proposals)})")
    for proposal in proposals:
        print(f"  {proposal.number}  {proposal.kind:13} {proposal.state:9} {payload_text(proposal)}")
        if proposal.state in (ProposalState.PENDING, ProposalState.ACTIVE):
            print(f"         voting {_when(proposal.vote_start_us)} - {_when(proposal.vote_end_us)}")
        elif proposal.eta_us:
            failed = f" (last try failed: {proposal.failure})" if proposal.failure else ""
            print(f"         executes {_when(proposal.eta_us)}{failed}")
        print(f"         {tally_text(platform.governance.visible_tally(proposal), proposal)}")
    if coop.kind == ClusterKind.SUPPLY:
        items = await platform.coops.catalog(coop.id)
        print(f"catalog ({len(items)} items, bulk prices)")
        for item in items:
            adds = f"  adds {format_energy(item.capacity_wh)} a cycle" if item.capacity_wh else ""
            print(f"  {item.item_id:20} {item.name:32} {format_money(item.price_ngwee):>12}{adds}")
    return 0


async def verify(platform: Platform, args: argparse.Namespace) -> int:
    coops = [await platform.coops.get(args.coop_id)] if args.coop_id else await every_coop(platform)
    broken = entries = recounted = 0
    for coop in coops:
        chain_break, recounts = await platform.governance.verify(coop.id)
        problems = []
        if chain_break is not None:
            problems.append(f"governance log broken at entry seq={chain_break.seq}: {chain_break.why}")
        for r in recounts:
            if not r.agrees:
                problems.append(
                    f"proposal {r.proposal_id}: stored tally {_t(r.stored)}, recounted from votes {_t(r.from_votes)},"
                    f" from the log {_t(r.from_log)}"
                )
        entries += coop.audit_seq
        recounted += len(recounts)
        if problems:
            broken += 1
            print(f"coop {coop.id} BROKEN")
            for problem in problems:
                print(f"  - {problem}")
        else:
            print(f"coop {coop.id} OK: {coop.audit_seq} log entries chained, {len(recounts)} tallies recounted")
    if broken:
        print(f"co-ops BROKEN: {broken} of {len(coops)}")
        return 1
    print(f"co-ops OK: {_coops(len(coops))}, {entries} log entries, {recounted} tallies agree with votes and log")
    return 0


def _coops(n: int) -> str:
    return f"{n} co-op{'' if n == 1 else 's'}"


def _t(tally: Tally) -> str:
    return f"{tally.yes}/{tally.no}/{tally.abstain} ({tally.voters} voters)"


async def catalog(platform: Platform, args: argparse.Namespace) -> int:
    if args.capacity_wh < 0:
        raise InvalidInput("capacity is Wh a generation cycle adds: 0 or more", capacity_wh=str(args.capacity_wh))
    price = parse_money(args.price)
    item = await platform.coops.offer_item(
        args.supplier, CatalogItem(args.supplier, args.item, " ".join(args.name.split()), price, args.capacity_wh)
    )
    print(f"{item.supplier_id}: {item.item_id} '{item.name}' at {format_money(item.price_ngwee)}", end="")
    print(f", adds {format_energy(item.capacity_wh)} a cycle" if item.capacity_wh else "")
    return 0


COMMANDS: dict[tuple[str, str | None], Command] = {
    ("coop", "list"): list_coops,
    ("coop", "show"): show,
    ("coop", "verify"): verify,
    ("coop", "catalog"): catalog,
}
