"""Turning the bridge's mapped rows into exported rows, column by column."""

from __future__ import annotations

from cloud_bridge.db.models import Allocation, Posting, SalesOrder, Shipment, ShipmentCorrection
from cloud_bridge.export.datasets import (
    ALLOCATIONS,
    ORDER_LINES,
    ORDERS,
    SAGE_POSTING_LINES,
    SAGE_POSTINGS,
    SHIPMENT_CORRECTIONS,
    SHIPMENT_LINES,
    SHIPMENTS,
    Dataset,
    Row,
)

__all__ = [
    "allocation_rows",
    "correction_rows",
    "order_rows",
    "posting_rows",
    "shipment_rows",
]


def _row(source: object, dataset: Dataset, **extra: object) -> Row:
    """The dataset's columns read from ``source``'s attributes of the same name, plus ``extra``."""
    return {
        name: extra[name] if name in extra else getattr(source, name)
        for name in dataset.column_names
    }


def order_rows(orders: list[SalesOrder]) -> tuple[list[Row], list[Row]]:
    """Order headers and their lines."""
    return (
        [_row(order, ORDERS) for order in orders],
        [_row(line, ORDER_LINES) for order in orders for line in order.lines],
    )


def allocation_rows(allocations: list[Allocation], order_accounts: dict[str, str]) -> list[Row]:
    """Allocations with the account of the order each one served."""
    return [
        _row(row, ALLOCATIONS, order_account_id=order_accounts.get(row.order_no))
        for row in allocations
    ]


def shipment_rows(shipments: list[Shipment]) -> tuple[list[Row], list[Row]]:
    """Shipments and their lines."""
    return (
        [_row(shipment, SHIPMENTS) for shipment in shipments],
        [_row(line, SHIPMENT_LINES) for shipment in shipments for line in shipment.lines],
    )


def correction_rows(corrections: list[ShipmentCorrection]) -> list[Row]:
    return [_row(correction, SHIPMENT_CORRECTIONS) for correction in corrections]


def posting_rows(postings: list[Posting]) -> tuple[list[Row], list[Row]]:
    """Sage postings and their lines."""
    return (
        [_row(posting, SAGE_POSTINGS) for posting in postings],
        [_row(line, SAGE_POSTING_LINES) for posting in postings for line in posting.lines],
    )
