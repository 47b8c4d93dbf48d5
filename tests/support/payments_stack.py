"""Mobile money as an operator runs it: the provider simulator in its own process, a server pointed at it.

Shared by the payments drill and ``make bench``: ``momo_process`` starts
``python -m simulator.momo`` on a free port (its Airtel callbacks pointed at
our server), ``payments_env`` is the server's environment reaching it with
the simulator's credentials, ``prepare_users`` registers users and makes an
admin API key through the engine before the server starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path

import aiohttp

from engine.access.model import Scope
from simulator.momo import MomoSimConfig
from tests.support.phones import unique_phone
from tests.support.ports import free_port
from tests.support.processes import ChildProcess, clean_env
from ussd_server.bootstrap import open_platform
from ussd_server.demo import DEMO_PIN
from ussd_server.kdf_pool import KdfPool
from ussd_server.settings import Settings
from ussd_server.settings.payments import DEV_CALLBACK_SECRET

SIM = MomoSimConfig()  # the credentials a simulator process accepts by default
READY_TIMEOUT_S = 20.0


def payments_env(database_url: str, port: int, sim_url: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """``enerlectra serve`` on ``port`` with both providers at the simulator, and the load drills' generous caps."""
    return clean_env(
        {
            "DATABASE_URL": database_url,
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "PIN_KDF_LOG2_N": "10",
            "PIN_PEPPER": "payments-pepper-0123456789abcdef",
            "SMS_BACKEND": "console",
            "LOG_LEVEL": "WARNING",
            "PIN_CHECKS_PER_MINUTE": "100000",
            "HOPS_PER_MINUTE": "100000",
            "SMS_DAILY_CAP": "1000",
            "MTN_BASE_URL": sim_url,
            "MTN_API_USER": SIM.mtn_api_user,
            "MTN_API_KEY": SIM.mtn_api_key,
            "MTN_COLLECTION_KEY": SIM.mtn_collection_key,
            "MTN_DISBURSEMENT_KEY": SIM.mtn_disbursement_key,
            "MTN_TARGET_ENVIRONMENT": SIM.mtn_target_environment,
            "AIRTEL_BASE_URL": sim_url,
            "AIRTEL_CLIENT_ID": SIM.airtel_client_id,
            "AIRTEL_CLIENT_SECRET": SIM.airtel_client_secret,
            "AIRTEL_DISBURSEMENT_PIN": "simulated-pin",
            "CALLBACK_BASE_URL": f"http://127.0.0.1:{port}",
            **(extra or {}),
        }
    )


@contextlib.asynccontextmanager
async def momo_process(log_dir: Path, server_port: int, args: Sequence[str] = ()) -> AsyncIterator[str]:
    """The provider simulator in a process of its own (``args``: its options); yields its base URL, stops it on exit."""
    port = free_port()
    airtel_callback = f"http://127.0.0.1:{server_port}/callbacks/momo/airtel/{DEV_CALLBACK_SECRET}"
    argv = [sys.executable, "-m", "simulator.momo", "--port", str(port), "--airtel-callback-url", airtel_callback]
    process = ChildProcess("momo-sim", [*argv, *args], clean_env({}), log_dir / "momo-sim.log")
    process.spawn()
    url = f"http://127.0.0.1:{port}"
    try:
        await _ready(url, process)
        yield url
    finally:
        await process.stop()


async def _ready(url: str, process: ChildProcess) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + READY_TIMEOUT_S
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
        while loop.time() < deadline and process.running:
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with http.get(url + "/_sim/balances") as reply:
                    if reply.status == 200:
                        return
            await asyncio.sleep(0.05)
    raise RuntimeError(f"the provider simulator did not start:\n{process.log()}")


async def prepare_users(env: Mapping[str, str], count: int) -> tuple[list[str], str]:
    """``count`` users (MTN and Airtel numbers in turn, demo PIN) and an admin API key's secret."""
    pool = KdfPool(workers=1)
    try:
        platform = await open_platform(Settings.from_env(env), hasher=pool)
        try:
            phones = []
            for i in range(count):
                phone = unique_phone(prefix="96" if i % 2 == 0 else "97")
                await platform.users.register(phone=phone, name="Mwape Banda", language="en", pin=DEMO_PIN)
                phones.append(phone)
            issued = await platform.access.create_api_key("payments load", {Scope.ADMIN})
            return phones, issued.secret
        finally:
            await platform.close()
    finally:
        pool.close()


async def sign_in(url: str, phones: Sequence[str]) -> dict[str, str]:
    """An API token per phone (one PIN check each)."""
    tokens = {}
    async with aiohttp.ClientSession() as http:
        for phone in phones:
            async with http.post(url + "/api/v1/session", json={"phone": phone, "pin": DEMO_PIN}) as reply:
                if reply.status != 201:
                    raise RuntimeError(f"sign-in of {phone} answered {reply.status}: {await reply.text()}")
                tokens[phone] = str((await reply.json())["data"]["token"])
    return tokens
