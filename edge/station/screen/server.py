"""Run the packer's screen inside the station process, as one more task of `Station.run`.

Served by the station itself, the screen keeps working with the bridge or the broker down. It
binds its own socket first, so a port already taken is logged and the station goes on packing
without a screen instead of stopping: the lights, scanner and printer matter more than the page.
Signals stay with the station (uvicorn would otherwise take SIGTERM for itself), which stops the
screen by cancelling its task; the open event streams are then ended so shutdown does not wait.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import uvicorn

from edge.station.config import ScreenSettings
from edge.station.http_server import StationOwnedServer, bind_listener
from edge.station.screen.app import ScreenFeed, create_app

if TYPE_CHECKING:
    from edge.station.runtime import Station

__all__ = ["LINK_POLL_S", "serve_screen"]

log = logging.getLogger("packline.station.screen")

LINK_POLL_S = 0.5
"""How often the link and outbox depth are read: the uplink has no change hook, and the offline
banner must show within a second of the broker going away."""

_SHUTDOWN_GRACE_S = 2


async def serve_screen(station: Station, settings: ScreenSettings) -> None:
    """Serve the screen until cancelled; `station.screen_url` says where once it listens.

    A screen that fails is logged and left down: the station goes on packing without it.
    """
    try:
        await _serve(station, settings)
    except Exception:
        log.exception(
            "station %s: the packer's screen failed; running without it",
            station.config.station.station_id.client_id,
        )


async def _serve(station: Station, settings: ScreenSettings) -> None:
    station_id = station.config.station.station_id.client_id
    try:
        listener = bind_listener(settings.host, settings.port)
    except OSError as error:
        log.error(  # noqa: TRY400 - the reason is the message; the station carries on
            "station %s: the packer's screen cannot listen on %s:%d (%s); running without it",
            station_id,
            settings.host,
            settings.port,
            error,
        )
        return
    host, port = listener.getsockname()[:2]
    url = f"http://{f'[{host}]' if ':' in host else host}:{port}/"
    feed = ScreenFeed(station)
    server = StationOwnedServer(
        uvicorn.Config(
            create_app(station, feed),
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=_SHUTDOWN_GRACE_S,
        )
    )
    station.screen_url = url
    log.info("station %s: packer's screen at %s", station_id, url)
    try:
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(feed.watch_link(LINK_POLL_S), name="screen-link")
            await server.serve(sockets=[listener])
    finally:
        station.screen_url = None
        feed.close()
        server.should_exit = True
        if server.started:
            await server.shutdown(sockets=[listener])
        listener.close()
