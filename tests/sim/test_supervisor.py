"""The simulated fleet's supervisor restarts programs the way systemd's Restart=always does."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path

from firmware_sim.supervisor import SupervisedProgram, Supervisor


def _counter_program(tmp_path: Path, name: str, exit_code: int) -> SupervisedProgram:
    """A program that appends one line per start to a file, then exits with `exit_code`."""
    script = (
        "import pathlib, sys, time\n"
        f"p = pathlib.Path({str(tmp_path / (name + '.runs'))!r})\n"
        "p.write_text(p.read_text() + 'run\\n' if p.exists() else 'run\\n')\n"
        f"sys.exit({exit_code})\n"
    )
    return SupervisedProgram(
        name=name,
        argv=[sys.executable, "-c", script],
        cwd=tmp_path,
        log_file=tmp_path / f"{name}.log",
    )


async def _wait_for(condition: Callable[[], bool], timeout_s: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def test_a_program_that_exits_is_started_again_whatever_its_exit_status(
    tmp_path: Path,
) -> None:
    programs = [_counter_program(tmp_path, "clean", 0), _counter_program(tmp_path, "crash", 75)]

    async with Supervisor(programs, restart_s=0.05) as supervisor:
        await _wait_for(lambda: all(s.starts >= 3 for s in supervisor.states.values()))

    assert supervisor.states["clean"].exit_codes[:2] == [0, 0]
    assert supervisor.states["crash"].exit_codes[:2] == [75, 75]
    assert (tmp_path / "crash.runs").read_text().count("run") >= 2


async def test_a_power_cut_kills_the_program_and_it_comes_back(tmp_path: Path) -> None:
    sleeper = SupervisedProgram(
        name="station",
        argv=[sys.executable, "-c", "import time; time.sleep(60)"],
        cwd=tmp_path,
        log_file=tmp_path / "station.log",
    )

    async with Supervisor([sleeper], restart_s=0.05) as supervisor:
        state = supervisor.states["station"]
        await _wait_for(lambda: state.running)
        first_pid = state.pid
        assert await supervisor.power_cut("station")
        await _wait_for(lambda: state.starts == 2 and state.running)

        assert state.pid != first_pid
        assert state.exit_codes == [-9]
        assert state.power_cuts == 1

    assert not state.running
