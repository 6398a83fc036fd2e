"""A loopback TCP proxy whose link can be cut and mended, for the demo's chaos mode.

Clients (stations, the bridge) connect to the proxy instead of the broker, so a partition can be
made without touching either process: what they then see is what a real network failure looks
like from inside a TCP stack.

Two kinds of partition:

- reset (the default): every open connection is reset on both sides (RST, nothing more is
  forwarded), and new connections are refused until `heal`: the proxy stops listening but keeps
  its port bound, so a connect fails at once with "connection refused" and the port is the same
  afterwards. A client sees a dead link immediately and reconnects with its own backoff. This is
  the mode for MQTT in the demo: it is fast and deterministic, and it exercises reconnection,
  session resumption and outbox replay. Refusing matters for aiomqtt, which ignores a link that
  drops before CONNACK and waits out its whole `timeout` instead.
- blackhole: nothing is forwarded in either direction and nothing is closed, as when a cable is
  pulled. Bytes are withheld rather than thrown away, because TCP would retransmit them: after
  `heal` a connection whose two ends are still there carries on, and a side that gave up in the
  meantime has its close delivered then. New connections are held open without an upstream, so
  a client's CONNECT goes unanswered. Only MQTT keepalive detects this (within about 1.5 to 2
  keepalive intervals), so use it with a short keepalive to test half-open detection.

All methods must be called from the event loop the proxy was started in; `partition` and `heal`
are synchronous, so they can be called at any moment without interleaving with the proxy's own
work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from firmware_sim.errors import SimError

__all__ = ["PartitionProxy", "ProxyError", "ProxyStats"]

_READ_SIZE = 64 * 1024
_BACKLOG = 100
_LINGER_RESET = struct.pack("ii", 1, 0)
"""SO_LINGER on with a zero timeout: close() sends RST instead of FIN."""

_log = logging.getLogger(__name__)


class ProxyError(SimError, RuntimeError):
    """The proxy was used out of order (not started, started twice) or lost its port."""


@dataclass(frozen=True)
class ProxyStats:
    """What the proxy has done since it was created, for the demo's summary."""

    connections_accepted: int
    """Connections taken on the listening port, including those reset at once."""
    connections_refused: int
    """Connections reset on arrival because a reset partition had just begun (once the
    listener is closed, refused connects never reach the proxy and are not counted)."""
    connections_cut: int
    """Open connections reset by a partition."""
    upstream_failures: int
    """Connections dropped because the upstream could not be reached."""
    bytes_to_upstream: int
    """Bytes forwarded from clients to the upstream."""
    bytes_to_client: int
    """Bytes forwarded from the upstream to clients."""
    partitions: int
    """Partitions made (a `partition` call while already partitioned is not counted)."""


def _reset(writer: asyncio.StreamWriter | None) -> None:
    """Close abruptly with RST, dropping anything still buffered, as a failed link would."""
    if writer is None:
        return
    transport = writer.transport
    if transport.is_closing():
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
    transport.abort()


class _Link:
    """One client connection and, once connected, its upstream connection."""

    def __init__(self, client: asyncio.StreamWriter) -> None:
        self.client = client
        self.upstream: asyncio.StreamWriter | None = None
        self.task: asyncio.Task[None] | None = None

    def cut(self) -> None:
        """Reset both sides and stop forwarding."""
        _reset(self.client)
        _reset(self.upstream)
        if self.task is not None and self.task is not asyncio.current_task():
            self.task.cancel()

    async def close(self) -> None:
        """Close both sides gracefully, after both have sent EOF."""
        writers = [w for w in (self.client, self.upstream) if w is not None]
        for writer in writers:
            writer.close()
        for writer in writers:
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()


