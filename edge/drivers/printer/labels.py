"""The GS1 logistic label in ZPL: as one self-contained label, or as a stored format plus data.

A label carries the ship-to address, the order and shipment references, the carrier, the tracking
number as text and as Code 128, and the SSCC (AI 00) as GS1-128, the lowest barcode on the label,
with its "(00) ..." text below it (layout in `label_layout`).

With stored formats the design goes to the printer once per connection (`format_definition`,
`^DF`), and each label sends only its data (`fill_format`, `^XF` with `^FN` fields): fewer bytes
per label and no re-rendering of the static parts, which is what Zebra recommends for
throughput. A printer forgets formats stored in RAM when it restarts, so the driver re-sends the
definition every time it (re)connects (`printer_setup` gives what to send).

Data is checked before any ZPL is built, because a wrong check digit on a parcel is only found at
the customer's dock: the SSCC with biip, the tracking number's characters and whether its symbol
fits the label, and that every reference is present. Text is normalised first (`printable_text`:
Unicode NFC, control characters become spaces) and refused past `MAX_FIELD_CHARACTERS`, then goes
through `^FH` hex escapes, so a caret, tilde or underscore in an address can neither end the field
early nor start a command; `^CI28` makes the printer read the rest, non-Latin text included, as
UTF-8.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Final

from biip import ParseError
from biip.sscc import Sscc

from edge.drivers.printer.errors import LabelDataError
from edge.drivers.printer.label_config import LabelSettings
from edge.drivers.printer.label_layout import (
    MAX_ADDRESS_LINES,
    LabelPage,
    Slot,
    SlotKind,
    label_slots,
)

__all__ = [
    "MAX_FIELD_CHARACTERS",
    "Address",
    "ShippingLabel",
    "build_shipping_label",
    "fill_format",
    "format_definition",
    "printable_text",
    "printer_setup",
    "render_label",
    "self_contained_label",
]

MAX_FIELD_CHARACTERS: Final = 256
"""The longest text one label field takes. The contract's longest printed value (postcode and
city) is 145 characters, far wider than the label already, and ZPL's `^FD` limit is 3072 bytes."""

_ESCAPED: Final = frozenset("_^~")
"""The `^FH` hex indicator and the two command prefixes: never sent as themselves in field data."""

_TRACKING = re.compile(r"[A-Za-z0-9]{4,40}")
_FOUR_BY_SIX_203_DPI = LabelPage(dpi=203, width_mm=101.6, height_mm=152.4)


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


@dataclass(frozen=True)
class ShippingLabel:
    """The data of one parcel's label; checked by every function that renders it."""

    ship_to: Address
    order_reference: str
    shipment_reference: str
    carrier: str
    tracking_number: str
    sscc: str


def render_label(settings: LabelSettings, label: ShippingLabel) -> str:
    """The ZPL to print `label`: the `^XF` fill with stored formats, else a whole label."""
    if settings.stored_formats:
        return fill_format(settings, label)
    return self_contained_label(settings, label)


def printer_setup(settings: LabelSettings) -> tuple[str, ...]:
    """ZPL to send on every (re)connect before any label: the format definition, if used."""
    return (format_definition(settings),) if settings.stored_formats else ()


def format_definition(settings: LabelSettings) -> str:
    """`^DF` the label design under `settings.format_name`; variable fields become `^FN`."""
    page = settings.page
    parts = ["^XA", f"^DF{settings.format_name}^FS", *_page_setup(page)]
    for slot in label_slots(page):
        placeholder = f"^FN{slot.number}^FS" if slot.fixed is None else _data(slot.fixed)
        parts.append(_field_start(slot) + placeholder)
    parts.append("^XZ")
    return _lines(parts)


def fill_format(settings: LabelSettings, label: ShippingLabel) -> str:
    """Recall the stored format with `^XF` and fill its `^FN` fields with `label`'s data."""
    values = _checked_values(settings.page, label)
    parts = ["^XA", "^CI28", f"^XF{settings.format_name}^FS"]
    for slot in label_slots(settings.page):
        if slot.fixed is None and values.get(slot.key):
            parts.append(f"^FN{slot.number}" + _data(values[slot.key]))
    parts += ["^PQ1", "^XZ"]
    return _lines(parts)


def self_contained_label(settings: LabelSettings, label: ShippingLabel) -> str:
    """The whole label in one `^XA`..`^XZ`, for printers that do not keep stored formats."""
    return _self_contained(settings.page, label)


def build_shipping_label(
    *,
    ship_to: Address,
    order_reference: str,
    carrier: str,
    tracking_number: str,
    sscc: str,
    shipment_reference: str | None = None,
) -> str:
    """ZPL for one self-contained 4x6 inch, 203 dpi label; raises `LabelDataError` on bad data.

    Without `shipment_reference` the order ships as one parcel, so the order reference is
    printed as the shipment reference too.
    """
    label = ShippingLabel(
        ship_to=ship_to,
        order_reference=order_reference,
        shipment_reference=order_reference if shipment_reference is None else shipment_reference,
        carrier=carrier,
        tracking_number=tracking_number,
        sscc=sscc,
    )
    return _self_contained(_FOUR_BY_SIX_203_DPI, label)


