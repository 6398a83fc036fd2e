"""The barcode reader as an async stream of scans, surviving unplug and replug.

pyusb reads block, so a worker thread owns the USB link and the decoding, and hands each result
to the event loop with `loop.call_soon_threadsafe`; nothing on the thread touches asyncio state.
An unplug shows up as ENODEV on the next read: the reader reports DISCONNECTED, polls enumeration
every `reconnect_poll_s`, and resumes when the reader is back, so the station's loop over
`scans()` never has to know.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from enum import StrEnum
from types import TracebackType
from typing import Any, Self

import usb.core

from edge.drivers.scanner.assembler import DiscardedScan, Scan, ScanAssembler
from edge.drivers.scanner.config import ScannerConfig
from edge.drivers.scanner.discovery import find_reader
from edge.drivers.scanner.errors import ScannerError, ScannerNotFound
from edge.drivers.scanner.hid import ReportDecoder
from edge.drivers.scanner.keymaps import keymap_for
from edge.drivers.scanner.link import HidLink

__all__ = ["BarcodeReader", "ReaderState"]

_log = logging.getLogger(__name__)
_TERMINATOR_CHARS = {"enter": "\r", "tab": "\t"}


class ReaderState(StrEnum):
    """Whether scans can currently arrive."""

    STOPPED = "stopped"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"


class BarcodeReader:
    """A USB HID barcode reader: ``async with reader: async for scan in reader.scans(): ...``.

    Reusable but not re-entrant. `backend` is a pyusb backend; None lets pyusb pick libusb.
    `on_state` and `on_discard` are called on the event loop's thread.
    """

    def __init__(
        self,
        config: ScannerConfig,
        *,
        backend: Any = None,
        on_state: Callable[[ReaderState], None] | None = None,
        on_discard: Callable[[DiscardedScan], None] | None = None,
    ) -> None:
        self.config = config
        self._backend = backend
        self._on_state = on_state
        self._on_discard = on_discard
        self._state = ReaderState.STOPPED
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._queue: asyncio.Queue[Scan | BaseException | None] = asyncio.Queue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._last_open_problem = ""

    @property
    def state(self) -> ReaderState:
        return self._state

    @property
    def description(self) -> str:
        where = f" serial={self.config.serial}" if self.config.serial else ""
        where += f" port={self.config.port_path}" if self.config.port_path else ""
        return f"usb:{self.config.vendor_id:04x}:{self.config.product_id:04x}{where}"

    async def __aenter__(self) -> Self:
        if self._thread is not None:
            raise ScannerError(f"reader {self.description} is already open (not re-entrant)")
        self._loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue()
        link = await asyncio.to_thread(self._open_at_start)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run,
            args=(link, self._new_assembler()),
            daemon=True,
            name=f"scanner {self.description}",
        )
        self._set_state(ReaderState.CONNECTED if link else ReaderState.DISCONNECTED, "opened")
        self._thread.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stop.set()
        await asyncio.to_thread(thread.join)
        self._queue.put_nowait(None)
        self._set_state(ReaderState.STOPPED, "closed")

    async def scans(self) -> AsyncIterator[Scan]:
        """Scans in the order they were read; ends when the reader is closed."""
        queue = self._queue
        while True:
            item = await queue.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    # -- on the event loop ---------------------------------------------------------------------

    def _set_state(self, state: ReaderState, reason: str) -> None:
        if state is self._state:
            return
        self._state = state
        log = _log.warning if state is ReaderState.DISCONNECTED else _log.info
        log("scanner.state reader=%s state=%s reason=%s", self.description, state, reason)
        if self._on_state is not None:
            self._on_state(state)

    def _deliver(self, outcomes: Sequence[Scan | DiscardedScan]) -> None:
        for outcome in outcomes:
            if isinstance(outcome, Scan):
                _log.debug("scanner.scan reader=%s text=%r", self.description, outcome.text)
                self._queue.put_nowait(outcome)
                continue
            _log.warning(
                "scanner.discarded reader=%s reason=%s partial=%r",
                self.description,
                outcome.reason,
                outcome.partial,
            )
            if self._on_discard is not None:
                self._on_discard(outcome)

    # -- on the worker thread ------------------------------------------------------------------

    def _new_assembler(self) -> ScanAssembler:
        return ScanAssembler(
            ReportDecoder(keymap_for(self.config.layout)),
            terminator=_TERMINATOR_CHARS[self.config.terminator],
            gs1_stand_in=self.config.gs1_separator,
            expect_symbology=self.config.symbology_ids,
            idle_reset_s=self.config.idle_reset_s,
        )

    def _to_loop(self, callback: Callable[..., None], *args: Any) -> None:
        assert self._loop is not None
        self._loop.call_soon_threadsafe(callback, *args)

    def _open_at_start(self) -> HidLink | None:
        try:
            return HidLink.open(find_reader(self.config, self._backend))
        except ScannerNotFound:
            if self.config.require_at_start:
                raise
            return None
        except usb.core.USBError as error:
            raise ScannerError(f"cannot open reader {self.description}: {error}") from error

    def _reopen(self) -> HidLink | None:
        try:
            link = HidLink.open(find_reader(self.config, self._backend))
        except (ScannerError, usb.core.USBError) as error:
            problem = str(error)
            if problem != self._last_open_problem and not isinstance(error, ScannerNotFound):
                _log.warning("scanner.open_failed reader=%s error=%s", self.description, problem)
            self._last_open_problem = problem
            return None
        self._last_open_problem = ""
        self._to_loop(self._set_state, ReaderState.CONNECTED, "reader is back")
        return link

    def _run(self, link: HidLink | None, assembler: ScanAssembler) -> None:
        try:
            self._pump(link, assembler)
        except Exception as error:  # a bug must end the stream loudly, not hang it
            _log.exception("scanner.crashed reader=%s", self.description)
            self._to_loop(self._queue.put_nowait, error)

    def _pump(self, link: HidLink | None, assembler: ScanAssembler) -> None:
        poll = self.config.reconnect_poll_s
        try:
            while not self._stop.is_set():
                if link is None:
                    link = self._reopen()
                    if link is None:
                        self._stop.wait(poll)
                    continue
                try:
                    report = link.read(self.config.read_timeout_ms)
                except usb.core.USBTimeoutError:
                    continue
                except usb.core.USBError as error:
                    if error.errno == errno.EOVERFLOW:  # the device sent more than a report
                        reason = f"HID report longer than a boot keyboard report ({error})"
                        self._to_loop(self._deliver, assembler.feed_bad(reason, time.monotonic()))
                        continue
                    link.close()
                    link = None
                    self._to_loop(self._deliver, assembler.reset())
                    self._to_loop(self._set_state, ReaderState.DISCONNECTED, str(error))
                    self._stop.wait(poll)
                    continue
                outcomes = assembler.feed(report, time.monotonic())
                if outcomes:
                    self._to_loop(self._deliver, outcomes)
        finally:
            if link is not None:
                link.close()
