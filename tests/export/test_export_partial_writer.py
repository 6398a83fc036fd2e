"""Rows stream into a run's partial files a row group at a time, so a large run never holds a
whole dataset; what is read back is every row, in the order written."""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow.parquet as pq  # type: ignore[import-untyped]

from cloud_bridge.export.datasets import SHIPMENT_LINES
from cloud_bridge.export.partial_writer import ROW_GROUP, DatasetWriter, RunWriter

RUN = "2026-11-24T03-00-00Z"


def shipment_lines(start: int, count: int) -> list[dict[str, object]]:
    return [
        {"shipment_id": number, "line_id": "1", "sku": "MUG", "quantity": 1}
        for number in range(start, start + count)
    ]


def test_parquet_rows_arrive_in_row_groups_and_read_back_whole_and_in_order(
    tmp_path: Path,
) -> None:
    writer = DatasetWriter(tmp_path, SHIPMENT_LINES, RUN, "parquet")
    total = 2 * ROW_GROUP + 123
    for start in range(0, total, 500):
        writer.write(shipment_lines(start, min(500, total - start)))

    written = writer.close()

    assert written is not None
    assert written.partial.name == f"{RUN}.parquet.partial"
    parquet = pq.ParquetFile(written.partial)
    assert parquet.num_row_groups == 3
    assert parquet.read().column("shipment_id").to_pylist() == list(range(total))
    assert writer.rows == total


def test_csv_has_one_header_however_many_batches_arrive(tmp_path: Path) -> None:
    writer = DatasetWriter(tmp_path, SHIPMENT_LINES, RUN, "csv")
    for start in range(0, ROW_GROUP + 10, 1_000):
        writer.write(shipment_lines(start, 1_000))

    written = writer.close()

    assert written is not None
    with written.partial.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == list(SHIPMENT_LINES.column_names)
    assert [int(row[0]) for row in rows[1:]] == list(range(ROW_GROUP + 1_000))


def test_a_dataset_without_rows_gets_no_file_and_a_discarded_run_leaves_none(
    tmp_path: Path,
) -> None:
    empty = RunWriter(tmp_path, RUN, "parquet")
    assert empty.close() == []
    assert not list(tmp_path.rglob("*"))

    failed = RunWriter(tmp_path, "2026-11-24T03-00-01Z", "parquet")
    failed.write(SHIPMENT_LINES, shipment_lines(0, ROW_GROUP + 1))
    failed.discard()

    assert not [path for path in tmp_path.rglob("*") if path.is_file()]
