"""`packline bridge run`: load bridge.toml, migrate the database, run until stopped."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path

from cloud_bridge.broker_settings import control_client_id, ingest_client_id
from cloud_bridge.config import BridgeConfig, load_bridge_config
from cloud_bridge.runtime import Bridge
from edge.errors import ConfigError
from edge.link_security import check_link_security
from edge.secret_files import check_secret_files

__all__ = ["bridge_secret_files", "check_bridge_links", "run_bridge"]

_LOG_FORMAT = "%(asctime)s level=%(levelname)s logger=%(name)s %(message)s"


def run_bridge(*, config_path: Path, insecure: bool = False) -> int:
    """Run one bridge instance; return the exit status (2 for a configuration error).

    ``insecure`` allows a plain ``mqtt://`` loopback broker for local development.
    """
    logging.basicConfig(level=logging.INFO, format=_LOG_FORMAT, stream=sys.stderr)
    # httpx logs every request's URL at INFO; our own log lines say what was sent, and a URL
    # with a query string has no business in the log.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        config = load_bridge_config(config_path)
        check_bridge_links(config, insecure=insecure)
        check_secret_files(bridge_secret_files(config))
    except ConfigError as error:
        print(f"packline bridge: {config_path}: {error}", file=sys.stderr)
        return 2
    asyncio.run(_main(Bridge(config, serve_api=True)))
    return 0


def check_bridge_links(config: BridgeConfig, *, insecure: bool) -> None:
    """Both broker connections are mutual TLS under their own names, or insecure by choice."""
    broker = config.broker
    instance = config.bridge.instance
    check_link_security(broker, control_client_id(instance), insecure=insecure)
    if broker.scheme == "mqtts":
        ingest = broker.ingest_settings()
        check_link_security(ingest, ingest_client_id(instance), insecure=insecure)


def bridge_secret_files(config: BridgeConfig) -> list[tuple[str, Path]]:
    """Every file or directory of secrets the bridge reads, with the key that names it.

    The broker's private keys, the Sage client secret and both environments' token files, and
    the release signing keys; the bridge refuses to start while any of them is not private.
    """
    broker = config.broker
    files: list[tuple[str, Path]] = [
        (key, path)
        for key, path in (
            ("broker.key_file", broker.key_file),
            ("broker.ingest_key_file", broker.ingest_key_file),
            ("http.tls_key_file", config.http.tls_key_file),
        )
        if path is not None
    ]
    sage = config.sage
    if sage is not None:
        files.append(("sage.client_secret_file", sage.client_secret_file))
        for name in ("test", "live"):
            environment = getattr(sage, name)
            if environment is not None:
                files.append((f"sage.{name}.token_file", environment.token_file))
    if config.fleet is not None and config.fleet.keys is not None:
        files.append(("fleet.keys", config.fleet.keys))
    return files


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
