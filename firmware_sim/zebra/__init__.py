"""A simulated Zebra ZPL printer: the shared model, its ZPL reader, and a TCP 9100 server."""

from __future__ import annotations

from firmware_sim.zebra.model import FAULT_VARIABLE, Fault, PrintedLabel, ZebraPrinterModel
from firmware_sim.zebra.zpl import Barcode, TextField, ZplError

__all__ = [
    "FAULT_VARIABLE",
    "Barcode",
    "Fault",
    "PrintedLabel",
    "TextField",
    "ZebraPrinterModel",
    "ZplError",
]
