"""One export run: read a snapshot, write each dataset's new rows, then store the watermark.

Everything that can be refused (the directory, the watermark, the database's schema) is checked
before anything is written, so bad input leaves the export directory as it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from cloud_bridge.db import current_revision, head_revision
from cloud_bridge.db.models import SalesOrder
from cloud_bridge.export.datasets import DATASETS, Row
from cloud_bridge.export.errors import ExportInputError
from cloud_bridge.export.files import (
    ExportFormat,
    PartialFile,
    commit_files,
    next_run_name,
    remove_leftovers,
    run_files,
    write_partial,
)
from cloud_bridge.export.rows import (
    allocation_rows,
    correction_rows,
    order_rows,
    posting_rows,
    shipment_rows,
)
from cloud_bridge.export.select_logs import read_corrections, read_shipments, read_station_events
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

_CHUNK = 500


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
    """What a run did: rows and file per dataset, and how it chose its lower bound."""

    run: str
    file_format: ExportFormat
    read_at: datetime
    lower_bound: str
    rows: dict[str, int]
    files: dict[str, str]
    removed_leftovers: list[str] = field(default_factory=list)

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
        }


def run_export(options: ExportOptions, *, now: datetime | None = None) -> ExportSummary:
    """Export every dataset's rows new since the stored watermark into ``options.directory``."""
    directory = options.directory
    if directory.exists() and not directory.is_dir():
        raise ExportInputError(f"--to {directory} is a file; expected a directory (or none yet)")
    stored = read_watermark(directory) if directory.is_dir() else None
    if stored is None and directory.is_dir() and (found := run_files(directory)):
        raise ExportInputError(
            f"--to {directory} holds {len(found)} exported file(s), such as {found[0]}, but no "
            f"{WATERMARK_FILE}: restore the watermark, or export into an empty directory"
        )
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    window, lower_bound = _window(options, stored, moment)
    engine = snapshot_engine(options.database_url)
    try:
        _require_current_schema(engine)
        with Session(engine) as session, session.begin():
            tables, watermark = _read(session, stored or ExportWatermark(), window)
    finally:
        engine.dispose()
    directory.mkdir(parents=True, exist_ok=True)
    removed = remove_leftovers(directory, stored.last_run if stored else None)
    run = next_run_name(moment, stored.last_run if stored else None)
    files = _write(directory, run, tables, options.file_format)
    write_watermark(directory, watermark.model_copy(update={"last_run": run, "through": moment}))
    return ExportSummary(
        run=run,
        file_format=options.file_format,
        read_at=moment,
        lower_bound=lower_bound,
        rows={name: len(rows) for name, rows in tables.items()},
        files={file.final.parent.name: str(file.final.relative_to(directory)) for file in files},
        removed_leftovers=[str(path.relative_to(directory)) for path in removed],
    )


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


def _read(
    session: Session, stored: ExportWatermark, window: ReadWindow
) -> tuple[dict[str, list[Row]], ExportWatermark]:
    """Every dataset's rows from one snapshot, and the watermark that follows them."""
    events = read_station_events(session, stored.station_events, window)
    shipments = read_shipments(session, stored.shipments, window)
    corrections = read_corrections(session, stored.shipment_corrections, window)
    allocations = read_allocations(session, stored.allocations, window)
    postings = read_postings(session, stored.sage_postings, window)
    orders = read_orders(session, stored.orders, window)
    order_headers, order_lines = order_rows(orders.orders)
    shipment_headers, shipment_lines = shipment_rows(shipments.rows)
    posting_headers, posting_lines = posting_rows(postings.rows)
    accounts = _order_accounts(session, {row.order_no for row in allocations.rows})
    tables: dict[str, list[Row]] = {
        "orders": order_headers,
        "order_lines": order_lines,
        "allocations": allocation_rows(allocations.rows, accounts),
        "shipments": shipment_headers,
        "shipment_lines": shipment_lines,
        "shipment_corrections": correction_rows(corrections.rows),
        "labels": events.labels,
        "sage_postings": posting_headers,
        "sage_posting_lines": posting_lines,
        "station_events": events.events,
    }
    watermark = stored.model_copy(
        update={
            "station_events": events.cursor,
            "shipments": shipments.cursor,
            "shipment_corrections": corrections.cursor,
            "allocations": allocations.cursor,
            "sage_postings": postings.cursor,
            "orders": orders.cursor,
        }
    )
    return tables, watermark


def _order_accounts(session: Session, order_nos: set[str]) -> dict[str, str]:
    accounts: dict[str, str] = {}
    for chunk in _chunks(sorted(order_nos)):
        query = select(SalesOrder.order_no, SalesOrder.account_id).where(
            SalesOrder.order_no.in_(chunk)
        )
        accounts.update((order_no, account) for order_no, account in session.execute(query))
    return accounts


def _chunks(keys: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(keys), _CHUNK):
        yield keys[start : start + _CHUNK]


def _write(
    directory: Path, run: str, tables: dict[str, list[Row]], file_format: ExportFormat
) -> list[PartialFile]:
    """Write and commit one file per dataset that has rows; none for a dataset without."""
    files: list[PartialFile] = []
    try:
        for dataset in DATASETS:
            rows = tables[dataset.name]
            if rows:
                files.append(write_partial(directory, dataset, run, rows, file_format))
    except BaseException:
        for file in files:
            file.partial.unlink(missing_ok=True)
        raise
    commit_files(files)
    return files
