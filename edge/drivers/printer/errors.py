"""Printer errors: each names the fault, so the station can tell the packer what to fix.

The faults a packer fixes by hand (`PaperOut`, `HeadOpen`, ...) share `PrinterFault`, so a
station can catch them all and show `fault` ("paper_out") without knowing every class.
"""

from __future__ import annotations

from edge.errors import EdgeError

__all__ = [
    "BufferFull",
    "HeadOpen",
    "JobOutcomeUnknown",
    "LabelDataError",
    "MalformedStatus",
    "PaperOut",
    "Paused",
    "PrinterError",
    "PrinterFault",
    "PrinterOffline",
    "RibbonOut",
    "ShortWrite",
    "StatusTimeout",
    "UnknownJob",
    "WriteTimeout",
]


class PrinterError(EdgeError):
    """Base of all printer errors."""


class PrinterOffline(PrinterError, ConnectionError):
    """The printer cannot be reached, or stopped answering (no status reply counts as this)."""


class StatusTimeout(PrinterOffline, TimeoutError):
    """A status query got no complete answer in time; treated as a fault, never as ready."""


class MalformedStatus(PrinterError, ValueError):
    """A status reply did not have the documented layout; the message quotes what arrived."""


class PrinterFault(PrinterError, RuntimeError):
    """The printer reports a condition someone must fix before labels print."""

    fault = "fault"

    def __init__(self, printer: str, detail: str = "") -> None:
        self.printer = printer
        suffix = f" ({detail})" if detail else ""
        super().__init__(f"printer {printer}: {self.fault.replace('_', ' ')}{suffix}")


class PaperOut(PrinterFault):
    """The printer is out of labels (or the media sensor says so)."""

    fault = "paper_out"


class HeadOpen(PrinterFault):
    """The print head is up; close it."""

    fault = "head_open"


class Paused(PrinterFault):
    """The printer is paused; press pause again to resume."""

    fault = "paused"


class RibbonOut(PrinterFault):
    """The thermal-transfer ribbon has run out."""

    fault = "ribbon_out"


class BufferFull(PrinterFault):
    """The printer's receive buffer is full and would refuse more formats."""

    fault = "buffer_full"


class JobOutcomeUnknown(PrinterError, RuntimeError):
    """A job may or may not have printed; only an explicit `reprint` sends it again."""

    def __init__(self, job_id: str, detail: str) -> None:
        self.job_id = job_id
        super().__init__(
            f"print job {job_id!r}: outcome unknown ({detail}); check the printer and call "
            "reprint(job_id, reason) if the label is missing"
        )


class UnknownJob(PrinterError, KeyError):
    """A reprint named a job id the journal has never seen."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        super().__init__(f"print job {job_id!r} is not in the job journal (expected a known id)")

    def __str__(self) -> str:
        return str(self.args[0])


class LabelDataError(PrinterError, ValueError):
    """Data for a label is invalid (e.g. an SSCC with a wrong check digit)."""


class ShortWrite(PrinterError, OSError):
    """The printer took only part of a write; the rest was not sent and is not retried."""


class WriteTimeout(PrinterError, TimeoutError):
    """The printer accepted no data within the write timeout (paused, busy or wedged)."""
