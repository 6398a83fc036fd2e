"""The label printer: one driver, three transports (TCP 9100, USB printer class, CUPS).

`LabelPrinter` gives every job an id, journals it before sending, reads `~HS` before and after
where the transport can read, and raises a typed `PrinterFault` naming what the packer must fix.
"""

from __future__ import annotations

from edge.drivers.printer.config import (
    CupsConnection,
    PrinterConfig,
    TcpConnection,
    UsbConnection,
    build_transport,
)
from edge.drivers.printer.cups_transport import CupsTransport
from edge.drivers.printer.errors import (
    BufferFull,
    HeadOpen,
    JobOutcomeUnknown,
    LabelDataError,
    MalformedStatus,
    PaperOut,
    Paused,
    PrinterError,
    PrinterFault,
    PrinterOffline,
    RibbonOut,
    ShortWrite,
    StatusTimeout,
    UnknownJob,
    WriteTimeout,
)
from edge.drivers.printer.journal import JobJournal, JobRecord, JobState, ReprintRecord
from edge.drivers.printer.labels import Address, build_shipping_label
from edge.drivers.printer.printer import JobResult, LabelPrinter
from edge.drivers.printer.status import PrinterStatus, parse_extended_errors, parse_host_status
from edge.drivers.printer.tcp_transport import TcpTransport
from edge.drivers.printer.transport import PrinterTransport

__all__ = [
    "Address",
    "BufferFull",
    "CupsConnection",
    "CupsTransport",
    "HeadOpen",
    "JobJournal",
    "JobOutcomeUnknown",
    "JobRecord",
    "JobResult",
    "JobState",
    "LabelDataError",
    "LabelPrinter",
    "MalformedStatus",
    "PaperOut",
    "Paused",
    "PrinterConfig",
    "PrinterError",
    "PrinterFault",
    "PrinterOffline",
    "PrinterStatus",
    "PrinterTransport",
    "ReprintRecord",
    "RibbonOut",
    "ShortWrite",
    "StatusTimeout",
    "TcpConnection",
    "TcpTransport",
    "UnknownJob",
    "UsbConnection",
    "WriteTimeout",
    "build_shipping_label",
    "build_transport",
    "parse_extended_errors",
    "parse_host_status",
]
