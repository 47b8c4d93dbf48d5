"""The aiohttp application: one factory, every resource opened in cleanup_ctx."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import time
from collections.abc import AsyncIterator

from aiohttp import web

from engine.platform import Platform
from menus import MENUS_DIR, tree_files
from ussd_server import demo
from ussd_server.api.app import api_middlewares, mount_api
from ussd_server.appkeys import (
    KDF_POOL,
    METRICS,
    OUTBOX_WORKER,
    PLATFORM,
    RATE_LIMITS,
    SESSIONS,
    SETTINGS,
    SMS_BACKEND,
    USSD,
)
from ussd_server.auth import gateway_auth, startup_warnings
from ussd_server.body_deadline import body_deadline
from ussd_server.bootstrap import open_platform
from ussd_server.gateway import UssdService
from ussd_server.i18n import Catalogs
from ussd_server.kdf_pool import kdf_pool_for_this_machine
from ussd_server.menu.features import (
    account,
    buy,
    coop,
    coop_join,
    coop_propose,
    coop_votes,
    guards,
    home,
    inputs,
    market,
    market_orders,
    offers,
    payments,
    registration,
    trade,
    wallet,
)
from ussd_server.menu.loader import load_tree
from ussd_server.menu.registry import Registry
from ussd_server.menu.runtime import MenuRuntime
from ussd_server.metrics import Metrics
from ussd_server.payments.callbacks import add_callback_routes
from ussd_server.payments.providers import MOBILE_MONEY, open_providers
from ussd_server.payments.runtime import PAYMENT_WORKER
from ussd_server.payments.runtime import running as running_payments
from ussd_server.payments.worker import PaymentWorker
from ussd_server.rate_limits import RateLimiter
from ussd_server.routes import setup_routes
from ussd_server.scheduler.runtime import scheduling
from ussd_server.sessions import keys
from ussd_server.sessions.memory import MemorySessionStore
from ussd_server.sessions.redis_store import RedisSessionStore
from ussd_server.sessions.store import SessionStore
from ussd_server.settings import Settings
from ussd_server.sms.backends import build_backend
from ussd_server.sms.worker import OutboxWorker

log = logging.getLogger("enerlectra")

BODY_LIMIT = 8 * 1024  # an AT callback is a few hundred bytes


def build_runtime() -> tuple[MenuRuntime, Catalogs]:
    """Load and check the menu and catalogs (raises MenuError naming every problem).

    The menu's features are listed here and nowhere else: a feature module declares its
    names, and only what this list registers exists for the menu files (a name declared
    twice raises DuplicateName). Built once per process, never per hop.
    """
    catalogs = Catalogs.load()
    registry = Registry.of(
        [
            home.FEATURE,
            registration.FEATURE,
            inputs.FEATURE,
            wallet.FEATURE,
            buy.FEATURE,
            trade.FEATURE,
            offers.FEATURE,
            payments.FEATURE,
            account.FEATURE,
            guards.FEATURE,
            coop.FEATURE,
            coop_join.FEATURE,
            coop_votes.FEATURE,
            coop_propose.FEATURE,
            market.FEATURE,
            market_orders.FEATURE,
        ]
    )
    tree = load_tree(tree_files(), catalogs, registry, root=MENUS_DIR)
    return MenuRuntime(tree, catalogs, registry), catalogs


async def open_sessions(settings: Settings) -> SessionStore:
    if settings.redis_url:
        return await RedisSessionStore.open(
            settings.redis_url,
            pool_size=settings.redis_pool_size,
            parser=settings.redis_parser,
            timeout_s=settings.redis_timeout_ms / 1000,
        )
    return MemorySessionStore()


async def release_expired(platform: Platform, stop: asyncio.Event, every_s: float = 30.0) -> None:
    """Give back reservations whose time ran out (e.g. offers nobody accepted)."""
    while not stop.is_set():
        try:
            released = await platform.expire_reservations()
            if released:
                log.info("released %d expired reservations", released)
            await platform.forget_old_counters()
        except Exception:  # the next sweep tries again; a failure here must not stop the server
            log.exception("reservation sweep failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every_s)


async def seed_empty_dev_database(settings: Settings, platform: Platform) -> None:
    """A new dev server shows something to buy at once; production data is never touched."""
    if not settings.dev_mode or settings.demo_data == "none":
        return
    # The demo co-ops' six weeks of history take seconds: only `full` (what `make run` asks for) makes them.
    made = await demo.seed_if_empty(platform, settings if settings.demo_data == "full" else None)
    if made is not None:
        log.info(
            "empty database: loaded the demo data (%d clusters, %d users; demo PIN %s)",
            made["clusters"],
            made["users"],
            demo.DEMO_PIN,
        )


def create_app(settings: Settings, *, rate_limit_prefix: str = keys.KEY_PREFIX) -> web.Application:
    """The app; ``rate_limit_prefix`` gives tests a private namespace for the shared counters."""
    runtime, catalogs = build_runtime()  # a broken menu stops start-up, before anything opens
    metrics = Metrics()
    app = web.Application(
        client_max_size=BODY_LIMIT,
        # Counted first, so refused requests show too; then authentication: an unauthenticated
        # caller is refused before its body is read.
        middlewares=[metrics.middleware(), *api_middlewares(settings), gateway_auth(settings), body_deadline(settings)],
        # After an early answer (401, 408, 413) aiohttp reads and drops what is left of the body for up
        # to lingering_time (10 s by default): a trickling client is bounded by the same deadline.
        handler_args={"lingering_time": settings.body_read_timeout_s},
    )
    app[SETTINGS] = settings
    app[METRICS] = metrics

    async def resources(app: web.Application) -> AsyncIterator[None]:
        # Opened in order and closed in reverse, whatever fails on the way (each enter_* below).
        async with contextlib.AsyncExitStack() as stack:
            kdf_pool = kdf_pool_for_this_machine(settings.pin_kdf_threads)
            stack.callback(kdf_pool.close)
            metrics.watch_pin_queue(kdf_pool)
            mobile_money = await stack.enter_async_context(open_providers(settings))
            platform = await open_platform(settings, hasher=kdf_pool, providers=mobile_money.providers)
            stack.push_async_callback(platform.close)
            await seed_empty_dev_database(settings, platform)
            sessions = await open_sessions(settings)
            stack.push_async_callback(sessions.close)
            limiter = await RateLimiter.open(
                settings.redis_url,
                pool_size=settings.redis_pool_size,
                prefix=rate_limit_prefix,
                parser=settings.redis_parser,
                timeout_s=settings.redis_timeout_ms / 1000,
            )
            stack.push_async_callback(limiter.close)
            backend = build_backend(settings)
            stack.push_async_callback(backend.close)
            worker = OutboxWorker(
                platform.sms_outbox, backend, catalogs, settings, platform.clock, on_sent=metrics.observe_sms_sent
            )
            payment_worker = PaymentWorker(
                platform.payments, concurrency=settings.payment_concurrency, on_step=metrics.observe_payment
            )
            platform.payments.on_started = payment_worker.submit_soon
            # Proposals move at their deadlines, leavers are refunded: due jobs, drained before the platform closes.
            await stack.enter_async_context(scheduling(settings, platform, metrics.observe_scheduler))
            app[PLATFORM] = platform
            app[KDF_POOL] = kdf_pool
            app[SESSIONS] = sessions
            app[RATE_LIMITS] = limiter
            app[SMS_BACKEND] = backend
            app[OUTBOX_WORKER] = worker
            app[PAYMENT_WORKER] = payment_worker
            app[MOBILE_MONEY] = mobile_money
            app[USSD] = UssdService(
                platform=platform,
                sessions=sessions,
                runtime=runtime,
                catalogs=catalogs,
                settings=settings,
                limiter=limiter,
                on_sms_queued=worker.wake,
                observe_hop=metrics.observe_hop,
            )
            stop = asyncio.Event()
            delivering = asyncio.create_task(worker.run_forever(stop), name="outbox-worker")
            releasing = asyncio.create_task(release_expired(platform, stop), name="reservation-sweeper")
            async with running_payments(payment_worker, stop_timeout_s=settings.provider_timeout_s + 5):
                yield
            stop.set()
            worker.wake()
            await releasing
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(delivering, timeout=settings.sms_timeout_s + 5)

    app.cleanup_ctx.append(resources)
    setup_routes(app)
    add_callback_routes(app)  # /callbacks/momo/{provider}/{secret}: mobile-money providers
    mount_api(app)  # /api/v1: the REST API over the same services
    return app


def _setup_logging(settings: Settings) -> None:
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("transitions").setLevel(logging.WARNING)


def _run_app(settings: Settings, *, reuse_port: bool) -> None:
    if settings.event_loop == "uvloop":
        try:
            import uvloop  # optional: faster event loop when installed

            uvloop.install()
        except ImportError:
            pass
    web.run_app(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        access_log=None,
        print=None,
        reuse_port=reuse_port or None,
    )


def _worker_main(settings: Settings) -> None:
    """One of WEB_WORKERS processes: its own loop, pools and outbox worker, on the shared port."""
    _setup_logging(settings)
    _run_app(settings, reuse_port=True)


# Workers dying this often are failing (a taken port, a bad setting), not
# crashing now and then: restarting would only spin, so the server stops.
_MAX_DEATHS = 5
_DEATH_WINDOW_S = 30.0
_STOP_GRACE_S = 30.0


def _serve_workers(settings: Settings) -> None:
    """Run WEB_WORKERS copies of the app, all bound to one port with SO_REUSEPORT.

    The kernel spreads connections over the workers; they share nothing but
    Redis and the database, like separate hosts would. Workers are spawned
    (a fresh interpreter: no inherited loop, sockets or pools). One that dies
    is restarted, so a crash costs one worker's in-flight hops; SIGTERM or
    SIGINT stops them all gracefully.
    """
    ctx = multiprocessing.get_context("spawn")
    stopping = False

    def stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    def start() -> multiprocessing.process.BaseProcess:
        proc = ctx.Process(target=_worker_main, args=(settings,), name="enerlectra-worker")
        proc.start()
        return proc

    workers = [start() for _ in range(settings.web_workers)]
    deaths: collections.deque[float] = collections.deque(maxlen=_MAX_DEATHS)
    failed = False
    try:
        while not stopping:
            multiprocessing.connection.wait([p.sentinel for p in workers], timeout=0.5)
            for i, proc in enumerate(workers):
                if proc.is_alive() or stopping:
                    continue
                deaths.append(time.monotonic())
                if len(deaths) == _MAX_DEATHS and deaths[-1] - deaths[0] < _DEATH_WINDOW_S:
                    log.error("workers keep exiting (last: %s with %s); stopping", proc.pid, proc.exitcode)
                    failed = stopping = True
                    break
                log.error("worker %s exited with %s; starting another", proc.pid, proc.exitcode)
                workers[i] = start()
    finally:
        for proc in workers:
            if proc.is_alive() and proc.pid is not None:
                os.kill(proc.pid, signal.SIGTERM)  # aiohttp's run_app shuts down cleanly on SIGTERM
        deadline = time.monotonic() + _STOP_GRACE_S
        for proc in workers:
            proc.join(max(0.0, deadline - time.monotonic()))
            if proc.is_alive():
                proc.kill()
                proc.join()
    if failed:
        raise SystemExit(1)


def serve(settings: Settings) -> None:
    _setup_logging(settings)
    log.info(
        "starting on %s:%s (%s, %s, %d process%s)",
        settings.host,
        settings.port,
        settings.env,
        settings.database_url.split(":")[0],
        settings.web_workers,
        "" if settings.web_workers == 1 else "es",
    )
    for warning in startup_warnings(settings):  # here, in the one process that starts the others
        log.warning(warning)
    if settings.web_workers > 1:
        if not settings.redis_url:
            raise SystemExit("WEB_WORKERS > 1 needs REDIS_URL: in-process sessions are not shared between processes")
        _serve_workers(settings)
    else:
        _run_app(settings, reuse_port=False)
