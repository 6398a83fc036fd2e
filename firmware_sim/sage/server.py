"""The sandbox over real HTTP on a loopback port, for clients that must be tested end to end.

The socket is bound here and handed to uvicorn, so the port is known (and held) before the
server starts; uvicorn's signal capture is turned off because the server lives inside someone
else's event loop (a test, or the command that serves it).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Generator
from types import TracebackType

import uvicorn

from firmware_sim.ports import LOOPBACK, free_port, launch_on_free_port
from firmware_sim.sage.app import API_PREFIX, create_sandbox
from firmware_sim.sage.state import SageSandbox

__all__ = ["SageSandboxServer"]

_START_POLL = 0.01
_START_TIMEOUT = 10.0


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its signal handlers: the owner of the loop decides when to stop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class SageSandboxServer:
    """Serve a `SageSandbox` on a free loopback port; `.url` is the root, `.api_url` is v3.1.

    Use as an async context manager. `port=None` picks a free port. `sandbox` is the state the
    test inspects and faults while the server runs.
    """

    def __init__(
        self, sandbox: SageSandbox | None = None, *, host: str = LOOPBACK, port: int | None = None
    ) -> None:
        self.sandbox = sandbox if sandbox is not None else SageSandbox()
        self._host = host
        self._requested_port = port
        self._socket: socket.socket | None = None
        self._server: _EmbeddedServer | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        """The bound port."""
        if self._socket is None:
            raise RuntimeError("SageSandboxServer.port: the server is not started")
        port: int = self._socket.getsockname()[1]
        return port

    @property
    def url(self) -> str:
        """Root URL; the token endpoint is `{url}/oauth/token`."""
        return f"http://{self._host}:{self.port}"

    @property
    def api_url(self) -> str:
        """Base URL of the v3.1 API."""
        return f"{self.url}{API_PREFIX}"

    def _bind(self, port: int) -> None:
        # IPPROTO_TCP, not 0: asyncio turns Nagle off only on sockets that name TCP, and
        # uvicorn writes headers and body separately, so otherwise each reply waits ~40 ms for
        # a delayed ACK.
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind((self._host, port))
        except OSError:
            listener.close()
            raise
        self._socket = listener

    async def start(self) -> None:
        """Bind, start serving and return once requests are accepted."""
        if self._task is not None:
            raise RuntimeError("SageSandboxServer.start: already started")
        if self._requested_port is None:
            launch_on_free_port(self._bind, OSError)
        else:
            self._bind(self._requested_port if self._requested_port else free_port(self._host))
        assert self._socket is not None
        config = uvicorn.Config(
            create_sandbox(self.sandbox), log_level="warning", lifespan="off", access_log=False
        )
        self._server = _EmbeddedServer(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[self._socket]))
        async with asyncio.timeout(_START_TIMEOUT):
            while not self._server.started:
                if self._task.done():
                    self._task.result()
                    raise RuntimeError("SageSandboxServer.start: the server stopped at start-up")
                await asyncio.sleep(_START_POLL)

    async def stop(self) -> None:
        """Stop serving and release the port."""
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task
        if self._socket is not None:
            self._socket.close()
        self._server = self._task = None
        self._socket = None

    async def serve_forever(self) -> None:
        """Serve until cancelled (for a command-line wrapper)."""
        if self._task is None:
            await self.start()
        assert self._task is not None
        await asyncio.shield(self._task)

    async def __aenter__(self) -> SageSandboxServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()
