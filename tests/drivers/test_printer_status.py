"""Parsing the printer's ~HS and ~HQES replies as a real Zebra sends them."""

from __future__ import annotations

import pytest

from edge.drivers.printer import (
    BufferFull,
    HeadOpen,
    MalformedStatus,
    PaperOut,
    Paused,
    PrinterFault,
    RibbonOut,
    parse_extended_errors,
    parse_host_status,
)
from edge.drivers.printer.status import host_status_complete


def host_status(first: str, second: str, third: str = "1234,0") -> bytes:
    return b"".join(f"\x02{frame}\x03\r\n".encode() for frame in (first, second, third))


READY = host_status("030,0,0,1245,000,0,0,0,000,0,0,0", "001,0,0,0,1,2,4,0,00000000,1,000")


def test_a_ready_printer_parses_as_idle_without_faults() -> None:
    status = parse_host_status(READY)

    assert status.faults == []
    assert status.idle
    assert status.label_length_dots == 1245
    assert status.thermal_transfer
    status.raise_for_fault("tcp://printer:9100")


def test_paper_out_with_labels_queued_parses_both() -> None:
    reply = host_status("030,1,0,1245,002,0,0,0,000,0,0,0", "001,0,0,0,0,2,4,0,00000003,1,000")

    status = parse_host_status(reply)

    assert status.paper_out
    assert status.formats_in_buffer == 2
    assert status.labels_remaining == 3
    assert not status.idle


@pytest.mark.parametrize(
    ("first", "second", "error"),
    [
        ("030,1,0,1245,000,0,0,0,000,0,0,0", "001,0,0,0,0,2,4,0,00000000,1,000", PaperOut),
        ("030,0,1,1245,000,0,0,0,000,0,0,0", "001,0,0,0,0,2,4,0,00000000,1,000", Paused),
        ("030,0,0,1245,000,1,0,0,000,0,0,0", "001,0,0,0,0,2,4,0,00000000,1,000", BufferFull),
        ("030,0,0,1245,000,0,0,0,000,0,0,0", "001,0,1,0,0,2,4,0,00000000,1,000", HeadOpen),
        ("030,0,0,1245,000,0,0,0,000,0,0,0", "001,0,0,1,0,2,4,0,00000000,1,000", RibbonOut),
    ],
)
def test_each_fault_flag_raises_its_typed_error_naming_the_printer(
    first: str, second: str, error: type[PrinterFault]
) -> None:
    status = parse_host_status(host_status(first, second))

    with pytest.raises(error) as raised:
        status.raise_for_fault("tcp://dock-3:9100")

    assert raised.value.fault in status.faults
    assert "tcp://dock-3:9100" in str(raised.value)


def test_a_reply_with_two_frames_is_incomplete_and_malformed() -> None:
    two_frames = READY[: READY.rindex(b"\x02")]

    assert not host_status_complete(two_frames)
    with pytest.raises(MalformedStatus, match="2 of 3"):
        parse_host_status(two_frames)


def test_a_non_numeric_flag_is_malformed_naming_the_field() -> None:
    reply = host_status("030,X,0,1245,000,0,0,0,000,0,0,0", "001,0,0,0,0,2,4,0,00000000,1,000")

    with pytest.raises(MalformedStatus, match="paper out"):
        parse_host_status(reply)


def test_too_few_fields_is_malformed() -> None:
    with pytest.raises(MalformedStatus, match="fields"):
        parse_host_status(host_status("030,0,0", "001,0,0"))


def test_extended_status_error_nibble_names_the_faults() -> None:
    reply = (
        b"\x02\r\nPRINTER STATUS\r\n   ERRORS:         1 00000000 00000005\r\n"
        b"   WARNINGS:       0 00000000 00000000\r\n\x03\r\n"
    )

    assert parse_extended_errors(reply) == ["paper_out", "head_open"]


def test_extended_status_without_an_errors_line_is_malformed() -> None:
    with pytest.raises(MalformedStatus, match="ERRORS"):
        parse_extended_errors(b"\x02PRINTER STATUS\x03")
