"""The exported datasets: their names (also their folders) and columns, in file order."""

from __future__ import annotations

from dataclasses import dataclass

from cloud_bridge.export.columns import Column, Kind

__all__ = ["DATASETS", "Dataset", "Row"]

Row = dict[str, object]
"""One exported row, by column name."""


@dataclass(frozen=True)
class Dataset:
    """One kind of row the export writes, into its own folder of the export directory."""

    name: str
    columns: tuple[Column, ...]

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)


def _columns(*spec: tuple[str, Kind]) -> tuple[Column, ...]:
    return tuple(Column(name, kind) for name, kind in spec)


T, N, B, M, R, U, D = Kind.TEXT, Kind.INT, Kind.BOOL, Kind.MONEY, Kind.RATE, Kind.INSTANT, Kind.DATE

ORDERS = Dataset(
    "orders",
    _columns(
        ("order_no", T), ("account_id", T), ("invoice_debtor_no", T), ("order_type", T),
        ("state", T), ("amount_paid", M), ("promised_date", D), ("service_level", N),
        ("created_at", U), ("carrier", T), ("deliver_to_name", T), ("deliver_to_line1", T),
        ("deliver_to_line2", T), ("deliver_to_city", T), ("deliver_to_postal_code", T),
        ("deliver_to_country", T), ("version", N),
    ),
)  # fmt: skip
ORDER_LINES = Dataset(
    "order_lines",
    _columns(
        ("order_no", T), ("line_id", T), ("sku", T), ("quantity", N), ("shipped_quantity", N),
        ("unit_price", M), ("tax_rate", R), ("policy", T),
    ),
)  # fmt: skip
ALLOCATIONS = Dataset(
    "allocations",
    _columns(
        ("id", N), ("order_no", T), ("line_id", T), ("sku", T), ("from_account_id", T),
        ("order_account_id", T), ("quantity", N), ("borrowed", B), ("state", T),
        ("created_at", U), ("released_at", U),
    ),
)  # fmt: skip
SHIPMENTS = Dataset(
    "shipments",
    _columns(
        ("id", N), ("order_no", T), ("station_id", T), ("label_id", T), ("sscc", T),
        ("carrier", T), ("tracking_number", T), ("shipped_at", U),
    ),
)  # fmt: skip
SHIPMENT_LINES = Dataset(
    "shipment_lines",
    _columns(("shipment_id", N), ("line_id", T), ("sku", T), ("quantity", N)),
)
SHIPMENT_CORRECTIONS = Dataset(
    "shipment_corrections",
    _columns(
        ("id", N), ("shipment_id", N), ("line_id", T), ("sku", T), ("quantity_before", N),
        ("quantity_after", N), ("reason", T), ("corrected_at", U),
    ),
)  # fmt: skip
LABELS = Dataset(
    "labels",
    _columns(
        ("station_id", T), ("seq", N), ("event_id", T), ("action", T), ("order_no", T),
        ("label_id", T), ("sscc", T), ("carrier", T), ("tracking_number", T), ("reason", T),
        ("station_at", U), ("applied_at", U),
    ),
)  # fmt: skip
SAGE_POSTINGS = Dataset(
    "sage_postings",
    _columns(
        ("id", N), ("environment", T), ("business_id", T), ("shipment_id", N), ("kind", T),
        ("revision", N), ("idempotency_id", T), ("reference", T), ("state", T),
        ("sage_id", T), ("sage_number", T), ("credits_posting_id", N), ("allocation_id", T),
        ("attempts", N), ("last_error", T), ("error_items", T), ("created_at", U),
        ("first_sent_at", U), ("posted_at", U), ("document", T),
    ),
)  # fmt: skip
SAGE_POSTING_LINES = Dataset(
    "sage_posting_lines",
    _columns(
        ("posting_id", N), ("line_id", T), ("sku", T), ("quantity", N), ("unit_price", M),
        ("tax_rate", R),
    ),
)  # fmt: skip
STATION_EVENTS = Dataset(
    "station_events",
    _columns(
        ("station_id", T), ("seq", N), ("event_id", T), ("type", T), ("applied_at", U),
        ("body", T),
    ),
)  # fmt: skip

DATASETS: tuple[Dataset, ...] = (
    ORDERS,
    ORDER_LINES,
    ALLOCATIONS,
    SHIPMENTS,
    SHIPMENT_LINES,
    SHIPMENT_CORRECTIONS,
    LABELS,
    SAGE_POSTINGS,
    SAGE_POSTING_LINES,
    STATION_EVENTS,
)
"""Every dataset, in the order the summary lists them."""
