"""`packline bridge run`: load bridge.toml, migrate the database, run until stopped."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path

from cloud_bridge.config import load_bridge_config
from cloud_bridge.runtime import Bridge
from edge.errors import ConfigError

__all__ = ["run_bridge"]

_LOG_FORMAT = "%(asctime)s level=%(levelname)s logger=%(name)s %(message)s"


def run_bridge(*, config_path: Path) -> int:
    """Run one bridge instance; return the exit status (2 for a configuration error)."""
    logging.basicConfig(level=logging.INFO, format=_LOG_FORMAT, stream=sys.stderr)
    try:
        config = load_bridge_config(config_path)
        token = config.http.read_token()
    except ConfigError as error:
        print(f"packline bridge: {config_path}: {error}", file=sys.stderr)
        return 2
    asyncio.run(_main(Bridge(config, token=token)))
    return 0


async def _main(bridge: Bridge) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    running = asyncio.create_task(bridge.run(), name="bridge")
    stopping = asyncio.create_task(stop.wait(), name="stop")
    done, _ = await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
    if running in done:
        stopping.cancel()
        running.result()
        return
    running.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await running
    bridge.engine.dispose()
