"""A database failure mid-journey: a short apology with a reference that is also in the log."""

from __future__ import annotations

import logging
import re

import pytest

from tests.e2e.conftest import World


async def test_database_failure_gives_an_apology_with_a_logged_reference(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    user = await world.new_user()
    phone = world.phone(user.phone)
    assert (await phone.dial()).startswith("CON ")
    await world.platform.store.close()  # the database goes away under the running server

    with caplog.at_level(logging.ERROR, logger="enerlectra.hop"):
        reply = await phone.send("1")  # the balance needs the database

    assert reply.startswith("END ")
    assert "Traceback" not in reply
    code = re.search(r"Ref ([0-9A-F]{6})", reply)
    assert code, reply
    assert any(code.group(1) in record.getMessage() for record in caplog.records)
