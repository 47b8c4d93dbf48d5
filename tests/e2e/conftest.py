"""End-to-end fixtures: the real app over HTTP, a fresh database, sessions on the real Redis.

Every test gets its own migrated database (SQLite and PostgreSQL, through the
shared ``database_url`` fixture) seeded with the demo data, and talks to the
app only through ``POST /ussd`` like Africa's Talking does (the gateway and
phones of tests/support/gateway.py, over the app's test server). Redis is shared
with everything else on this machine, so tests never flush it: every dial
uses a fresh ``sessionId`` and a number made for this test run, and the keys a
test created are deleted when it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis

from engine.identity.model import User
from engine.platform import Platform
from engine.wallet.views import Balances
from simulator.protocol import Endpoints, GatewayClient
from storage import open_store
from tests.e2e.screen_log import ScreenLog
from tests.support.gateway import Gateway, Phone, ScreenRecorder
from tests.support.phones import unique_phone
from tests.support.ports import free_port
from tests.support.redis import redis_url
from ussd_server.app import create_app
from ussd_server.appkeys import PLATFORM, SESSIONS, SMS_BACKEND, USSD
from ussd_server.demo import DEMO_PIN, seed_demo
from ussd_server.i18n import Catalogs
from ussd_server.phones import parse_zambian_mobile
from ussd_server.sessions import keys
from ussd_server.sessions.redis_store import RedisSessionStore
from ussd_server.settings import Settings
from ussd_server.sms.backends import InboxBackend

Client = TestClient[web.Request, web.Application]

LANGUAGES = ("en", "ny", "bem")
SCREEN_LENGTHS_JSON = Path(__file__).parent / ".screen_lengths.json"
BASE_ENV = {
    "PIN_KDF_LOG2_N": "10",  # real scrypt, cheaper cost
    "PIN_PEPPER": "e2e-pepper-0123456789abcdef",
    "LOG_LEVEL": "WARNING",
    "SMS_BACKEND": "inbox",  # the app's own outbox worker delivers into an in-memory inbox per phone
    # A test phone answers in milliseconds, far faster than a person: tests of these limits set them back.
    "HOPS_PER_MINUTE": "1000",
    "PIN_CHECKS_PER_MINUTE": "1000",
    # The suite's process also runs the test client and long-lived fixtures: a pause of its own
    # (a full garbage collection late in a long run) must not read as a Redis outage. The outage
    # tests set the production bound back.
    "REDIS_TIMEOUT_MS": "3000",
    # Mobile money: the embedded provider simulator approves a deposit as a quick handset would.
    "MOMO_SIM_APPROVE_AFTER_MS": "100",
}
_SCREEN_LOG = pytest.StashKey[ScreenLog]()


class AppGateway(Gateway):
    """The gateway of an app in the test's process: it can read the screen a session is on, and clean up."""

    def __init__(
        self, client: Client, log: ScreenRecorder | None = None, *, params: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(GatewayClient(client.session, Endpoints.from_url(client.make_url("/"))), log, params=params)
        self.app = client.app

    async def screen_of(self, session_id: str) -> tuple[str, str]:
        """The screen a session is on and its language, as the session store has it."""
        try:
            session = await self.app[SESSIONS].load(session_id)
        except Exception as exc:  # the store may be down on purpose (outage tests)
            return f"({type(exc).__name__})", "?"
        if session is None:
            return "(no session)", "?"
        return session.state, session.language

    async def forget(self) -> None:
        """Delete the session and resume keys this gateway's requests created (only those; locks expire)."""
        store = self.app[SESSIONS]
        for session_id in self.session_ids:
            await store.delete(session_id)
        if not isinstance(store, RedisSessionStore):
            return  # sessions in process memory go with the app
        for phone in self.phones:
            try:
                key = keys.resume_key(parse_zambian_mobile(phone), store.prefix)
            except Exception:  # not a Zambian number: no resume key was ever written for it
                continue
            await store.client.delete(key)


@dataclass
class World:
    """One running app and what a test needs around it."""

    client: Client
    gateway: AppGateway
    platform: Platform
    settings: Settings
    catalogs: Catalogs

    def phone(self, number: str | None = None, *, record: bool = True) -> Phone:
        return self.gateway.phone(number, record=record)

    @property
    def inbox(self) -> InboxBackend:
        backend = self.client.app[SMS_BACKEND]
        assert isinstance(backend, InboxBackend)
        return backend

    async def sms_containing(self, phone: str, needle: str, timeout_s: float = 5.0) -> str:
        """The SMS text the phone received that contains ``needle`` (delivered by the outbox worker)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            texts = [m.text for m in self.inbox.messages(phone) if needle in m.text]
            if texts:
                assert len(texts) == 1, f"{phone} got {len(texts)} SMS containing {needle!r}: {texts}"
                return texts[0]
            if loop.time() > deadline:
                got = [m.text for m in self.inbox.messages(phone)]
                raise AssertionError(f"no SMS containing {needle!r} reached {phone} in {timeout_s} s; got {got}")
            await asyncio.sleep(0.02)

    def t(self, language: str, key: str, **params: Any) -> str:
        """A catalog text as the app renders it."""
        return self.catalogs.render(language, key, params)

    async def user(self, phone: str) -> User:
        return await self.platform.users.get(phone)

    async def new_user(self, language: str = "en", name: str = "Test Person", pin: str = DEMO_PIN) -> User:
        """An existing (already registered) user with a number nobody else uses."""
        return await self.platform.users.register(phone=unique_phone(), name=name, language=language, pin=pin)

    async def balances(self, phone: str) -> Balances:
        return await self.platform.wallet.balances(await self.user(phone))


@asynccontextmanager
async def running_app(
    env: dict[str, str],
    log: ScreenLog | None = None,
    *,
    seed: bool = True,
    params: dict[str, str] | None = None,
) -> AsyncIterator[World]:
    # The app listens on a port chosen here so the callback URLs it gives providers point back at it.
    port = free_port()
    settings = Settings.from_env({**BASE_ENV, "PORT": str(port), **env})
    # Every app counts in its own namespace: tests all call from 127.0.0.1 and must not share budgets.
    rate_limit_prefix = f"test-{secrets.token_hex(4)}:enerlectra:"
    app = create_app(settings, rate_limit_prefix=rate_limit_prefix)
    async with TestClient(TestServer(app, port=port)) as client:
        platform = app[PLATFORM]
        if seed:
            await seed_demo(platform)
        gateway = AppGateway(client, log, params=params)
        world = World(client, gateway, platform, settings, app[USSD].catalogs)
        try:
            yield world
        finally:
            with contextlib.suppress(Exception):  # the store may be down on purpose; its keys expire by TTL
                await gateway.forget()
            if settings.redis_url:
                with contextlib.suppress(Exception):  # rate-limit keys expire with their window anyway
                    await delete_prefixed(settings.redis_url, rate_limit_prefix)


async def delete_prefixed(url: str, prefix: str) -> None:
    raw = Redis.from_url(url)
    try:
        async for key in raw.scan_iter(match=f"{prefix}*"):
            await raw.delete(key)
    finally:
        await raw.aclose()


@pytest.fixture(scope="session")
def screen_log(request: pytest.FixtureRequest) -> Iterator[ScreenLog]:
    """The longest reply per screen over the whole run, written to .screen_lengths.json at the end."""
    log = ScreenLog()
    request.config.stash[_SCREEN_LOG] = log
    yield log
    if log.screens:
        log.write(SCREEN_LENGTHS_JSON)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config) -> None:
    log = config.stash.get(_SCREEN_LOG, None)
    if log is None or not log.screens:
        return
    terminalreporter.section("longest rendered reply per screen (characters incl. CON/END)")
    for line in log.summary():
        terminalreporter.write_line(line)
    terminalreporter.write_line(f"written to {SCREEN_LENGTHS_JSON}")


@pytest.fixture
async def world(database_url: str, screen_log: ScreenLog) -> AsyncIterator[World]:
    """The app on a fresh seeded database (sqlite and postgres), sessions on the shared Redis."""
    async with running_app({"DATABASE_URL": database_url, "REDIS_URL": redis_url()}, screen_log) as w:
        yield w


@pytest.fixture
async def sqlite_url(tmp_path: Path) -> str:
    """A migrated, empty SQLite file (what `make run` starts on the first time), for tests on one backend."""
    url = f"sqlite:///{tmp_path}/enerlectra.db"
    store = await open_store(url, migrate=True)
    await store.close()
    return url


@pytest.fixture(params=LANGUAGES)
def language(request: pytest.FixtureRequest) -> str:
    return str(request.param)
