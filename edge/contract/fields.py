"""Constrained field types shared by the message models.

Every bound is explicit so a malformed or hostile payload fails validation with a reason, and a
field name in the error, instead of reaching the station's workflow or the bridge's ledger.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, Field, StrictInt, StrictStr

__all__ = [
    "MAX_SEQUENCE",
    "BdSeq",
    "Gtin",
    "Label",
    "Name",
    "PositiveQuantity",
    "Quantity",
    "Sequence",
    "Sha256Hex",
    "Text",
    "UtcDatetime",
    "Version",
    "gtin_check_digit",
]

MAX_SEQUENCE = 2**63 - 1
"""Sequences are signed 64-bit on the bridge's SQL side; they never wrap."""

_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
_GTIN_LENGTHS = (8, 12, 13, 14)


def _require_utc(value: datetime) -> datetime:
    if value.utcoffset() != timedelta(0):
        raise ValueError("must be in UTC (offset +00:00 or 'Z')")
    return value


def _no_control_chars(value: str) -> str:
    if _CONTROL_CHARS.search(value):
        raise ValueError("must not contain control characters")
    return value


def gtin_check_digit(body: str) -> int:
    """The GS1 mod-10 check digit for the digits before it (weights 3,1,3,... from the right)."""
    total = sum(int(digit) * (3 if index % 2 == 0 else 1) for index, digit in enumerate(body[::-1]))
    return (10 - total % 10) % 10


def _valid_gtin(value: str) -> str:
    if not value.isascii() or not value.isdigit() or len(value) not in _GTIN_LENGTHS:
        raise ValueError("must be 8, 12, 13 or 14 digits (GTIN-8/12/13/14)")
    if gtin_check_digit(value[:-1]) != int(value[-1]):
        raise ValueError(
            f"check digit {value[-1]} is wrong; expected {gtin_check_digit(value[:-1])}"
        )
    return value


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_require_utc)]
"""A timezone-aware UTC instant; local offsets are refused so the bridge never guesses."""

Name = Annotated[StrictStr, Field(min_length=1, max_length=64), AfterValidator(_no_control_chars)]
"""An identifier from another system: an order id, line id, SKU, slot, label id, carrier."""

Label = Annotated[StrictStr, Field(min_length=1, max_length=128), AfterValidator(_no_control_chars)]
"""A short human-readable value such as a tracking number or a device model."""

Text = Annotated[StrictStr, Field(min_length=1, max_length=500)]
"""Free text written by a person, such as a reason; newlines are allowed."""

Version = Annotated[
    StrictStr, Field(min_length=1, max_length=64), AfterValidator(_no_control_chars)
]
"""A software version string as the release process writes it."""

Gtin = Annotated[StrictStr, AfterValidator(_valid_gtin)]
"""A GTIN-8/12/13/14 with a correct check digit, as printed under the barcode."""

Quantity = Annotated[StrictInt, Field(ge=0, le=1_000_000)]
"""A count of units that may be zero (what was found when short)."""

PositiveQuantity = Annotated[StrictInt, Field(gt=0, le=1_000_000)]
"""A count of units that must be at least one (what was ordered or picked)."""

Sequence = Annotated[StrictInt, Field(ge=1, le=MAX_SEQUENCE)]
"""A station's event sequence number; it starts at 1 and only ever goes up."""

BdSeq = Annotated[StrictInt, Field(ge=1, le=MAX_SEQUENCE)]
"""A station's birth/death sequence; one per connection, persisted so restarts continue it."""

Sha256Hex = Annotated[StrictStr, Field(pattern=r"^[0-9a-f]{64}$")]
"""A SHA-256 digest in lower-case hex."""
