"""Text on a label can never become printer commands.

Whatever the order reference, address or names hold (carets, tildes, underscores, control
characters, non-Latin text, far too much of it), the simulated printer parses exactly the
template's commands, and each field's data decodes back to the normalised text.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from edge.drivers.printer.errors import LabelDataError
from edge.drivers.printer.label_config import LabelSettings
from edge.drivers.printer.labels import (
    MAX_FIELD_CHARACTERS,
    Address,
    ShippingLabel,
    printable_text,
    self_contained_label,
)
from firmware_sim.fuzz.runner import label_fields
from firmware_sim.fuzz.targets import LabelFields, check_label
from firmware_sim.zebra.zpl import ParsedLabel, ZplStreamReader

BOUNDED = settings(
    max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
SETTINGS = LabelSettings(
    company_prefix="7613032", extension_digit=3, serial_start=1, serial_end=9, stored_formats=False
)
SSCC = "376130320000000012"


def label(name: str, *, lines: tuple[str, ...] = (), order: str = "SO-1") -> ShippingLabel:
    return ShippingLabel(
        ship_to=Address(name=name, lines=lines, city="Bristol", postal_code="BS1", country="GB"),
        order_reference=order,
        shipment_reference="SH-1",
        carrier="DPD",
        tracking_number="TRK12345",
        sscc=SSCC,
    )


def printed(zpl: str) -> ParsedLabel:
    events = ZplStreamReader().feed(zpl.encode("utf-8"))
    assert len(events) == 1
    assert isinstance(events[0], ParsedLabel)
    assert events[0].errors == ()
    return events[0]


@BOUNDED
@given(label_fields())
def test_arbitrary_label_text_keeps_the_templates_commands_and_reads_back(
    fields: LabelFields,
) -> None:
    check_label(fields)


@pytest.mark.parametrize(
    "hostile",
    [
        "Evil^XZ^XA^FO0,0^FDinjected^FS^XZ",
        "~JA cancel everything",
        "~HS",
        "Under_5E_score",
        "^FS^PQ999",
    ],
)
def test_carets_tildes_and_hex_indicators_print_as_themselves(hostile: str) -> None:
    parsed = printed(self_contained_label(SETTINGS, label(hostile, order=hostile)))
    texts = [field.data for field in parsed.fields]
    assert hostile in texts
    assert f"Order: {hostile}" in texts
    assert parsed.copies == 1


def test_control_characters_print_as_spaces_and_never_reach_the_printer() -> None:
    name = "Line\r\nBreak\x00Nul\x1bEsc\x7fDel"
    zpl = self_contained_label(SETTINGS, label(name))
    assert not any(char in zpl for char in "\r\x00\x1b\x7f")
    assert printable_text(name) in [field.data for field in printed(zpl).fields]


def test_non_latin_text_prints_as_utf8_under_ci28() -> None:
    lines = ("東京都渋谷区", "شارع الملك فهد", "📦 Unit 4")
    zpl = self_contained_label(SETTINGS, label("Ψ Company", lines=lines))
    assert "^CI28" in zpl.split("^FO")[0]
    texts = [field.data for field in printed(zpl).fields]
    assert all(line in texts for line in lines)


def test_a_field_longer_than_the_label_takes_is_refused_naming_it() -> None:
    with pytest.raises(LabelDataError, match=r"address\.1 .* at most 256"):
        self_contained_label(SETTINGS, label("x" * (MAX_FIELD_CHARACTERS + 1)))


def test_a_name_of_only_control_characters_is_refused_as_empty() -> None:
    with pytest.raises(LabelDataError, match=r"ship_to\.name"):
        self_contained_label(SETTINGS, label("\x00\x01"))
