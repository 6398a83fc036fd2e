"""The machine and the servers a bench run used, read at run time and reported with the figures.

Figures mean little without the machine they came from, and the versions are those of the
programs the run really started (the first Mosquitto on the rig's search path, the newest
installed PostgreSQL), not what a document says should be installed.
"""

from __future__ import annotations

import os
import platform
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

from firmware_sim.broker import BrokerError, find_mosquitto
from firmware_sim.postgres import PostgresError, find_postgres_bin

__all__ = ["Machine", "describe_machine"]

_NOT_INSTALLED = "not installed"


@dataclass(frozen=True)
class Machine:
    """What the figures of one run were measured on."""

    cores: int
    ram_gib: float
    cpu: str
    python: str
    sqlite: str
    postgresql: str
    mosquitto: str


def describe_machine() -> Machine:
    """This machine as the run sees it, and the versions of the servers the bench starts.

    Cores are those this process may run on, as `nproc` counts them.
    """
    return Machine(
        cores=len(os.sched_getaffinity(0)),
        ram_gib=round(_mem_total_kib() / 2**20, 1),
        cpu=_cpu_model(),
        python=platform.python_version(),
        sqlite=sqlite3.sqlite_version,
        postgresql=_postgresql_version(),
        mosquitto=_mosquitto_version(),
    )


def _mem_total_kib() -> int:
    try:
        text = Path("/proc/meminfo").read_text(encoding="ascii")
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1])
    return 0


def _cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return platform.processor() or "unknown"
    for line in text.splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _first_line(command: list[str]) -> str:
    completed = subprocess.run(command, capture_output=True, text=True, check=False, timeout=10)
    output = (completed.stdout or completed.stderr).strip()
    return output.splitlines()[0] if output else "unknown"


def _postgresql_version() -> str:
    try:
        bin_dir = find_postgres_bin()
    except PostgresError:
        return _NOT_INSTALLED
    # "postgres (PostgreSQL) 15.8 (Debian 15.8-0+deb12u1)" -> "15.8"
    words = _first_line([str(bin_dir / "postgres"), "--version"]).split()
    return words[2] if len(words) > 2 else " ".join(words)


def _mosquitto_version() -> str:
    try:
        executable = find_mosquitto()
    except BrokerError:
        return _NOT_INSTALLED
    # "mosquitto version 2.0.11" (printed by -h, which exits non-zero)
    words = _first_line([str(executable), "-h"]).split()
    return words[-1] if words else "unknown"
