"""Raw TCP to a network printer (Zebra's port 9100), on asyncio streams.

Every socket error becomes `PrinterOffline` naming the printer's address, here and nowhere
else, so the driver above never sees `OSError`.
"""

from __future__ import annotations

import asyncio
import contextlib

from edge.drivers.printer.errors import PrinterOffline

__all__ = ["TcpTransport"]


class TcpTransport:
    """A `PrinterTransport` over one TCP connection; `open` again after a drop reconnects."""

    def __init__(self, host: str, port: int = 9100, *, connect_timeout: float = 5.0) -> None:
        self._host = host
        self._port = port
        self._connect_timeout = connect_timeout
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    @property
    def description(self) -> str:
        """``tcp://host:port``."""
        return f"tcp://{self._host}:{self._port}"

    @property
    def can_read(self) -> bool:
        """Network Zebras answer host queries on the same socket."""
        return True

    @property
    def is_open(self) -> bool:
        """Whether a connection is up (as far as we know without sending)."""
        return self._writer is not None and not self._writer.is_closing()

    async def open(self) -> None:
        """Connect, replacing any earlier connection."""
        await self.close()
        try:
            async with asyncio.timeout(self._connect_timeout):
                self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
        except TimeoutError as error:
            raise PrinterOffline(
                f"printer {self.description}: no connection within {self._connect_timeout} s"
            ) from error
        except OSError as error:
            raise PrinterOffline(f"printer {self.description}: cannot connect: {error}") from error

    async def close(self) -> None:
        """Close the connection; safe to call twice."""
        writer, self._writer, self._reader = self._writer, None, None
        if writer is None:
            return
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()

    async def write(self, data: bytes) -> None:
        """Send all of `data` or raise `PrinterOffline`."""
        if self._writer is None:
            raise PrinterOffline(f"printer {self.description}: not connected (call open first)")
        try:
            self._writer.write(data)
            await self._writer.drain()
        except OSError as error:
            await self.close()
            raise PrinterOffline(f"printer {self.description}: send failed: {error}") from error

    async def read(self, max_bytes: int, timeout: float) -> bytes:  # noqa: ASYNC109 - seam
        """Return what arrives within `timeout` seconds; raise `PrinterOffline` on a hang-up."""
        if self._reader is None:
            raise PrinterOffline(f"printer {self.description}: not connected (call open first)")
        try:
            async with asyncio.timeout(timeout):
                data = await self._reader.read(max_bytes)
        except TimeoutError:
            return b""
        except OSError as error:
            await self.close()
            raise PrinterOffline(f"printer {self.description}: read failed: {error}") from error
        if not data:
            await self.close()
            raise PrinterOffline(f"printer {self.description}: the printer closed the connection")
        return data
