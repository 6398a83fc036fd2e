"""The simulated Zebra printer itself, shared by the TCP server and the simulated USB device.

The model owns everything a real printer keeps between connections: the receive buffer of
formats waiting to print, the printed labels, the errors it "printed as garbage", and the faults
an operator would fix by hand. Transports only feed it bytes and pass its replies back, so a
label sent over USB and one sent over TCP behave the same.

Faults follow the printer: while paper is out, the head is open, the ribbon is out or the
printer is paused, nothing prints; received formats wait in the buffer (reported as "labels
remaining" by `~HS`) and print in order, once each, when the last such fault clears. With the
buffer full, new formats are refused and an error is recorded.

Stored formats (`^DF`) live on drives: `R:` is RAM, which a restart wipes, while `E:` (flash) and
the card drives keep theirs. `reboot()` restarts the printer as a power cycle would: RAM formats,
the receive buffer and any half-received format are lost; faults (paper out, head open, ...)
are physical and stay. The admin channel restarts it with Zebra's own SGD command
``! U1 do "device.reset" ""``.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from firmware_sim.zebra.status import (
    StatusSnapshot,
    extended_status_reply,
    host_identification_reply,
    host_status_reply,
)
from firmware_sim.zebra.zpl import (
    Barcode,
    HostCommand,
    ParsedLabel,
    SgdCommand,
    StoredFormat,
    TextField,
    ZplError,
    ZplStreamReader,
)

__all__ = ["FAULT_VARIABLE", "RESET_VARIABLE", "Fault", "PrintedLabel", "ZebraPrinterModel"]

FAULT_VARIABLE = "packline.faults"
"""SGD variable of the rig's admin channel: a comma-separated list of active `Fault` values."""

RESET_VARIABLE = "device.reset"
"""Zebra's SGD command that restarts the printer (``! U1 do "device.reset" ""``)."""

_VOLATILE_DRIVE = "R"


class Fault(StrEnum):
    """Conditions set at run time, as an operator (or a test) would cause them."""

    PAPER_OUT = "paper_out"
    HEAD_OPEN = "head_open"
    PAUSED = "paused"
    RIBBON_OUT = "ribbon_out"
    BUFFER_FULL = "buffer_full"
    CONNECTION_DROPPED = "connection_dropped"
    """The network side closes every connection and refuses new ones (the TCP server acts)."""
    NO_STATUS_REPLY = "no_status_reply"
    """Host queries go unanswered, as Zebra documents for ~HS during media out on some firmware."""


_STOPS_PRINTING = frozenset({Fault.PAPER_OUT, Fault.HEAD_OPEN, Fault.PAUSED, Fault.RIBBON_OUT})
_HARDWARE_ERRORS = frozenset({Fault.PAPER_OUT, Fault.HEAD_OPEN, Fault.RIBBON_OUT})

# USB printer-class GET_PORT_STATUS bits.
_PORT_PAPER_EMPTY = 0x20
_PORT_SELECTED = 0x10
_PORT_NOT_ERROR = 0x08


@dataclass(frozen=True)
class PrintedLabel:
    """One format as it came out of the printer (`copies` identical labels)."""

    sequence: int
    fields: tuple[TextField, ...]
    barcodes: tuple[Barcode, ...]
    copies: int
    raw: str
    errors: tuple[ZplError, ...]
    printed_at: datetime

    def field_data(self) -> list[str]:
        """The data of every text field, in label order: handy in assertions."""
        return [text.data for text in self.fields]


PrintListener = Callable[[PrintedLabel], None]
FaultListener = Callable[[frozenset[Fault]], None]


