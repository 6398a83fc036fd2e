"""`packline export` runs: the first takes every settled row of every dataset, a run with nothing
new writes nothing, and a run after new shipments writes only the new rows; on SQLite and
PostgreSQL, as Parquet (typed, money exact) and as CSV."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]
from sqlalchemy import update

from cloud_bridge.db.models import AppliedEvent
from cloud_bridge.export import WATERMARK_FILE, ExportOptions, ExportSummary, run_export

from .export_world import PRICE, STATION, TAX, ExportWorld, label_of, sscc_of, trade

EVERY_DATASET = {
    "orders",
    "order_lines",
    "allocations",
    "shipments",
    "shipment_lines",
    "shipment_corrections",
    "labels",
    "sage_postings",
    "sage_posting_lines",
    "station_events",
}


def export(world: ExportWorld, folder: Path, **options: Any) -> ExportSummary:
    url = world.sage.engine.url.render_as_string(hide_password=False)
    return run_export(ExportOptions(database_url=url, directory=folder, **options))


def table(folder: Path, summary: ExportSummary, dataset: str) -> pa.Table:
    return pq.read_table(folder / summary.files[dataset])


def rows(folder: Path, summary: ExportSummary, dataset: str) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = table(folder, summary, dataset).to_pylist()
    return result


def data_files(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob("*") if path.is_file() and path.parent != folder)


async def test_the_first_run_exports_every_settled_row_of_every_dataset_with_exact_money(
    world: ExportWorld, tmp_path: Path
) -> None:
    books = await trade(world)
    folder = tmp_path / "warehouse"

    summary = export(world, folder)

    assert set(summary.files) == EVERY_DATASET
    orders = {row["order_no"]: row for row in rows(folder, summary, "orders")}
    assert set(orders) == {books["shipped"], books["cancelled"]}
    assert orders[books["shipped"]]["state"] == "shipped"
    assert orders[books["cancelled"]]["state"] == "cancelled"
    lines = rows(folder, summary, "order_lines")
    assert {(line["order_no"], line["line_id"], line["shipped_quantity"]) for line in lines} == {
        (books["shipped"], "1", 5),
        (books["shipped"], "2", 2),
        (books["cancelled"], "1", 0),
    }
    assert {line["unit_price"] for line in lines} == {PRICE}
    assert {line["tax_rate"] for line in lines} == {TAX}
    allocations = rows(folder, summary, "allocations")
    assert {row["order_no"] for row in allocations} == {
        books["shipped"],
        books["cancelled"],
        books["corrected"],
    }
    borrowed = [row for row in allocations if row["borrowed"]]
    assert [(row["from_account_id"], row["order_account_id"], row["sku"]) for row in borrowed] == [
        ("B", "A", "MUG")
    ]
    assert sum(row["quantity"] for row in allocations if row["sku"] == "MUG") == 5
    shipments = rows(folder, summary, "shipments")
    assert [(row["id"], row["station_id"]) for row in shipments] == [
        (books["shipment"], STATION),
        (books["corrected_shipment"], STATION),
    ]
    shipment_lines = rows(folder, summary, "shipment_lines")
    assert {(line["shipment_id"], line["sku"], line["quantity"]) for line in shipment_lines} == {
        (books["shipment"], "MUG", 5),
        (books["shipment"], "TEA", 2),
        (books["corrected_shipment"], "PEN", 1),
    }
    [correction] = rows(folder, summary, "shipment_corrections")
    assert (correction["shipment_id"], correction["quantity_before"]) == (
        books["corrected_shipment"],
        2,
    )
    assert correction["quantity_after"] == 1
    labels = rows(folder, summary, "labels")
    shipped, corrected = books["shipped"], books["corrected"]
    assert [
        (label["action"], label["order_no"], label["label_id"], label["sscc"], label["reason"])
        for label in labels
    ] == [
        ("printed", shipped, label_of(shipped), sscc_of(shipped), None),
        ("reprinted", shipped, label_of(shipped), sscc_of(shipped), "smudged"),
        ("voided", shipped, label_of(shipped), sscc_of(shipped), "parcel re-packed"),
        ("printed", corrected, label_of(corrected), sscc_of(corrected), None),
    ]
    assert (labels[0]["carrier"], labels[0]["tracking_number"]) == ("DPD", f"TRK-{shipped}")
    assert labels[1]["station_at"].tzinfo is not None
    postings = rows(folder, summary, "sage_postings")
    assert [(p["shipment_id"], p["kind"], p["state"]) for p in postings] == [
        (books["shipment"], "invoice", "posted"),
        (books["corrected_shipment"], "invoice", "posted"),
        (books["corrected_shipment"], "credit_note", "posted"),
    ]
    assert all(posting["sage_id"] for posting in postings)
    posting_lines = rows(folder, summary, "sage_posting_lines")
    assert {line["unit_price"] for line in posting_lines} == {PRICE}
    invoice_total = sum(
        line["quantity"] * line["unit_price"]
        for line in posting_lines
        if line["posting_id"] == postings[0]["id"]
    )
    assert invoice_total == Decimal("139.93")
    events = rows(folder, summary, "station_events")
    assert [event["seq"] for event in events] == list(range(1, world.events + 1))
    assert summary.rows == {name: len(rows(folder, summary, name)) for name in EVERY_DATASET}


async def test_each_station_event_carries_its_body_as_the_bridge_applied_it(
    world: ExportWorld, tmp_path: Path
) -> None:
    books = await trade(world)
    folder = tmp_path / "warehouse"

    summary = export(world, folder)

    events = rows(folder, summary, "station_events")
    bodies = [json.loads(event["body"]) for event in events]
    assert [(body["seq"], body["type"]) for body in bodies] == [
        (event["seq"], event["type"]) for event in events
    ]
    assert [body["event_id"] for body in bodies] == [event["event_id"] for event in events]
    picks = [body for body in bodies if body["type"] == "line_picked"]
    assert [(p["order_id"], p["line_id"], p["sku"], p["quantity"]) for p in picks[:2]] == [
        (books["shipped"], "1", "MUG", 5),
        (books["shipped"], "2", "TEA", 2),
    ]
    assert table(folder, summary, "station_events").schema.field("body").type == pa.string()


async def test_events_applied_before_bodies_were_kept_export_a_null_body(
    world: ExportWorld, tmp_path: Path
) -> None:
    books = await trade(world)
    with world.sage.sessions.begin() as session:
        session.execute(update(AppliedEvent).values(body=None))  # as revision 0008 left them
    folder = tmp_path / "warehouse"

    summary = export(world, folder)

    assert {event["body"] for event in rows(folder, summary, "station_events")} == {None}
    labels = rows(folder, summary, "labels")
    assert [(label["action"], label["order_no"], label["label_id"]) for label in labels] == [
        ("printed", None, None),
        ("reprinted", books["shipped"], label_of(books["shipped"])),
        ("voided", books["shipped"], label_of(books["shipped"])),
        ("printed", None, None),
    ], "a reprint or void still has the audit trail's order and label; a first print nothing"


async def test_columns_are_typed_money_as_decimals_and_instants_in_utc(
    world: ExportWorld, tmp_path: Path
) -> None:
    await trade(world)
    folder = tmp_path / "warehouse"

    summary = export(world, folder)

    lines = table(folder, summary, "sage_posting_lines").schema
    assert lines.field("unit_price").type == pa.decimal128(18, 4)
    assert lines.field("tax_rate").type == pa.decimal128(7, 4)
    shipments = table(folder, summary, "shipments").schema
    assert shipments.field("shipped_at").type == pa.timestamp("us", tz="UTC")
    assert table(folder, summary, "orders").schema.field("amount_paid").type == pa.decimal128(18, 4)


async def test_a_second_run_with_nothing_new_writes_no_file_and_reports_zero_rows(
    world: ExportWorld, tmp_path: Path
) -> None:
    await trade(world)
    folder = tmp_path / "warehouse"
    export(world, folder)
    before = data_files(folder)

    summary = export(world, folder)

    assert summary.total_rows == 0
    assert summary.files == {}
    assert data_files(folder) == before
    assert "continuing from the stored watermark" in summary.lower_bound


async def test_a_run_after_new_shipments_writes_only_the_new_rows(
    world: ExportWorld, tmp_path: Path
) -> None:
    books = await trade(world)
    folder = tmp_path / "warehouse"
    first = export(world, folder)
    events_before = world.events
    second_order = world.order([("TEA", 1)])

    shipment = world.pack(books["open"], [("1", "TEA", 3)])
    another = world.pack(second_order, [("1", "TEA", 1)])
    await world.post()
    summary = export(world, folder)

    assert [row["id"] for row in rows(folder, summary, "shipments")] == [shipment, another]
    assert {row["order_no"] for row in rows(folder, summary, "orders")} == {
        books["open"],
        second_order,
    }
    assert {row["order_no"] for row in rows(folder, summary, "allocations")} == {
        books["open"],
        second_order,
    }
    assert [row["shipment_id"] for row in rows(folder, summary, "sage_postings")] == [
        shipment,
        another,
    ]
    assert [row["seq"] for row in rows(folder, summary, "station_events")] == list(
        range(events_before + 1, world.events + 1)
    )
    assert [row["action"] for row in rows(folder, summary, "labels")] == ["printed", "printed"]
    assert "shipment_corrections" not in summary.files
    assert all((folder / path).exists() for path in first.files.values()), (
        "the first run's files are kept as they were"
    )
    assert summary.run > first.run


async def test_the_csv_format_has_a_header_and_exact_decimal_and_utc_text(
    world: ExportWorld, tmp_path: Path
) -> None:
    books = await trade(world)
    folder = tmp_path / "warehouse"

    summary = export(world, folder, file_format="csv")

    assert all(path.endswith(".csv") for path in summary.files.values())
    with (folder / summary.files["order_lines"]).open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames is not None
        assert reader.fieldnames[:3] == [
            "order_no",
            "line_id",
            "sku",
        ]
        lines = list(reader)
    assert {line["unit_price"] for line in lines} == {"19.9900"}
    assert {line["tax_rate"] for line in lines} == {"0.2000"}
    with (folder / summary.files["shipments"]).open(newline="", encoding="utf-8") as handle:
        shipment, _corrected = list(csv.DictReader(handle))
    assert shipment["order_no"] == books["shipped"]
    assert shipment["shipped_at"].endswith("Z")
    assert datetime.fromisoformat(shipment["shipped_at"]).tzinfo is not None
    assert summary.rows["order_lines"] == len(lines)
    with (folder / summary.files["station_events"]).open(newline="", encoding="utf-8") as handle:
        events = list(csv.DictReader(handle))
    assert [json.loads(event["body"])["seq"] for event in events] == [
        int(event["seq"]) for event in events
    ]


async def test_a_later_since_than_the_watermark_applies_and_says_so(
    world: ExportWorld, tmp_path: Path
) -> None:
    await trade(world)
    folder = tmp_path / "warehouse"
    export(world, folder)
    world.pack(world.order([("TEA", 1)]), [("1", "TEA", 1)])

    summary = export(world, folder, since=datetime(2099, 1, 1, tzinfo=UTC))

    assert summary.total_rows == 0
    assert "is later than the stored watermark" in summary.lower_bound
    assert (folder / WATERMARK_FILE).exists()
