"""A client that trickles its request body is cut off after BODY_READ_TIMEOUT_S; others are served meanwhile."""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import FormData

from simulator.protocol import new_session_id
from tests.e2e.conftest import running_app
from tests.support.gateway import SERVICE_CODE, check_reply
from tests.support.phones import unique_phone

TIMEOUT_S = 0.5
# Only a guard against a hung test: the trickled body would take 100 s to complete, so a 408 before
# then can only come from the body deadline (no timing is asserted).
HANG_GUARD_S = 60.0


async def trickle(writer: asyncio.StreamWriter, every_s: float) -> None:
    """One body byte at a time, slower than the server's deadline, until stopped or cut off."""
    with contextlib.suppress(ConnectionError):
        for _ in range(1000):
            writer.write(b"a")
            await writer.drain()
            await asyncio.sleep(every_s)


async def test_a_trickled_body_gets_408_and_others_are_served_meanwhile(sqlite_url: str) -> None:
    env = {"DATABASE_URL": sqlite_url, "BODY_READ_TIMEOUT_S": str(TIMEOUT_S)}
    async with running_app(env, seed=False) as world:
        server = world.client.server
        reader, writer = await asyncio.open_connection(server.host, server.port)
        writer.write(
            b"POST /ussd HTTP/1.1\r\nHost: localhost\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 500\r\n\r\nsessionId="
        )
        trickling = asyncio.create_task(trickle(writer, every_s=0.2))
        try:
            # Meanwhile the gateway's real callbacks are answered as usual.
            hop = {"sessionId": new_session_id(), "serviceCode": SERVICE_CODE, "phoneNumber": unique_phone()}
            check_reply(await world.gateway.post("/ussd", {**hop, "text": ""}))
            async with asyncio.timeout(HANG_GUARD_S):
                status_line = await reader.readline()
        finally:
            trickling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await trickling
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
        assert status_line.startswith(b"HTTP/1.1 408"), status_line


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
