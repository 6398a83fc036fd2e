"""One export run: lock the directory, settle a stopped run's files, stream each dataset's new
rows from one snapshot into partial files, commit by storing the watermark, then rename.

Everything that can be refused (the directory, the database and its schema, the watermark, files
the watermark cannot account for, another run holding the lock) is checked before any data file
is written, so bad input leaves the export directory as it was (apart from its lock file).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from cloud_bridge.db import current_revision, head_revision
from cloud_bridge.db.models import Allocation, SalesOrder
from cloud_bridge.export.chunks import chunked
from cloud_bridge.export.datasets import (
    ALLOCATIONS,
    LABELS,
    ORDER_LINES,
    ORDERS,
    SAGE_POSTING_LINES,
    SAGE_POSTINGS,
    SHIPMENT_CORRECTIONS,
    SHIPMENT_LINES,
    SHIPMENTS,
    STATION_EVENTS,
)
from cloud_bridge.export.errors import ExportInputError
from cloud_bridge.export.files import (
    ExportFormat,
    PartialFile,
    commit_files,
    next_run_name,
    run_files,
    settle_leftovers,
)
from cloud_bridge.export.lock import export_lock
from cloud_bridge.export.partial_writer import RunWriter
from cloud_bridge.export.rows import (
    allocation_rows,
    correction_rows,
    order_rows,
    posting_rows,
    shipment_rows,
)
from cloud_bridge.export.select_logs import (
    event_rows,
    read_corrections,
    read_shipments,
    read_station_events,
)
from cloud_bridge.export.select_settled import read_allocations, read_orders, read_postings
from cloud_bridge.export.source import snapshot_engine
from cloud_bridge.export.watermark import (
    WATERMARK_FILE,
    ExportWatermark,
    read_watermark,
    write_watermark,
)
from cloud_bridge.export.window import DEFAULT_LATE_WINDOW, ReadWindow

__all__ = ["ExportOptions", "ExportSummary", "run_export"]

_Batch = TypeVar("_Batch")
_Cursor = TypeVar("_Cursor")


@dataclass(frozen=True)
class ExportOptions:
    """What to export, where to, and from when."""

    database_url: str
    directory: Path
    file_format: ExportFormat = "parquet"
    since: datetime | None = None
    """The lower bound of the first run, or of a run when it is later than the watermark."""
    late_window: timedelta = DEFAULT_LATE_WINDOW


@dataclass(frozen=True)
class ExportSummary:
    """What a run did: rows and file per dataset, how it chose its lower bound, and what it
    found of a run that had stopped."""

    run: str
    file_format: ExportFormat
    read_at: datetime
    lower_bound: str
    rows: dict[str, int]
    files: dict[str, str]
    removed_leftovers: list[str] = field(default_factory=list)
    """Partial files of a run that stopped before it was committed; their rows are in this run."""
    finished_leftovers: list[str] = field(default_factory=list)
    """Files of a committed run that stopped before renaming them, given their final names now."""

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    def as_json(self) -> dict[str, Any]:
        return {
            "run": self.run,
            "format": self.file_format,
            "read_at": self.read_at.isoformat().replace("+00:00", "Z"),
            "lower_bound": self.lower_bound,
            "rows": self.rows,
            "files": self.files,
            "total_rows": self.total_rows,
            "removed_leftovers": self.removed_leftovers,
            "finished_leftovers": self.finished_leftovers,
        }


def run_export(options: ExportOptions, *, now: datetime | None = None) -> ExportSummary:
    """Export every dataset's rows new since the stored watermark into ``options.directory``."""
    directory = options.directory
    if directory.exists() and not directory.is_dir():
        raise ExportInputError(f"--to {directory} is a file; expected a directory (or none yet)")
    engine = snapshot_engine(options.database_url)
    try:
        _require_current_schema(engine)
        directory.mkdir(parents=True, exist_ok=True)
        with export_lock(directory):
            return _locked_run(engine, options, now)
    finally:
        engine.dispose()


def _locked_run(engine: Engine, options: ExportOptions, now: datetime | None) -> ExportSummary:
    directory = options.directory
    stored = read_watermark(directory)
    if stored is None and (found := run_files(directory)):
        raise ExportInputError(
            f"--to {directory} holds {len(found)} exported file(s), such as {found[0]}, but no "
            f"{WATERMARK_FILE}: restore the watermark, or export into an empty directory"
        )
    last_run = stored.last_run if stored else None
    leftovers = settle_leftovers(directory, last_run)
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    window, lower_bound = _window(options, stored, moment)
    run = next_run_name(moment, last_run)
    writer = RunWriter(directory, run, options.file_format)
    try:
        with Session(engine) as session, session.begin():
            watermark = _export(session, stored or ExportWatermark(), window, writer)
        files = writer.close()
    except BaseException:
        writer.discard()
        raise
    write_watermark(directory, watermark.model_copy(update={"last_run": run, "through": moment}))
    commit_files(files)
    return ExportSummary(
        run=run,
        file_format=options.file_format,
        read_at=moment,
        lower_bound=lower_bound,
        rows=writer.rows,
        files=_final_names(directory, files),
        removed_leftovers=[str(path.relative_to(directory)) for path in leftovers.removed],
        finished_leftovers=[str(path.relative_to(directory)) for path in leftovers.finished],
    )


