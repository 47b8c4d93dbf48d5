"""A free TCP port on the loopback interface, for a server a test or a benchmark starts."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A port nobody listens on right now (another process may take it before us: accepted in tests)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
