"""The virtual Zebra's stored formats: ^DF keeps, ^XF prints filled, a restart forgets RAM."""

from __future__ import annotations

import asyncio

from firmware_sim.zebra import Fault, ZebraPrinterModel
from firmware_sim.zebra.server import ZebraTcpServer

DEFINE = (
    "^XA^DFR:SHIP.ZPL^FS^CI28"
    "^FO10,10^A0N,30,30^FDFixed title^FS"
    "^FO10,50^A0N,30,30^FN1^FS"
    "^FO10,90^A0N,30,30^FN2^FDdefault two^FS"
    "^FO10,130^A0N,30,30^FN3^FS"
    "^FO10,200^BY3^BCN,100,N,N,N^FN4^FS"
    "^XZ"
)
RECALL = "^XA^XFR:SHIP.ZPL^FS^FN1^FH^FDZo\u00eb _5E Co^FS^FN4^FD>;>800376130321109103420^FS^XZ"
WAIT = 10.0


def defined(*extra: str) -> ZebraPrinterModel:
    model = ZebraPrinterModel()
    model.receive(DEFINE.encode("utf-8"))
    for zpl in extra:
        model.receive(zpl.encode("utf-8"))
    return model


def test_a_format_definition_is_stored_and_not_printed() -> None:
    model = defined()

    assert model.printed == []
    assert model.errors == []
    assert model.stored_formats == ["R:SHIP.ZPL"]


def test_a_recall_prints_the_design_with_its_fields_filled() -> None:
    model = defined(RECALL)

    assert model.errors == []
    [label] = model.printed
    assert label.field_data() == ["Fixed title", "Zo\u00eb ^ Co", "default two"]
    assert [(field.x, field.y) for field in label.fields] == [(10, 10), (10, 50), (10, 90)]
    [barcode] = label.barcodes
    assert (barcode.data, barcode.y) == (">;>800376130321109103420", 200)


def test_recall_data_replaces_a_fields_default_and_an_unfilled_field_prints_nothing() -> None:
    model = defined("^XA^XFR:SHIP.ZPL^FS^FN2^FDsecond^FS^FN4^FD123^FS^XZ")

    assert model.errors == []
    assert model.printed[0].field_data() == ["Fixed title", "second"]


def test_commands_outside_the_fill_groups_still_apply_to_the_recalled_label() -> None:
    model = defined("^XA^XFR:SHIP.ZPL^FS^FN1^FDa^FS^FN4^FD1^FS^PQ3^XZ")

    assert model.printed[0].copies == 3


def test_the_same_label_prints_however_the_bytes_are_split() -> None:
    whole = defined(RECALL).printed[0]
    model = ZebraPrinterModel()
    for byte in (DEFINE + RECALL).encode("utf-8"):
        model.receive(bytes([byte]))

    assert model.errors == []
    assert [(label.fields, label.barcodes) for label in model.printed] == [
        (whole.fields, whole.barcodes)
    ]


def test_names_default_to_the_ram_drive_and_the_zpl_extension() -> None:
    model = ZebraPrinterModel()
    model.receive(b"^XA^DFSHIP^FS^FO1,1^A0N,20,20^FN1^FS^XZ")
    model.receive(b"^XA^XFr:ship.zpl^FS^FN1^FDx^FS^XZ")

    assert model.stored_formats == ["R:SHIP.ZPL"]
    assert model.printed[0].field_data() == ["x"]


def test_recalling_a_format_that_is_not_stored_is_an_error_and_prints_nothing() -> None:
    model = ZebraPrinterModel()
    model.receive(RECALL.encode("utf-8"))

    assert model.printed == []
    [error] = model.errors
    assert error.command == "^XF"
    assert "R:SHIP.ZPL" in error.message


def test_defining_a_name_again_replaces_the_design() -> None:
    model = defined("^XA^DFR:SHIP.ZPL^FS^FO5,5^A0N,20,20^FDnew design^FS^FO5,40^FN1^FS^XZ")
    model.receive(b"^XA^XFR:SHIP.ZPL^FS^FN1^FDfilled^FS^XZ")

    assert model.printed[0].field_data() == ["new design", "filled"]


def test_a_restart_forgets_formats_in_ram_and_keeps_those_in_flash() -> None:
    model = defined(DEFINE.replace("R:SHIP", "E:SHIP"))

    model.reboot()

    assert model.stored_formats == ["E:SHIP.ZPL"]
    assert model.reboots == 1
    model.receive(RECALL.replace("R:SHIP", "E:SHIP").encode("utf-8"))
    model.receive(RECALL.encode("utf-8"))
    assert len(model.printed) == 1
    assert [error.command for error in model.errors] == ["^XF"]


def test_a_restart_loses_labels_waiting_in_the_buffer_but_keeps_physical_faults() -> None:
    model = defined()
    model.set_fault(Fault.PAPER_OUT)
    model.receive(RECALL.encode("utf-8"))
    assert model.labels_remaining == 1

    model.reboot()
    model.clear_fault(Fault.PAPER_OUT)

    assert model.labels_remaining == 0
    assert model.printed == []


def test_a_restart_drops_a_half_received_format() -> None:
    model = defined()
    model.receive(b"^XA^FO1,1^A0N,20,20^FDhalf")

    model.reboot()
    model.receive(b"^FS^XZ")

    assert model.printed == []


def test_the_sgd_reset_command_restarts_the_printer_and_ignores_the_rest_of_its_batch() -> None:
    model = defined()

    model.receive(b'! U1 do "device.reset" ""\r\n' + RECALL.encode("utf-8"))

    assert model.reboots == 1
    assert model.stored_formats == []
    assert model.printed == []


async def test_the_admin_channel_restarts_the_printer_over_tcp() -> None:
    model = defined()
    async with ZebraTcpServer(model, port=0) as server:
        _, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b'! U1 do "device.reset" ""\r\n')
        await writer.drain()

        assert await asyncio.to_thread(model.wait_for_reboots, 1, WAIT)
        writer.close()
        await writer.wait_closed()

    assert model.stored_formats == []
