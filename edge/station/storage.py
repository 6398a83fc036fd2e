"""A crash-safe TinyDB storage: a JSON snapshot plus an append-only, checksummed journal.

TinyDB's stock `JSONStorage` rewrites the whole file in place on every write, so a power cut
mid-write can leave a corrupt file, and every insert costs as much as the whole database. Here a
write appends ONE journal record holding the new content of each table that changed (TinyDB always
gives a changed table a new dict object, so an identity check finds them) and the names of dropped
tables, then fsyncs before returning. Records set whole tables, so replaying them is idempotent:
that is what makes compaction (snapshot, replace, truncate the journal) safe to interrupt anywhere.

Each record is framed as ``<length> <crc32>\\t<json>\\n``. On load a torn or checksum-bad record
at the end of the journal is discarded (its write never returned, so nobody was told it
succeeded); a bad record followed by a good one is real corruption and is reported, never skipped.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from tinydb import TinyDB
from tinydb.storages import Storage

from edge.errors import EdgeError

__all__ = [
    "DEFAULT_COMPACT_AFTER_BYTES",
    "JournalCorruptError",
    "JournalStorage",
    "StorageError",
    "StoreLockedError",
    "journal_storage_of",
]

DEFAULT_COMPACT_AFTER_BYTES = 16 * 2**20
"""Journal size that triggers compaction; large enough that compaction is a rare append."""

Tables = dict[str, dict[str, Any]]

_HEADER_MAX = 32
"""More header bytes than any valid ``<length> <crc>\\t`` needs; bounds the search for one."""


class StorageError(EdgeError):
    """Base of the errors raised by the station's storage."""


class JournalCorruptError(StorageError, ValueError):
    """A snapshot or journal record is damaged somewhere other than an unfinished last write."""


class StoreLockedError(StorageError, RuntimeError):
    """Another process (or another open in this one) already has the store open."""


def _encode_record(sets: Tables, drops: list[str]) -> bytes:
    body = json.dumps({"set": sets, "drop": drops}, separators=(",", ":")).encode("utf-8")
    return b"%d %08x\t%s\n" % (len(body), zlib.crc32(body), body)


def _decode_record(data: bytes, offset: int) -> tuple[dict[str, Any], int] | None:
    """The record at `offset` and the offset after it, or None if it is torn or damaged."""
    tab = data.find(b"\t", offset, offset + _HEADER_MAX)
    if tab < 0:
        return None
    try:
        length_text, crc_text = data[offset:tab].split(b" ")
        length, crc = int(length_text), int(crc_text, 16)
    except ValueError:
        return None
    end = tab + 1 + length
    if length < 0 or end >= len(data) or data[end : end + 1] != b"\n":
        return None
    body = data[tab + 1 : end]
    if zlib.crc32(body) != crc:
        return None
    try:
        record = json.loads(body)
    except ValueError:
        return None
    if not isinstance(record, dict):
        return None
    return record, end + 1


def _later_record_exists(data: bytes, offset: int) -> bool:
    """Whether a valid record starts on any line after `offset` (so `offset` is not the tail)."""
    newline = data.find(b"\n", offset)
    while newline >= 0:
        if _decode_record(data, newline + 1) is not None:
            return True
        newline = data.find(b"\n", newline + 1)
    return False


def _apply(tables: Tables, record: dict[str, Any]) -> None:
    for name in record.get("drop", ()):
        tables.pop(name, None)
    tables.update(record.get("set", {}))


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass
class _PendingRecord:
    """The changes a transaction has made so far, merged into one record at exit."""

    sets: Tables = field(default_factory=dict)
    drops: set[str] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.sets or self.drops)


