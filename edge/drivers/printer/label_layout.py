"""Where everything sits on the GS1 logistic label, in millimetres, and how that becomes dots.

Positions are kept in millimetres so one layout serves 203, 300 and 600 dpi printers: each is
converted to dots for the configured resolution only when the ZPL is written. The free-text block
(ship-to, then the references with their data titles) hangs from the top edge, and the barcode
block is anchored to the bottom edge, so on a taller label the SSCC stays the lowest barcode, as
the GS1 logistic label guideline requires. The layout is fixed whatever the data, because a
stored format (`^DF`) cannot move a field per label: shorter addresses leave slots empty.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from functools import partial

__all__ = [
    "ADDRESS_SLOTS",
    "MAX_ADDRESS_LINES",
    "MAX_HEIGHT_MM",
    "MAX_WIDTH_MM",
    "MIN_HEIGHT_MM",
    "MIN_WIDTH_MM",
    "LabelPage",
    "Slot",
    "SlotKind",
    "label_slots",
]

MM_PER_INCH = 25.4

ADDRESS_SLOTS = 7
"""Printed address lines: name, up to `MAX_ADDRESS_LINES` street lines, postcode+city, country."""
MAX_ADDRESS_LINES = ADDRESS_SLOTS - 3

_MARGIN_MM = 5.0
_BARCODE_X_MM = 6.0
_TITLE_MM = 3.5
_ADDRESS_MM = 4.5
_ADDRESS_STEP_MM = 5.5
_DATA_MM = 4.0
_DATA_STEP_MM = 5.0
_BOTTOM_MARGIN_MM = 4.0

_SSCC_BAR_HEIGHT_MM = 31.75
"""GS1 General Specifications: the SSCC's GS1-128 symbol is 31.75 mm high on a logistic label."""
_SSCC_MODULE_MM = 0.495
"""GS1's smallest X dimension for GS1-128 on a logistic label."""
_TRACKING_BAR_HEIGHT_MM = 15.0
_TRACKING_MODULE_MM = 0.25
_TRACKING_TEXT_MM = 3.0
"""Room the printer's own interpretation line takes under the tracking barcode."""
_MAX_MODULE_DOTS = 10
"""`^BY` accepts module widths of 1 to 10 dots."""

# Offsets of the bottom-anchored barcode block, measured up from the label's bottom edge.
_SSCC_TEXT_UP_MM = _BOTTOM_MARGIN_MM + _TITLE_MM
_SSCC_BARS_UP_MM = _SSCC_TEXT_UP_MM + 1.5 + _SSCC_BAR_HEIGHT_MM
_SSCC_TITLE_UP_MM = _SSCC_BARS_UP_MM + 5.0
_TRACKING_BARS_UP_MM = _SSCC_TITLE_UP_MM + 1.5 + _TRACKING_TEXT_MM + _TRACKING_BAR_HEIGHT_MM

_ADDRESS_TOP_MM = 4.0 + _TITLE_MM + 1.5
_TOP_BLOCK_END_MM = _ADDRESS_TOP_MM + ADDRESS_SLOTS * _ADDRESS_STEP_MM + 4 * _DATA_STEP_MM + 2.0

MIN_WIDTH_MM = 100.0
"""Room for the SSCC symbol and its quiet zones; a 4 in (101.6 mm) carrier label fits."""
MAX_WIDTH_MM = 220.0
MIN_HEIGHT_MM = float(math.ceil(_TOP_BLOCK_END_MM + _TRACKING_BARS_UP_MM))
"""The text block and the barcode block without overlap; A6 (148 mm) and 6 in labels fit."""
MAX_HEIGHT_MM = 400.0


