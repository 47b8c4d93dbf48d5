"""One scheduler worker per SQLite database: an advisory lock on a file beside it.

SQLite already serialises claims (its write lock), but the issue asks for one
worker on SQLite: whichever process takes this lock runs due jobs, the others
stand by and try again at each interval, so a standby takes over when the
holder stops or dies (the kernel drops a dead process's lock). PostgreSQL
needs none: its claims skip rows another worker locked (``SKIP LOCKED``),
so any number of processes may run one.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

SQLITE_PREFIX = "sqlite:///"


def lock_path_for(database_url: str) -> Path | None:
    """The lock file of a SQLite database (``var/enerlectra.db.scheduler-lock``); None for other databases."""
    if not database_url.startswith(SQLITE_PREFIX):
        return None
    return Path(f"{database_url[len(SQLITE_PREFIX) :]}.scheduler-lock")


class SingleWorkerLock:
    """Held by at most one process at a time (``flock``); taking it never blocks."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def try_acquire(self) -> bool:
        """Take the lock if nobody holds it; True while this object holds it."""
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())  # who holds it, for an operator who wonders
        self._fd = fd
        return True

    def holder(self) -> str:
        """The process id written by whoever holds (or last held) the lock, or ``?``."""
        with contextlib.suppress(OSError):
            return self.path.read_text(encoding="ascii").strip() or "?"
        return "?"

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
