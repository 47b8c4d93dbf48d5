"""A child process that never outlives the test or benchmark that started it.

Each process runs in a session of its own, so a Ctrl-C in the terminal
reaches only the test runner (which then stops its children in order) and a
SIGKILL of the whole group also reaches a server's worker processes. On
Linux each child also asks the kernel for SIGTERM when its parent dies, so
even a runner killed with SIGKILL leaves nothing behind. Output (stdout and
stderr) is appended to a log file that survives restarts.

Waiting is done by polling, never by blocking the event loop: a drill stops
Redis while its virtual phones keep dialling.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
STOP_TIMEOUT_S = 15.0
POLL_S = 0.01
# Passed through from the runner's environment; every setting a child reads is given explicitly instead.
PASS_THROUGH_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "VIRTUAL_ENV", "PYTHONPATH")
_PR_SET_PDEATHSIG = 1


def clean_env(settings: Mapping[str, str] | None = None) -> dict[str, str]:
    """The runner's PATH, HOME, locale and virtualenv, plus ``settings``: no other setting leaks in."""
    return {k: os.environ[k] for k in PASS_THROUGH_ENV if k in os.environ} | dict(settings or {})


def _load_libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:  # not glibc Linux: children then rely on being stopped explicitly
        return None


# Loaded here, not in the child: between fork and exec only the prctl call itself runs.
_LIBC = _load_libc()


def _die_with_parent() -> None:
    # The signal comes when the thread that forked exits: children are started from the event loop's thread.
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class ChildProcess:
    """One child process (start, stop, kill, start again) with its output in ``log_path``."""

    def __init__(
        self, name: str, argv: Sequence[str], env: Mapping[str, str], log_path: Path, *, cwd: Path = REPO
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = dict(env)
        self.log_path = log_path
        self.cwd = cwd
        self.starts = 0
        self._exited: int | None = None  # the exit status of the last run, once it was reaped
        self._popen: subprocess.Popen[bytes] | None = None  # None again once stopped or killed

    @property
    def pid(self) -> int:
        if self._popen is None:
            raise RuntimeError(f"{self.name} is not running")
        return self._popen.pid

    @property
    def returncode(self) -> int | None:
        """None while it runs (or before it ever ran); else how the last run ended."""
        return self._exited if self._popen is None else self._popen.poll()

    @property
    def running(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def log(self, tail: int = 4000) -> str:
        """The last ``tail`` characters of the log ("" before the first start)."""
        return self.log_path.read_text(errors="replace")[-tail:] if self.log_path.exists() else ""

    def spawn(self) -> None:
        """Start the process (not waiting for it to be ready); a restart appends to the same log."""
        if self.running:
            raise RuntimeError(f"{self.name} is already running")
        self.starts += 1
        self._exited = None
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            log.write(f"--- start {self.starts} ---\n".encode())
            log.flush()
            self._popen = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )

    def send_signal(self, signum: int) -> None:
        """Signal the process itself (not its group), e.g. SIGSTOP to freeze it."""
        if not self.running:
            raise RuntimeError(f"{self.name} is not running")
        assert self._popen is not None
        self._popen.send_signal(signum)

    async def wait(self, timeout_s: float) -> bool:
        """True once the process has exited, False if it is still running after ``timeout_s``."""
        popen = self._popen
        if popen is None:
            return True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while popen.poll() is None:
            if loop.time() > deadline:
                return False
            await asyncio.sleep(POLL_S)
        return True

    async def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """A graceful stop (idempotent): SIGTERM (a server passes it on to its workers), then SIGKILL the group."""
        if self._popen is None:
            return
        if self.running:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGCONT)  # a frozen (SIGSTOP) process never acts on SIGTERM
            self._popen.terminate()
            await self.wait(timeout_s)
        await self.kill()

    async def kill(self) -> None:
        """SIGKILL to the whole group: no shutdown, no cleanup, mid-commit or not (idempotent)."""
        popen = self._popen
        if popen is None:
            return
        # Also after the leader exited: a worker it left behind still belongs to its group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(popen.pid, signal.SIGKILL)
        if not await self.wait(STOP_TIMEOUT_S):
            raise RuntimeError(f"{self.name} (pid {popen.pid}) survived SIGKILL")
        # Forgotten once reaped, so no later stop signals a group whose id the system may have reused.
        self._popen, self._exited = None, popen.returncode
