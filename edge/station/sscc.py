"""Issue SSCCs from the station's own serial range, each one at most once, ever.

GS1 forbids reusing an SSCC for at least a year, and a reused one can merge two parcels' records
at the customer's dock. So every number comes from a `DurableCounter` (fsynced before it is
handed out: a crash can skip a number, never repeat one), and the counter is tied to the range it
counts in: a record beside the counter file keeps the extension digit, company prefix and first
serial it was started with, and an allocator opened with different ones refuses to start instead
of counting the old numbers again. Only `serial_end` may change (to extend or shorten a block).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from types import TracebackType
from typing import Self

from edge.drivers.printer.label_config import SSCC_BODY_DIGITS, LabelSettings
from edge.errors import EdgeError
from edge.station.counters import DurableCounter

__all__ = [
    "SsccAllocator",
    "SsccError",
    "SsccRangeChanged",
    "SsccRangeExhausted",
    "compose_sscc",
    "sscc_check_digit",
]


class SsccError(EdgeError):
    """Base of the errors the SSCC allocator raises."""


class SsccRangeExhausted(SsccError, RuntimeError):
    """Every serial reference in the configured range has been issued."""


class SsccRangeChanged(SsccError, ValueError):
    """The counter was started for another range; continuing could issue a number twice."""


def sscc_check_digit(body: str) -> int:
    """The GS1 mod-10 check digit of `body` (weights 3, 1, 3, ... from the rightmost digit)."""
    if not body.isdigit():
        raise ValueError(f"check digit needs digits only, got {body!r}")
    total = sum(
        int(digit) * (3 if index % 2 == 0 else 1) for index, digit in enumerate(reversed(body))
    )
    return (10 - total % 10) % 10


def compose_sscc(extension_digit: int, company_prefix: str, serial_reference: int) -> str:
    """The 18-digit SSCC: extension, prefix, zero-padded serial reference, check digit."""
    width = SSCC_BODY_DIGITS - 1 - len(company_prefix)
    serial = f"{serial_reference:0{width}d}"
    body = f"{extension_digit}{company_prefix}{serial}"
    if len(body) != SSCC_BODY_DIGITS or not body.isdigit():
        raise ValueError(
            f"extension {extension_digit}, prefix {company_prefix!r} and serial "
            f"{serial_reference} do not make {SSCC_BODY_DIGITS} digits"
        )
    return body + str(sscc_check_digit(body))


class SsccAllocator:
    """Hands out the next SSCC of `settings`' serial range, durably, one at a time.

    `path` is the counter file (one per station and range); it is locked while the allocator is
    open. Use as a context manager, or call `close()`.
    """

    def __init__(self, path: Path, settings: LabelSettings) -> None:
        self._settings = settings
        self._mutex = threading.Lock()
        self._counter = DurableCounter(path)
        try:
            self._check_range_record(path.with_name(f"{path.name}.range"))
        except BaseException:
            self._counter.close()
            raise

    @property
    def range_description(self) -> str:
        """The range in words, for messages and logs."""
        s = self._settings
        return (
            f"extension {s.extension_digit}, company prefix {s.company_prefix}, serial "
            f"references {s.serial_start}..{s.serial_end}"
        )

    @property
    def remaining(self) -> int:
        """How many SSCCs are left in the range."""
        issued_up_to = self._settings.serial_start + self._counter.value - 1
        return max(0, self._settings.serial_end - issued_up_to)

    def next(self) -> str:
        """Durably take the next serial reference and return its SSCC."""
        with self._mutex:
            if self.remaining == 0:
                raise SsccRangeExhausted(
                    f"SSCC range exhausted ({self.range_description}): every number was issued; "
                    "configure a new serial range with a new counter file"
                )
            serial = self._settings.serial_start + self._counter.next() - 1
        return compose_sscc(self._settings.extension_digit, self._settings.company_prefix, serial)

    def close(self) -> None:
        """Release the counter's lock."""
        self._counter.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _range_identity(self) -> str:
        s = self._settings
        return f"{s.extension_digit} {s.company_prefix} {s.serial_start}\n"

    def _check_range_record(self, record: Path) -> None:
        wanted = self._range_identity()
        try:
            found = record.read_text(encoding="ascii")
        except FileNotFoundError:
            if self._counter.value > 0:
                raise SsccRangeChanged(
                    f"SSCC counter {self._counter.path} has issued {self._counter.value} numbers "
                    f"but its range record {record} is missing; restore the record rather than "
                    "guess which range those numbers came from"
                ) from None
            _write_durably(record, wanted)
            return
        if found != wanted:
            raise SsccRangeChanged(
                f"SSCC counter {self._counter.path} counts in range "
                f"{found.strip()!r} (extension, prefix, first serial), but the settings ask for "
                f"{wanted.strip()!r}; use a new counter file for a new range"
            )


def _write_durably(path: Path, text: str) -> None:
    temporary = path.with_name(f"{path.name}.tmp")
    with temporary.open("w", encoding="ascii") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    directory = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
