"""Build the printer's answers to `~HS` and `~HQES` in Zebra's documented layout.

The layout is the one in the ZPL II programming guide (`~HS` Host Status Return; `~HQES`
printer status), so the driver's parser is tested against the bytes a real printer sends, not
against a format of our own.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "StatusSnapshot",
    "extended_status_reply",
    "host_identification_reply",
    "host_status_reply",
]

STX = "\x02"
ETX = "\x03"
CRLF = "\r\n"

# ~HQES error flags, nibble 1 (the lowest hex digit of the error word).
MEDIA_OUT_FLAG = 0x1
RIBBON_OUT_FLAG = 0x2
HEAD_OPEN_FLAG = 0x4

_COMMUNICATION_SETTINGS = "030"  # 9600 baud, 8 data bits, 1 stop bit, no parity
_FUNCTION_SETTINGS = "001"
_TEAR_OFF_MODE = "2"
_PRINT_WIDTH_MODE = "6"


@dataclass(frozen=True)
class StatusSnapshot:
    """The state a status reply reports, taken under the model's lock."""

    paper_out: bool
    paused: bool
    head_open: bool
    ribbon_out: bool
    buffer_full: bool
    partial_format: bool
    formats_in_buffer: int
    labels_remaining: int
    label_length_dots: int
    thermal_transfer: bool


def _flag(value: bool) -> str:
    return "1" if value else "0"


def _frame(body: str) -> str:
    return f"{STX}{body}{ETX}{CRLF}"


def host_status_reply(state: StatusSnapshot) -> bytes:
    """The three `~HS` strings, each framed STX...ETX CR LF.

    String 1 `aaa,b,c,dddd,eee,f,g,h,iii,j,k,l`; string 2 `mmm,n,o,p,q,r,s,t,uuuuuuuu,v,www`;
    string 3 `xxxx,y`.
    """
    first = ",".join(
        [
            _COMMUNICATION_SETTINGS,
            _flag(state.paper_out),
            _flag(state.paused),
            f"{min(state.label_length_dots, 9999):04d}",
            f"{min(state.formats_in_buffer, 999):03d}",
            _flag(state.buffer_full),
            "0",  # communications diagnostic mode
            _flag(state.partial_format),
            "000",
            "0",  # corrupt RAM
            "0",  # under temperature
            "0",  # over temperature
        ]
    )
    second = ",".join(
        [
            _FUNCTION_SETTINGS,
            "0",
            _flag(state.head_open),
            _flag(state.ribbon_out),
            _flag(state.thermal_transfer),
            _TEAR_OFF_MODE,
            _PRINT_WIDTH_MODE,
            "0",  # label waiting (peel-off mode only)
            f"{min(state.labels_remaining, 99_999_999):08d}",
            "1",  # format while printing: always 1
            "000",  # graphic images stored
        ]
    )
    third = "1234,0"  # password, static RAM not installed
    return (_frame(first) + _frame(second) + _frame(third)).encode("ascii")


def extended_status_reply(state: StatusSnapshot) -> bytes:
    """The `~HQES` answer: an error word and a warning word, each with a leading any-flag."""
    errors = 0
    if state.paper_out:
        errors |= MEDIA_OUT_FLAG
    if state.ribbon_out:
        errors |= RIBBON_OUT_FLAG
    if state.head_open:
        errors |= HEAD_OPEN_FLAG
    body = (
        f"{CRLF}PRINTER STATUS{CRLF}"
        f"   ERRORS:         {_flag(errors != 0)} 00000000 {errors:08X}{CRLF}"
        f"   WARNINGS:       0 00000000 00000000{CRLF}"
    )
    return _frame(body).encode("ascii")


def host_identification_reply(model_name: str) -> bytes:
    """The `~HI` answer: model, firmware version, dots per millimetre, memory."""
    return _frame(f"{model_name}-203dpi,V84.20.18Z,8,8192KB").encode("ascii")
