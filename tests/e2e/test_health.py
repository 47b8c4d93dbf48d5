"""GET /health, the endpoint operators and load balancers poll."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

import storage
from ussd_server.app import create_app
from ussd_server.appkeys import PLATFORM
from ussd_server.settings import Settings

Client = TestClient[web.Request, web.Application]


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[Client]:
    url = f"sqlite:///{tmp_path}/h.db"
    store = await storage.open_store(url, migrate=True)  # the app itself does not migrate
    await store.close()
    app = create_app(Settings.from_env({"DATABASE_URL": url, "PIN_KDF_LOG2_N": "10"}))
    async with TestClient(TestServer(app)) as client:
        yield client


async def test_health_is_ok_on_a_working_database(client: Client) -> None:
    response = await client.get("/health")
    assert response.status == 200
    assert response.content_type == "application/json"
    body = await response.json()
    assert body.pop("pin_queue")["pending"] == 0
    assert body == {"status": "ok", "database": "ok", "sessions": "ok", "backend": "sqlite"}


async def test_health_reports_degraded_when_the_database_is_unusable(client: Client) -> None:
    await client.app[PLATFORM].store.close()

    response = await client.get("/health")
    text = await response.text()
    assert response.status == 503, text
    body = await response.json()
    assert body["status"] == "degraded"
    assert body["backend"] == "sqlite"
    assert body["database"] != "ok"
    assert body["database"].startswith("error")
    assert "Traceback" not in text
    assert 'File "' not in text
