"""A streaming ZPL reader: host bytes in, labels, host queries and errors out.

A network printer receives ZPL in whatever pieces TCP or USB hands it, so the reader keeps
unfinished input between calls and only emits a command once it is sure the command is whole.
It follows the printer's own rules where they matter to a test:

- `^XA`...`^XZ` is one format (one label design, printed `^PQ` times).
- Tilde commands (`~HS`, `~HQES`, `~JA`, ...) act at once, between or inside formats.
- `^FD` data runs to the next caret, which must be `^FS`; a tilde inside field data is data.
- `! U1 ...` lines outside a format are SGD commands (used by the rig's admin channel).
- A format containing `^DF<drive>:<name>` is stored, not printed (a `StoredFormat` event); one
  containing `^XF<drive>:<name>` recalls it, its `^FN<n>` fields filled from the recalling
  format's `^FN<n>^FD...^FS`. Recalling a format that is not stored is a `ZplError` and prints
  nothing. The reader asks its `recall` callable for stored formats; the printer owns them.
- Anything the printer cannot make sense of becomes a `ZplError` naming the command, the way a
  real printer prints garbage rather than refusing the job.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = [
    "BARCODE_SYMBOLOGIES",
    "Barcode",
    "FormatLookup",
    "HostCommand",
    "ParsedLabel",
    "SgdCommand",
    "StoredFormat",
    "TextField",
    "ZplError",
    "ZplEvent",
    "ZplStreamReader",
    "format_name",
    "interpret_format",
]

BARCODE_SYMBOLOGIES: dict[str, str] = {
    "B1": "Code 11",
    "B2": "Interleaved 2 of 5",
    "B3": "Code 39",
    "B7": "PDF417",
    "B8": "EAN-8",
    "BA": "Code 93",
    "BC": "Code 128",
    "BD": "MaxiCode",
    "BE": "EAN-13",
    "BO": "Aztec",
    "BQ": "QR Code",
    "BU": "UPC-A",
    "BX": "Data Matrix",
}

# Commands taking no parameters are complete as soon as their name has arrived; every other
# command is complete only when the next command (or, outside a format, a line end) begins.
_NO_PARAMETERS = frozenset({"XA", "XZ", "FS", "FR", "HS", "JA", "HI", "HM", "HD", "JR", "HH"})
_FIXED_PARAMETERS = {"HQ": 2}

_FORMAT_COMMANDS = frozenset(
    {
        *BARCODE_SYMBOLOGIES,
        "BY", "CF", "CI", "DF", "FB", "FD", "FH", "FN", "FO", "FR", "FS", "FT", "FV", "FW", "FX",
        "GB", "GC", "GD", "GE", "GF", "LH", "LL", "LR", "LS", "LT", "MD", "MM", "MN", "MT",
        "PM", "PO", "PQ", "PR", "PW", "SN", "XA", "XF", "XG", "XZ", "JU", "ML", "IM", "FP",
    }
)  # fmt: skip
_TILDE_COMMANDS = frozenset({"HS", "HQ", "JA", "HI", "HM", "HD", "JR", "HH", "TA", "JS", "SD"})
_PREFIXES = b"^~"
_WHITESPACE = b" \r\n\t"


@dataclass(frozen=True)
class ZplError:
    """Something the printer could not interpret; `command` names the culprit (e.g. ``^QQ``)."""

    command: str
    message: str


@dataclass(frozen=True)
class TextField:
    """One printed text field: its data, where it sits, and the font it was set in."""

    data: str
    x: int
    y: int
    font: str
    positioned_by: str


@dataclass(frozen=True)
class Barcode:
    """One printed barcode: its symbology, encoded data, position and raw parameters."""

    symbology: str
    command: str
    data: str
    x: int
    y: int
    parameters: str


@dataclass(frozen=True)
class ParsedLabel:
    """A complete `^XA`...`^XZ` format, interpreted."""

    raw: str
    fields: tuple[TextField, ...]
    barcodes: tuple[Barcode, ...]
    copies: int
    errors: tuple[ZplError, ...]


@dataclass(frozen=True)
class HostCommand:
    """A tilde command that acts immediately, e.g. ``~HS`` (name ``HS``, arguments ``""``)."""

    name: str
    arguments: str


@dataclass(frozen=True)
class SgdCommand:
    """An SGD line such as ``! U1 setvar "media.status" "ok"`` (verb, variable, value)."""

    verb: str
    name: str
    value: str | None


@dataclass(frozen=True)
class _Command:
    prefix: str
    name: str
    parameters: bytes


@dataclass(frozen=True)
class StoredFormat:
    """A format saved with `^DF`: its full name (``R:PACKSHIP.ZPL``) and its commands."""

    name: str
    commands: tuple[_Command, ...]
    errors: tuple[ZplError, ...]

    @property
    def drive(self) -> str:
        """The drive letter (``R`` is RAM, lost when the printer restarts)."""
        return self.name.split(":", 1)[0]


ZplEvent = ParsedLabel | HostCommand | SgdCommand | StoredFormat | ZplError
FormatLookup = Callable[[str], StoredFormat | None]


@dataclass
class _OpenFormat:
    raw: bytearray = field(default_factory=bytearray)
    commands: list[_Command] = field(default_factory=list)
    errors: list[ZplError] = field(default_factory=list)


_SGD_LINE = re.compile(r'^!\s*U1\s+(\w+)\s+"([^"]*)"(?:\s+"([^"]*)")?\s*$')


class ZplStreamReader:
    """Turns a byte stream, split anywhere, into `ZplEvent`s in arrival order.

    Not thread-safe: the printer model serialises access to it. `recall` finds a stored
    format by its full name (without it, no format is ever found).
    """

    def __init__(self, recall: FormatLookup | None = None) -> None:
        self._pending = bytearray()
        self._format: _OpenFormat | None = None
        self._recall = recall

    @property
    def in_format(self) -> bool:
        """Whether a `^XA` has arrived whose `^XZ` has not (the ~HS "partial format" flag)."""
        return self._format is not None

    def cancel_format(self) -> None:
        """Drop a partly received format, as `~JA` does."""
        self._format = None

    def feed(self, data: bytes) -> list[ZplEvent]:
        """Take more host bytes and return every event they complete."""
        self._pending += data
        events: list[ZplEvent] = []
        while self._pending:
            consumed = self._step(events)
            if consumed == 0:
                break
            if self._format is not None:
                self._format.raw += self._pending[:consumed]
            del self._pending[:consumed]
        return events

    def _step(self, events: list[ZplEvent]) -> int:
        """Consume one token from the front of the buffer; return its length (0: need more)."""
        first = self._pending[0]
        if first in _WHITESPACE:
            return 1
        if first in _PREFIXES:
            return self._command(events)
        if self._format is None and first == ord("!"):
            return self._sgd_line(events)
        return self._stray_text(events)

    def _command(self, events: list[ZplEvent]) -> int:
        if len(self._pending) < 3:
            return 0
        prefix = chr(self._pending[0])
        name = self._pending[1:3].decode("latin-1").upper()
        end = self._parameters_end(name)
        if end is None:
            return 0
        command = _Command(prefix, name, bytes(self._pending[3:end]).rstrip(b"\r\n"))
        if prefix == "~":
            self._tilde(command, events)
        else:
            self._caret(command, bytes(self._pending[:end]), events)
        return end

    def _parameters_end(self, name: str) -> int | None:
        if name in _NO_PARAMETERS:
            return 3
        if name in _FIXED_PARAMETERS:
            end = 3 + _FIXED_PARAMETERS[name]
            return end if len(self._pending) >= end else None
        stops = b"^" if name in {"FD", "FV"} else _PREFIXES
        if self._format is None:
            stops += b"\n"
        for index in range(3, len(self._pending)):
            if self._pending[index] in stops:
                return index
        return None

    def _tilde(self, command: _Command, events: list[ZplEvent]) -> None:
        if command.name not in _TILDE_COMMANDS:
            self._error(f"~{command.name}", f"unknown command ~{command.name}", events)
            return
        if command.name == "JA":
            self._format = None
        events.append(HostCommand(command.name, command.parameters.decode("latin-1")))

    def _caret(self, command: _Command, token: bytes, events: list[ZplEvent]) -> None:
        name = command.name
        if name == "XA":
            if self._format is not None:
                self._error(
                    "^XA", "^XA inside an open format; the partial format is dropped", events
                )
            self._format = _OpenFormat()
            return
        if self._format is None:
            self._error(f"^{name}", f"^{name} outside ^XA..^XZ (expected ^XA first)", events)
            return
        if name == "XZ":
            opened = self._format
            opened.raw += token
            self._format = None
            events.append(self._finish(opened))
            return
        if name not in _FORMAT_COMMANDS and not name.startswith("A"):
            self._format.errors.append(ZplError(f"^{name}", f"unknown command ^{name}"))
        self._format.commands.append(command)

    def _finish(self, opened: _OpenFormat) -> ZplEvent:
        """A complete format: stored (`^DF`), recalled and filled (`^XF`), or interpreted."""
        names = [command.name for command in opened.commands]
        if "DF" in names:
            return _define(opened, names.index("DF"))
        if "XF" not in names:
            return interpret_format(opened.raw, opened.commands, opened.errors)
        name = format_name(opened.commands[names.index("XF")].parameters)
        stored = self._recall(name) if self._recall is not None else None
        if stored is None:
            return ZplError(
                "^XF",
                f"^XF{name}: no format {name} is stored (expected it defined with ^DF first; "
                "formats on R: are lost when the printer restarts); nothing printed",
            )
        merged = _merge(stored.commands, opened.commands)
        return interpret_format(opened.raw, merged, opened.errors)

    def _sgd_line(self, events: list[ZplEvent]) -> int:
        newline = self._pending.find(b"\n")
        if newline < 0:
            return 0
        line = self._pending[:newline].decode("utf-8", "replace").strip()
        match = _SGD_LINE.match(line)
        if match is None:
            self._error(
                "! U1", f'malformed SGD command {line!r} (expected ! U1 verb "name")', events
            )
        else:
            events.append(SgdCommand(match[1].lower(), match[2], match[3]))
        return newline + 1

    def _stray_text(self, events: list[ZplEvent]) -> int:
        stops = _PREFIXES + (b"\n" if self._format is None else b"")
        end = next((i for i, byte in enumerate(self._pending) if byte in stops), None)
        if end is None:
            return 0
        text = self._pending[:end].decode("utf-8", "replace").strip()
        if text:
            where = (
                "inside ^XA..^XZ but not part of a command" if self._format else "outside ^XA..^XZ"
            )
            self._error("(data)", f"data {where}: {text!r}", events)
        return end

    def _error(self, command: str, message: str, events: list[ZplEvent]) -> None:
        error = ZplError(command, message)
        if self._format is not None:
            self._format.errors.append(error)
        else:
            events.append(error)


@dataclass
class _LabelState:
    x: int = 0
    y: int = 0
    positioned_by: str = "^FO"
    font: str = "0"
    default_font: str = "0"
    hex_indicator: str | None = None
    barcode: _Command | None = None
    field_data: str | None = None
    utf8: bool = False
    field_number: str | None = None
    copies: int = 1
    fields: list[TextField] = field(default_factory=list)
    barcodes: list[Barcode] = field(default_factory=list)


def interpret_format(
    raw: bytes | bytearray, commands: list[_Command], errors: list[ZplError]
) -> ParsedLabel:
    """Turn one format's commands into fields and barcodes, adding any errors they contain."""
    state = _LabelState()
    found = list(errors)
    for command in commands:
        if state.field_data is not None and command.name != "FS":
            found.append(
                ZplError("^FD", f"^FD {state.field_data!r} without ^FS (got ^{command.name})")
            )
            state.field_data = None
        _apply(state, command, found)
    if state.field_data is not None:
        found.append(ZplError("^FD", f"^FD {state.field_data!r} without ^FS (got ^XZ)"))
    return ParsedLabel(
        raw=bytes(raw).decode("utf-8" if state.utf8 else "latin-1", "replace"),
        fields=tuple(state.fields),
        barcodes=tuple(state.barcodes),
        copies=state.copies,
        errors=tuple(found),
    )


