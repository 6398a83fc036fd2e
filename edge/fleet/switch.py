"""Switching the `current` symlink atomically, so a power cut leaves the old link or the new."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from edge.fleet.errors import FleetError
from edge.fleet.home import fsync_directory

if TYPE_CHECKING:
    from edge.fleet.home import StationHome

__all__ = ["point_current"]


def point_current(home: StationHome, version: str) -> None:
    """Make `current` point to ``releases/<version>``; doing it again changes nothing.

    A new symlink is made beside `current` and renamed over it (`os.replace` is atomic on
    POSIX), then the home directory is fsynced so the rename survives a power cut.
    """
    if not home.is_installed(version):
        raise FleetError(
            f"cannot switch to {version}: {home.release_dir(version)} is not an installed release"
        )
    target = Path("releases") / version
    if home.current.is_symlink() and Path(os.readlink(home.current)) == target:
        fsync_directory(home.root)
        return
    fresh = home.root / f".current.tmp-{os.getpid()}"
    if fresh.is_symlink() or fresh.exists():
        fresh.unlink()
    fresh.symlink_to(target, target_is_directory=True)
    os.replace(fresh, home.current)
    fsync_directory(home.root)
