"""The printer model: faults hold labels back, status replies follow Zebra's layout."""

from __future__ import annotations

import pytest

from firmware_sim.zebra import Fault, ZebraPrinterModel


def label(text: str, copies: int = 1) -> bytes:
    return f"^XA^FO10,10^A0N,30,30^FD{text}^FS^PQ{copies}^XZ".encode()


def host_status_fields(reply: bytes) -> list[list[str]]:
    frames = reply.split(b"\x03\r\n")
    assert frames[-1] == b""
    assert all(frame.startswith(b"\x02") for frame in frames[:-1])
    return [frame[1:].decode().split(",") for frame in frames[:-1]]


def printed_texts(model: ZebraPrinterModel) -> list[str]:
    return [text for printed in model.printed for text in printed.field_data()]


def test_a_label_prints_at_once_when_there_is_no_fault() -> None:
    model = ZebraPrinterModel()

    model.receive(label("one", copies=2))

    [printed] = model.printed
    assert printed.field_data() == ["one"]
    assert printed.copies == 2
    assert printed.raw.startswith("^XA")


@pytest.mark.parametrize(
    "fault", [Fault.PAPER_OUT, Fault.HEAD_OPEN, Fault.PAUSED, Fault.RIBBON_OUT]
)
def test_labels_sent_during_a_fault_print_once_in_order_when_it_clears(fault: Fault) -> None:
    model = ZebraPrinterModel(faults=[fault])

    model.receive(label("first") + label("second", copies=2))
    assert model.printed == []
    assert model.labels_remaining == 3

    model.clear_fault(fault)
    model.set_fault(fault)
    model.clear_fault(fault)

    assert printed_texts(model) == ["first", "second"]
    assert model.labels_remaining == 0


def test_labels_wait_until_the_last_of_several_faults_clears() -> None:
    model = ZebraPrinterModel(faults=[Fault.PAPER_OUT, Fault.HEAD_OPEN])
    model.receive(label("held"))

    model.clear_fault(Fault.PAPER_OUT)
    assert model.printed == []

    model.clear_fault(Fault.HEAD_OPEN)
    assert printed_texts(model) == ["held"]


def test_host_status_has_zebra_layout_with_paper_out_and_labels_remaining() -> None:
    model = ZebraPrinterModel(faults=[Fault.PAPER_OUT])
    model.receive(label("queued", copies=4))

    first, second, third = host_status_fields(model.receive(b"~HS"))

    assert len(first) == 12
    assert len(second) == 11
    assert len(third) == 2
    assert first[1] == "1"  # b: paper out
    assert first[2] == "0"  # c: pause
    assert len(first[3]) == 4  # dddd: label length
    assert first[4] == "001"  # eee: formats in buffer
    assert second[8] == "00000004"  # uuuuuuuu: labels remaining


@pytest.mark.parametrize(
    ("fault", "frame", "index"),
    [
        (Fault.PAUSED, 0, 2),
        (Fault.BUFFER_FULL, 0, 5),
        (Fault.HEAD_OPEN, 1, 2),
        (Fault.RIBBON_OUT, 1, 3),
    ],
)
def test_each_fault_sets_its_host_status_flag(fault: Fault, frame: int, index: int) -> None:
    model = ZebraPrinterModel()
    assert host_status_fields(model.receive(b"~HS"))[frame][index] == "0"

    model.set_fault(fault)

    assert host_status_fields(model.receive(b"~HS"))[frame][index] == "1"


def test_a_partial_format_sets_the_partial_flag() -> None:
    model = ZebraPrinterModel()

    reply = model.receive(b"^XA^FO1,1~HS")

    assert host_status_fields(reply)[0][7] == "1"


@pytest.mark.parametrize(
    ("faults", "error_word"),
    [
        ([], "0 00000000 00000000"),
        ([Fault.PAPER_OUT], "1 00000000 00000001"),
        ([Fault.RIBBON_OUT], "1 00000000 00000002"),
        ([Fault.HEAD_OPEN, Fault.PAPER_OUT], "1 00000000 00000005"),
    ],
)
def test_extended_status_reports_error_flags(faults: list[Fault], error_word: str) -> None:
    model = ZebraPrinterModel(faults=faults)

    reply = model.receive(b"~HQES").decode()

    assert reply.startswith("\x02")
    assert reply.endswith("\x03\r\n")
    assert "PRINTER STATUS" in reply
    errors_line = next(line for line in reply.splitlines() if "ERRORS:" in line)
    assert errors_line.split(":", 1)[1].strip() == error_word


def test_buffer_full_refuses_new_labels_with_an_error_and_prints_nothing_twice() -> None:
    model = ZebraPrinterModel(faults=[Fault.BUFFER_FULL])

    model.receive(label("refused"))
    model.clear_fault(Fault.BUFFER_FULL)

    assert model.printed == []
    assert "buffer full" in model.errors[0].message


def test_a_full_receive_buffer_refuses_the_label_beyond_its_capacity() -> None:
    model = ZebraPrinterModel(buffer_capacity=2, faults=[Fault.PAUSED])

    model.receive(label("a") + label("b") + label("c"))
    assert host_status_fields(model.receive(b"~HS"))[0][5] == "1"
    model.clear_fault(Fault.PAUSED)

    assert printed_texts(model) == ["a", "b"]
    assert [error.command for error in model.errors] == ["^XA"]


def test_cancel_all_discards_labels_waiting_in_the_buffer() -> None:
    model = ZebraPrinterModel(faults=[Fault.PAPER_OUT])
    model.receive(label("cancelled"))

    model.receive(b"~JA")
    model.clear_fault(Fault.PAPER_OUT)

    assert model.printed == []


def test_malformed_labels_still_print_and_their_errors_are_recorded() -> None:
    model = ZebraPrinterModel()

    model.receive(b"^XA^XX^FO1,1^FDok^FS^XZ")

    assert printed_texts(model) == ["ok"]
    assert [error.command for error in model.printed[0].errors] == ["^XX"]
    assert [error.command for error in model.errors] == ["^XX"]


def test_no_status_reply_fault_leaves_host_queries_unanswered() -> None:
    model = ZebraPrinterModel(faults=[Fault.NO_STATUS_REPLY])

    assert model.receive(b"~HS~HQES") == b""


def test_the_admin_channel_sets_and_reports_faults() -> None:
    model = ZebraPrinterModel()

    model.receive(b'! U1 setvar "packline.faults" "paper_out,head_open"\r\n')
    reply = model.receive(b'! U1 getvar "packline.faults"\r\n')
    model.receive(b'! U1 setvar "packline.faults" ""\r\n')

    assert reply == b'"head_open,paper_out"'
    assert model.faults == frozenset()


def test_the_admin_channel_rejects_an_unknown_fault_naming_it() -> None:
    model = ZebraPrinterModel()

    model.receive(b'! U1 setvar "packline.faults" "on_fire"\n')

    assert model.faults == frozenset()
    assert "on_fire" in model.errors[0].message


def test_device_id_names_zebra_and_zpl() -> None:
    device_id = ZebraPrinterModel(model_name="ZD421").device_id()

    assert device_id.startswith("MFG:Zebra Technologies;CMD:ZPL;MDL:ZD421;")


@pytest.mark.parametrize(
    ("faults", "expected"),
    [
        ([], 0x18),
        ([Fault.PAPER_OUT], 0x30),
        ([Fault.HEAD_OPEN], 0x10),
        ([Fault.PAUSED], 0x08),
    ],
)
def test_port_status_follows_the_usb_printer_class_bits(faults: list[Fault], expected: int) -> None:
    assert ZebraPrinterModel(faults=faults).port_status() == expected
