"""uvicorn inside the station's own event loop, for the pages the station serves itself.

The packer's screen and the metrics endpoint both run as tasks of `Station.run`, so their
handlers read the station on the thread and loop that own it. Two things make that work, and
both live here so the two servers cannot drift apart:

- the listening socket is bound before uvicorn starts (`bind_listener`), so a port already
  taken is an `OSError` the caller logs before carrying on without that page, instead of
  uvicorn's own `sys.exit` inside the station;
- uvicorn would install its own SIGTERM and SIGINT handlers and swallow the station's shutdown
  (`StationOwnedServer`); the station keeps them and stops a server by cancelling its task.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from typing import Final

import uvicorn

__all__ = ["LISTEN_BACKLOG", "StationOwnedServer", "bind_listener"]

LISTEN_BACKLOG: Final = 64
"""Pending connections the kernel holds; a kiosk browser and a scraper need a handful."""


def bind_listener(host: str, port: int) -> socket.socket:
    """A non-blocking socket listening on `host`:`port` (0 takes any free port).

    ``localhost`` is bound as 127.0.0.1, so the address the station logs is the one it got;
    an address with a colon is IPv6. Raises `OSError` when the address cannot be had.
    """
    address = "127.0.0.1" if host == "localhost" else host
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((address, port))
        listener.listen(LISTEN_BACKLOG)
        listener.setblocking(False)
    except BaseException:
        listener.close()
        raise
    return listener


class StationOwnedServer(uvicorn.Server):
    """A uvicorn server that leaves SIGTERM and SIGINT to the station's process."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield
