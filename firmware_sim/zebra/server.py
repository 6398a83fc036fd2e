"""The virtual network printer: the shared printer model behind a raw TCP port (9100 by default).

Like a real Zebra print server, every connection feeds the same printer and gets its replies
(`~HS`, `~HQES`, SGD `getvar`) on the same socket. The `connection_dropped` fault is acted on
here, since only the network side can drop a link: setting it hangs up every open connection,
and while it is set the server hangs up on any connection that sends print data or a host query,
before any reply goes out. Data starting with `!` (the SGD admin channel) is still read, so a
separate process can clear the fault again.
"""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType

from firmware_sim.zebra.model import Fault, ZebraPrinterModel

__all__ = ["DEFAULT_PORT", "ZebraTcpServer"]

DEFAULT_PORT = 9100
_READ_SIZE = 4096
_STOP_GRACE = 5.0


class ZebraTcpServer:
    """Serve one `ZebraPrinterModel` on a TCP port; port 0 picks a free one.

    Use as an async context manager, or call `start` and `stop`. `model` is the printer, so
    tests set faults and read printed labels through it while the server runs.
    """

    def __init__(
        self,
        model: ZebraPrinterModel | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
    ) -> None:
        self.model = model if model is not None else ZebraPrinterModel()
        self._host = host
        self._requested_port = port
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.model.add_fault_listener(self._faults_changed)

    @property
    def host(self) -> str:
        """The address the server listens on."""
        return self._host

    @property
    def port(self) -> int:
        """The bound port (the real one when constructed with port 0)."""
        if self._server is None:
            raise RuntimeError("ZebraTcpServer.port: the server is not started")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def start(self) -> None:
        """Start listening; returns once connections are accepted."""
        if self._server is not None:
            raise RuntimeError("ZebraTcpServer.start: already started")
        self._loop = asyncio.get_running_loop()
        self._server = await asyncio.start_server(
            self._serve, self._host, self._requested_port, reuse_address=True
        )

    async def stop(self) -> None:
        """Stop listening and close every open connection."""
        if self._server is None:
            return
        self._server.close()
        self._hang_up_all()
        await self._server.wait_closed()
        self._server = None
        if self._handlers:
            _, stuck = await asyncio.wait(set(self._handlers), timeout=_STOP_GRACE)
            for task in stuck:
                task.cancel()

    async def serve_forever(self) -> None:
        """Serve until cancelled (the CLI's main loop)."""
        if self._server is None:
            await self.start()
        assert self._server is not None
        await self._server.serve_forever()

    async def __aenter__(self) -> ZebraTcpServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    def _dropping(self) -> bool:
        return Fault.CONNECTION_DROPPED in self.model.faults

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        try:
            while not writer.is_closing():
                data = await reader.read(_READ_SIZE)
                if not data:
                    break
                if self._dropping() and not data.lstrip().startswith(b"!"):
                    break
                reply = self.model.receive(data)
                if self._dropping():
                    break
                if reply:
                    writer.write(reply)
                    await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            self._writers.discard(writer)
            if task is not None:
                self._handlers.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    def _faults_changed(self, faults: frozenset[Fault]) -> None:
        if Fault.CONNECTION_DROPPED in faults and self._loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop has already closed
                self._loop.call_soon_threadsafe(self._hang_up_all)

    def _hang_up_all(self) -> None:
        for writer in list(self._writers):
            writer.close()
