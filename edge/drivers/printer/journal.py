"""The print-job journal: every job id, written to disk before its first byte goes out.

A label printed twice ships a parcel twice, so the journal is the single answer to "did this job
print?". The driver records `sending` before it writes, and the outcome after. A job still at
`sending` after a crash, or `unknown` after a dropped link, is never sent again on its own: only
an explicit reprint with a reason does, and the reprint is recorded beside the job.

Storage is TinyDB with a storage class of our own that replaces the file atomically (write a
temporary file, fsync, rename), so a power cut leaves the old journal or the new one, never a
truncated file.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from tinydb import Query, TinyDB
from tinydb.storages import Storage

__all__ = ["JobJournal", "JobRecord", "JobState", "ReprintRecord"]


class JobState(StrEnum):
    """Where a print job stands."""

    SENDING = "sending"
    """Recorded before the first byte; still here after a crash means the outcome is unknown."""
    NOT_SENT = "not_sent"
    """Refused before any byte went out (a fault, the printer offline); may be submitted again."""
    PRINTED = "printed"
    """The printer reported nothing left to print after the job."""
    QUEUED = "queued"
    """The printer holds the job (e.g. paper out) and prints it when the fault clears."""
    SPOOLED = "spooled"
    """Handed to a CUPS queue, which cannot report back."""
    UNKNOWN = "unknown"
    """Sending began but the outcome was never seen; only an explicit reprint resends."""


UNSETTLED = frozenset({JobState.SENDING, JobState.UNKNOWN})


@dataclass(frozen=True)
class ReprintRecord:
    """One explicit reprint of a job: why, and how it ended."""

    reason: str
    state: JobState
    detail: str
    at: str


@dataclass(frozen=True)
class JobRecord:
    """A job as the journal knows it."""

    job_id: str
    zpl: str
    state: JobState
    detail: str
    created_at: str
    updated_at: str
    reprints: tuple[ReprintRecord, ...]


class _AtomicJsonStorage(Storage):
    """TinyDB storage that replaces its file atomically and fsyncs before returning."""

    def __init__(self, path: str) -> None:
        self._path = Path(path)
        self._path.parent.mkdir(parents=True, exist_ok=True)

    def read(self) -> dict[str, dict[str, Any]] | None:
        try:
            text = self._path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        if not text.strip():
            return None
        data: dict[str, dict[str, Any]] = json.loads(text)
        return data

    def write(self, data: dict[str, dict[str, Any]]) -> None:
        temporary = self._path.with_name(self._path.name + ".tmp")
        with temporary.open("w", encoding="utf-8") as handle:
            json.dump(data, handle, ensure_ascii=False)
            handle.flush()
            os.fsync(handle.fileno())
        temporary.replace(self._path)
        directory = os.open(self._path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def close(self) -> None:
        """Nothing is held open between writes."""


def _now() -> str:
    return datetime.now(UTC).isoformat()


class JobJournal:
    """Job ids and outcomes, persisted in one JSON file at `path`."""

    def __init__(self, path: Path) -> None:
        self._db = TinyDB(str(path), storage=_AtomicJsonStorage)
        self._jobs = self._db.table("jobs")

    def close(self) -> None:
        """Close the database file."""
        self._db.close()

    def get(self, job_id: str) -> JobRecord | None:
        """The job's record, or None if the id was never seen."""
        document = self._jobs.get(Query().job_id == job_id)
        if document is None or isinstance(document, list):
            return None
        return _record(document)

    def record_attempt(self, job_id: str, zpl: str, state: JobState, detail: str = "") -> None:
        """Create or update the job: `sending` just before a send, `not_sent` if refused."""
        now = _now()
        existing = self.get(job_id)
        document = {
            "job_id": job_id,
            "zpl": zpl,
            "state": state.value,
            "detail": detail,
            "created_at": existing.created_at if existing else now,
            "updated_at": now,
            "reprints": []
            if existing is None
            else [_reprint_document(r) for r in existing.reprints],
        }
        self._jobs.upsert(document, Query().job_id == job_id)

    def record_outcome(self, job_id: str, state: JobState, detail: str) -> None:
        """Record how the job's send ended."""
        self._jobs.update(
            {"state": state.value, "detail": detail, "updated_at": _now()},
            Query().job_id == job_id,
        )

    def record_reprint(self, job_id: str, reason: str, state: JobState, detail: str = "") -> int:
        """Append a reprint to the job; return its number (1 for the first)."""
        record = self.get(job_id)
        if record is None:
            raise KeyError(job_id)
        reprints = [_reprint_document(r) for r in record.reprints]
        reprints.append({"reason": reason, "state": state.value, "detail": detail, "at": _now()})
        self._jobs.update({"reprints": reprints, "updated_at": _now()}, Query().job_id == job_id)
        return len(reprints)

    def record_reprint_outcome(
        self, job_id: str, number: int, state: JobState, detail: str
    ) -> None:
        """Record how reprint `number` of the job ended."""
        record = self.get(job_id)
        if record is None or not 1 <= number <= len(record.reprints):
            raise KeyError(f"{job_id} reprint {number}")
        reprints = [_reprint_document(r) for r in record.reprints]
        reprints[number - 1] |= {"state": state.value, "detail": detail, "at": _now()}
        self._jobs.update({"reprints": reprints, "updated_at": _now()}, Query().job_id == job_id)


def _reprint_document(reprint: ReprintRecord) -> dict[str, str]:
    return {
        "reason": reprint.reason,
        "state": reprint.state.value,
        "detail": reprint.detail,
        "at": reprint.at,
    }


def _record(document: dict[str, Any]) -> JobRecord:
    return JobRecord(
        job_id=str(document["job_id"]),
        zpl=str(document["zpl"]),
        state=JobState(document["state"]),
        detail=str(document.get("detail", "")),
        created_at=str(document["created_at"]),
        updated_at=str(document["updated_at"]),
        reprints=tuple(
            ReprintRecord(
                reason=str(item["reason"]),
                state=JobState(item["state"]),
                detail=str(item.get("detail", "")),
                at=str(item["at"]),
            )
            for item in document.get("reprints", [])
        ),
    )
