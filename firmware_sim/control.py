"""A control socket on a running station rig, for tests and simulated packers in other processes.

A station run with simulated hardware owns its rig; anything outside that process acts on the rig
through this socket: scan a barcode, press or hold a button, read which lights are lit, read the
printed labels, raise a printer fault, pull the scanner's cable. The protocol is JSON lines: one
request object per line, one reply object per line, in order::

    {"op": "press", "pin": "GPIO6", "seconds": 0.05}  ->  {"ok": true}
    {"op": "lit"}                                     ->  {"ok": true, "lit": {"GPIO17": true}}
    {"op": "fly"}                                     ->  {"ok": false, "error": "unknown op ..."}

Operations: ``scan`` (text, symbology?), ``press`` (pin, seconds?, bounce?), ``hold`` (pin,
seconds), ``lit``, ``printed``, ``set_printer_fault`` (fault, active?), ``unplug_scanner`` and
``plug_scanner``. Pins are named as gpiozero names them: ``"GPIO6"``, ``6`` or ``"BCM6"``; replies
use the ``GPIO6`` spelling. A bad request (malformed JSON, unknown op, missing or unknown field,
bad pin) is answered with an error naming the problem and the connection stays usable. A request
line may be at most `MAX_REQUEST_BYTES` (64 KiB); a longer one is skipped up to its newline and
refused. The socket has no authentication, so the server listens on loopback unless told
otherwise.

Presses and holds sleep while the button is down, so they run on a worker thread: the printer
server sharing the loop keeps answering, and the button's edges arrive off the loop as a real
pin's do.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Self

from gpiozero.exc import GPIOZeroError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from firmware_sim.errors import SimError
from firmware_sim.station_rig import SimulatedStationRig
from firmware_sim.zebra.model import Fault, PrintedLabel

__all__ = [
    "MAX_REPLY_BYTES",
    "MAX_REQUEST_BYTES",
    "RigControlClient",
    "RigControlError",
    "RigControlServer",
    "RigControlTimeout",
    "RigControlUnreachable",
    "RigRequestRefused",
]

MAX_REQUEST_BYTES = 64 * 1024
"""The longest request line the server reads, newline included."""

MAX_REPLY_BYTES = 16 * 1024 * 1024
"""The longest reply line the client reads (a long run's `printed` list is the big one)."""

MAX_PRESS_SECONDS = 60.0
MAX_BOUNCES = 100
_STOP_GRACE = 5.0

_log = logging.getLogger(__name__)


class RigControlError(SimError):
    """Base of the control socket's errors."""


class RigRequestRefused(RigControlError, ValueError):
    """The rig answered a request with an error; the message is the rig's own."""


class RigControlUnreachable(RigControlError, ConnectionError):
    """The control socket could not be reached, or the connection to it was lost."""


class RigControlTimeout(RigControlError, TimeoutError):
    """The rig did not answer in time; the client closes, as a late reply would be misread."""


# -- requests ----------------------------------------------------------------------------------


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    op: str


class _Scan(_Request):
    text: str
    symbology: str | None = None


class _Press(_Request):
    pin: str | int
    seconds: float = Field(default=0.05, ge=0, le=MAX_PRESS_SECONDS, allow_inf_nan=False)
    bounce: int = Field(default=0, ge=0, le=MAX_BOUNCES)


class _Hold(_Request):
    pin: str | int
    seconds: float = Field(ge=0, le=MAX_PRESS_SECONDS, allow_inf_nan=False)


class _PrinterFault(_Request):
    fault: str
    active: bool = True


class _Bare(_Request):
    """An operation without arguments."""


class _Refusal(Exception):
    """Raised inside the server to answer the current request with an error."""


def _describe_invalid(error: ValidationError) -> str:
    problems: dict[str, list[str]] = {}
    for detail in error.errors():
        field = str(detail["loc"][0]) if detail["loc"] else "request"
        problems.setdefault(field, [])
        if detail["msg"] not in problems[field]:
            problems[field].append(detail["msg"])
    return "; ".join(f"field {field!r}: {' or '.join(msgs)}" for field, msgs in problems.items())


def _label_as_json(label: PrintedLabel) -> dict[str, Any]:
    return {
        "sequence": label.sequence,
        "fields": label.field_data(),
        "barcodes": [{"symbology": b.symbology, "data": b.data} for b in label.barcodes],
        "copies": label.copies,
        "errors": [error.message for error in label.errors],
    }


# -- the server --------------------------------------------------------------------------------

_Handler = Callable[[Any], Awaitable[dict[str, Any]]]


class _LineTooLong(Exception):
    pass


async def _read_request_line(reader: asyncio.StreamReader) -> bytes | None:
    """The next line (None at end of stream); an over-long line is skipped, then refused."""
    try:
        return await reader.readuntil(b"\n")
    except asyncio.IncompleteReadError as end:
        return end.partial or None
    except asyncio.LimitOverrunError:
        pass
    while True:
        try:
            await reader.readuntil(b"\n")
        except asyncio.IncompleteReadError:
            break
        except asyncio.LimitOverrunError as overrun:
            await reader.readexactly(overrun.consumed)
        else:
            break
    raise _LineTooLong


class RigControlServer:
    """Serves a `SimulatedStationRig` on a TCP port (0 picks a free one); an async context manager.

    Each connection's requests are answered one at a time and in order; connections are
    independent, so two simulated packers can press buttons at once.
    """

    def __init__(self, rig: SimulatedStationRig, host: str = "127.0.0.1", port: int = 0) -> None:
        self.rig = rig
        self._host = host
        self._requested_port = port
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._ops: dict[str, tuple[type[_Request], _Handler]] = {
            "scan": (_Scan, self._scan),
            "press": (_Press, self._press),
            "hold": (_Hold, self._hold),
            "lit": (_Bare, self._lit),
            "printed": (_Bare, self._printed),
            "set_printer_fault": (_PrinterFault, self._set_printer_fault),
            "unplug_scanner": (_Bare, self._unplug_scanner),
            "plug_scanner": (_Bare, self._plug_scanner),
        }

    @property
    def host(self) -> str:
        """The address the server listens on."""
        return self._host

    @property
    def port(self) -> int:
        """The bound port (the real one when constructed with port 0)."""
        if self._server is None:
            raise RigControlError("RigControlServer.port: the server is not started")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def start(self) -> None:
        """Start listening; returns once connections are accepted."""
        if self._server is not None:
            raise RigControlError("RigControlServer.start: already started")
        self._server = await asyncio.start_server(
            self._serve, self._host, self._requested_port, limit=MAX_REQUEST_BYTES
        )

    async def stop(self) -> None:
        """Stop listening and end every open connection."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.wait(set(self._connections), timeout=_STOP_GRACE)
        await server.wait_closed()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        try:
            while True:
                try:
                    line = await _read_request_line(reader)
                except _LineTooLong:
                    reply = _refused(
                        f"request line longer than {MAX_REQUEST_BYTES} bytes; skipped it"
                    )
                else:
                    if line is None:
                        break
                    if not line.strip():
                        continue
                    reply = await self._answer(line)
                writer.write(json.dumps(reply).encode("utf-8") + b"\n")
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            if task is not None:
                self._connections.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    async def _answer(self, line: bytes) -> dict[str, Any]:
        try:
            return await self._perform(line)
        except _Refusal as refusal:
            return _refused(str(refusal))
        except Exception as error:
            _log.exception("rig control request failed unexpectedly: %r", line[:200])
            return _refused(f"the rig failed: {type(error).__name__}: {error}")

    async def _perform(self, line: bytes) -> dict[str, Any]:
        try:
            payload = json.loads(line)
        except ValueError as error:
            raise _Refusal(f"malformed JSON: {error}; expected one JSON object per line") from None
        known = ", ".join(self._ops)
        if not isinstance(payload, dict):
            raise _Refusal(
                f'a request is a JSON object such as {{"op": "lit"}}, '
                f"got a {type(payload).__name__}"
            )
        if "op" not in payload:
            raise _Refusal(f"missing field 'op'; expected one of: {known}")
        op = payload["op"]
        if not isinstance(op, str) or op not in self._ops:
            raise _Refusal(f"unknown op {op!r}; expected one of: {known}")
        model, handler = self._ops[op]
        try:
            request = model.model_validate(payload)
        except ValidationError as error:
            raise _Refusal(f"{op}: {_describe_invalid(error)}") from None
        try:
            result = await handler(request)
        except (SimError, GPIOZeroError) as error:
            raise _Refusal(f"{op}: {error}") from None
        return {"ok": True, **result}

    # -- operations ------------------------------------------------------------------------------

    async def _scan(self, request: _Scan) -> dict[str, Any]:
        self.rig.scanner.scan(request.text, symbology=request.symbology)
        return {}

    async def _press(self, request: _Press) -> dict[str, Any]:
        name = self._button_pin(request.pin)
        await asyncio.to_thread(
            self.rig.gpio.tap, name, seconds=request.seconds, bounce=request.bounce
        )
        return {}

    async def _hold(self, request: _Hold) -> dict[str, Any]:
        name = self._button_pin(request.pin)
        await asyncio.to_thread(self.rig.gpio.hold, name, request.seconds)
        return {}

    async def _lit(self, request: _Bare) -> dict[str, Any]:
        outputs = [p for p in list(self.rig.gpio.factory.pins.values()) if p.function == "output"]
        outputs.sort(key=_gpio_order)
        return {"lit": {pin.info.name: float(pin.state) > 0 for pin in outputs}}

    async def _printed(self, request: _Bare) -> dict[str, Any]:
        return {"labels": [_label_as_json(label) for label in self.rig.printer.model.printed]}

    async def _set_printer_fault(self, request: _PrinterFault) -> dict[str, Any]:
        try:
            fault = Fault(request.fault)
        except ValueError:
            known = ", ".join(f.value for f in Fault)
            raise _Refusal(
                f"set_printer_fault: unknown fault {request.fault!r}; expected one of: {known}"
            ) from None
        self.rig.printer.model.set_fault(fault, request.active)
        return {}

    async def _unplug_scanner(self, request: _Bare) -> dict[str, Any]:
        self.rig.usb_backend.unplug(self.rig.scanner)
        return {}

    async def _plug_scanner(self, request: _Bare) -> dict[str, Any]:
        self.rig.usb_backend.plug(self.rig.scanner)
        return {}

    def _button_pin(self, pin: str | int) -> str:
        """The pin's gpiozero name, refusing pins no button reads: a press there does nothing."""
        try:
            mock = self.rig.gpio.pin(pin)
        except (GPIOZeroError, ValueError):
            raise _Refusal(
                f"pin {pin!r} is not a GPIO pin; expected a name such as 'GPIO6' or a number"
            ) from None
        name: str = mock.info.name
        if mock.function != "input":
            raise _Refusal(f"pin {name} is an {mock.function}; expected a button's input pin")
        if mock.when_changed is None:
            raise _Refusal(
                f"no button reads pin {name}; buttons are on: {self._button_pins() or 'none yet'}"
            )
        return name

    def _button_pins(self) -> str:
        pins = [
            p
            for p in list(self.rig.gpio.factory.pins.values())
            if p.function == "input" and p.when_changed is not None
        ]
        return ", ".join(p.info.name for p in sorted(pins, key=_gpio_order))


def _gpio_order(pin: Any) -> tuple[int, str]:
    """GPIO6 before GPIO12: by BCM number, which is what the names spell."""
    name: str = pin.info.name
    return len(name), name


def _refused(message: str) -> dict[str, Any]:
    return {"ok": False, "error": message}


# -- the client --------------------------------------------------------------------------------


class RigControlClient:
    """Talks to a `RigControlServer`; create with `connect`, use as an async context manager.

    Requests go one at a time (replies come back in order). Each waits `timeout` seconds for its
    reply, plus the time a press or hold keeps the button down.
    """

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        where: str,
        timeout: float,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._where = where
        self._timeout = timeout
        self._lock = asyncio.Lock()
        self._broken: str | None = None

    @classmethod
    async def connect(
        cls,
        host: str,
        port: int,
        timeout: float = 5.0,  # noqa: ASYNC109 - also each request's reply timeout
    ) -> RigControlClient:
        """Connect to the rig's control socket at `host`:`port`."""
        where = f"rig control at {host}:{port}"
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(host, port, limit=MAX_REPLY_BYTES)
        except TimeoutError:
            raise RigControlTimeout(f"{where}: no connection within {timeout} s") from None
        except OSError as error:
            raise RigControlUnreachable(f"{where}: cannot connect: {error}") from None
        return cls(reader, writer, where=where, timeout=timeout)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the connection (the rig keeps running)."""
        self._broken = self._broken or "the client was closed"
        self._writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self._writer.wait_closed()

    async def scan(self, text: str, symbology: str | None = None) -> None:
        """Type one barcode on the scanner; `symbology` is an AIM id such as ``]C0``."""
        await self._call({"op": "scan", "text": text, "symbology": symbology})

    async def press(self, pin: str | int, seconds: float = 0.05, bounce: int = 0) -> None:
        """A short press of the button on `pin`, with `bounce` false contacts each way."""
        await self._call(
            {"op": "press", "pin": pin, "seconds": seconds, "bounce": bounce}, busy=seconds
        )

    async def hold(self, pin: str | int, seconds: float) -> None:
        """A long press: keep the button on `pin` down for `seconds`."""
        await self._call({"op": "hold", "pin": pin, "seconds": seconds}, busy=seconds)

    async def lit(self) -> dict[str, bool]:
        """Every output pin the station drives (``"GPIO17"``), mapped to whether it is high."""
        reply = await self._call({"op": "lit"})
        return {str(pin): bool(high) for pin, high in reply["lit"].items()}

    async def printed(self) -> list[dict[str, Any]]:
        """Printed labels, oldest first: fields, barcodes (symbology, data) and copies."""
        reply = await self._call({"op": "printed"})
        labels: list[dict[str, Any]] = reply["labels"]
        return labels

    async def set_printer_fault(self, fault: str, active: bool = True) -> None:
        """Raise (or with ``active=False`` clear) a printer fault such as ``paper_out``."""
        await self._call({"op": "set_printer_fault", "fault": fault, "active": active})

    async def unplug_scanner(self) -> None:
        """Pull the scanner's USB cable."""
        await self._call({"op": "unplug_scanner"})

    async def plug_scanner(self) -> None:
        """Plug the scanner back in (it gets a new bus address, as a real replug does)."""
        await self._call({"op": "plug_scanner"})

    async def _call(self, request: dict[str, Any], *, busy: float = 0.0) -> dict[str, Any]:
        async with self._lock:
            if self._broken is not None:
                raise RigControlUnreachable(f"{self._where}: not connected ({self._broken})")
            wait = self._timeout + max(busy, 0.0)
            try:
                async with asyncio.timeout(wait):
                    self._writer.write(json.dumps(request).encode("utf-8") + b"\n")
                    await self._writer.drain()
                    line = await self._reader.readline()
            except TimeoutError:
                await self._give_up(f"no reply to {request['op']!r} within {wait:.1f} s")
                raise RigControlTimeout(
                    f"{self._where}: no reply to {request['op']!r} within {wait:.1f} s"
                ) from None
            except (OSError, ValueError) as error:
                await self._give_up(f"connection failed: {error}")
                raise RigControlUnreachable(f"{self._where}: {error}") from None
            if not line:
                await self._give_up("the rig closed the connection")
                raise RigControlUnreachable(f"{self._where}: the rig closed the connection")
        return self._reply(request["op"], line)

    def _reply(self, op: str, line: bytes) -> dict[str, Any]:
        try:
            reply = json.loads(line)
        except ValueError as error:
            raise RigControlError(f"{self._where}: unreadable reply to {op!r}: {error}") from None
        if not isinstance(reply, dict) or not isinstance(reply.get("ok"), bool):
            raise RigControlError(f"{self._where}: reply to {op!r} has no 'ok' flag: {reply!r}")
        if not reply["ok"]:
            raise RigRequestRefused(str(reply.get("error", "the rig refused without a reason")))
        return reply

    async def _give_up(self, reason: str) -> None:
        self._broken = reason
        self._writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self._writer.wait_closed()
