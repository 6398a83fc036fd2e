"""A CUPS queue as a printer transport, through the `zebra` package (`lpr -oraw`).

CUPS cannot carry the printer's answers back, so `can_read` is false and the driver cannot ask
`~HS`. What is checked instead, when the transport opens: that `lpr` is installed and that
`lpstat -p` lists the queue. The `zebra` package does not report `lpr`'s exit status, so a job
handed over counts as *spooled*, never as printed; paper-out and the like show up only in CUPS
itself (`lpstat -p`, the web interface).
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from typing import Any

import zebra

from edge.drivers.printer.errors import PrinterError, PrinterOffline

__all__ = ["CupsTransport"]


def _spooler(queue: str | None = None) -> Any:
    """A `zebra.Zebra` for `queue` (the package has no type hints)."""
    return zebra.Zebra(queue)  # type: ignore[no-untyped-call]


class CupsTransport:
    """A write-only `PrinterTransport` that hands raw ZPL to a CUPS queue."""

    def __init__(self, queue: str) -> None:
        if not queue.strip():
            raise ValueError("CupsTransport: queue name is empty (expected a CUPS queue name)")
        self._queue = queue
        self._opened = False

    @property
    def description(self) -> str:
        """``cups:<queue>``."""
        return f"cups:{self._queue}"

    @property
    def can_read(self) -> bool:
        """A CUPS queue never returns the printer's answers."""
        return False

    async def open(self) -> None:
        """Check that `lpr` exists and CUPS knows the queue; raise `PrinterOffline` otherwise."""
        if shutil.which("lpr") is None:
            raise PrinterOffline(
                f"CUPS queue {self._queue!r}: the lpr command is not installed "
                "(expected the CUPS client tools)"
            )
        try:
            queues: list[str] = await asyncio.to_thread(_spooler().getqueues)
        except (OSError, subprocess.SubprocessError) as error:
            raise PrinterOffline(
                f"CUPS queue {self._queue!r}: cannot list queues with lpstat: {error}"
            ) from error
        if self._queue not in queues:
            known = ", ".join(queues) or "none"
            raise PrinterOffline(
                f"CUPS queue {self._queue!r} does not exist (lpstat -p lists: {known})"
            )
        self._opened = True

    async def close(self) -> None:
        """Nothing stays open between jobs; safe to call twice."""
        self._opened = False

    async def write(self, data: bytes) -> None:
        """Spool `data` as one raw job; raise `PrinterOffline` if `lpr` cannot be run."""
        if not self._opened:
            raise PrinterOffline(f"CUPS queue {self._queue!r}: not checked yet (call open first)")
        try:
            await asyncio.to_thread(_spooler(self._queue).output, data)
        except (OSError, subprocess.SubprocessError) as error:
            raise PrinterOffline(f"CUPS queue {self._queue!r}: lpr failed: {error}") from error

    async def read(self, max_bytes: int, timeout: float) -> bytes:  # noqa: ASYNC109 - seam
        """Never valid: the driver checks `can_read` first."""
        raise PrinterError(f"CUPS queue {self._queue!r} cannot read the printer's answers")
