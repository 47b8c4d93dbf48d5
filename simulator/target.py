"""The server the phones talk to: one at ``--url``, or ours started in-process with zero set-up.

The embedded server is the real app (``create_app``) on a loopback port, so
the simulator speaks HTTP to it exactly as it would to a remote one; only the
SMS inbox is read in-process. Server modules are imported lazily: driving a
remote server needs none of them.

Mobile-money prompts come from the provider simulator the server names at
``GET /dev/momo`` (both kinds of target). The embedded server's provider
simulator approves nothing by itself (``MOMO_SIM_APPROVE_AFTER_MS=0``): the
deposit waits for the handset's prompt to be answered, unless the
``server_env`` sets another delay.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from aiohttp import web
from yarl import URL

from simulator.momo_prompt import NoPrompts, PromptSource, SimulatorPrompts
from simulator.protocol import Endpoints, GatewayClient, Timeouts
from simulator.sms import HttpInbox, InboxMessages, InProcessInbox, SmsSource

DEFAULT_SHORTCODE = "*384*2025#"  # the server's default USSD_SERVICE_CODES
DEFAULT_DB = Path("var") / "sim.db"
# What the embedded server runs with unless ``server_env`` says otherwise: the handset approves deposits.
EMBEDDED_DEFAULTS = {"MOMO_SIM_APPROVE_AFTER_MS": "0"}


@dataclass
class Target:
    client: GatewayClient
    sms: SmsSource
    shortcode: str
    description: str
    momo: PromptSource = field(default_factory=NoPrompts)


@dataclass
class EmbeddedServer:
    url: URL
    runner: web.AppRunner
    inbox: InboxMessages

    async def close(self) -> None:
        await self.runner.cleanup()


async def start_embedded(
    db: Path, *, shortcode: str | None = None, env: Mapping[str, str] | None = None
) -> EmbeddedServer:
    """Migrate and seed a SQLite database, then serve the app on 127.0.0.1 (a free port)."""
    from ussd_server.app import create_app
    from ussd_server.appkeys import PLATFORM, SMS_BACKEND
    from ussd_server.bootstrap import migrate_database
    from ussd_server.demo import seed_demo
    from ussd_server.settings import Settings
    from ussd_server.sms.backends import InboxBackend

    db.parent.mkdir(parents=True, exist_ok=True)
    database_url = f"sqlite:///{db}"
    await migrate_database(database_url)
    codes = DEFAULT_SHORTCODE if shortcode in (None, DEFAULT_SHORTCODE) else f"{shortcode},{DEFAULT_SHORTCODE}"
    # The port is taken before the app is made, so the callback URLs it gives the mobile-money
    # providers (http://HOST:PORT/callbacks/...) point back at it and a deposit ends when approved.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", 0))
        env = {
            **EMBEDDED_DEFAULTS,
            "DATABASE_URL": database_url,
            "SMS_BACKEND": "inbox",
            "USSD_SERVICE_CODES": codes,
            "PORT": str(sock.getsockname()[1]),
            **(env or {}),
        }
        app = create_app(Settings.from_env(env))
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
    except BaseException:
        sock.close()
        raise
    try:
        await web.SockSite(runner, sock).start()
        host, port = runner.addresses[0][:2]
        await seed_demo(app[PLATFORM])
        await _drain_outbox(app)
        backend = app[SMS_BACKEND]
        if not isinstance(backend, InboxBackend):
            raise RuntimeError("the embedded server must keep SMS in its inbox (SMS_BACKEND=inbox)")
    except BaseException:
        await runner.cleanup()
        sock.close()
        raise
    return EmbeddedServer(URL.build(scheme="http", host=host, port=port), runner, backend)


async def _drain_outbox(app: web.Application, timeout_s: float = 5.0) -> None:
    """Let the demo data's SMS reach the inbox first, so they never look new to a phone or a recording."""
    from engine.notifications.model import OutboxStatus
    from ussd_server.appkeys import OUTBOX_WORKER, PLATFORM

    outbox = app[PLATFORM].sms_outbox
    app[OUTBOX_WORKER].wake()
    poll_s = 0.05
    for _ in range(int(timeout_s / poll_s)):  # a server whose SMS stay pending still starts, just later
        if not (await outbox.outbox_counts())[OutboxStatus.PENDING]:
            return
        await asyncio.sleep(poll_s)


@asynccontextmanager
async def open_target(
    url: str | None = None,
    *,
    shortcode: str | None = None,
    db: Path = DEFAULT_DB,
    events_url: str | None = None,
    timeouts: Timeouts | None = None,
    server_env: Mapping[str, str] | None = None,
) -> AsyncIterator[Target]:
    """A ready target for the phones; everything it opened is closed on exit."""
    http = aiohttp.ClientSession()
    embedded: EmbeddedServer | None = None
    try:
        if url is None:
            embedded = await start_embedded(db, shortcode=shortcode, env=server_env)
            inbox = embedded.inbox
            client = GatewayClient(http, Endpoints.from_url(embedded.url), timeouts=timeouts)
            momo = SimulatorPrompts(http, client.endpoints.dev_momo)
            description = f"in-process ({db})"
            yield Target(client, InProcessInbox(lambda: inbox), shortcode or DEFAULT_SHORTCODE, description, momo)
        else:
            client = GatewayClient(http, Endpoints.from_url(url, events_url), timeouts=timeouts)
            sms = HttpInbox(http, client.endpoints.sms_inbox)
            momo = SimulatorPrompts(http, client.endpoints.dev_momo)
            yield Target(client, sms, shortcode or DEFAULT_SHORTCODE, str(client.endpoints.ussd), momo)
    finally:
        await http.close()
        if embedded is not None:
            await embedded.close()