class ZebraPrinterModel:
    """A thread-safe ZPL printer: feed it host bytes, read back replies and printed labels.

    Listeners run under the model's lock (it is re-entrant, so they may call the model); keep
    them short and hand work to other threads or loops yourself.
    """

    def __init__(
        self,
        *,
        model_name: str = "ZD421",
        serial_number: str = "SIM0000001",
        buffer_capacity: int = 64,
        label_length_dots: int = 1218,
        faults: Iterable[Fault | str] = (),
    ) -> None:
        if buffer_capacity < 1:
            raise ValueError(f"buffer_capacity must be at least 1, got {buffer_capacity}")
        self.model_name = model_name
        self.serial_number = serial_number
        self.buffer_capacity = buffer_capacity
        self.label_length_dots = label_length_dots
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._stored: dict[str, StoredFormat] = {}
        self._reader = ZplStreamReader(recall=self._stored.get)
        self._reboots = 0
        self._queue: deque[ParsedLabel] = deque()
        self._printed: list[PrintedLabel] = []
        self._errors: list[ZplError] = []
        self._faults: set[Fault] = {Fault(fault) for fault in faults}
        self._print_listeners: list[PrintListener] = []
        self._fault_listeners: list[FaultListener] = []

    # -- the interface the transports use ------------------------------------------------------

    def receive(self, data: bytes) -> bytes:
        """Feed host bytes (split anywhere); return the replies they caused, possibly b"".

        A restart among them ends the batch: a rebooting printer reads nothing more of it.
        """
        with self._lock:
            boot = self._reboots
            replies = []
            for event in self._reader.feed(data):
                replies.append(self._handle(event))
                if self._reboots != boot:
                    break
            return b"".join(replies)

    def device_id(self) -> str:
        """The IEEE-1284 device id a USB printer reports for GET_DEVICE_ID."""
        return (
            f"MFG:Zebra Technologies;CMD:ZPL;MDL:{self.model_name};"
            f"CLS:PRINTER;DES:Zebra {self.model_name};SN:{self.serial_number};"
        )

    def port_status(self) -> int:
        """The USB printer-class GET_PORT_STATUS byte for the current faults."""
        with self._lock:
            status = 0
            if Fault.PAPER_OUT in self._faults:
                status |= _PORT_PAPER_EMPTY
            if Fault.PAUSED not in self._faults:
                status |= _PORT_SELECTED
            if not self._faults & _HARDWARE_ERRORS:
                status |= _PORT_NOT_ERROR
            return status

    # -- faults ----------------------------------------------------------------------------------

    @property
    def faults(self) -> frozenset[Fault]:
        """The faults in force now."""
        with self._lock:
            return frozenset(self._faults)

    def set_fault(self, fault: Fault | str, active: bool = True) -> None:
        """Raise or clear one fault; clearing the last printing fault prints the buffer."""
        with self._lock:
            wanted = set(self._faults)
            (wanted.add if active else wanted.discard)(Fault(fault))
            self.set_faults(wanted)

    def clear_fault(self, fault: Fault | str) -> None:
        """Clear one fault (no error if it was not set)."""
        self.set_fault(fault, active=False)

    def set_faults(self, faults: Iterable[Fault | str]) -> None:
        """Replace the whole set of faults at once."""
        with self._lock:
            wanted = {Fault(fault) for fault in faults}
            if wanted == self._faults:
                return
            self._faults = wanted
            self._print_ready()
            current = frozenset(wanted)
            for listener in list(self._fault_listeners):
                listener(current)
            self._changed.notify_all()

    # -- restarts and stored formats -------------------------------------------------------------

    def reboot(self) -> None:
        """Restart as a power cycle does: RAM (`R:`), queued and partial formats are lost."""
        with self._lock:
            for name in [
                name for name, stored in self._stored.items() if stored.drive == _VOLATILE_DRIVE
            ]:
                del self._stored[name]
            self._queue.clear()
            self._reader = ZplStreamReader(recall=self._stored.get)
            self._reboots += 1
            self._changed.notify_all()

    @property
    def reboots(self) -> int:
        """How many times the printer has restarted."""
        with self._lock:
            return self._reboots

    def wait_for_reboots(self, count: int, timeout: float) -> bool:
        """Block until the printer has restarted `count` times; False if `timeout` ran out."""
        with self._changed:
            return self._changed.wait_for(lambda: self._reboots >= count, timeout)

    @property
    def stored_formats(self) -> list[str]:
        """The full names (``R:PACKSHIP.ZPL``) of the formats stored now, sorted."""
        with self._lock:
            return sorted(self._stored)

    # -- observation -----------------------------------------------------------------------------

    @property
    def printed(self) -> list[PrintedLabel]:
        """Every format printed so far, oldest first."""
        with self._lock:
            return list(self._printed)

    @property
    def errors(self) -> list[ZplError]:
        """Every error the printer recorded, including those inside printed formats."""
        with self._lock:
            return list(self._errors)

    @property
    def labels_remaining(self) -> int:
        """Labels received but not printed yet (the ~HS `uuuuuuuu` field)."""
        with self._lock:
            return sum(label.copies for label in self._queue)

    def add_print_listener(self, listener: PrintListener) -> None:
        """Call `listener` with each label as it prints."""
        with self._lock:
            self._print_listeners.append(listener)

    def add_fault_listener(self, listener: FaultListener) -> None:
        """Call `listener` with the new set of faults whenever it changes."""
        with self._lock:
            self._fault_listeners.append(listener)

    def wait_for_printed(self, count: int, timeout: float) -> bool:
        """Block until at least `count` formats have printed; False if `timeout` ran out."""
        with self._changed:
            return self._changed.wait_for(lambda: len(self._printed) >= count, timeout)

    def status_snapshot(self) -> StatusSnapshot:
        """The state `~HS` and `~HQES` report."""
        with self._lock:
            return StatusSnapshot(
                paper_out=Fault.PAPER_OUT in self._faults,
                paused=Fault.PAUSED in self._faults,
                head_open=Fault.HEAD_OPEN in self._faults,
                ribbon_out=Fault.RIBBON_OUT in self._faults,
                buffer_full=self._buffer_full(),
                partial_format=self._reader.in_format,
                formats_in_buffer=len(self._queue),
                labels_remaining=sum(label.copies for label in self._queue),
                label_length_dots=self.label_length_dots,
                thermal_transfer=False,
            )

    # -- internals -------------------------------------------------------------------------------

    def _handle(
        self, event: ParsedLabel | HostCommand | SgdCommand | StoredFormat | ZplError
    ) -> bytes:
        if isinstance(event, ParsedLabel):
            self._accept(event)
        elif isinstance(event, StoredFormat):
            self._stored[event.name] = event
            self._errors.extend(event.errors)
        elif isinstance(event, ZplError):
            self._errors.append(event)
        elif isinstance(event, HostCommand):
            return self._answer(event)
        else:
            return self._sgd(event)
        return b""

    def _buffer_full(self) -> bool:
        return Fault.BUFFER_FULL in self._faults or len(self._queue) >= self.buffer_capacity

    def _accept(self, label: ParsedLabel) -> None:
        if self._buffer_full():
            self._errors.append(
                ZplError(
                    "^XA",
                    f"receive buffer full ({len(self._queue)} formats waiting, capacity "
                    f"{self.buffer_capacity}): format refused",
                )
            )
            return
        self._errors.extend(label.errors)
        self._queue.append(label)
        self._print_ready()

    def _print_ready(self) -> None:
        while self._queue and not self._faults & _STOPS_PRINTING:
            label = self._queue.popleft()
            printed = PrintedLabel(
                sequence=len(self._printed) + 1,
                fields=label.fields,
                barcodes=label.barcodes,
                copies=label.copies,
                raw=label.raw,
                errors=label.errors,
                printed_at=datetime.now(UTC),
            )
            self._printed.append(printed)
            for listener in list(self._print_listeners):
                listener(printed)
            self._changed.notify_all()

    def _answer(self, command: HostCommand) -> bytes:
        if command.name == "JA":
            self._queue.clear()
            return b""
        if Fault.NO_STATUS_REPLY in self._faults:
            return b""
        if command.name == "HS":
            return host_status_reply(self.status_snapshot())
        if command.name == "HQ" and command.arguments.upper() == "ES":
            return extended_status_reply(self.status_snapshot())
        if command.name == "HI":
            return host_identification_reply(self.model_name)
        return b""

    def _sgd(self, command: SgdCommand) -> bytes:
        if command.verb == "setvar" and command.name == FAULT_VARIABLE:
            self._set_faults_from_text(command.value or "")
            return b""
        if command.verb == "do" and command.name == RESET_VARIABLE:
            self.reboot()
            return b""
        if command.verb == "getvar":
            return f'"{self._variable(command.name)}"'.encode("ascii")
        self._errors.append(
            ZplError("! U1", f"unsupported SGD command {command.verb} {command.name!r}")
        )
        return b""

    def _set_faults_from_text(self, text: str) -> None:
        names = [name.strip() for name in text.split(",") if name.strip()]
        known = {fault.value for fault in Fault}
        unknown = [name for name in names if name not in known]
        if unknown:
            self._errors.append(
                ZplError(
                    "! U1",
                    f"{FAULT_VARIABLE}: unknown fault(s) {unknown} (expected any of "
                    f"{sorted(known)})",
                )
            )
            return
        self.set_faults(Fault(name) for name in names)

    def _variable(self, name: str) -> str:
        if name == FAULT_VARIABLE:
            return ",".join(sorted(fault.value for fault in self._faults))
        if name == "media.status":
            return "out" if Fault.PAPER_OUT in self._faults else "ok"
        if name == "head.latch":
            return "open" if Fault.HEAD_OPEN in self._faults else "ok"
        if name == "device.languages":
            return "zpl"
        return "?"
