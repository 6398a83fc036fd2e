"""Build the ZPL for a shipping label: ship-to, order, carrier and tracking, SSCC as GS1-128.

The SSCC is checked with biip before any ZPL is built, because a wrong check digit on a pallet
label is only found at the customer's dock. Text goes through `^FH` hex escapes so that a caret
or tilde in an address cannot end the field early, and `^CI28` makes the printer read UTF-8.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from biip import ParseError
from biip.sscc import Sscc

from edge.drivers.printer.errors import LabelDataError

__all__ = ["Address", "build_shipping_label"]

_TRACKING = re.compile(r"[A-Za-z0-9]{4,40}")
_LEFT = 40
_LINE = 45


@dataclass(frozen=True)
class Address:
    """A postal address as printed, top to bottom."""

    name: str
    lines: tuple[str, ...]
    city: str
    postal_code: str
    country: str

    def printed_lines(self) -> list[str]:
        """The address as it appears on the label."""
        return [self.name, *self.lines, f"{self.postal_code} {self.city}".strip(), self.country]


def _escape(value: str) -> str:
    """Field data safe inside `^FH^FD...^FS`: the hex indicator, caret and tilde as hex."""
    return value.replace("_", "_5F").replace("^", "_5E").replace("~", "_7E")


def _text(x: int, y: int, height: int, value: str) -> str:
    return f"^FO{x},{y}^A0N,{height},{height}^FH^FD{_escape(value)}^FS"


def _checked_sscc(sscc: str) -> str:
    digits = sscc.strip()
    try:
        return str(Sscc.parse(digits).value)
    except ParseError as error:
        raise LabelDataError(f"SSCC {sscc!r} is not valid: {error}") from error


def _checked_tracking(tracking_number: str) -> str:
    if not _TRACKING.fullmatch(tracking_number):
        raise LabelDataError(
            f"tracking number {tracking_number!r} is not valid "
            "(expected 4 to 40 letters and digits)"
        )
    return tracking_number


def build_shipping_label(
    *,
    ship_to: Address,
    order_reference: str,
    carrier: str,
    tracking_number: str,
    sscc: str,
) -> str:
    """ZPL for one 4x6 inch (203 dpi) shipping label; raises `LabelDataError` on bad data."""
    if not ship_to.name.strip():
        raise LabelDataError("ship-to name is empty (expected the recipient's name)")
    if not order_reference.strip():
        raise LabelDataError("order reference is empty (expected the order number)")
    checked_sscc = _checked_sscc(sscc)
    tracking = _checked_tracking(tracking_number)
    parts = ["^XA", "^CI28", "^PW812", "^LL1218", _text(_LEFT, 40, 30, "SHIP TO:")]
    y = 85
    for line in ship_to.printed_lines():
        parts.append(_text(_LEFT, y, 40, line))
        y += _LINE
    parts += [
        _text(_LEFT, 480, 30, f"Order: {order_reference}"),
        _text(_LEFT, 520, 30, f"Carrier: {carrier}"),
        _text(_LEFT, 570, 30, f"Tracking: {tracking}"),
        f"^FO{_LEFT},610^BY3^BCN,140,Y,N,N^FD{tracking}^FS",
        _text(_LEFT, 840, 30, "SSCC"),
        f"^FO{_LEFT},880^BY3^BCN,200,N,N,N^FD>;>800{checked_sscc}^FS",
        _text(_LEFT, 1100, 30, f"(00) {checked_sscc}"),
        "^PQ1",
        "^XZ",
    ]
    return "\n".join(parts) + "\n"
