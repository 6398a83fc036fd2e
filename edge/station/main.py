"""`packline station run`: load station.toml, wire real or simulated hardware, run until stopped.

With ``--sim`` the station runs the same code on the simulated rig: the scanner on a simulated
USB bus, the lights on gpiozero mock pins, and a virtual Zebra listening where the config's TCP
printer points (which must then be a loopback address). The rig's control socket lets tests and
simulated packers scan, press buttons and read the lights from outside the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edge import __version__
from edge.contract import UpdateState
from edge.errors import ConfigError, EdgeError
from edge.fleet.config_push import ConfigPush
from edge.fleet.home import StationHome
from edge.link_security import check_link_security
from edge.station.config import LoadedConfig, StationConfig, load_station_config
from edge.station.fleet_agent import FleetAgent
from edge.station.runtime import Station
from edge.station.service import RESTART_EXIT_STATUS, ServiceNotifier

__all__ = ["run_station"]

log = logging.getLogger("packline.station")

_LOG_FORMAT = "%(asctime)s level=%(levelname)s logger=%(name)s %(message)s"
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def run_station(
    *,
    config_path: Path,
    sim: bool,
    sim_control_port: int = 0,
    home: Path | None = None,
    insecure: bool = False,
) -> int:
    """Run the station; return the exit status (2 for a configuration error, 75 to restart).

    ``insecure`` allows a plain ``mqtt://`` loopback broker for local development.
    """
    logging.basicConfig(level=logging.INFO, format=_LOG_FORMAT, stream=sys.stderr)
    try:
        base = load_station_config(config_path)
        push = ConfigPush(config_path, base.config.station.state_dir)
        loaded = push.effective_config()
        station_id = loaded.config.station.station_id
        check_link_security(loaded.config.broker, station_id.client_id, insecure=insecure)
    except ConfigError as error:
        print(f"packline station: {config_path}: {error}", file=sys.stderr)
        return 2
    try:
        agent = FleetAgent(
            config_push=push,
            home=StationHome(home) if home is not None else None,
            software_version=__version__,
            running_config_version=loaded.config_version,
            checkpoint=_power_cut_checkpoint() if sim else None,
        )
        restart = asyncio.run(_main(loaded, agent, sim=sim, sim_control_port=sim_control_port))
    except EdgeError as error:
        print(f"packline station: {error}", file=sys.stderr)
        return 1
    return RESTART_EXIT_STATUS if restart else 0


def _power_cut_checkpoint() -> Callable[[UpdateState], None] | None:
    """The simulated fleet's power-cut seam (see firmware_sim.power_cut), only with --sim."""
    from firmware_sim.power_cut import checkpoint_from_environment

    return checkpoint_from_environment()


async def _main(
    loaded: LoadedConfig, agent: FleetAgent, *, sim: bool, sim_control_port: int
) -> bool:
    """Run until stopped (False) or until the fleet agent asks for a restart (True)."""
    config = loaded.config
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    service = ServiceNotifier()
    async with contextlib.AsyncExitStack() as stack:
        hardware: dict[str, Any] = {}
        if sim:
            hardware = await _start_rig(stack, config, sim_control_port)
        station = Station(config, config_hash=loaded.sha256, fleet=agent, **hardware)
        running = asyncio.create_task(
            station.run(ready=lambda: service.ready(f"station {config.station.station_id} up")),
            name="station",
        )
        stopping = asyncio.create_task(stop.wait(), name="stop")
        restarting = asyncio.create_task(agent.restart_now.wait(), name="restart")
        watchdog = asyncio.create_task(service.feed_watchdog(), name="watchdog")
        done, _ = await asyncio.wait(
            {running, stopping, restarting}, return_when=asyncio.FIRST_COMPLETED
        )
        watchdog.cancel()
        if running in done:
            stopping.cancel()
            restarting.cancel()
            running.result()
            return False
        restart = restarting in done
        reason = agent.restart.reason if restart else "asked to stop"
        log.info("stopping station %s: %s", config.station.station_id, reason)
        service.stopping(reason)
        stopping.cancel()
        restarting.cancel()
        await station.stop()
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        return restart


async def _start_rig(
    stack: contextlib.AsyncExitStack, config: StationConfig, control_port: int
) -> dict[str, Any]:
    from firmware_sim.control import RigControlServer
    from firmware_sim.station_rig import SimulatedStationRig

    connection = config.printer.connection
    if connection.transport != "tcp" or connection.host not in _LOOPBACK:
        raise ConfigError(
            "invalid configuration: printer.connection: --sim needs a tcp printer on a loopback "
            f"host (127.0.0.1), got {connection.transport} {getattr(connection, 'host', '')}"
        )
    rig = SimulatedStationRig(
        scanner_vendor_id=config.scanner.vendor_id,
        scanner_product_id=config.scanner.product_id,
        scanner_serial=config.scanner.serial,
        layout=config.scanner.layout,
        printer_host=connection.host,
        printer_port=connection.port,
    )
    await stack.enter_async_context(rig)
    control = RigControlServer(rig, port=control_port)
    await stack.enter_async_context(control)
    port_file = config.station.state_dir / "sim-control.port"
    config.station.state_dir.mkdir(parents=True, exist_ok=True)
    # Written whole or not at all: a reader polling for the file never sees it half-written.
    partial = port_file.with_name(f"{port_file.name}.tmp")
    partial.write_text(f"{control.port}\n", encoding="ascii")
    partial.replace(port_file)
    log.info("simulated rig up: control port %d, printer port %d", control.port, connection.port)
    return {"usb_backend": rig.usb_backend, "pin_factory": rig.gpio.factory}
