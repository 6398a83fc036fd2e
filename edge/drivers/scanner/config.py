"""The `[scanner]` configuration section: which reader to open and how it was programmed."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from edge.config import StrictConfig
from edge.drivers.scanner.keymaps import LayoutName

__all__ = ["ScannerConfig"]


class ScannerConfig(StrictConfig):
    """Identity of one USB HID barcode reader and the options its scanner was programmed with.

    `serial` (preferred) or `port_path` (``bus-port.port``, as Linux names it) tells readers of
    the same model apart; vendor and product ids alone only do when a single reader is plugged.
    `gs1_separator` is the stand-in character the scanner types for FNC1, if it was programmed
    with one; Ctrl+] is always read as GS.
    """

    vendor_id: int = Field(ge=0, le=0xFFFF)
    product_id: int = Field(ge=0, le=0xFFFF)
    serial: str | None = Field(default=None, min_length=1)
    port_path: str | None = Field(default=None, pattern=r"^\d+-\d+(\.\d+)*$")
    layout: LayoutName = "us"
    terminator: Literal["enter", "tab"] = "enter"
    gs1_separator: str | None = None
    symbology_ids: bool = False
    require_at_start: bool = True
    reconnect_poll_s: float = Field(default=0.5, gt=0, le=60)
    read_timeout_ms: int = Field(default=200, ge=10, le=5000)
    idle_reset_s: float = Field(default=1.0, gt=0)

    @field_validator("gs1_separator")
    @classmethod
    def _one_printable_character(cls, value: str | None) -> str | None:
        if value is not None and (len(value) != 1 or not value.isprintable()):
            raise ValueError(f"expected one printable character such as '|', got {value!r}")
        return value
