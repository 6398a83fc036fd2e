"""The ZPL reader: labels, fields and errors come out the same however the bytes are split."""

from __future__ import annotations

from collections.abc import Sequence

from firmware_sim.zebra.zpl import (
    HostCommand,
    ParsedLabel,
    SgdCommand,
    ZplError,
    ZplEvent,
    ZplStreamReader,
)

LABEL = (
    "^XA^CI28"
    "^FO50,60^A0N,30,30^FDZoë Müller^FS"
    "^FT10,300^BCN,100,Y,N,N^FD>;>800376130321109103420^FS"
    "^FO20,400^BQN,2,5^FDMM,AParcel 42^FS"
    "^FO20,600^B3N,N,80,Y,N^FDABC123^FS"
    "^PQ3^XZ"
).encode()


def feed_in_pieces(data: bytes, cut_every: int) -> list[ZplEvent]:
    reader = ZplStreamReader()
    events: list[ZplEvent] = []
    for start in range(0, len(data), cut_every):
        events += reader.feed(data[start : start + cut_every])
    return events


def only_label(events: Sequence[ZplEvent]) -> ParsedLabel:
    labels = [event for event in events if isinstance(event, ParsedLabel)]
    assert len(labels) == 1, events
    return labels[0]


def test_a_label_records_text_fields_with_position_and_font() -> None:
    label = only_label(ZplStreamReader().feed(LABEL))

    [text] = label.fields
    assert (text.data, text.x, text.y, text.font, text.positioned_by) == (
        "Zoë Müller",
        50,
        60,
        "0",
        "^FO",
    )
    assert label.errors == ()


def test_a_label_records_barcodes_with_their_symbology_and_copies() -> None:
    label = only_label(ZplStreamReader().feed(LABEL))

    assert [(b.symbology, b.data, b.x, b.y) for b in label.barcodes] == [
        ("Code 128", ">;>800376130321109103420", 10, 300),
        ("QR Code", "MM,AParcel 42", 20, 400),
        ("Code 39", "ABC123", 20, 600),
    ]
    assert label.copies == 3


def test_the_same_label_comes_out_whatever_the_packet_splits() -> None:
    whole = only_label(ZplStreamReader().feed(LABEL))

    for cut_every in (1, 2, 3, 5, 7, 64):
        assert only_label(feed_in_pieces(LABEL, cut_every)) == whole


def test_tilde_commands_act_between_and_inside_formats_even_split_byte_by_byte() -> None:
    data = b"~HS^XA^FO1,1^FDa^FS~HQES^XZ~HS"

    events = feed_in_pieces(data, 1)

    kinds = [type(event).__name__ for event in events]
    assert kinds == ["HostCommand", "HostCommand", "ParsedLabel", "HostCommand"]
    assert events[1] == HostCommand("HQ", "ES")


def test_an_unknown_command_is_recorded_as_an_error_naming_it() -> None:
    label = only_label(ZplStreamReader().feed(b"^XA^QQ12^FO1,1^FDx^FS^XZ"))

    assert label.errors == (ZplError("^QQ", "unknown command ^QQ"),)
    assert label.fields[0].data == "x"


def test_field_data_without_field_separator_is_an_error() -> None:
    label = only_label(ZplStreamReader().feed(b"^XA^FO1,1^FDunterminated^XZ"))

    assert [error.command for error in label.errors] == ["^FD"]
    assert "without ^FS" in label.errors[0].message
    assert label.fields == ()


def test_data_outside_a_format_is_an_error_and_the_next_label_still_parses() -> None:
    events = ZplStreamReader().feed(b"hello printer\n^XA^FO1,1^FDok^FS^XZ")

    assert isinstance(events[0], ZplError)
    assert events[0].command == "(data)"
    assert "outside ^XA..^XZ" in events[0].message
    assert only_label(events).fields[0].data == "ok"


def test_a_format_command_outside_a_format_is_an_error() -> None:
    events = ZplStreamReader().feed(b"^FO1,1\n")

    assert events == [ZplError("^FO", "^FO outside ^XA..^XZ (expected ^XA first)")]


def test_an_unknown_tilde_command_is_an_error() -> None:
    assert ZplStreamReader().feed(b"~ZZ\r\n") == [ZplError("~ZZ", "unknown command ~ZZ")]


def test_a_partial_format_waits_for_its_end() -> None:
    reader = ZplStreamReader()

    assert reader.feed(b"^XA^FO1,1^FDhalf") == []
    assert reader.in_format
    assert only_label(reader.feed(b"^FS^XZ")).fields[0].data == "half"
    assert not reader.in_format


def test_field_hex_escapes_decode_to_caret_and_tilde() -> None:
    label = only_label(ZplStreamReader().feed("^XA^CI28^FO0,0^FH^FDa_5Eb_7Eé^FS^XZ".encode()))

    assert label.fields[0].data == "a^b~é"


def test_sgd_lines_outside_formats_are_read_as_commands() -> None:
    events = ZplStreamReader().feed(b'! U1 setvar "packline.faults" "paper_out"\r\n')

    assert events == [SgdCommand("setvar", "packline.faults", "paper_out")]


def test_cancel_all_drops_a_partial_format() -> None:
    events = ZplStreamReader().feed(b"^XA^FO1,1^FDlost^FS~JA^XZ")

    assert events[0] == HostCommand("JA", "")
    assert not any(isinstance(event, ParsedLabel) for event in events)
