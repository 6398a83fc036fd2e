"""Loopback ports for the rig's private servers (Mosquitto, PostgreSQL, a virtual printer).

A probed free port can be taken by another process before the server binds it, so servers start
through `launch_on_free_port`, which tries a few ports before giving up.
"""

from __future__ import annotations

import socket
from collections.abc import Callable

__all__ = ["LOOPBACK", "PORT_ATTEMPTS", "free_port", "launch_on_free_port"]

LOOPBACK = "127.0.0.1"
PORT_ATTEMPTS = 5


def free_port(host: str = LOOPBACK) -> int:
    """A port nobody listens on right now (it may be taken before it is used)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def launch_on_free_port(
    launch: Callable[[int], None], port_taken: type[Exception], attempts: int = PORT_ATTEMPTS
) -> None:
    """Call `launch(port)` on fresh free ports until it does not raise `port_taken`."""
    for attempt in range(attempts):
        try:
            launch(free_port())
        except port_taken:
            if attempt == attempts - 1:
                raise
        else:
            return
