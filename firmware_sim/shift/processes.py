"""Child processes of the shift: the bridge and the stations, each killable and restartable.

They are real `packline` processes started from this interpreter, so a SIGKILL here is exactly
the crash a power cut or an out-of-memory kill would be. Each keeps its output in a log file in
the shift's directory, named in any failure.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

__all__ = ["ChildProcess", "ChildProcessError_"]


class ChildProcessError_(RuntimeError):  # noqa: N801 (the builtin ChildProcessError is an OSError)
    """A child process could not start or stopped by itself."""


class ChildProcess:
    """`packline <args>` as a child process; `start`, `kill` (SIGKILL) and `stop` (SIGTERM)."""

    def __init__(self, name: str, args: list[str], log_file: Path) -> None:
        self.name = name
        self._args = args
        self._log_file = log_file
        self._process: asyncio.subprocess.Process | None = None
        self.starts = 0
        self.kills = 0
        self._stopped_on_purpose = False

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    async def start(self) -> None:
        """Start it (again); its log is appended to, so a restart's story follows the crash."""
        if self.running:
            raise ChildProcessError_(f"{self.name} is already running")
        log = self._log_file.open("ab")
        try:
            self._process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "edge.cli",
                *self._args,
                stdout=log,
                stderr=log,
                stdin=asyncio.subprocess.DEVNULL,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        finally:
            log.close()
        self.starts += 1
        self._stopped_on_purpose = False

    async def kill(self) -> None:
        """SIGKILL, as a crash would, and reap it."""
        process = self._process
        if process is None or process.returncode is not None:
            return
        self._stopped_on_purpose = True
        process.send_signal(signal.SIGKILL)
        await process.wait()
        self.kills += 1

    async def stop(self, grace_s: float = 10.0) -> None:
        """SIGTERM and wait; SIGKILL if it does not go in time."""
        process = self._process
        if process is None or process.returncode is not None:
            return
        self._stopped_on_purpose = True
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), grace_s)
        except TimeoutError:
            process.kill()
            await process.wait()

    def check_alive(self) -> None:
        """Raise, quoting the end of its log, if it stopped by itself (not killed by us)."""
        process = self._process
        if process is not None and process.returncode is not None and not self._stopped_on_purpose:
            raise ChildProcessError_(
                f"{self.name} exited with status {process.returncode}; the end of its log "
                f"({self._log_file}):\n{self.log_tail()}"
            )

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self._log_file.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])
