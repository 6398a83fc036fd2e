"""The shipping label: the virtual printer reads back every field and a valid GS1-128 SSCC."""

from __future__ import annotations

import pytest

from edge.drivers.printer import Address, LabelDataError, build_shipping_label
from firmware_sim.zebra import ZebraPrinterModel

SSCC = "376130321109103420"
SHIP_TO = Address("Zoë Dupont ^ Co", ("Rue du Lac 4", "Étage 2"), "Lausanne", "1003", "CH")


def label(**overrides: str) -> str:
    values = {
        "order_reference": "SO-1001",
        "carrier": "Swiss Post",
        "tracking_number": "99001234567890",
        "sscc": SSCC,
    } | overrides
    return build_shipping_label(ship_to=SHIP_TO, **values)


def printed_once(zpl: str) -> ZebraPrinterModel:
    model = ZebraPrinterModel()
    model.receive(zpl.encode("utf-8"))
    assert len(model.printed) == 1
    return model


def test_the_label_selects_utf8_and_prints_the_address_unmangled() -> None:
    zpl = label()
    printed = printed_once(zpl).printed[0]

    assert "^CI28" in zpl
    texts = printed.field_data()
    for line in ("Zoë Dupont ^ Co", "Rue du Lac 4", "Étage 2", "1003 Lausanne", "CH"):
        assert line in texts
    assert "Order: SO-1001" in texts
    assert "Carrier: Swiss Post" in texts


def test_the_sscc_is_gs1_128_with_fnc1_and_ai_00_and_tracking_is_code_128() -> None:
    model = printed_once(label())

    barcodes = {barcode.data: barcode for barcode in model.printed[0].barcodes}
    assert barcodes[f">;>800{SSCC}"].symbology == "Code 128"
    assert barcodes["99001234567890"].symbology == "Code 128"
    assert model.errors == []


def test_an_sscc_with_a_wrong_check_digit_is_refused() -> None:
    with pytest.raises(LabelDataError, match="376130321109103421"):
        label(sscc="376130321109103421")


@pytest.mark.parametrize("tracking", ["", "AB", "12 34 56", "ABC>123"])
def test_a_tracking_number_that_is_not_letters_and_digits_is_refused(tracking: str) -> None:
    with pytest.raises(LabelDataError, match="tracking number"):
        label(tracking_number=tracking)


def test_an_empty_order_reference_is_refused() -> None:
    with pytest.raises(LabelDataError, match="order reference"):
        label(order_reference=" ")


def test_without_a_shipment_reference_the_order_ships_as_one_parcel() -> None:
    texts = printed_once(label()).printed[0].field_data()

    assert "Shipment: SO-1001" in texts


def test_an_explicit_shipment_reference_is_printed() -> None:
    texts = printed_once(label(shipment_reference="SO-1001-2")).printed[0].field_data()

    assert "Shipment: SO-1001-2" in texts


def test_the_sscc_is_the_lowest_barcode_and_its_ai_00_text_is_printed() -> None:
    printed = printed_once(label()).printed[0]

    lowest = max(printed.barcodes, key=lambda barcode: barcode.y)
    assert lowest.data == f">;>800{SSCC}"
    assert f"(00) {SSCC}" in printed.field_data()
