"""Field types for the API's JSON: money as decimal strings, counts, identifiers.

Money travels as a string such as ``"12.50"``, never as a JSON number: a JSON number is a binary
float in most clients, and ``0.1 + 0.2`` must not decide a credit check. A number where an amount
is expected is therefore refused, naming the rule, rather than rounded silently. Amounts carry at
most four decimal places, the precision the database keeps, so nothing posted is ever rounded.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated

from pydantic import BeforeValidator, Field, PlainSerializer, StrictInt, StrictStr, WithJsonSchema
from pydantic_core import PydanticCustomError

from edge.contract.fields import Gtin, Text
from edge.contract.fields import Name as ContractName

__all__ = [
    "MAX_AMOUNT",
    "MAX_DATABASE_INT",
    "MAX_ON_HAND",
    "MONEY_RULE",
    "Amount",
    "Gtin",
    "LongName",
    "Money",
    "MoneyOut",
    "Name",
    "PositiveAmount",
    "PositiveQuantity",
    "Rate",
    "SignedQuantity",
    "Text",
]

MONEY_RULE = 'a decimal amount as a string, such as "12.50", with at most 4 decimal places'
_NON_NEGATIVE_RULE = MONEY_RULE.replace("amount", "amount of 0 or more", 1)

_SIGNED = re.compile(r"-?\d{1,14}(\.\d{1,4})?")
_UNSIGNED = re.compile(r"\d{1,14}(\.\d{1,4})?")
_RATE = re.compile(r"\d{1,3}(\.\d{1,4})?")
_MAX_UNITS = 1_000_000

MAX_AMOUNT = Decimal("99999999999999.9999")
"""The largest amount a field takes and the database keeps (14 digits, 4 places): a sum such as
an order's amount paid must stay within it as well."""

MAX_ON_HAND = 2**31 - 1
"""The most units one stock row holds (PostgreSQL's integer); receipts that add up past it are
refused with 409 instead of failing in the database."""

MAX_DATABASE_INT = 2**63 - 1
"""The largest integer both databases take as a query parameter (SQLite's INTEGER, PostgreSQL's
bigint): an id or an offset above it is refused with 422 instead of failing in the driver."""
_QUANTUM = Decimal("0.0001")


def _decimal_text(pattern: re.Pattern[str], rule: str) -> BeforeValidator:
    """Accept a string matching ``pattern`` (or a Decimal from Python) as an exact Decimal."""

    def parse(value: object) -> Decimal:
        if isinstance(value, Decimal):
            return value
        if isinstance(value, str) and pattern.fullmatch(value):
            return Decimal(value)
        kind = "string" if isinstance(value, str) else f"JSON {type(value).__name__}"
        raise PydanticCustomError(
            "decimal_string",
            "{value} ({kind}) is not {rule}",
            {"value": repr(value), "kind": kind, "rule": rule},
        )

    return BeforeValidator(parse)


def _schema(pattern: re.Pattern[str], example: str) -> WithJsonSchema:
    return WithJsonSchema(
        {"type": "string", "pattern": f"^{pattern.pattern}$", "examples": [example]}
    )


def _plain(value: Decimal) -> str:
    """Fixed-point text with the database's four places, never an exponent such as ``1E+2``."""
    return format(value.quantize(_QUANTUM), "f")


Money = Annotated[Decimal, _decimal_text(_SIGNED, MONEY_RULE), _schema(_SIGNED, "-12.50")]
"""An amount that may be negative, such as a debtor's open invoices after credit notes."""

Amount = Annotated[
    Decimal,
    _decimal_text(_UNSIGNED, _NON_NEGATIVE_RULE),
    _schema(_UNSIGNED, "12.50"),
]
"""An amount of zero or more: a price, a credit line, what was paid."""

PositiveAmount = Annotated[Amount, Field(gt=0)]
"""An amount above zero, such as a payment."""

Rate = Annotated[
    Decimal,
    _decimal_text(_RATE, 'a non-negative fraction as a string, such as "0.20" for 20 %'),
    _schema(_RATE, "0.20"),
]
"""A tax rate as a fraction: ``"0.20"`` is 20 %."""

MoneyOut = Annotated[
    Decimal,
    PlainSerializer(_plain, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "examples": ["12.5000"]}),
]
"""An amount in a response: a fixed-point decimal string with four places."""

PositiveQuantity = Annotated[StrictInt, Field(gt=0, le=_MAX_UNITS)]
"""A count of units of at least one."""

SignedQuantity = Annotated[StrictInt, Field(ge=-_MAX_UNITS, le=_MAX_UNITS)]
"""A change in units, up (found) or down (lost, damaged); zero is refused by the model."""

Name = Annotated[
    ContractName,
    WithJsonSchema(
        {"type": "string", "minLength": 1, "maxLength": 64, "pattern": r"^[^\u0000-\u001f\u007f]*$"}
    ),
]
"""An identifier (order number, account, SKU ...): the contract's rule, control characters
refused, stated in the OpenAPI document as well, so that clients and generated tests know it."""

LongName = Annotated[StrictStr, Field(min_length=1, max_length=128)]
"""A name or address line for a person to read."""
