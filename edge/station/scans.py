"""What a scan means at the pack station: an order or tote, an item, a command, or nothing known.

Order and tote ids are looked up first, so an order number made only of digits is never taken
for a GTIN. Items are read with biip, which checks the GTIN's check digit and reads GS1-128 and
GS1 DataMatrix element strings (AI 01) when the reader sends its AIM symbology identifier.
Command barcodes start with ``PL:`` and are printed on a card at the station, so a packer can
record a shortage with its reason, finalise, abort, reprint or void without the screen.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, get_args

import biip

from edge.contract import OrderAllocated, ShortageReason
from edge.station.workflow import (
    Abort,
    BadScan,
    Finalise,
    Input,
    ItemScan,
    OrderScan,
    RequestReprint,
    ShortageCommand,
    Void,
)

__all__ = ["COMMAND_PREFIX", "OrderLookup", "classify_scan"]

COMMAND_PREFIX: Final = "PL:"

OrderLookup = Callable[[str], OrderAllocated | str | None]
"""Find the open allocation an order or tote id names; a string says why it cannot start."""

_SHORTAGE_REASONS: Final = {reason.upper(): reason for reason in get_args(ShortageReason)}


def classify_scan(text: str, symbology: str | None, find_order: OrderLookup) -> Input:
    """Turn one scan into the workflow input it stands for; never raises on any text."""
    code = text.strip()
    if not code:
        return BadScan(text=text, reason="the scan is empty")
    if code.upper().startswith(COMMAND_PREFIX):
        return _command(code)
    found = find_order(code)
    if isinstance(found, OrderAllocated):
        return OrderScan(found)
    if isinstance(found, str):
        return BadScan(text=code, reason=found)
    return _item(code, symbology)


def _item(code: str, symbology: str | None) -> Input:
    try:
        result = biip.parse((symbology or "") + code)
    except biip.ParseError as error:
        return BadScan(text=code, reason=f"unknown barcode: {error}")
    if result.gtin is not None:
        return ItemScan(gtin=result.gtin.value.zfill(14), text=code)
    if result.gtin_error:
        return BadScan(text=code, reason=f"not a valid item barcode: {result.gtin_error}")
    return BadScan(
        text=code, reason="unknown barcode: not an order, tote, item (GTIN) or command here"
    )


def _command(code: str) -> Input:
    parts = code[len(COMMAND_PREFIX) :].split(":")
    verb = parts[0].upper()
    argument = ":".join(parts[1:]).strip()
    if verb == "SHORT":
        reason = _SHORTAGE_REASONS.get(argument.upper() or "MISSING")
        if reason is None:
            known = ", ".join(sorted(_SHORTAGE_REASONS))
            return BadScan(
                text=code, reason=f"unknown shortage reason {argument!r}; expected one of {known}"
            )
        return ShortageCommand(reason)
    if verb == "FINALISE" and not argument:
        return Finalise()
    if verb == "ABORT":
        return Abort(reason="damaged" if argument.upper() == "DAMAGED" else "packer_cancelled")
    if verb == "REPRINT":
        return RequestReprint(reason=argument or "label damaged (reprint command barcode)")
    if verb == "VOID":
        return Void(reason=argument or "label voided (void command barcode)")
    return BadScan(
        text=code,
        reason="unknown command barcode; expected PL:SHORT[:REASON], PL:FINALISE, PL:ABORT, "
        "PL:REPRINT or PL:VOID",
    )
