"""A client that trickles its request body is cut off after BODY_READ_TIMEOUT_S; others are served meanwhile."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import pytest
from aiohttp import FormData

from storage import open_store
from tests.e2e.conftest import running_app
from tests.e2e.phone import SERVICE_CODE, check_reply, new_session_id, unique_phone

TIMEOUT_S = 0.5
# "About the timeout": generous for a slow CI machine, far below "as long as the client likes".
ANSWER_BOUND_S = 3.0


@pytest.fixture
async def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path}/enerlectra.db"
    store = await open_store(url, migrate=True)
    await store.close()
    return url


async def trickle(writer: asyncio.StreamWriter, every_s: float) -> None:
    """One body byte at a time, slower than the server's deadline, until stopped or cut off."""
    with contextlib.suppress(ConnectionError):
        for _ in range(1000):
            writer.write(b"a")
            await writer.drain()
            await asyncio.sleep(every_s)


async def test_a_trickled_body_gets_408_in_about_the_timeout_and_others_are_served(sqlite_url: str) -> None:
    env = {"DATABASE_URL": sqlite_url, "BODY_READ_TIMEOUT_S": str(TIMEOUT_S)}
    async with running_app(env, seed=False) as world:
        server = world.client.server
        reader, writer = await asyncio.open_connection(server.host, server.port)
        started = time.monotonic()
        writer.write(
            b"POST /ussd HTTP/1.1\r\nHost: localhost\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 500\r\n\r\nsessionId="
        )
        trickling = asyncio.create_task(trickle(writer, every_s=0.2))
        try:
            # Meanwhile the gateway's real callbacks are answered as usual.
            hop = {"sessionId": new_session_id(), "serviceCode": SERVICE_CODE, "phoneNumber": unique_phone()}
            check_reply(await world.gateway.post("/ussd", {**hop, "text": ""}))
            async with asyncio.timeout(ANSWER_BOUND_S):
                status_line = await reader.readline()
            elapsed = time.monotonic() - started
        finally:
            trickling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await trickling
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
        assert status_line.startswith(b"HTTP/1.1 408"), status_line
        assert TIMEOUT_S * 0.9 <= elapsed < ANSWER_BOUND_S, elapsed


async def test_a_body_sent_at_once_is_read_as_before(sqlite_url: str) -> None:
    env = {"DATABASE_URL": sqlite_url, "BODY_READ_TIMEOUT_S": str(TIMEOUT_S)}
    async with running_app(env, seed=False) as world:
        hop = {"sessionId": new_session_id(), "serviceCode": SERVICE_CODE, "phoneNumber": unique_phone(), "text": ""}
        check_reply(await world.gateway.post("/ussd", hop))
        # A multipart stream can be parsed only once: the middleware must leave the fields to the handler.
        multipart = FormData({**hop, "sessionId": new_session_id()}, default_to_multipart=True)
        async with world.client.post("/ussd", data=multipart) as response:
            assert response.status == 200, await response.text()
            assert (await response.text()).startswith("CON ")
