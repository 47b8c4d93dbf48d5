"""Operators manage API keys with the CLI; the API honours them, and the database never holds a secret."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from tests.e2e.api_client import Api
from tests.e2e.conftest import running_app
from tests.support.processes import clean_env
from tests.support.servers import run_cli

ENV = {"PIN_KDF_LOG2_N": "10", "PIN_PEPPER": "e2e-pepper-0123456789abcdef"}  # the app's, so hashes agree


async def test_a_key_made_with_the_cli_works_until_revoked_with_the_cli(sqlite_url: str) -> None:
    env = clean_env({**ENV, "DATABASE_URL": sqlite_url})

    code, created = await run_cli(env, "api-key", "create", "Lusaka agents", "--scope", "partner")
    assert code == 0, created
    secret = re.search(r"^(enk_\S+)$", created, re.MULTILINE)
    key_id = re.search(r"\b(key_[0-9a-f]+)\b", created)
    assert secret is not None, created
    assert key_id is not None, created

    code, listed = await run_cli(env, "api-key", "list")
    assert code == 0, listed
    assert key_id.group(1) in listed
    assert "Lusaka agents" in listed
    assert secret.group(1) not in listed
    stored = await asyncio.to_thread(Path(sqlite_url.removeprefix("sqlite:///")).read_bytes)
    assert secret.group(1).encode() not in stored

    async with running_app({"DATABASE_URL": sqlite_url}, seed=False) as world:
        api = Api(world)
        assert (await api.call("GET", "/clusters", auth=secret.group(1))).status == 200
        assert (await api.call("GET", "/platform/ussd-funnel", auth=secret.group(1))).code == "FORBIDDEN"

        code, revoked = await run_cli(env, "api-key", "revoke", key_id.group(1))
        assert code == 0, revoked
        refused = await api.call("GET", "/clusters", auth=secret.group(1))
        assert (refused.status, refused.code) == (401, "UNAUTHENTICATED")

    code, listed = await run_cli(env, "api-key", "list")
    assert "revoked" in listed


async def test_the_cli_refuses_an_unknown_scope_or_key(sqlite_url: str) -> None:
    env = clean_env({**ENV, "DATABASE_URL": sqlite_url})
    code, output = await run_cli(env, "api-key", "create", "x", "--scope", "root")
    assert code == 2, output
    assert "invalid choice" in output
    code, output = await run_cli(env, "api-key", "revoke", "key_000000000000")
    assert code == 1, output
    assert "api_key_not_found" in output
