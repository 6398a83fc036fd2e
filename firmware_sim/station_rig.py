"""One station's simulated hardware as a unit: the scanner's USB bus, the GPIO pins, the printer.

A station process run with simulated hardware builds one `SimulatedStationRig` and hands its
parts to the real drivers: `usb_backend` to the barcode reader, `gpio.factory` to the lights,
and the printer's host and port to the TCP transport. Nothing else in the station changes.
Keeping the three together gives tests and simulated packers one object to act on (directly,
or from another process through `firmware_sim.control`).
"""

from __future__ import annotations

from types import TracebackType
from typing import Literal, Self

from firmware_sim.errors import SimError
from firmware_sim.gpio import GpioRig
from firmware_sim.usb import LAYOUTS, SimulatedHidScanner, SimulatedUsbBackend
from firmware_sim.zebra.model import ZebraPrinterModel
from firmware_sim.zebra.server import ZebraTcpServer

__all__ = ["SimulatedStationRig", "StationRigError"]


class StationRigError(SimError, RuntimeError):
    """The rig was built or used in a way a real station could not be (e.g. entered twice)."""


def _layout(layout: str) -> Literal["us", "uk"]:
    if layout == "us":
        return "us"
    if layout == "uk":
        return "uk"
    raise StationRigError(
        f"scanner layout {layout!r} is unknown; expected one of {sorted(LAYOUTS)}"
    )


class SimulatedStationRig:
    """Scanner on a simulated USB bus, gpiozero mock pins, and a virtual Zebra on TCP.

    The scanner is plugged in from construction, so a reader opened before or after entering
    finds it. Entering starts the printer's TCP server (port 0 picks a free port, read it from
    ``rig.printer.port``); leaving stops it and resets the pins, which gpiozero's mock factory
    does not do by itself when devices close. Reusable, not re-entrant.
    """

    def __init__(
        self,
        *,
        scanner_vendor_id: int,
        scanner_product_id: int,
        scanner_serial: str | None = None,
        layout: str = "us",
        printer_host: str = "127.0.0.1",
        printer_port: int = 0,
    ) -> None:
        self.usb_backend = SimulatedUsbBackend()
        self.scanner = SimulatedHidScanner(
            vendor_id=scanner_vendor_id,
            product_id=scanner_product_id,
            serial=scanner_serial,
            layout=_layout(layout),
        )
        self.usb_backend.plug(self.scanner)
        self.gpio = GpioRig()
        self.printer = ZebraTcpServer(ZebraPrinterModel(), host=printer_host, port=printer_port)
        self._running = False

    @property
    def printer_model(self) -> ZebraPrinterModel:
        """The printer behind the TCP server: its labels, faults and buffer."""
        return self.printer.model

    async def __aenter__(self) -> Self:
        if self._running:
            raise StationRigError("this station rig is already running; exit before entering again")
        await self.printer.start()
        self._running = True
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._running = False
        try:
            await self.printer.stop()
        finally:
            self.gpio.reset()
