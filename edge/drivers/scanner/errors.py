"""Barcode reader errors: each names the device or the report, and what was expected."""

from __future__ import annotations

from edge.errors import EdgeError

__all__ = ["AmbiguousScanner", "BadReport", "ScannerError", "ScannerNotFound"]


class ScannerError(EdgeError):
    """Base of all barcode reader errors."""


class ScannerNotFound(ScannerError, LookupError):
    """No plugged-in USB device matches the configured vendor, product, serial or port."""


class AmbiguousScanner(ScannerError, LookupError):
    """Several readers match and nothing in the configuration tells them apart."""


class BadReport(ScannerError, ValueError):
    """A HID report that no boot keyboard sends: wrong length, undefined key, odd modifiers.

    The reader logs it and discards the scan it was part of; the stream carries on.
    """
