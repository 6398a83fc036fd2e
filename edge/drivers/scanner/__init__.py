"""The USB HID barcode reader: find it, claim it, decode its keystrokes into scans.

The same code runs on a Pi through libusb and in CI through `firmware_sim`'s pyusb backend.
"""

from edge.drivers.scanner.assembler import GROUP_SEPARATOR, DiscardedScan, Scan
from edge.drivers.scanner.config import ScannerConfig
from edge.drivers.scanner.errors import AmbiguousScanner, BadReport, ScannerError, ScannerNotFound
from edge.drivers.scanner.reader import BarcodeReader, ReaderState

__all__ = [
    "GROUP_SEPARATOR",
    "AmbiguousScanner",
    "BadReport",
    "BarcodeReader",
    "DiscardedScan",
    "ReaderState",
    "Scan",
    "ScannerConfig",
    "ScannerError",
    "ScannerNotFound",
]