def _final_names(directory: Path, files: list[PartialFile]) -> dict[str, str]:
    return {file.final.parent.name: str(file.final.relative_to(directory)) for file in files}


def _window(
    options: ExportOptions, stored: ExportWatermark | None, now: datetime
) -> tuple[ReadWindow, str]:
    """The read window and, in words, which lower bound applies and why."""
    since = options.since
    if stored is None or stored.through is None:
        bound = f"first run: from {_iso(since)}" if since else "first run: every row"
        return ReadWindow(now=now, since=since, late_window=options.late_window), bound
    through = _iso(stored.through)
    if since is not None and since > stored.through:
        bound = (
            f"--since {_iso(since)} is later than the stored watermark {through}: "
            f"rows stamped before {_iso(since)} are skipped"
        )
        return ReadWindow(now=now, since=since, late_window=options.late_window), bound
    bound = f"continuing from the stored watermark {through}"
    if since is not None:
        bound += f" (--since {_iso(since)} is not later, so it does not apply)"
    return ReadWindow(now=now, since=None, late_window=options.late_window), bound


def _iso(moment: datetime | None) -> str:
    return "" if moment is None else moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _require_current_schema(engine: Engine) -> None:
    revision, head = current_revision(engine), head_revision()
    if revision != head:
        raise ExportInputError(
            f"database is at schema revision {revision or 'none'}; expected {head}: start the "
            "bridge once (it migrates its database) before exporting"
        )


def _export(
    session: Session, stored: ExportWatermark, window: ReadWindow, writer: RunWriter
) -> ExportWatermark:
    """Stream every dataset's rows from one snapshot into ``writer``; the watermark after them."""

    def events(batch: list[Any]) -> None:
        event_batch, label_batch = event_rows(session, batch)
        writer.write(STATION_EVENTS, event_batch)
        writer.write(LABELS, label_batch)

    def shipments(batch: list[Any]) -> None:
        headers, lines = shipment_rows(batch)
        writer.write(SHIPMENTS, headers)
        writer.write(SHIPMENT_LINES, lines)

    def allocations(batch: list[Allocation]) -> None:
        accounts = _order_accounts(session, {row.order_no for row in batch})
        writer.write(ALLOCATIONS, allocation_rows(batch, accounts))

    def postings(batch: list[Any]) -> None:
        headers, lines = posting_rows(batch)
        writer.write(SAGE_POSTINGS, headers)
        writer.write(SAGE_POSTING_LINES, lines)

    def orders(batch: list[Any]) -> None:
        headers, lines = order_rows(batch)
        writer.write(ORDERS, headers)
        writer.write(ORDER_LINES, lines)

    def corrections(batch: list[Any]) -> None:
        writer.write(SHIPMENT_CORRECTIONS, correction_rows(batch))

    return stored.model_copy(
        update={
            "station_events": _drain(
                read_station_events(session, stored.station_events, window), events
            ),
            "shipments": _drain(read_shipments(session, stored.shipments, window), shipments),
            "shipment_corrections": _drain(
                read_corrections(session, stored.shipment_corrections, window), corrections
            ),
            "allocations": _drain(
                read_allocations(session, stored.allocations, window), allocations
            ),
            "sage_postings": _drain(read_postings(session, stored.sage_postings, window), postings),
            "orders": _drain(read_orders(session, stored.orders, window), orders),
        }
    )


def _drain(batches: Generator[_Batch, None, _Cursor], handle: Callable[[_Batch], None]) -> _Cursor:
    """Hand every batch to ``handle``; the reader's cursor once it is exhausted."""
    while True:
        try:
            batch = next(batches)
        except StopIteration as done:
            cursor: _Cursor = done.value
            return cursor
        handle(batch)


def _order_accounts(session: Session, order_nos: set[str]) -> dict[str, str]:
    accounts: dict[str, str] = {}
    for keys in chunked(sorted(order_nos)):
        query = select(SalesOrder.order_no, SalesOrder.account_id).where(
            SalesOrder.order_no.in_(keys)
        )
        accounts.update((order_no, account) for order_no, account in session.execute(query))
    return accounts
