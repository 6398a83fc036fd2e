"""One export run at a time per export directory.

Two runs into the same directory would both start from the same watermark and write the same
rows into two runs' files. Each run therefore holds an exclusive ``flock`` on ``DIR/.lock`` from
before it reads the watermark until its files have their final names. The lock is not waited
for: a second run is refused at once, so a nightly job that overran is reported, not queued. The
kernel drops the lock when the process ends, however it ends, so a crashed run never leaves the
directory locked; the file itself stays (removing it would let two runs lock two different files).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cloud_bridge.export.errors import ExportBusyError

__all__ = ["LOCK_FILE", "export_lock"]

LOCK_FILE = ".lock"


@contextmanager
def export_lock(directory: Path) -> Iterator[None]:
    """Hold the export directory's lock for the block; refuse if another run holds it."""
    path = directory / LOCK_FILE
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ExportBusyError(
                f"another export is running into {directory} (it holds {path}); "
                "wait for it to finish, then run again"
            ) from None
        yield
    finally:
        os.close(descriptor)
