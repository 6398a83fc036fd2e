"""A small process supervisor for the simulated fleet: what systemd's `Restart=always` does on a Pi.

Each program is started, and started again whenever it exits, after a short pause, however it
exited: a station that exits 75 to restart into a new release, one that crashes on import, and one
killed by a simulated power cut (`power_cut`, a SIGKILL) all come back the same way. The boot step
of the station (`packline station boot`) decides which release the new process runs, exactly as it
does under systemd, so the simulated fleet exercises the real update path.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["ProgramState", "SupervisedProgram", "Supervisor"]


@dataclass(frozen=True, slots=True)
class SupervisedProgram:
    """One program to keep running: its command, working directory, environment and log file."""

    name: str
    argv: Sequence[str]
    cwd: Path
    log_file: Path
    env: Mapping[str, str] = field(default_factory=dict)
    """Added to (and overriding) the supervisor's own environment."""


@dataclass(slots=True)
class ProgramState:
    """What happened to one program so far: how often it started, how each run ended."""

    program: SupervisedProgram
    starts: int = 0
    exit_codes: list[int] = field(default_factory=list)
    power_cuts: int = 0
    process: asyncio.subprocess.Process | None = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.running and self.process is not None else None


class Supervisor:
    """Keeps every program running until `stop`; use as ``async with Supervisor(...) as s``."""

    def __init__(self, programs: Sequence[SupervisedProgram], *, restart_s: float = 0.5) -> None:
        names = [program.name for program in programs]
        if len(set(names)) != len(names):
            raise ValueError(f"program names must be unique, got {names}")
        self.restart_s = restart_s
        self.states = {program.name: ProgramState(program) for program in programs}
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()

    async def __aenter__(self) -> Supervisor:
        self._tasks = [
            asyncio.create_task(self._keep_running(state), name=f"supervise-{name}")
            for name, state in self.states.items()
        ]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def power_cut(self, name: str) -> bool:
        """SIGKILL the program, as pulling the plug would; it comes back after `restart_s`.

        Returns False when it was not running at that moment (between two runs).
        """
        state = self.states[name]
        process = state.process
        if process is None or process.returncode is not None:
            return False
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGKILL)
        state.power_cuts += 1
        return True

    async def stop(self, grace_s: float = 10.0) -> None:
        """Stop restarting, SIGTERM every program, SIGKILL those still up after `grace_s`."""
        self._stopping.set()
        processes = [
            state.process for state in self.states.values() if state.running and state.process
        ]
        for process in processes:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                await asyncio.wait_for(process.wait(), grace_s)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await task
        self._tasks = []
        # A program the loop was starting while we stopped was not in the list above.
        for state in self.states.values():
            late = state.process
            if late is not None and late.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    late.kill()
                await late.wait()

    async def _keep_running(self, state: ProgramState) -> None:
        program = state.program
        while not self._stopping.is_set():
            log = program.log_file.open("ab")
            try:
                state.process = await asyncio.create_subprocess_exec(
                    *program.argv,
                    cwd=program.cwd,
                    stdout=log,
                    stderr=log,
                    stdin=asyncio.subprocess.DEVNULL,
                    env={**os.environ, "PYTHONUNBUFFERED": "1", **program.env},
                    start_new_session=True,
                )
            finally:
                log.close()
            state.starts += 1
            code = await state.process.wait()
            state.exit_codes.append(code)
            if self._stopping.is_set():
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.restart_s)
