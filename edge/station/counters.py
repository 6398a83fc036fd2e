"""Counters that only ever go up, even across crashes, power cuts and restarts.

The event sequence lets the bridge apply events in order and acknowledge "everything up to N";
the birth/death sequence lets it tell a stale death from a fresh birth. Both break if a number is
ever reused, so each increment is durable before the number is handed out: the new value is
written to a temporary file, fsynced, moved over the old file with `os.replace` (atomic on POSIX),
and the directory is fsynced so the rename itself survives a power cut. A counter file that cannot
be read is an error, never a silent restart from zero.

A counter holds an exclusive lock on its file while open, so two processes sharing a state
directory by mistake fail at start-up instead of handing out the same numbers.
"""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from edge.errors import EdgeError

__all__ = [
    "BD_SEQ_FILE",
    "EVENT_SEQ_FILE",
    "CounterError",
    "CounterFileError",
    "CounterInUseError",
    "DurableCounter",
    "StationCounters",
]

EVENT_SEQ_FILE = "event_seq"
BD_SEQ_FILE = "bd_seq"
_MAX_VALUE = 2**63 - 1


class CounterError(EdgeError):
    """Base of the errors a persisted counter raises."""


class CounterFileError(CounterError, ValueError):
    """The counter file exists but does not hold a valid value; it is not reset automatically."""


class CounterInUseError(CounterError, RuntimeError):
    """Another counter object, in this or another process, already holds the file."""


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class DurableCounter:
    """One persisted counter. `next()` returns 1 the first time, then 2, 3, ... forever.

    Use it as a context manager, or call `close()`, to release the file lock.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._mutex = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock_file = self._acquire_lock(path)
        try:
            self._value = self._read()
        except BaseException:
            self._lock_file.close()
            raise

    @property
    def path(self) -> Path:
        return self._path

    @property
    def value(self) -> int:
        """The last number handed out (0 if none ever was)."""
        return self._value

    def next(self) -> int:
        """Persist the next number durably, then return it."""
        with self._mutex:
            self._ensure_open()
            if self._value >= _MAX_VALUE:
                raise CounterFileError(f"counter {self._path} is exhausted at {self._value}")
            value = self._value + 1
            self._write(value)
            self._value = value
            return value

    def close(self) -> None:
        """Release the lock; the counter cannot be used afterwards."""
        self._lock_file.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _ensure_open(self) -> None:
        if self._lock_file.closed:
            raise CounterError(f"counter {self._path} is closed")

    @staticmethod
    def _acquire_lock(path: Path) -> IO[bytes]:
        lock_file = path.with_name(f"{path.name}.lock").open("ab")
        try:
            fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock_file.close()
            raise CounterInUseError(
                f"counter {path} is in use by another counter object or "
                "process; one station process per state directory"
            ) from None
        return lock_file

    def _read(self) -> int:
        try:
            text = self._path.read_text(encoding="ascii")
        except FileNotFoundError:
            return 0
        except (OSError, UnicodeDecodeError) as error:
            raise CounterFileError(f"counter file {self._path} cannot be read: {error}") from error
        stripped = text.strip()
        if not stripped.isdigit() or not text.endswith("\n"):
            raise CounterFileError(
                f"counter file {self._path} holds {text[:40]!r}; expected a non-negative integer "
                "and a newline (restore it from the outbox's highest sequence, never reset it)"
            )
        return int(stripped)

    def _write(self, value: int) -> None:
        temporary = self._path.with_name(f"{self._path.name}.tmp")
        with temporary.open("w", encoding="ascii") as handle:
            handle.write(f"{value}\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self._path)
        _fsync_directory(self._path.parent)


class StationCounters:
    """The two counters a station persists, side by side in its state directory."""

    def __init__(self, directory: Path) -> None:
        self.event_seq = DurableCounter(directory / EVENT_SEQ_FILE)
        try:
            self.bd_seq = DurableCounter(directory / BD_SEQ_FILE)
        except BaseException:
            self.event_seq.close()
            raise

    def close(self) -> None:
        self.event_seq.close()
        self.bd_seq.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
