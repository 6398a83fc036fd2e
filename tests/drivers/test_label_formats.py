"""GS1 logistic labels from `LabelSettings`: stored formats, sizes, and the printer's reconnect."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from edge.config import parse_section
from edge.drivers.printer import JobJournal, JobState, LabelPrinter, PrinterOffline, TcpTransport
from edge.drivers.printer.errors import LabelDataError
from edge.drivers.printer.label_config import LabelSettings
from edge.drivers.printer.labels import (
    Address,
    ShippingLabel,
    fill_format,
    format_definition,
    printer_setup,
    render_label,
    self_contained_label,
)
from edge.errors import ConfigError
from firmware_sim.zebra import Fault, PrintedLabel, ZebraPrinterModel
from firmware_sim.zebra.server import ZebraTcpServer

SSCC = "376130321109103420"
LABEL = ShippingLabel(
    ship_to=Address("Zoë Dupont ^ Co", ("Rue du Lac 4", "Étage 2"), "Lausanne", "1003", "CH"),
    order_reference="SO-1001",
    shipment_reference="SH-1001-1",
    carrier="Swiss Post",
    tracking_number="99001234567890",
    sscc=SSCC,
)
STATUS_WAIT = 10.0
"""Generous: a loaded machine only makes a status round trip slower, never wrong."""


def settings(**overrides: Any) -> LabelSettings:
    values = {
        "company_prefix": "7613032",
        "extension_digit": 3,
        "serial_start": 0,
        "serial_end": 999_999,
    } | overrides
    return parse_section(LabelSettings, values, "labels")


def print_on_model(*zpl: str) -> ZebraPrinterModel:
    model = ZebraPrinterModel()
    for part in zpl:
        model.receive(part.encode("utf-8"))
    return model


def only_label(model: ZebraPrinterModel) -> PrintedLabel:
    assert model.errors == []
    assert len(model.printed) == 1
    return model.printed[0]


def barcode_data(label: PrintedLabel) -> list[str]:
    return [barcode.data for barcode in label.barcodes]


def command_value(zpl: str, command: str) -> int:
    match = re.search(rf"\^{command}(\d+)", zpl)
    assert match is not None, f"no ^{command} in {zpl!r}"
    return int(match[1])


# -- the label's content and layout -----------------------------------------------------------


@pytest.mark.parametrize("dpi", [203, 300, 600])
def test_the_sscc_is_the_lowest_barcode_with_its_ai_00_text_below_it(dpi: int) -> None:
    label = only_label(print_on_model(self_contained_label(settings(dpi=dpi), LABEL)))

    lowest = max(label.barcodes, key=lambda barcode: barcode.y)
    assert lowest.data == f">;>800{SSCC}"
    assert lowest.symbology == "Code 128"
    sscc_text = next(field for field in label.fields if field.data == f"(00) {SSCC}")
    assert sscc_text.y > lowest.y


def test_the_label_carries_address_references_carrier_and_tracking_as_text_and_barcode() -> None:
    label = only_label(print_on_model(self_contained_label(settings(), LABEL)))

    texts = label.field_data()
    for line in ("Zoë Dupont ^ Co", "Rue du Lac 4", "Étage 2", "1003 Lausanne", "CH"):
        assert line in texts
    for line in (
        "Order: SO-1001",
        "Shipment: SH-1001-1",
        "Carrier: Swiss Post",
        "Tracking: 99001234567890",
    ):
        assert line in texts
    assert "99001234567890" in barcode_data(label)


def test_labels_at_203_and_300_dpi_differ_in_width_and_length_in_dots() -> None:
    at_203 = self_contained_label(settings(dpi=203), LABEL)
    at_300 = self_contained_label(settings(dpi=300), LABEL)

    assert (command_value(at_203, "PW"), command_value(at_203, "LL")) == (812, 1218)
    assert (command_value(at_300, "PW"), command_value(at_300, "LL")) == (1200, 1800)


def test_positions_scale_with_the_resolution() -> None:
    at_203 = only_label(print_on_model(self_contained_label(settings(dpi=203), LABEL)))
    at_300 = only_label(print_on_model(self_contained_label(settings(dpi=300), LABEL)))

    for low, high in zip(at_203.barcodes, at_300.barcodes, strict=True):
        assert high.y == pytest.approx(low.y * 300 / 203, abs=2)


def test_a_taller_label_keeps_the_sscc_at_the_bottom_edge() -> None:
    a6 = settings(width_mm=105, height_mm=148)
    a5 = settings(width_mm=148, height_mm=210)

    def sscc_gap_to_bottom(chosen: LabelSettings) -> int:
        label = only_label(print_on_model(self_contained_label(chosen, LABEL)))
        lowest = max(label.barcodes, key=lambda barcode: barcode.y)
        return chosen.page.height_dots - lowest.y

    assert sscc_gap_to_bottom(a5) == sscc_gap_to_bottom(a6)


def test_the_sscc_barcode_is_at_least_gs1s_smallest_bar_width_where_zpl_allows() -> None:
    for dpi in (203, 300):
        zpl = self_contained_label(settings(dpi=dpi), LABEL)
        module = int(re.findall(r"\^BY(\d+)", zpl)[-1])
        assert module * 25.4 / dpi >= 0.495


# -- stored formats -----------------------------------------------------------------------------


def test_a_stored_format_filled_prints_the_same_label_as_the_self_contained_form() -> None:
    chosen = settings()
    whole = only_label(print_on_model(self_contained_label(chosen, LABEL)))
    stored = only_label(print_on_model(format_definition(chosen), fill_format(chosen, LABEL)))

    assert stored.fields == whole.fields
    assert stored.barcodes == whole.barcodes


def test_the_format_definition_holds_placeholders_not_data() -> None:
    definition = format_definition(settings(format_name="e:packship.zpl"))

    assert definition.startswith("^XA\n^DFE:PACKSHIP.ZPL^FS\n")
    assert "^CI28" in definition
    assert "^FN" in definition
    assert SSCC not in definition
    assert print_on_model(definition).printed == []


def test_render_label_and_printer_setup_follow_the_stored_formats_setting() -> None:
    stored, whole = settings(stored_formats=True), settings(stored_formats=False)

    assert "^XFR:PACKSHIP.ZPL^FS" in render_label(stored, LABEL)
    assert printer_setup(stored) == (format_definition(stored),)
    assert render_label(whole, LABEL) == self_contained_label(whole, LABEL)
    assert printer_setup(whole) == ()


def test_a_shorter_address_leaves_the_spare_address_fields_empty() -> None:
    short = ShippingLabel(**{**LABEL.__dict__, "ship_to": Address("Ann", (), "Bern", "3000", "CH")})
    chosen = settings()
    label = only_label(print_on_model(format_definition(chosen), fill_format(chosen, short)))

    assert label.field_data()[:4] == ["SHIP TO:", "Ann", "3000 Bern", "CH"]
    assert label.field_data()[4] == "Order: SO-1001"


# -- data checked before any ZPL ------------------------------------------------------------------


def with_changes(**changes: Any) -> ShippingLabel:
    return ShippingLabel(**{**LABEL.__dict__, **changes})


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"sscc": "376130321109103421"}, "sscc"),
        ({"order_reference": " "}, "order_reference"),
        ({"shipment_reference": ""}, "shipment_reference"),
        ({"carrier": ""}, "carrier"),
        ({"tracking_number": "12 34"}, "tracking_number"),
        ({"tracking_number": "A" * 30}, "tracking_number"),
        ({"ship_to": Address(" ", (), "Bern", "3000", "CH")}, "ship_to.name"),
        ({"ship_to": Address("Ann", ("1", "2", "3", "4", "5"), "B", "3", "CH")}, "ship_to.lines"),
    ],
)
@pytest.mark.parametrize("stored_formats", [True, False])
def test_invalid_label_data_is_refused_naming_the_field(
    changes: dict[str, Any], field: str, stored_formats: bool
) -> None:
    with pytest.raises(LabelDataError, match=rf"label field {re.escape(field)}\b"):
        render_label(settings(stored_formats=stored_formats), with_changes(**changes))


@pytest.mark.parametrize(
    ("overrides", "key", "reason"),
    [
        ({"dpi": 400}, "dpi", "203, 300 or 600"),
        ({"width_mm": 50}, "width_mm", "greater than or equal to 100"),
        ({"height_mm": 100}, "height_mm", "greater than or equal to 135"),
        ({"format_name": "PACKSHIP.ZPL"}, "format_name", "<drive>:<name>.ZPL"),
        ({"format_name": "R:PACKSHIPPING.ZPL"}, "format_name", "1 to 8"),
        ({"format_name": "Z:PACKSHIP.ZPL"}, "format_name", "drive one of"),
        ({"format_name": "R:PACKSHIP.GRF"}, "format_name", "<drive>:<name>.ZPL"),
        ({"stored_format": True}, "stored_format", "unknown key"),
    ],
)
def test_invalid_label_settings_are_refused_naming_the_key(
    overrides: dict[str, Any], key: str, reason: str
) -> None:
    with pytest.raises(ConfigError, match=rf"labels\.{key}: .*{re.escape(reason)}"):
        settings(**overrides)


# -- through the real driver to the virtual printer over TCP --------------------------------------


@pytest.fixture
async def server() -> AsyncIterator[ZebraTcpServer]:
    async with ZebraTcpServer(port=0) as running:
        yield running


@pytest.fixture
def chosen() -> LabelSettings:
    return settings()


@pytest.fixture
async def printer(
    server: ZebraTcpServer, tmp_path: Path, chosen: LabelSettings
) -> AsyncIterator[LabelPrinter]:
    async with LabelPrinter(
        TcpTransport("127.0.0.1", server.port),
        JobJournal(tmp_path / "jobs.json"),
        status_timeout=STATUS_WAIT,
        on_connect=printer_setup(chosen),
    ) as driver:
        yield driver


def assert_filled(label: PrintedLabel) -> None:
    assert "Order: SO-1001" in label.field_data()
    assert f"(00) {SSCC}" in label.field_data()
    lowest = max(label.barcodes, key=lambda barcode: barcode.y)
    assert lowest.data == f">;>800{SSCC}"
    assert "99001234567890" in barcode_data(label)


async def test_the_format_is_sent_on_connect_and_each_label_sends_only_its_data(
    server: ZebraTcpServer, printer: LabelPrinter, chosen: LabelSettings
) -> None:
    result = await printer.print_label("label-1", render_label(chosen, LABEL))

    assert result.state is JobState.PRINTED
    assert server.model.stored_formats == ["R:PACKSHIP.ZPL"]
    assert server.model.errors == []
    assert_filled(server.model.printed[-1])
    assert "^XF" in server.model.printed[-1].raw
    assert "^DF" not in server.model.printed[-1].raw


async def test_after_a_printer_restart_the_reconnect_resends_the_format(
    server: ZebraTcpServer, printer: LabelPrinter, chosen: LabelSettings
) -> None:
    await printer.print_label("label-1", render_label(chosen, LABEL))

    server.model.reboot()  # RAM formats are gone, and a restart drops the link
    server.model.set_fault(Fault.CONNECTION_DROPPED)
    with pytest.raises(PrinterOffline):
        await printer.print_label("label-2", render_label(chosen, LABEL))
    server.model.clear_fault(Fault.CONNECTION_DROPPED)
    result = await printer.print_label("label-2", render_label(chosen, LABEL))

    assert result.state is JobState.PRINTED
    assert server.model.stored_formats == ["R:PACKSHIP.ZPL"]
    assert server.model.errors == []
    assert len(server.model.printed) == 2
    assert_filled(server.model.printed[-1])


async def test_without_the_setup_on_connect_a_restarted_printer_prints_nothing(
    server: ZebraTcpServer, tmp_path: Path, chosen: LabelSettings
) -> None:
    """The failure `on_connect` exists to prevent, shown on the same rig."""
    server.model.receive(format_definition(chosen).encode("utf-8"))
    server.model.reboot()
    async with LabelPrinter(
        TcpTransport("127.0.0.1", server.port),
        JobJournal(tmp_path / "jobs.json"),
        status_timeout=STATUS_WAIT,
    ) as printer:
        await printer.print_label("label-1", render_label(chosen, LABEL))

    assert server.model.printed == []
    assert [error.command for error in server.model.errors] == ["^XF"]
