"""The one seam every printer transport implements: raw TCP, USB bulk, or a CUPS queue.

A transport only moves bytes. Status parsing, job ids and fault handling live above it in the
printer driver, so all three transports share them. Transports convert their I/O library's
exceptions into `PrinterOffline` (or another `PrinterError`) in one place.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["PrinterTransport"]


@runtime_checkable
class PrinterTransport(Protocol):
    """Moves bytes to and from one printer.

    Must implement: `open`, `close`, `write`, `read`, and the `description` and
    `can_read` attributes. `write` sends every byte or raises; a transport never reports success
    for a partial write. `read` returns whatever arrived within `timeout` seconds (possibly
    `b""`), and is only called when `can_read` is true (a CUPS queue cannot read back). The
    deadline is a parameter, not an `asyncio.timeout` around the call, because a USB transport
    hands it to pyusb, whose reads block in a thread that cancellation cannot interrupt.
    """

    @property
    def description(self) -> str:
        """Human-readable identity, e.g. ``tcp://10.0.0.5:9100`` or ``usb:0a5f:0164``."""
        ...

    @property
    def can_read(self) -> bool:
        """Whether the printer's answers to host queries can be read back."""
        ...

    async def open(self) -> None:
        """Connect or claim the device; raise `PrinterOffline` when it is not there."""
        ...

    async def close(self) -> None:
        """Release the connection; safe to call twice."""
        ...

    async def write(self, data: bytes) -> None:
        """Send all of `data` or raise `PrinterError`."""
        ...

    async def read(self, max_bytes: int, timeout: float) -> bytes:  # noqa: ASYNC109 - see above
        """Return up to `max_bytes` that arrived within `timeout` seconds (may be empty)."""
        ...
