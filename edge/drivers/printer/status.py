"""Parse the printer's `~HS` and `~HQES` replies into a typed status.

`~HS` has no length header: three STX...ETX frames follow each other, so a reader must collect
until the third ETX (`host_status_complete`) and treat a shorter reply as no reply. Field
positions follow Zebra's ZPL II programming guide (Host Status Return).
"""

from __future__ import annotations

from dataclasses import dataclass

from edge.drivers.printer.errors import (
    BufferFull,
    HeadOpen,
    MalformedStatus,
    PaperOut,
    Paused,
    PrinterFault,
    RibbonOut,
)

__all__ = [
    "HOST_STATUS_QUERY",
    "PrinterStatus",
    "host_status_complete",
    "parse_extended_errors",
    "parse_host_status",
]

HOST_STATUS_QUERY = b"~HS"
STX = b"\x02"
ETX = b"\x03"
_FRAMES = 3
_FIRST_FIELDS = 12
_SECOND_FIELDS = 11
_MIN_THIRD_FIELDS = 2

_MEDIA_OUT = 0x1
_RIBBON_OUT = 0x2
_HEAD_OPEN = 0x4


@dataclass(frozen=True)
class PrinterStatus:
    """What `~HS` reports, with the flags that stop printing checked in `raise_for_fault`."""

    paper_out: bool
    paused: bool
    label_length_dots: int
    formats_in_buffer: int
    buffer_full: bool
    partial_format: bool
    corrupt_ram: bool
    under_temperature: bool
    over_temperature: bool
    head_open: bool
    ribbon_out: bool
    thermal_transfer: bool
    labels_remaining: int

    @property
    def faults(self) -> list[str]:
        """Names of the faults that stop printing, e.g. ``["paper_out"]``."""
        flags = {
            "paper_out": self.paper_out,
            "head_open": self.head_open,
            "ribbon_out": self.ribbon_out,
            "paused": self.paused,
            "buffer_full": self.buffer_full,
        }
        return [name for name, active in flags.items() if active]

    @property
    def idle(self) -> bool:
        """Nothing is waiting in the printer: every label sent so far has printed."""
        return self.labels_remaining == 0 and self.formats_in_buffer == 0

    def raise_for_fault(self, printer: str) -> None:
        """Raise the typed error of the first fault (hardware faults before pause)."""
        kinds: list[tuple[bool, type[PrinterFault]]] = [
            (self.paper_out, PaperOut),
            (self.head_open, HeadOpen),
            (self.ribbon_out, RibbonOut),
            (self.paused, Paused),
            (self.buffer_full, BufferFull),
        ]
        others = ", ".join(self.faults)
        for active, kind in kinds:
            if active:
                raise kind(printer, f"faults: {others}")


def host_status_complete(reply: bytes) -> bool:
    """Whether `reply` holds all three `~HS` frames."""
    return reply.count(ETX) >= _FRAMES


def _frames(reply: bytes) -> list[list[str]]:
    frames: list[list[str]] = []
    rest = reply
    for index in range(_FRAMES):
        start = rest.find(STX)
        end = rest.find(ETX, start + 1)
        if start < 0 or end < 0:
            raise MalformedStatus(f"~HS reply has {index} of 3 STX...ETX frames: {reply!r}")
        frames.append(rest[start + 1 : end].decode("ascii", "replace").split(","))
        rest = rest[end + 1 :]
    return frames


def _number(value: str, name: str, reply: bytes) -> int:
    if not value.strip().isdigit():
        raise MalformedStatus(f"~HS field {name} should be digits, got {value!r} in {reply!r}")
    return int(value)


def _flag(value: str, name: str, reply: bytes) -> bool:
    if value.strip() not in {"0", "1"}:
        raise MalformedStatus(f"~HS flag {name} should be 0 or 1, got {value!r} in {reply!r}")
    return value.strip() == "1"


def parse_host_status(reply: bytes) -> PrinterStatus:
    """Parse the three `~HS` strings; raise `MalformedStatus` naming the bad field."""
    first, second, third = _frames(reply)
    counts = (len(first), len(second), len(third))
    if counts[0] < _FIRST_FIELDS or counts[1] < _SECOND_FIELDS or counts[2] < _MIN_THIRD_FIELDS:
        raise MalformedStatus(
            f"~HS strings have {counts} fields, expected (12, 11, 2) or more: {reply!r}"
        )
    return PrinterStatus(
        paper_out=_flag(first[1], "b (paper out)", reply),
        paused=_flag(first[2], "c (pause)", reply),
        label_length_dots=_number(first[3], "dddd (label length)", reply),
        formats_in_buffer=_number(first[4], "eee (formats in buffer)", reply),
        buffer_full=_flag(first[5], "f (buffer full)", reply),
        partial_format=_flag(first[7], "h (partial format)", reply),
        corrupt_ram=_flag(first[9], "j (corrupt RAM)", reply),
        under_temperature=_flag(first[10], "k (under temperature)", reply),
        over_temperature=_flag(first[11], "l (over temperature)", reply),
        head_open=_flag(second[2], "o (head up)", reply),
        ribbon_out=_flag(second[3], "p (ribbon out)", reply),
        thermal_transfer=_flag(second[4], "q (thermal transfer)", reply),
        labels_remaining=_number(second[8], "uuuuuuuu (labels remaining)", reply),
    )


def parse_extended_errors(reply: bytes) -> list[str]:
    """Fault names from a `~HQES` reply's ERRORS line (media out, ribbon out, head open)."""
    text = reply.decode("ascii", "replace")
    for line in text.splitlines():
        words = line.split()
        if words[:1] == ["ERRORS:"] and len(words) >= 4:
            try:
                nibbles = int(words[3], 16)
            except ValueError:
                break
            flags = [
                (_MEDIA_OUT, "paper_out"),
                (_RIBBON_OUT, "ribbon_out"),
                (_HEAD_OPEN, "head_open"),
            ]
            return [name for bit, name in flags if nibbles & bit]
    raise MalformedStatus(f"~HQES reply has no 'ERRORS: f 00000000 hhhhhhhh' line: {reply!r}")
