"""Column types that keep money exact and instants in UTC on both SQLite and PostgreSQL.

SQLite has no decimal type: a ``NUMERIC`` column stores a binary float, so ``0.1 + 0.2`` summed
in SQL exceeds ``0.3`` and a credit check at its exact limit would fail. ``Money`` therefore
stores whole ten-thousandths in an ``INTEGER`` column on SQLite (sums in SQL stay exact) and a
``NUMERIC(18, 4)`` on PostgreSQL; Python always sees a ``Decimal`` with four places.

Scaling holds for the arithmetic money needs in SQL: sums, money plus money, money times a count
or a rate. Do not multiply or divide two money values in SQL, and do not compare money with an
untyped numeric literal; bind a ``Decimal`` against the column instead, which takes its type.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import BigInteger, DateTime, Dialect, Enum, Numeric
from sqlalchemy.types import TypeDecorator, TypeEngine

__all__ = ["MONEY_PLACES", "Money", "Rate", "UtcDateTime", "string_enum", "utc_now"]

MONEY_PLACES = 4
"""Decimal places kept for money, as in ``NUMERIC(18, 4)``."""

_MONEY_DIGITS = 18
_QUANTUM = Decimal(1).scaleb(-MONEY_PLACES)
_SCALE = 10**MONEY_PLACES
_MONEY_LIMIT = Decimal(10) ** (_MONEY_DIGITS - MONEY_PLACES)
_RATE_DIGITS = 7


def _quantized(value: object, column_kind: str) -> Decimal:
    """Refuse floats and other non-decimals, and round to the column's four places."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise TypeError(
            f"{column_kind} value {value!r} is a {type(value).__name__}; expected a Decimal"
        )
    number = Decimal(value)
    if not number.is_finite():
        raise ValueError(f"{column_kind} value {value} is not a finite number; expected one")
    return number.quantize(_QUANTUM, rounding=ROUND_HALF_UP)


def _from_database_number(value: object) -> Decimal:
    """A number the database returned, as an exact ``Decimal`` (floats by their shortest repr)."""
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(str(value))


class Money(TypeDecorator[Decimal]):
    """An amount of money: ``NUMERIC(18, 4)``, or ten-thousandths in an integer on SQLite."""

    impl = Numeric(_MONEY_DIGITS, MONEY_PLACES)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(_MONEY_DIGITS, MONEY_PLACES))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Decimal | int | None:
        if value is None:
            return None
        amount = _quantized(value, "money")
        if abs(amount) >= _MONEY_LIMIT:
            raise ValueError(f"money value {amount} is out of range; expected below {_MONEY_LIMIT}")
        if dialect.name == "sqlite":
            return int(amount * _SCALE)
        return amount

    def process_result_value(self, value: object, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        number = _from_database_number(value)
        if dialect.name == "sqlite":
            number = number.quantize(Decimal(1), rounding=ROUND_HALF_UP) / _SCALE
        return number.quantize(_QUANTUM, rounding=ROUND_HALF_UP)


class Rate(TypeDecorator[Decimal]):
    """A rate such as a tax rate (0.2000 for 20 %): ``NUMERIC(7, 4)``, exact as a ``Decimal``.

    On SQLite it is stored as a float, which holds four decimal places of a small number exactly
    enough to round back; loading it by its shortest repr avoids SQLAlchemy's lossy path.
    """

    impl = Numeric(_RATE_DIGITS, MONEY_PLACES)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(Numeric(_RATE_DIGITS, MONEY_PLACES, asdecimal=False))
        return dialect.type_descriptor(Numeric(_RATE_DIGITS, MONEY_PLACES))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return _quantized(value, "rate")

    def process_result_value(self, value: object, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return _from_database_number(value).quantize(_QUANTUM, rounding=ROUND_HALF_UP)


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware instant, stored as UTC and always read back as aware UTC.

    SQLite's date-time storage drops the offset silently, so naive values are refused and
    aware ones converted to UTC before they reach either database.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"datetime {value.isoformat()} is naive; expected timezone-aware")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utc_now() -> datetime:
    """The current instant in UTC: the default for columns that record when a row was made."""
    return datetime.now(UTC)


def string_enum(enum_class: type[enum.StrEnum], name: str) -> Enum:
    """A portable enum: a short string column with a CHECK that lists the allowed values.

    Not PostgreSQL's native enum, because adding a value to one needs DDL outside a
    transaction, and SQLite has none; a CHECK behaves the same on both.
    """
    return Enum(
        enum_class,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        validate_strings=True,
        values_callable=lambda members: [member.value for member in members],
    )
