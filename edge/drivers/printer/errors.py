"""Printer errors: each names the fault, so the station can tell the packer what to fix."""

from __future__ import annotations

from edge.errors import EdgeError

__all__ = ["PrinterError", "PrinterOffline"]


class PrinterError(EdgeError):
    """Base of all printer errors."""


class PrinterOffline(PrinterError, ConnectionError):
    """The printer cannot be reached, or stopped answering (no status reply counts as this)."""
