"""``enerlectra api-key create|list|revoke``: operators manage the API's keys (there is no HTTP route for it).

enerlectra api-key create NAME --scope partner [--scope read ...]   the secret is printed once, here
enerlectra api-key list                                            ids, names, scopes; never secrets
enerlectra api-key revoke KEY_ID                                   refused from the next request on
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from engine.access.model import KEY_SCOPES, Scope
from engine.platform import Platform


def _when(us: int) -> str:
    return datetime.fromtimestamp(us / 1_000_000, UTC).strftime("%Y-%m-%d %H:%M UTC")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keys = sub.add_parser("api-key", help="REST API keys").add_subparsers(dest="action", required=True)
    create = keys.add_parser("create", help="make a key (its secret is shown once)")
    create.add_argument("name", help="who holds it, e.g. 'Lusaka agents'")
    create.add_argument(
        "--scope",
        dest="scopes",
        action="append",
        required=True,
        choices=[s.value for s in KEY_SCOPES],
        help="admin (everything a key may do), partner (register users, and read) or read; repeatable",
    )
    keys.add_parser("list", help="every key, revoked ones too")
    revoke = keys.add_parser("revoke", help="revoke a key at once")
    revoke.add_argument("key_id")


async def create(platform: Platform, args: argparse.Namespace) -> int:
    issued = await platform.access.create_api_key(args.name, {Scope(s) for s in args.scopes})
    key = issued.key
    print(f"created {key.id} ({key.name}) with scopes {','.join(sorted(key.scopes))}")
    print("its secret, shown this once (only a hash of it is kept; send it as 'Authorization: Bearer ...'):")
    print(issued.secret)
    return 0


async def listing(platform: Platform, _args: argparse.Namespace) -> int:
    keys = await platform.access.list_api_keys()
    for key in keys:
        state = f"revoked {_when(key.revoked_at)}" if not key.active else "active"
        print(f"{key.id}  {','.join(sorted(key.scopes)):20}  {_when(key.created_at)}  {state:27}  {key.name}")
    print(f"{len(keys)} keys, {sum(k.active for k in keys)} active")
    return 0


async def revoke(platform: Platform, args: argparse.Namespace) -> int:
    key = await platform.access.revoke_api_key(args.key_id)
    print(f"{key.id} ({key.name}) revoked {_when(key.revoked_at)}")
    return 0


COMMANDS: dict[tuple[str, str | None], Callable[[Platform, argparse.Namespace], Awaitable[int]]] = {
    ("api-key", "create"): create,
    ("api-key", "list"): listing,
    ("api-key", "revoke"): revoke,
}
