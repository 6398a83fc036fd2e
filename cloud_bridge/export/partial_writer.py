"""Streaming a run's rows into its ``.partial`` files, a batch at a time.

A first run on a large database would otherwise hold every row of every dataset in memory at
once. Rows arrive here in batches as they are read; Parquet gets one row group per
``ROW_GROUP`` rows (``pyarrow.parquet.ParquetWriter``) and CSV is written as it comes, so memory
stays at about one row group per dataset whatever the size of the run. A dataset's file is
created on its first row: a dataset with no new rows gets no file.
"""

from __future__ import annotations

import csv
import enum
import io
import os
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from cloud_bridge.export.columns import arrow_schema, csv_text
from cloud_bridge.export.datasets import DATASETS, Dataset, Row
from cloud_bridge.export.files import ExportFormat, PartialFile, partial_file
from cloud_bridge.export.watermark import fsync_directory

__all__ = ["ROW_GROUP", "DatasetWriter", "RunWriter"]

ROW_GROUP = 10_000
"""Rows per Parquet row group (and per CSV write): the most rows a dataset holds in memory."""


class DatasetWriter:
    """One dataset's partial file of a run, opened on the first row."""

    def __init__(self, directory: Path, dataset: Dataset, run: str, file_format: ExportFormat):
        self.dataset = dataset
        self.file = partial_file(directory, dataset, run, file_format)
        self.rows = 0
        self._format = file_format
        self._buffer: list[Row] = []
        self._handle: BinaryIO | None = None
        self._parquet: pq.ParquetWriter | None = None

    def write(self, rows: list[Row]) -> None:
        """Add rows; they reach the file a row group at a time."""
        self._buffer.extend(rows)
        self.rows += len(rows)
        if len(self._buffer) >= ROW_GROUP:
            self._flush()

    def close(self) -> PartialFile | None:
        """Write what is buffered and fsync the file; None if the dataset had no rows."""
        self._flush()
        if self._handle is None:
            return None
        if self._parquet is not None:
            self._parquet.close()
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._handle.close()
        return self.file

    def discard(self) -> None:
        """Close and remove the partial file after a failed run."""
        try:
            if self._parquet is not None:
                self._parquet.close()
        finally:
            if self._handle is not None:
                self._handle.close()
            self._parquet = None
            self.file.partial.unlink(missing_ok=True)

    def _flush(self) -> None:
        if not self._buffer:
            return
        handle = self._open()
        if self._format == "parquet":
            schema = arrow_schema(self.dataset.columns)
            if self._parquet is None:
                self._parquet = pq.ParquetWriter(handle, schema)
            table = pa.Table.from_pylist([_plain(row) for row in self._buffer], schema=schema)
            self._parquet.write_table(table, row_group_size=ROW_GROUP)
        else:
            handle.write(_csv_bytes(self.dataset, self._buffer))
        self._buffer = []

    def _open(self) -> BinaryIO:
        if self._handle is None:
            self.file.partial.parent.mkdir(exist_ok=True)
            self._handle = self.file.partial.open("xb")
            if self._format == "csv":
                self._handle.write(_csv_bytes(self.dataset, [], header=True))
        return self._handle


class RunWriter:
    """Every dataset's writer for one run."""

    def __init__(self, directory: Path, run: str, file_format: ExportFormat):
        self._writers = {
            dataset.name: DatasetWriter(directory, dataset, run, file_format)
            for dataset in DATASETS
        }

    def write(self, dataset: Dataset, rows: list[Row]) -> None:
        self._writers[dataset.name].write(rows)

    @property
    def rows(self) -> dict[str, int]:
        """Rows written so far per dataset, every dataset named."""
        return {name: writer.rows for name, writer in self._writers.items()}

    def close(self) -> list[PartialFile]:
        """Finish every file, then fsync their folders so each partial's name is durable too:
        the watermark written next commits them, so they must survive a power cut."""
        files = [file for writer in self._writers.values() if (file := writer.close())]
        for folder in sorted({file.partial.parent for file in files}):
            fsync_directory(folder)
        return files

    def discard(self) -> None:
        for writer in self._writers.values():
            writer.discard()


def _plain(row: Row) -> Row:
    """Enums by value, so pyarrow sees strings."""
    return {
        key: value.value if isinstance(value, enum.Enum) else value for key, value in row.items()
    }


def _csv_bytes(dataset: Dataset, rows: list[Row], *, header: bool = False) -> bytes:
    text = io.StringIO(newline="")
    writer = csv.writer(text, lineterminator="\n")
    if header:
        writer.writerow(dataset.column_names)
    for row in rows:
        writer.writerow([csv_text(row.get(name)) for name in dataset.column_names])
    return text.getvalue().encode("utf-8")
