"""The boot step: settle the updater, then replace this process with the station on `current`.

It runs before any release code is imported, from the interpreter's own environment, so a
release that cannot even start is still counted and rolled back. The station then runs with the
release's ``lib`` first on PYTHONPATH (its packages and dist-info shadow the installed ones), or
with no PYTHONPATH for the factory base release, and with the home as working directory.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import NoReturn

from edge.contract import UpdateState
from edge.fleet.errors import UpdateRefused
from edge.fleet.home import StationHome
from edge.fleet.install import ReleaseFiles
from edge.fleet.updater import Checkpoint, Updater

__all__ = ["Exec", "boot_and_exec", "station_command"]

Exec = Callable[[str, list[str], dict[str, str]], object]
"""``os.execve``'s shape: path, argv, environment (it does not return when it works)."""


def _no_fetch(target: str, _installed: str, _into: Path) -> ReleaseFiles:
    raise UpdateRefused("download_failed", f"the boot step downloads nothing (asked for {target})")


def _no_checkpoint(_state: UpdateState) -> None:
    return None


def station_command(
    lib: Path | None, argv_after: Sequence[str], environ: Mapping[str, str]
) -> tuple[list[str], dict[str, str]]:
    """The argv and environment that run ``python -m edge.cli <argv_after>`` on a release.

    Only the release's lib goes on PYTHONPATH (as an absolute path: the station runs from the
    home), so nothing else can shadow the release; the base release runs with none at all.
    """
    argv = [sys.executable, "-m", "edge.cli", *argv_after]
    env = dict(environ)
    if lib is None:
        env.pop("PYTHONPATH", None)
    else:
        env["PYTHONPATH"] = str(lib.absolute())
    return argv, env


def boot_and_exec(
    home: StationHome | Path,
    argv_after: list[str],
    *,
    max_trial_starts: int = 3,
    checkpoint: Checkpoint = _no_checkpoint,
    execve: Exec = os.execve,
) -> NoReturn:
    """Run the updater's boot step, then exec the station on the release `current` names.

    `execve` is the exec to use (tests pass one that records instead of replacing the process).
    """
    if not isinstance(home, StationHome):
        home = StationHome(home)
    updater = Updater(
        home, fetch=_no_fetch, checkpoint=checkpoint, max_trial_starts=max_trial_starts
    )
    lib = updater.boot()
    argv, env = station_command(lib, argv_after, os.environ)
    os.chdir(home.root)
    sys.stdout.flush()
    sys.stderr.flush()
    execve(argv[0], argv, env)
    raise SystemExit(f"exec of {argv[0]} returned")
