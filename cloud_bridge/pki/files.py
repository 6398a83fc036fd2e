"""Writing the PKI's files: private keys 0600 from the first byte, everything replaced atomically.

Every file is written to a temporary name in the same directory, fsynced and renamed over the old
one, so a crash leaves either the old file or the new one. A key's temporary file is created with
mode 0600 by `os.open`, so there is never a moment at which another user could open it.
"""

from __future__ import annotations

import fcntl
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

from cloud_bridge.pki.errors import InsecurePkiError

__all__ = [
    "PRIVATE_DIR_MODE",
    "PRIVATE_FILE_MODE",
    "PUBLIC_FILE_MODE",
    "exclusive_lock",
    "make_private_dir",
    "require_private",
    "write_atomic",
]

PRIVATE_DIR_MODE: Final = 0o700
PRIVATE_FILE_MODE: Final = 0o600
PUBLIC_FILE_MODE: Final = 0o644


def make_private_dir(directory: Path) -> None:
    """Create ``directory`` (and parents) and make it 0700, even if it already existed."""
    directory.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    directory.chmod(PRIVATE_DIR_MODE)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes, mode: int) -> None:
    """Replace ``path`` with ``data``; the file has ``mode`` from its creation on."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.unlink(missing_ok=True)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.fchmod(fd, mode)  # the umask may have narrowed a public file's mode
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)
    _fsync_dir(path.parent)


def require_private(path: Path, what: str) -> None:
    """Refuse ``path`` if group or others can reach it: a key anyone can copy protects nothing."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        wanted = PRIVATE_DIR_MODE if path.is_dir() else PRIVATE_FILE_MODE
        raise InsecurePkiError(
            f"{what} {path} has mode {mode:04o}, readable by group or others; "
            f"expected {wanted:04o} (chmod {wanted:o} {path})"
        )


@contextmanager
def exclusive_lock(directory: Path) -> Iterator[None]:
    """Hold the PKI's lock, so two `issue` or `revoke` runs never interleave their index writes."""
    fd = os.open(directory / ".lock", os.O_WRONLY | os.O_CREAT, PRIVATE_FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
