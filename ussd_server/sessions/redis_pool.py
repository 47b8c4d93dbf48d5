"""The server's Redis connection pools (sessions, rate limits): one way to open them.

Every pool bounds connecting by ``timeout_s`` and sets no ``socket_timeout``
(its users bound each command with one ``asyncio.timeout`` instead; redis-py
would wrap every send in ``asyncio.wait_for``, a Task and an extra loop
iteration per command); one immediate retry heals a pooled connection that
Redis closed (restart, idle timeout), and a timeout is not retried.

``REDIS_PARSER`` picks how replies are read and commands written: ``hiredis``
(the default, when the package is installed) parses replies in C, and packs
commands in C too, which redis-py's asyncio client does not do by itself
(~2.5 us less per command, measured: ``python -m bench.ab``); ``python`` is
redis-py's own pure-Python parser and packer.
"""

from __future__ import annotations

from typing import Any, Literal

from redis._parsers import _AsyncHiredisParser, _AsyncRESP2Parser
from redis.asyncio import ConnectionPool
from redis.asyncio.connection import Connection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.connection import HiredisRespSerializer
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.utils import HIREDIS_AVAILABLE

Parser = Literal["hiredis", "python"]


class HiredisPackingConnection(Connection):
    """A TCP connection whose commands hiredis packs (the bytes are the same as redis-py's)."""

    _packer = HiredisRespSerializer()

    def pack_command(self, *args: Any) -> list[bytes]:
        packed: list[bytes] = self._packer.pack(*args)
        return packed


def uses_hiredis(parser: Parser) -> bool:
    """Whether ``parser`` (REDIS_PARSER) means hiredis here: asked for, and installed."""
    return parser == "hiredis" and HIREDIS_AVAILABLE


def open_pool(url: str, *, max_connections: int, timeout_s: float, parser: Parser = "hiredis") -> ConnectionPool:
    """A pool for ``url``; nothing connects until the first command."""
    hiredis = uses_hiredis(parser)
    pool = ConnectionPool.from_url(
        url,
        max_connections=max_connections,
        socket_connect_timeout=timeout_s,
        socket_timeout=None,
        retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        parser_class=_AsyncHiredisParser if hiredis else _AsyncRESP2Parser,
    )
    # Plain TCP only: a rediss:// or unix:// URL keeps the connection class redis-py chose for it.
    if hiredis and pool.connection_class is Connection:
        pool.connection_class = HiredisPackingConnection
    return pool
