"""The `[printer]` configuration section, and the one place a transport is chosen from it.

Example::

    [printer]
    journal = "state/print-journal.json"
    status_timeout_s = 2.0
    status_poll_s = 3.0        # between status reads while no label is printing

    [printer.connection]
    transport = "tcp"          # or "usb" (vendor_id, product_id, serial) or "cups" (queue)
    host = "10.0.0.5"
    port = 9100
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field

from edge.config import StrictConfig
from edge.drivers.printer.cups_transport import CupsTransport
from edge.drivers.printer.tcp_transport import TcpTransport
from edge.drivers.printer.transport import PrinterTransport
from edge.drivers.printer.usb_transport import UsbPrinterTransport

__all__ = [
    "CupsConnection",
    "PrinterConfig",
    "TcpConnection",
    "UsbConnection",
    "build_transport",
]


class TcpConnection(StrictConfig):
    """A network printer's raw port."""

    transport: Literal["tcp"]
    host: str = Field(min_length=1)
    port: int = Field(default=9100, ge=1, le=65535)
    connect_timeout_s: float = Field(default=5.0, gt=0)


class UsbConnection(StrictConfig):
    """A USB printer-class device; `serial` picks one of several identical printers."""

    transport: Literal["usb"]
    vendor_id: int = Field(ge=0, le=0xFFFF)
    product_id: int = Field(ge=0, le=0xFFFF)
    serial: str | None = None


class CupsConnection(StrictConfig):
    """A CUPS queue set up for raw ZPL."""

    transport: Literal["cups"]
    queue: str = Field(min_length=1)


class PrinterConfig(StrictConfig):
    """Everything the label printer driver needs."""

    connection: Annotated[
        TcpConnection | UsbConnection | CupsConnection, Field(discriminator="transport")
    ]
    journal: Path
    status_timeout_s: float = Field(default=2.0, gt=0)
    status_poll_s: float = Field(default=3.0, gt=0, le=300)
    """How often the station asks a printer that can answer for its status while no label is
    printing, so a packer sees "Paper out" before starting an order, not at its label."""


def build_transport(
    connection: TcpConnection | UsbConnection | CupsConnection, *, usb_backend: Any = None
) -> PrinterTransport:
    """The transport for `connection`; `usb_backend` is the pyusb backend (None: libusb)."""
    if isinstance(connection, TcpConnection):
        return TcpTransport(
            connection.host, connection.port, connect_timeout=connection.connect_timeout_s
        )
    if isinstance(connection, CupsConnection):
        return CupsTransport(connection.queue)
    return UsbPrinterTransport(
        vendor_id=connection.vendor_id,
        product_id=connection.product_id,
        serial=connection.serial,
        backend=usb_backend,
    )
