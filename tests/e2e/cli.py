"""Running the installed ``enerlectra`` command the way an operator does, for the CLI tests."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

ENERLECTRA = Path(sys.executable).parent / "enerlectra"


class Cli:
    def __init__(self, db: Path) -> None:
        self.db = db
        env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "PORT", "ENERLECTRA_ENV"}}
        self.env = {**env, "DATABASE_URL": f"sqlite:///{db}", "PIN_KDF_LOG2_N": "10"}

    def __call__(self, *args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(ENERLECTRA), *args],
            env={**self.env, **extra_env},
            cwd=self.db.parent,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def copied_to(self, db: Path) -> Cli:
        """A CLI on a copy of this one's database (SQLite's online backup: a consistent copy)."""
        copy = Cli(db)
        source, target = sqlite3.connect(self.db), sqlite3.connect(db)
        try:
            source.backup(target)
        finally:
            source.close()
            target.close()
        return copy


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"{result.args} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr
    return result.stdout
