"""Assemble typed characters into scans, and refuse the ones that cannot be trusted.

A scan is the burst of keys up to the terminator. A scan that contained a bad report is dropped
whole, because what remains of it would be a different, plausible barcode; so after a bad report
the assembler skips up to the next terminator. A pause longer than `idle_reset_s` also ends a
scan: scanners type a barcode in one burst, so keys after a pause start a new one, and a burst
that never saw its terminator is discarded rather than glued to the next scan.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from edge.drivers.scanner.errors import BadReport
from edge.drivers.scanner.hid import ReportDecoder

__all__ = ["GROUP_SEPARATOR", "MAX_SCAN_CHARACTERS", "DiscardedScan", "Scan", "ScanAssembler"]

GROUP_SEPARATOR = "\x1d"
MAX_SCAN_CHARACTERS = 4096
"""Longer than any barcode a station reads (a full QR code holds at most about 3,000 bytes);
beyond it the burst is discarded, so a stuck key cannot grow the buffer without bound."""
_AIM_IDENTIFIER = re.compile(r"\][A-Za-z][0-9A-Za-z]")


@dataclass(frozen=True)
class Scan:
    """One barcode as read: GS1 separators appear as GS (0x1D) whatever the scanner sent."""

    text: str
    symbology: str | None
    timestamp: datetime


@dataclass(frozen=True)
class DiscardedScan:
    """A scan that was thrown away, with the reason and whatever had been typed of it."""

    reason: str
    partial: str
    timestamp: datetime


class ScanAssembler:
    """Feeds reports through a decoder and yields finished or discarded scans."""

    def __init__(
        self,
        decoder: ReportDecoder,
        *,
        terminator: str,
        gs1_stand_in: str | None,
        expect_symbology: bool,
        idle_reset_s: float,
    ) -> None:
        self._decoder = decoder
        self._terminator = terminator
        self._stand_in = gs1_stand_in
        self._expect_symbology = expect_symbology
        self._idle_reset_s = idle_reset_s
        self._buffer = ""
        self._skipping = False
        self._last_report_at: float | None = None

    def reset(self) -> list[DiscardedScan]:
        """Start afresh (the device went away); report a scan cut off half-way."""
        outcomes = self._discard_partial("the reader was disconnected mid-scan")
        self._decoder.reset()
        self._last_report_at = None
        return outcomes

    def feed(self, report: bytes, now: float) -> list[Scan | DiscardedScan]:
        """Process one report received at monotonic time `now`."""
        outcomes: list[Scan | DiscardedScan] = self._after_pause(now)
        try:
            typed = self._decoder.decode(report)
        except BadReport as error:
            return outcomes + self._reject(str(error))
        for char in typed:
            if char != self._terminator:
                if self._skipping and len(self._buffer) >= MAX_SCAN_CHARACTERS:
                    continue
                self._buffer += char
                if not self._skipping and len(self._buffer) > MAX_SCAN_CHARACTERS:
                    outcomes += self._reject(
                        f"the scan is longer than {MAX_SCAN_CHARACTERS} characters without a "
                        "terminator; a stuck key or a device that is not a barcode reader"
                    )
            elif self._skipping:
                self._buffer, self._skipping = "", False
            else:
                outcomes.append(self._finish(self._buffer))
                self._buffer = ""
        return outcomes

    def feed_bad(self, reason: str, now: float) -> list[Scan | DiscardedScan]:
        """A report arrived but could not be read whole (e.g. it overflowed the buffer)."""
        return self._after_pause(now) + self._reject(reason)

    def _after_pause(self, now: float) -> list[Scan | DiscardedScan]:
        last, self._last_report_at = self._last_report_at, now
        if last is None or now - last <= self._idle_reset_s:
            return []
        self._skipping = False
        return list(
            self._discard_partial(
                f"no terminator before a pause of more than {self._idle_reset_s:g} s"
            )
        )

    def _reject(self, reason: str) -> list[Scan | DiscardedScan]:
        outcomes: list[Scan | DiscardedScan] = []
        if not self._skipping:
            outcomes.append(DiscardedScan(reason, self._buffer, _now()))
        self._buffer, self._skipping = "", True
        return outcomes

    def _discard_partial(self, reason: str) -> list[DiscardedScan]:
        partial, self._buffer = self._buffer, ""
        self._skipping = False
        return [DiscardedScan(reason, partial, _now())] if partial else []

    def _finish(self, typed: str) -> Scan | DiscardedScan:
        symbology = None
        text = typed
        if self._expect_symbology:
            if not _AIM_IDENTIFIER.match(typed):
                return DiscardedScan(
                    f"scan {typed!r} does not start with an AIM symbology identifier"
                    " (e.g. ]C1, ]d2, ]E0), which the reader is configured to expect",
                    typed,
                    _now(),
                )
            symbology, text = typed[:3], typed[3:]
        if not text:
            return DiscardedScan("the scan holds no data before its terminator", typed, _now())
        if self._stand_in is not None:
            text = text.replace(self._stand_in, GROUP_SEPARATOR)
        return Scan(text=text, symbology=symbology, timestamp=_now())


def _now() -> datetime:
    return datetime.now(UTC)
