"""The export directory's data files: named by dataset and run, written durably, never rewritten.

A run first writes each file as ``<run>.<format>.partial`` and fsyncs it, then renames them all
into place and fsyncs their folders, and only then stores the watermark. A crash before the
watermark leaves files named after a run later than the stored one; the next run removes those
(and any ``.partial``) before it repeats the work, so no row is lost and none is written twice.
Files of completed runs are never opened for writing again.
"""

from __future__ import annotations

import csv
import enum
import io
import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from cloud_bridge.export.columns import arrow_schema, csv_text
from cloud_bridge.export.datasets import DATASETS, Dataset, Row
from cloud_bridge.export.watermark import fsync_directory

__all__ = [
    "FORMATS",
    "ExportFormat",
    "PartialFile",
    "commit_files",
    "next_run_name",
    "remove_leftovers",
    "run_files",
    "write_partial",
]

ExportFormat = Literal["parquet", "csv"]
FORMATS: tuple[ExportFormat, ...] = ("parquet", "csv")
_PARTIAL = ".partial"
_RUN_NAME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ)(?:_(\d+))?$")


@dataclass(frozen=True)
class PartialFile:
    """A durable data file waiting to be renamed to its final name."""

    partial: Path
    final: Path


def _run_key(name: str) -> tuple[str, int] | None:
    match = _RUN_NAME.match(name)
    if match is None:
        return None
    return match.group(1), int(match.group(2) or 1)


def next_run_name(now: datetime, last_run: str | None) -> str:
    """The run's name from its UTC time; after ``last_run`` even if the clock stepped back."""
    base = now.strftime("%Y-%m-%dT%H-%M-%SZ")
    last = _run_key(last_run) if last_run else None
    if last is None or base > last[0]:
        return base
    return f"{last[0]}_{last[1] + 1}"


def run_files(directory: Path) -> list[Path]:
    """Finished data files of any run in the export directory (not partial ones)."""
    return [
        path
        for dataset in DATASETS
        if (directory / dataset.name).is_dir()
        for path in sorted((directory / dataset.name).iterdir())
        if not path.name.endswith(_PARTIAL) and _run_key(path.name.split(".", 1)[0]) is not None
    ]


def remove_leftovers(directory: Path, last_run: str | None) -> list[Path]:
    """Remove partial files, and files of runs after ``last_run`` (a run that did not finish)."""
    last = _run_key(last_run) if last_run else None
    removed: list[Path] = []
    for dataset in DATASETS:
        folder = directory / dataset.name
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            stem = path.name.split(".", 1)[0]
            key = _run_key(stem)
            unfinished = key is not None and (last is None or key > last)
            if path.name.endswith(_PARTIAL) or unfinished:
                path.unlink()
                removed.append(path)
        if removed:
            fsync_directory(folder)
    return removed


def write_partial(
    directory: Path, dataset: Dataset, run: str, rows: list[Row], file_format: ExportFormat
) -> PartialFile:
    """Write ``rows`` to a new partial file of the run and fsync it."""
    folder = directory / dataset.name
    folder.mkdir(exist_ok=True)
    final = folder / f"{run}.{file_format}"
    partial = folder / f"{final.name}{_PARTIAL}"
    payload = (
        _parquet_bytes(dataset, rows) if file_format == "parquet" else _csv_bytes(dataset, rows)
    )
    with partial.open("xb") as handle:
        handle.write(payload)
        handle.flush()
        os.fsync(handle.fileno())
    return PartialFile(partial=partial, final=final)


def commit_files(files: list[PartialFile]) -> None:
    """Give every partial file its final name (never over an existing file) and fsync folders."""
    for file in files:
        if file.final.exists():
            raise FileExistsError(f"{file.final} already exists; an earlier run's file is kept")
        os.replace(file.partial, file.final)
    for folder in sorted({file.final.parent for file in files}):
        fsync_directory(folder)


def _parquet_bytes(dataset: Dataset, rows: list[Row]) -> bytes:
    schema = arrow_schema(dataset.columns)
    table = pa.Table.from_pylist([_plain(row) for row in rows], schema=schema)
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def _plain(row: Row) -> Row:
    """Enums by value, so pyarrow sees strings."""
    return {
        key: value.value if isinstance(value, enum.Enum) else value for key, value in row.items()
    }


def _csv_bytes(dataset: Dataset, rows: list[Row]) -> bytes:
    text = io.StringIO(newline="")
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(dataset.column_names)
    for row in rows:
        writer.writerow([csv_text(row.get(name)) for name in dataset.column_names])
    return text.getvalue().encode("utf-8")