def _self_contained(page: LabelPage, label: ShippingLabel) -> str:
    values = _checked_values(page, label)
    parts = ["^XA", *_page_setup(page)]
    for slot in label_slots(page):
        value = slot.fixed if slot.fixed is not None else values.get(slot.key)
        if value:
            parts.append(_field_start(slot) + _data(value))
    parts += ["^PQ1", "^XZ"]
    return _lines(parts)


def _page_setup(page: LabelPage) -> list[str]:
    return ["^CI28", f"^PW{page.width_dots}", f"^LL{page.height_dots}"]


def _field_start(slot: Slot) -> str:
    if slot.kind is SlotKind.TEXT:
        return f"^FO{slot.x},{slot.y}^A0N,{slot.height},{slot.height}"
    line = "Y" if slot.interpretation_line else "N"
    return f"^FO{slot.x},{slot.y}^BY{slot.module}^BCN,{slot.height},{line},N,N"


def _data(value: str) -> str:
    return f"^FH^FD{_escape(value)}^FS"


def _lines(parts: list[str]) -> str:
    return "\n".join(parts) + "\n"


def printable_text(value: str) -> str:
    """`value` as the label prints it: NFC, control characters as spaces, lone surrogates as U+FFFD.

    A control character has no glyph and some interfaces act on them, so none reaches the printer;
    a lone surrogate (which JSON can carry) cannot be encoded as UTF-8 at all.
    """
    normal = unicodedata.normalize(
        "NFC", value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    )
    return "".join(" " if unicodedata.category(char) == "Cc" else char for char in normal)


def _escape(value: str) -> str:
    """Field data safe inside `^FH^FD...^FS`: the hex indicator and both prefixes as hex."""
    text = printable_text(value)
    return "".join(f"_{ord(char):02X}" if char in _ESCAPED else char for char in text)


def _checked_values(page: LabelPage, label: ShippingLabel) -> dict[str, str]:
    """Every variable field's printed text, keyed like the layout's slots."""
    address = _checked_address(label.ship_to)
    references = {
        "order_reference": (label.order_reference, "the order number"),
        "shipment_reference": (label.shipment_reference, "the shipment or parcel reference"),
        "carrier": (label.carrier, "the carrier's name"),
    }
    for field, (value, expected) in references.items():
        _require_text(field, value, expected)
    sscc = _checked_sscc(label.sscc)
    tracking = _checked_tracking(label.tracking_number, page)
    values = {f"address.{index}": line for index, line in enumerate(address, start=1)}
    values |= {
        "order": f"Order: {label.order_reference}",
        "shipment": f"Shipment: {label.shipment_reference}",
        "carrier": f"Carrier: {label.carrier}",
        "tracking": f"Tracking: {tracking}",
        "tracking_barcode": tracking,
        "sscc_barcode": f">;>800{sscc}",
        "sscc_text": f"(00) {sscc}",
    }
    for key, value in values.items():
        length = len(printable_text(value))
        if length > MAX_FIELD_CHARACTERS:
            raise LabelDataError(
                f"label field {key} is {length} characters long (expected at most "
                f"{MAX_FIELD_CHARACTERS}; the label has no room for more)"
            )
    return values


def _require_text(field: str, value: str, expected: str) -> None:
    if not printable_text(value).strip():
        readable = field.replace("_", " ")
        raise LabelDataError(f"label field {field} ({readable}) is empty (expected {expected})")


def _checked_address(address: Address) -> list[str]:
    _require_text("ship_to.name", address.name, "the recipient's name")
    if len(address.lines) > MAX_ADDRESS_LINES:
        raise LabelDataError(
            f"label field ship_to.lines has {len(address.lines)} lines (expected at most "
            f"{MAX_ADDRESS_LINES}; the label has no room for more)"
        )
    return address.printed_lines()


def _checked_sscc(sscc: str) -> str:
    digits = sscc.strip()
    try:
        return str(Sscc.parse(digits).value)
    except ParseError as error:
        raise LabelDataError(f"label field sscc: {sscc!r} is not a valid SSCC: {error}") from error


def _checked_tracking(tracking_number: str, page: LabelPage) -> str:
    if not _TRACKING.fullmatch(tracking_number):
        raise LabelDataError(
            f"label field tracking_number: {tracking_number!r} is not a valid tracking number "
            "(expected 4 to 40 letters and digits)"
        )
    longest = page.max_tracking_characters()
    if len(tracking_number) > longest:
        raise LabelDataError(
            f"label field tracking_number: {tracking_number!r} has {len(tracking_number)} "
            f"characters; its barcode fits a {page.width_mm} mm wide label only up to {longest}"
        )
    return tracking_number
