"""Loopback ports for the rig's private servers (Mosquitto, PostgreSQL, a virtual printer).

A probed free port can be taken by another process before the server binds it, so servers start
through `launch_on_free_port`, which tries a few ports before giving up.
"""

from __future__ import annotations

import random
import socket
from collections.abc import Callable

__all__ = ["LOOPBACK", "PORT_ATTEMPTS", "free_port", "launch_on_free_port", "reserved_ports"]

LOOPBACK = "127.0.0.1"
PORT_ATTEMPTS = 5


def free_port(host: str = LOOPBACK) -> int:
    """A port nobody listens on right now (it may be taken before it is used)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


_FIXED_RANGE = (20_000, 32_000)
"""Below Linux's ephemeral range (32768-60999), so no outgoing connection is ever given one."""


_HANDED_OUT: set[int] = set()
"""Ports this process already handed out: a server that has not started yet does not hold its
port, so without this two calls (a station's printer and another's screen, in a fleet drill)
could be given the same one."""


def reserved_ports(count: int, host: str = LOOPBACK) -> list[int]:
    """`count` ports, free now, for servers that start later and keep theirs across restarts.

    A port from `free_port` comes from the ephemeral range, where any later outgoing connection
    may be handed it; a simulated station restarting many times (100 of them in a drill) would
    sooner or later find its printer port taken. These come from below that range instead,
    starting at a random point so parallel runs rarely meet.
    """
    start, end = _FIXED_RANGE
    first = random.randrange(start, end)
    found: list[int] = []
    for offset in range(end - start):
        port = start + (first - start + offset) % (end - start)
        if port in _HANDED_OUT:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((host, port))
            except OSError:
                continue
        found.append(port)
        if len(found) == count:
            _HANDED_OUT.update(found)
            return found
    raise OSError(f"only {len(found)} of {count} ports free in {start}-{end}")


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