def format_name(parameters: bytes) -> str:
    """The full name `^DF`/`^XF` refer to: drive ``R:`` and extension ``.ZPL`` by default."""
    name = parameters.decode("latin-1").strip().upper()
    if ":" not in name:
        name = f"R:{name}"
    if "." not in name.split(":", 1)[1]:
        name = f"{name}.ZPL"
    return name


def _define(opened: _OpenFormat, index: int) -> StoredFormat:
    """Everything but the `^DF` (and the `^FS` closing it) is the stored design."""
    commands = list(opened.commands)
    define = commands.pop(index)
    if index < len(commands) and commands[index].name == "FS":
        commands.pop(index)
    return StoredFormat(format_name(define.parameters), tuple(commands), tuple(opened.errors))


def _field_number(command: _Command) -> str:
    text = command.parameters.decode("latin-1")
    digits = re.match(r"\s*(\d+)", text)
    return str(int(digits[1])) if digits else text.strip()


def _merge(stored: tuple[_Command, ...], recall: list[_Command]) -> list[_Command]:
    """The recalling format with the stored design in place of its `^XF`, fields filled.

    The recalling format's `^FN<n>` ... `^FS` groups supply field data; its other commands
    (e.g. `^PQ`) keep their place before or after the `^XF`.
    """
    fills: dict[str, list[_Command]] = {}
    before: list[_Command] = []
    after: list[_Command] | None = None
    filling: str | None = None
    closes_recall = False
    for command in recall:
        if closes_recall and command.name == "FS":
            closes_recall = False
            continue
        closes_recall = False
        if filling is not None:
            if command.name == "FS":
                filling = None
            else:
                fills[filling].append(command)
        elif command.name == "XF":
            after, closes_recall = [], True
        elif command.name == "FN":
            filling = _field_number(command)
            fills[filling] = []
        else:
            (before if after is None else after).append(command)
    return [*before, *_fill(stored, fills), *(after or [])]