@dataclass(frozen=True)
class LabelPage:
    """The label stock: resolution and size. `dots` converts millimetres for this printer."""

    dpi: int
    width_mm: float
    height_mm: float

    def dots(self, mm: float) -> int:
        """`mm` in printer dots, rounded to the nearest dot."""
        return round(mm * self.dpi / MM_PER_INCH)

    @property
    def width_dots(self) -> int:
        """The `^PW` value."""
        return self.dots(self.width_mm)

    @property
    def height_dots(self) -> int:
        """The `^LL` value."""
        return self.dots(self.height_mm)

    def module_dots(self, module_mm: float) -> int:
        """The smallest whole-dot bar width of at least `module_mm` that `^BY` accepts.

        At 600 dpi `^BY`'s limit of 10 dots (0.42 mm) is narrower than 0.495 mm, so the SSCC
        symbol there is as wide as ZPL allows rather than as wide as GS1 asks.
        """
        return min(_MAX_MODULE_DOTS, max(1, math.ceil(module_mm * self.dpi / MM_PER_INCH - 1e-9)))

    @property
    def sscc_module_dots(self) -> int:
        """Bar width of the SSCC's GS1-128 symbol."""
        return self.module_dots(_SSCC_MODULE_MM)

    @property
    def tracking_module_dots(self) -> int:
        """Bar width of the tracking number's Code 128 symbol."""
        return self.module_dots(_TRACKING_MODULE_MM)

    def max_tracking_characters(self) -> int:
        """The longest tracking number whose Code 128 (subset B, quiet zones) fits the width.

        Each character takes 11 modules; start, check and stop characters take 35 more, and the
        quiet zones 10 modules each side.
        """
        modules = (self.width_dots - 2 * self.dots(_BARCODE_X_MM)) // self.tracking_module_dots
        return max(0, (modules - 35 - 20) // 11)


class SlotKind(Enum):
    """How a slot is printed: a line of text or a Code 128 symbol."""

    TEXT = "text"
    BARCODE = "barcode"


@dataclass(frozen=True)
class Slot:
    """One field of the label. `fixed` text is part of the design; otherwise `key` names data.

    `number` is the field's `^FN` number in the stored format.
    """

    number: int
    key: str
    kind: SlotKind
    x: int
    y: int
    height: int
    module: int = 0
    interpretation_line: bool = False
    fixed: str | None = None


@dataclass(frozen=True)
class _Spec:
    key: str
    kind: SlotKind
    y_mm: float
    height_mm: float
    fixed: str | None = None
    from_bottom: bool = False
    """`y_mm` is measured up from the bottom edge (so the block stays there on any height)."""


def label_slots(page: LabelPage) -> tuple[Slot, ...]:
    """Every field of the label for `page`, top to bottom, numbered from 1."""
    specs = [_Spec("title.ship_to", SlotKind.TEXT, 4.0, _TITLE_MM, "SHIP TO:")]
    y = _ADDRESS_TOP_MM
    for line in range(1, ADDRESS_SLOTS + 1):
        specs.append(_Spec(f"address.{line}", SlotKind.TEXT, y, _ADDRESS_MM))
        y += _ADDRESS_STEP_MM
    for key in ("order", "shipment", "carrier", "tracking"):
        specs.append(_Spec(key, SlotKind.TEXT, y, _DATA_MM))
        y += _DATA_STEP_MM
    bottom = partial(_Spec, from_bottom=True)
    specs += [
        bottom("tracking_barcode", SlotKind.BARCODE, _TRACKING_BARS_UP_MM, _TRACKING_BAR_HEIGHT_MM),
        bottom("title.sscc", SlotKind.TEXT, _SSCC_TITLE_UP_MM, _TITLE_MM, "SSCC"),
        bottom("sscc_barcode", SlotKind.BARCODE, _SSCC_BARS_UP_MM, _SSCC_BAR_HEIGHT_MM),
        bottom("sscc_text", SlotKind.TEXT, _SSCC_TEXT_UP_MM, _TITLE_MM),
    ]
    return tuple(_slot(page, number, spec) for number, spec in enumerate(specs, start=1))


def _slot(page: LabelPage, number: int, spec: _Spec) -> Slot:
    y = page.height_dots - page.dots(spec.y_mm) if spec.from_bottom else page.dots(spec.y_mm)
    height = page.dots(spec.height_mm)
    if spec.kind is SlotKind.TEXT:
        x = page.dots(_MARGIN_MM)
        return Slot(number, spec.key, spec.kind, x, y, height, fixed=spec.fixed)
    is_sscc = spec.key == "sscc_barcode"
    return Slot(
        number,
        spec.key,
        spec.kind,
        page.dots(_BARCODE_X_MM),
        y,
        height,
        module=page.sscc_module_dots if is_sscc else page.tracking_module_dots,
        interpretation_line=not is_sscc,
    )