class JournalStorage(Storage):
    """TinyDB storage: snapshot at `path`, journal at `path.journal`, lock at `path.lock`.

    Use as ``TinyDB(path, storage=JournalStorage, compact_after_bytes=...)``. Every `write`
    is durable when it returns. `transaction()` merges the writes inside it into one record.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        compact_after_bytes: int = DEFAULT_COMPACT_AFTER_BYTES,
        create_dirs: bool = True,
    ) -> None:
        super().__init__()
        if compact_after_bytes < 1:
            raise ValueError(f"compact_after_bytes must be >= 1; got {compact_after_bytes}")
        self._path = Path(path)
        self._journal_path = self._path.with_name(self._path.name + ".journal")
        self._temp_path = self._path.with_name(self._path.name + ".compacting")
        self._compact_after_bytes = compact_after_bytes
        self._mutex = threading.RLock()
        self._pending: _PendingRecord | None = None
        self._rollbacks = 0
        if create_dirs:
            self._path.parent.mkdir(parents=True, exist_ok=True)
        self._lock_file = self._acquire_lock()
        try:
            self._tables = self._load()
            self._journal: IO[bytes] = open(self._journal_path, "ab")  # noqa: SIM115
        except BaseException:
            self._release_lock()
            raise
        _fsync_directory(self._path.parent)

    # --- TinyDB's Storage interface ---------------------------------------------------------

    def read(self) -> Tables:
        """A shallow copy of the tables, so TinyDB's assignment leaves our "before" intact."""
        with self._mutex:
            return dict(self._tables)

    def write(self, data: Tables) -> None:
        """Journal the tables that are new objects since the last write; durable on return."""
        with self._mutex:
            sets = {
                name: table for name, table in data.items() if self._tables.get(name) is not table
            }
            drops = [name for name in self._tables if name not in data]
            self._tables = dict(data)
            if not sets and not drops:
                return
            if self._pending is not None:
                for name in drops:
                    self._pending.sets.pop(name, None)
                    self._pending.drops.add(name)
                for name, table in sets.items():
                    self._pending.drops.discard(name)
                    self._pending.sets[name] = table
                return
            self._append_or_restore(sets, drops)

    def close(self) -> None:
        """Close the journal and release the lock; the data on disk is already durable."""
        with self._mutex:
            if self._journal.closed:
                return
            self._journal.close()
            self._release_lock()

    # --- what the station adds -------------------------------------------------------------

    @property
    def path(self) -> Path:
        """The snapshot file; the journal and the lock file sit beside it."""
        return self._path

    @property
    def rollbacks(self) -> int:
        """How many transactions were rolled back, so caches built on the tables can resync."""
        return self._rollbacks

    @property
    def journal_bytes(self) -> int:
        """The journal's current size."""
        with self._mutex:
            return os.fstat(self._journal.fileno()).st_size

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Merge every write inside into one journal record (one fsync) written at exit.

        On an exception nothing is written and the tables go back to their committed state,
        re-read from disk because TinyDB's `update` changes documents in place. A nested
        transaction joins the outer one.
        """
        with self._mutex:
            if self._pending is not None:
                outermost = False
            else:
                outermost, self._pending = True, _PendingRecord()
        if not outermost:
            yield
            return
        try:
            yield
        except BaseException:
            with self._mutex:
                self._pending = None
                self._restore_committed()
            raise
        with self._mutex:
            pending, self._pending = self._pending, None
            if pending:
                self._append_or_restore(pending.sets, sorted(pending.drops))

    def compact(self) -> None:
        """Write the whole state as the new snapshot and empty the journal.

        Crash-safe at every step: until `os.replace` the old snapshot plus the full journal
        stand; after it, replaying the old journal over the new snapshot sets each table to
        its newest content again, which the snapshot already holds.
        """
        with self._mutex:
            if self._pending is not None:
                raise StorageError(f"cannot compact {self._path} inside a transaction")
            with open(self._temp_path, "wb") as temp:
                temp.write(json.dumps(self._tables, separators=(",", ":")).encode("utf-8"))
                temp.flush()
                os.fsync(temp.fileno())
            os.replace(self._temp_path, self._path)
            _fsync_directory(self._path.parent)
            self._journal.truncate(0)
            self._journal.flush()
            os.fsync(self._journal.fileno())

    # --- internals -------------------------------------------------------------------------

    def _append_or_restore(self, sets: Tables, drops: list[str]) -> None:
        """Append one record; if that fails, cut the journal back and reload what is durable."""
        start = os.fstat(self._journal.fileno()).st_size
        try:
            record = _encode_record(sets, drops)
            self._journal.write(record)
            self._journal.flush()
            os.fsync(self._journal.fileno())
        except BaseException:
            with contextlib.suppress(OSError):
                self._journal.truncate(start)
            self._restore_committed()
            raise
        if start + len(record) >= self._compact_after_bytes:
            self.compact()

    def _restore_committed(self) -> None:
        self._tables = self._load()
        self._rollbacks += 1

    def _load(self) -> Tables:
        """The snapshot with the journal replayed over it; a torn tail is cut off the journal."""
        if self._temp_path.exists():
            self._temp_path.unlink()
        tables = self._read_snapshot()
        try:
            data = self._journal_path.read_bytes()
        except FileNotFoundError:
            return tables
        offset = 0
        while offset < len(data):
            decoded = _decode_record(data, offset)
            if decoded is None:
                if _later_record_exists(data, offset):
                    raise JournalCorruptError(
                        f"{self._journal_path}: damaged record at byte {offset} of {len(data)} "
                        "is followed by valid records; expected damage only in the last record"
                    )
                self._cut_journal(offset)
                break
            record, offset = decoded
            _apply(tables, record)
        return tables

    def _read_snapshot(self) -> Tables:
        try:
            text = self._path.read_bytes()
        except FileNotFoundError:
            return {}
        if not text:
            return {}
        try:
            tables = json.loads(text)
        except ValueError as error:
            raise JournalCorruptError(
                f"{self._path}: snapshot is not valid JSON at byte {getattr(error, 'pos', '?')}; "
                "expected a complete snapshot (it is only ever replaced whole)"
            ) from error
        if not isinstance(tables, dict):
            raise JournalCorruptError(f"{self._path}: snapshot is not a JSON object of tables")
        return tables

    def _cut_journal(self, offset: int) -> None:
        with open(self._journal_path, "r+b") as journal:
            journal.truncate(offset)
            journal.flush()
            os.fsync(journal.fileno())

    def _acquire_lock(self) -> IO[bytes]:
        lock_path = self._path.with_name(self._path.name + ".lock")
        lock_file = open(lock_path, "ab")  # noqa: SIM115
        try:
            fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock_file.close()
            raise StoreLockedError(
                f"{self._path} is already open (lock {lock_path} is held); "
                "expected one station process per store"
            ) from None
        return lock_file

    def _release_lock(self) -> None:
        fcntl.flock(self._lock_file.fileno(), fcntl.LOCK_UN)
        self._lock_file.close()


def journal_storage_of(db: TinyDB) -> JournalStorage:
    """The db's `JournalStorage`, typed, for `transaction()` and `compact()`."""
    storage = db.storage
    if not isinstance(storage, JournalStorage):
        raise StorageError(
            f"expected a TinyDB opened with storage=JournalStorage; got {type(storage).__name__}"
        )
    return storage