def _fill(stored: tuple[_Command, ...], fills: dict[str, list[_Command]]) -> list[_Command]:
    """The stored commands with each filled `^FN` field's default data replaced."""
    out: list[_Command] = []
    replacing = False
    for command in stored:
        if replacing and command.name in {"FD", "FV", "FH"}:
            continue
        if command.name == "FS":
            replacing = False
        out.append(command)
        if command.name == "FN" and _field_number(command) in fills:
            out.extend(fills[_field_number(command)])
            replacing = True
    return out


def _numbers(command: _Command, count: int, found: list[ZplError]) -> list[int] | None:
    parts = command.parameters.decode("latin-1").split(",")[:count]
    try:
        return [int(part) if part.strip() else 0 for part in parts]
    except ValueError:
        found.append(
            ZplError(f"^{command.name}", f"^{command.name} expects numbers, got {parts!r}")
        )
        return None


def _apply(state: _LabelState, command: _Command, found: list[ZplError]) -> None:
    name = command.name
    text = command.parameters.decode("utf-8" if state.utf8 else "latin-1", "replace")
    if name in {"FO", "FT"}:
        numbers = _numbers(command, 2, found)
        if numbers is not None:
            state.x, state.y = [*numbers, 0, 0][:2]
            state.positioned_by = f"^{name}"
    elif name.startswith("A") and name not in _FORMAT_COMMANDS:
        state.font = name[1]
    elif name == "CF":
        state.default_font = state.font = text.split(",")[0] or state.default_font
    elif name == "CI":
        state.utf8 = text.split(",")[0].strip() == "28"
    elif name == "FH":
        state.hex_indicator = text[:1] or "_"
    elif name in BARCODE_SYMBOLOGIES:
        state.barcode = command
    elif name in {"FD", "FV"}:
        state.field_data = _unhex(text, state.hex_indicator, "utf-8" if state.utf8 else "latin-1")
    elif name == "FN":
        state.field_number = _field_number(command)
    elif name == "FS":
        _close_field(state, found)
    elif name == "PQ":
        numbers = _numbers(command, 1, found)
        if numbers is not None and numbers[0] >= 1:
            state.copies = numbers[0]
        elif numbers is not None:
            found.append(ZplError("^PQ", f"^PQ quantity must be at least 1, got {text!r}"))


def _close_field(state: _LabelState, found: list[ZplError]) -> None:
    if state.field_data is None and state.field_number is not None:
        pass  # a variable field left empty prints nothing
    elif state.field_data is None:
        found.append(ZplError("^FS", "^FS without a preceding ^FD"))
    elif state.barcode is not None:
        state.barcodes.append(
            Barcode(
                symbology=BARCODE_SYMBOLOGIES[state.barcode.name],
                command=f"^{state.barcode.name}",
                data=state.field_data,
                x=state.x,
                y=state.y,
                parameters=state.barcode.parameters.decode("latin-1"),
            )
        )
    else:
        state.fields.append(
            TextField(state.field_data, state.x, state.y, state.font, state.positioned_by)
        )
    state.field_data = None
    state.field_number = None
    state.barcode = None
    state.hex_indicator = None
    state.font = state.default_font


def _unhex(text: str, indicator: str | None, encoding: str) -> str:
    if indicator is None:
        return text
    pattern = re.compile(re.escape(indicator.encode(encoding)) + rb"([0-9A-Fa-f]{2})")
    raw = pattern.sub(lambda match: bytes([int(match[1], 16)]), text.encode(encoding, "replace"))
    return raw.decode(encoding, "replace")
