"""The service-manager seam: how the station tells its supervisor it is ready, alive, or leaving.

On a Pi the station runs under systemd (deploy/systemd/packline-station.service, `Type=notify`,
`Restart=always`, `WatchdogSec=`): readiness, watchdog pings and status lines go through
`sdnotify` to ``$NOTIFY_SOCKET``. In the simulated fleet the firmware_sim supervisor plays
systemd's part and sets no socket, so every call is a no-op there. Either way a restart is the
same thing: the station stops cleanly and exits with `RESTART_EXIT_STATUS`, and the service
manager starts it again, through the boot step that picks the release to run.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Final

__all__ = ["RESTART_EXIT_STATUS", "ServiceNotifier", "watchdog_interval_s"]

RESTART_EXIT_STATUS: Final = 75
"""EX_TEMPFAIL: "start me again". systemd's Restart=always and the simulated supervisor both do."""

log = logging.getLogger("packline.station.service")


def watchdog_interval_s(environ: dict[str, str] | None = None) -> float | None:
    """Half of systemd's WatchdogSec (from ``$WATCHDOG_USEC``), or None when no watchdog is set."""
    env = os.environ if environ is None else environ
    raw = env.get("WATCHDOG_USEC")
    if not raw:
        return None
    try:
        usec = int(raw)
    except ValueError:
        log.warning("ignoring WATCHDOG_USEC=%r: not an integer", raw)
        return None
    return usec / 2_000_000 if usec > 0 else None


class ServiceNotifier:
    """sd_notify messages when systemd asked for them (``$NOTIFY_SOCKET`` set), else nothing."""

    def __init__(self, environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self._enabled = bool(env.get("NOTIFY_SOCKET"))
        self._interval_s = watchdog_interval_s(dict(env))
        self._notifier: object | None = None
        if self._enabled:
            import sdnotify

            self._notifier = sdnotify.SystemdNotifier()

    @property
    def enabled(self) -> bool:
        return self._enabled

    def _send(self, text: str) -> None:
        if self._notifier is not None:
            self._notifier.notify(text)  # type: ignore[attr-defined]

    def ready(self, status: str) -> None:
        """The station is up: systemd's `Type=notify` start completes here."""
        self._send(f"READY=1\nSTATUS={status}")

    def status(self, status: str) -> None:
        self._send(f"STATUS={status}")

    def stopping(self, status: str) -> None:
        self._send(f"STOPPING=1\nSTATUS={status}")

    async def feed_watchdog(self, alive: asyncio.Event | None = None) -> None:
        """Ping the watchdog every half period while the event loop runs (forever)."""
        if self._interval_s is None or self._notifier is None:
            await asyncio.Event().wait()
            return
        while True:
            self._send("WATCHDOG=1")
            await asyncio.sleep(self._interval_s)
