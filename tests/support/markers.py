"""Markers that say what a test needs, so a run can leave out what it cannot or need not start.

``make test-fast`` runs ``-m "not postgres and not redis"``: the ``postgres``
marker is put on every test whose ``backend`` parameter is ``postgres`` by
``mark_postgres_backends`` (called from tests/conftest.py), the ``redis``
marker by hand or through ``needs_redis_server``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import pytest

from tests.support.redis import redis_server_binary

_Test = TypeVar("_Test", bound=Callable[..., object])


def needs_redis_server(test: _Test) -> _Test:
    """Marks a test ``redis`` and skips it where redis-server is not installed."""
    skip = pytest.mark.skipif(redis_server_binary() is None, reason="redis-server not on PATH")
    marked: _Test = pytest.mark.redis(skip(test))  # pytest types a stacked mark as Any
    return marked


def mark_postgres_backends(items: Sequence[pytest.Item]) -> None:
    """``postgres`` on every test run with ``backend="postgres"`` (a fixture parameter or a parametrize)."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.params.get("backend") == "postgres":
            item.add_marker(pytest.mark.postgres)
