"""The `[labels]` configuration section: label stock, stored format, and the station's SSCC range.

Example::

    [labels]
    dpi = 203                      # 203, 300 or 600: the printer's print head
    width_mm = 101.6               # label stock, in millimetres (4 x 6 in here)
    height_mm = 152.4
    stored_formats = true          # send the design once per connection as ^DF, then ^XF per label
    format_name = "R:PACKSHIP.ZPL" # R: is RAM (gone after a restart, re-sent on reconnect)
    company_prefix = "7613032"     # GS1 company prefix, as a quoted string (leading zeros count)
    extension_digit = 3
    serial_start = 1000000         # this station's own block of serial references
    serial_end = 1999999

Each station gets its own serial block so two stations can never issue the same SSCC without
talking to each other; the block must fit the 17 digits an SSCC has before its check digit.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from edge.config import StrictConfig
from edge.drivers.printer.label_layout import (
    MAX_HEIGHT_MM,
    MAX_WIDTH_MM,
    MIN_HEIGHT_MM,
    MIN_WIDTH_MM,
    LabelPage,
)

__all__ = ["SSCC_BODY_DIGITS", "LabelSettings"]

SSCC_BODY_DIGITS = 17
"""An SSCC is 17 digits (extension, company prefix, serial reference) plus one check digit."""

_FORMAT_NAME = re.compile(r"([A-Z]):([A-Z0-9_]{1,8})\.ZPL")
_DRIVES = {"R": "RAM", "E": "flash", "B": "memory card", "A": "memory card"}
_COMPANY_PREFIX = re.compile(r"\d{7,10}")


class LabelSettings(StrictConfig):
    """How labels are laid out and numbered at one station. Sizes are in millimetres."""

    dpi: Literal[203, 300, 600] = 203
    width_mm: float = Field(default=101.6, ge=MIN_WIDTH_MM, le=MAX_WIDTH_MM)
    height_mm: float = Field(default=152.4, ge=MIN_HEIGHT_MM, le=MAX_HEIGHT_MM)
    stored_formats: bool = True
    format_name: str = "R:PACKSHIP.ZPL"
    company_prefix: str
    extension_digit: int = Field(ge=0, le=9)
    serial_start: int = Field(ge=0)
    serial_end: int = Field(ge=0)

    @property
    def page(self) -> LabelPage:
        """The label stock as the layout uses it."""
        return LabelPage(self.dpi, self.width_mm, self.height_mm)

    @property
    def serial_digits(self) -> int:
        """How many digits the serial reference has (zero-padded) after the company prefix."""
        return SSCC_BODY_DIGITS - 1 - len(self.company_prefix)

    @field_validator("format_name")
    @classmethod
    def _format_name_is_a_printer_path(cls, value: str) -> str:
        name = value.strip().upper()
        match = _FORMAT_NAME.fullmatch(name)
        if match is None or match[1] not in _DRIVES:
            drives = ", ".join(f"{letter} ({kind})" for letter, kind in _DRIVES.items())
            raise ValueError(
                f"expected <drive>:<name>.ZPL with drive one of {drives} and a name of 1 to 8 "
                f"letters, digits or underscores, got {value!r}"
            )
        return name

    @field_validator("company_prefix", mode="before")
    @classmethod
    def _company_prefix_is_digits(cls, value: Any) -> Any:
        if not isinstance(value, str) or _COMPANY_PREFIX.fullmatch(value) is None:
            raise ValueError(
                f"expected the GS1 company prefix as a quoted string of 7 to 10 digits "
                f"(leading zeros are part of it), got {value!r}"
            )
        return value

    @field_validator("serial_end")
    @classmethod
    def _serial_range_fits(cls, value: int, info: ValidationInfo) -> int:
        start = info.data.get("serial_start")
        if start is not None and start > value:
            raise ValueError(f"serial_end {value} is below serial_start {start}")
        prefix = info.data.get("company_prefix")
        if prefix is not None:
            room = SSCC_BODY_DIGITS - 1 - len(prefix)
            if len(str(value)) > room:
                raise ValueError(
                    f"serial_end {value} has {len(str(value))} digits, but a {len(prefix)}-digit "
                    f"company_prefix leaves {room} for the serial reference (extension digit + "
                    f"prefix + serial reference = {SSCC_BODY_DIGITS} digits)"
                )
        return value