class PartitionProxy:
    """Forward TCP from ``host:port`` to ``upstream_host:upstream_port``; port 0 picks a free one.

    Use as an async context manager, or call `start` and `stop`; it starts once. `partition`
    cuts the link and `heal` restores it, at any time, any number of times; the port stays the
    same throughout.
    """

    def __init__(
        self,
        upstream_host: str,
        upstream_port: int,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self._upstream = (upstream_host, upstream_port)
        self._host = host
        self._requested_port = port
        self._family = socket.AF_INET
        self._address: tuple[Any, ...] | None = None
        self._server: asyncio.Server | None = None
        self._holder: socket.socket | None = None
        self._holder_listening = False
        self._retired: list[asyncio.Server] = []
        self._listener_task: asyncio.Task[None] | None = None
        self._listener_changed = asyncio.Event()
        self._listener_failure: OSError | None = None
        self._stopping = False
        self._links: set[_Link] = set()
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._partitioned = False
        self._blackhole = False
        self._accepted = 0
        self._refused = 0
        self._cut = 0
        self._upstream_failures = 0
        self._to_upstream = 0
        self._to_client = 0
        self._partitions = 0

    @property
    def host(self) -> str:
        """The address the proxy listens on."""
        return self._host

    @property
    def port(self) -> int:
        """The bound port (the real one when constructed with port 0)."""
        if self._address is None:
            raise ProxyError("PartitionProxy.port: the proxy is not started; call start() first")
        port: int = self._address[1]
        return port

    @property
    def upstream(self) -> tuple[str, int]:
        """Where connections are forwarded to."""
        return self._upstream

    def url_for(self, scheme: str = "mqtt") -> str:
        """The proxy's address as a URL, e.g. a broker URL for a station's config."""
        return f"{scheme}://{self.host}:{self.port}"

    @property
    def partitioned(self) -> bool:
        """Whether the link is cut (in either mode)."""
        return self._partitioned

    @property
    def blackhole(self) -> bool:
        """Whether the link is cut in blackhole mode (withholding rather than resetting)."""
        return self._partitioned and self._blackhole

    @property
    def open_connections(self) -> int:
        """Client connections the proxy currently holds, forwarding or not."""
        return len(self._links)

    @property
    def stats(self) -> ProxyStats:
        """A snapshot of the counters."""
        return ProxyStats(
            connections_accepted=self._accepted,
            connections_refused=self._refused,
            connections_cut=self._cut,
            upstream_failures=self._upstream_failures,
            bytes_to_upstream=self._to_upstream,
            bytes_to_client=self._to_client,
            partitions=self._partitions,
        )

    async def start(self) -> None:
        """Start listening; returns once connections are accepted."""
        if self._address is not None:
            raise ProxyError("PartitionProxy.start: already started; create another proxy")
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(self._host, self._requested_port, type=socket.SOCK_STREAM)
        self._family, address = infos[0][0], infos[0][4]
        holder = self._bind(address)
        self._address = holder.getsockname()
        self._holder = holder
        self._listen_now()
        await self._serve_holder()
        self._listener_task = loop.create_task(self._keep_listener())

    async def stop(self) -> None:
        """Stop listening and reset every connection; returns once all are gone."""
        if self._address is None or self._stopping:
            return
        self._stopping = True
        self._listener_changed.set()
        if self._listener_task is not None:
            await self._listener_task
        if self._server is not None:
            self._server.close()
            self._retired.append(self._server)
            self._server = None
        if self._holder is not None:
            self._holder.close()
            self._holder = None
        tasks = [link.task for link in self._links if link.task is not None]
        for link in list(self._links):
            link.cut()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._links.clear()
        for server in self._retired:
            await server.wait_closed()
        if self._listener_failure is not None:
            raise ProxyError(
                f"the proxy lost its port {self.port} while partitioned "
                f"({self._listener_failure}); expected to keep it bound until heal()"
            )

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    def partition(self, *, blackhole: bool = False) -> None:
        """Cut the link: reset every connection, or with ``blackhole`` withhold all bytes.

        Calling it while partitioned switches mode; switching to reset cuts the connections a
        blackhole was holding.
        """
        if not self._partitioned:
            self._partitions += 1
            _log.info("partition (%s) of port %s", "blackhole" if blackhole else "reset", self.port)
        self._partitioned = True
        self._blackhole = blackhole
        self._flowing.clear()
        if not blackhole:
            self._cut += len(self._links)
            for link in list(self._links):
                link.cut()
        self._listen_now()
        self._listener_changed.set()

    def heal(self) -> None:
        """Accept and forward again; held (blackholed) connections resume where they stopped."""
        if self._partitioned:
            _log.info("heal of port %s", self.port)
        self._partitioned = False
        self._blackhole = False
        self._flowing.set()
        self._listen_now()
        self._listener_changed.set()

    def _refusing(self) -> bool:
        return self._partitioned and not self._blackhole

    def _bind(self, address: tuple[Any, ...]) -> socket.socket:
        sock = socket.socket(self._family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
        except OSError:
            sock.close()
            raise
        sock.setblocking(False)
        self._holder_listening = False
        return sock

    def _listen_now(self) -> None:
        """Let the kernel queue connections at once, before the listener task serves them."""
        if self._holder is not None and not self._refusing():
            self._holder.listen(_BACKLOG)
            self._holder_listening = True

    async def _serve_holder(self) -> None:
        assert self._holder is not None
        self._server = await asyncio.start_server(self._accept, sock=self._holder)
        self._holder = None

    async def _keep_listener(self) -> None:
        """Close the listener during a reset partition and serve it again after, one at a time.

        The port stays bound to a socket that does not listen, so connects are refused and no
        one else can take the port. Until this task has closed the listener, `_accept` resets
        what arrives.
        """
        while not self._stopping:
            await self._listener_changed.wait()
            self._listener_changed.clear()
            if self._stopping or self._listener_failure is not None:
                continue
            if self._refusing():
                self._stop_listening()
            elif self._server is None:
                self._listen_now()
                await self._serve_holder()

    def _stop_listening(self) -> None:
        """Close whatever listens (the server, or a holder told to listen) and hold the port."""
        if self._server is None and not self._holder_listening:
            return
        assert self._address is not None
        if self._server is not None:
            self._server.close()
            self._retired.append(self._server)
            self._server = None
        if self._holder is not None:
            self._holder.close()
            self._holder = None
        try:
            self._holder = self._bind(self._address)
        except OSError as error:
            _log.error("port %s lost while partitioned: %s", self.port, error)
            self._listener_failure = error

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._accepted += 1
        if self._partitioned and not self._blackhole:
            self._refused += 1
            _reset(writer)
            return
        link = _Link(writer)
        self._links.add(link)
        link.task = asyncio.get_running_loop().create_task(self._serve(link, reader))

    async def _serve(self, link: _Link, client_reader: asyncio.StreamReader) -> None:
        clean = False
        try:
            clean = await self._forward(link, client_reader)
        except* (ConnectionError, OSError):
            await self._until_flowing()  # a blackhole hides a failure until it heals
        finally:
            self._links.discard(link)
            if clean:
                await link.close()
            else:
                link.cut()

    async def _forward(self, link: _Link, client_reader: asyncio.StreamReader) -> bool:
        """Connect upstream and copy both ways; True once both sides have closed cleanly."""
        await self._until_flowing()
        try:
            upstream_reader, link.upstream = await asyncio.open_connection(*self._upstream)
        except OSError:
            self._upstream_failures += 1
            return False
        async with asyncio.TaskGroup() as group:
            group.create_task(self._pump(client_reader, link.upstream, to_upstream=True))
            group.create_task(self._pump(upstream_reader, link.client, to_upstream=False))
        return True

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, to_upstream: bool
    ) -> None:
        """Copy one direction until EOF, passing EOF on; waits whenever the link is cut."""
        while True:
            await self._until_flowing()
            data = await reader.read(_READ_SIZE)
            await self._until_flowing()
            if not data:
                if writer.can_write_eof() and not writer.is_closing():
                    writer.write_eof()
                return
            writer.write(data)
            if to_upstream:
                self._to_upstream += len(data)
            else:
                self._to_client += len(data)
            await writer.drain()

    async def _until_flowing(self) -> None:
        """Wait until healed; loops because a heal may be undone before this task runs again."""
        while not self._flowing.is_set():
            await self._flowing.wait()
