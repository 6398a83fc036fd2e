"""Column kinds of the exported files, and how each is typed in Parquet and spelled in CSV.

Money is never a float: it is ``decimal128(18, 4)`` in Parquet and an exact decimal string in
CSV, as the bridge stores it. Instants are UTC: ``timestamp[us, tz=UTC]`` in Parquet and ISO 8601
with a ``Z`` in CSV, so a warehouse loading either gets the same values.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

import pyarrow as pa  # type: ignore[import-untyped]

from cloud_bridge.db.types import MONEY_PLACES

__all__ = ["Column", "Kind", "arrow_schema", "csv_text"]


class Kind(enum.Enum):
    """What a column holds; each kind has one Parquet type and one CSV spelling."""

    TEXT = "text"
    INT = "int"
    BOOL = "bool"
    MONEY = "money"
    RATE = "rate"
    INSTANT = "instant"
    DATE = "date"


_ARROW_TYPES: dict[Kind, pa.DataType] = {
    Kind.TEXT: pa.string(),
    Kind.INT: pa.int64(),
    Kind.BOOL: pa.bool_(),
    Kind.MONEY: pa.decimal128(18, MONEY_PLACES),
    Kind.RATE: pa.decimal128(7, MONEY_PLACES),
    Kind.INSTANT: pa.timestamp("us", tz="UTC"),
    Kind.DATE: pa.date32(),
}


@dataclass(frozen=True)
class Column:
    """One exported column: its name in the file and its kind."""

    name: str
    kind: Kind


def arrow_schema(columns: tuple[Column, ...]) -> pa.Schema:
    """The Parquet schema of a dataset; every column is nullable, as in the database."""
    return pa.schema([pa.field(column.name, _ARROW_TYPES[column.kind]) for column in columns])


def csv_text(value: object) -> str:
    """One CSV cell: empty for NULL, exact decimals, UTC instants with ``Z``, enums by value."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)
