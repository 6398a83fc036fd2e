"""`packline station run --sim` as a real process: killed with SIGKILL mid-order, it comes back
in exactly the state it was in, re-lights only the unconfirmed slots, and loses no event."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from station_harness import MUG, TEA, allocation, bridge_stand_in, wait_for

from cloud_bridge.broker_settings import control_client_id
from edge.contract import StationId
from firmware_sim.broker import MosquittoBroker
from firmware_sim.control import RigControlClient
from firmware_sim.ports import free_port
from firmware_sim.secure_site import SiteCredentials
from firmware_sim.sim_station import SLOT_PINS, sim_station_document

STARTUP_TIMEOUT = 30.0


def _write_toml(document: dict[str, object], path: Path) -> None:
    """A tiny TOML writer for the flat-ish station document (tables of scalars and tables)."""

    def value(item: object) -> str:
        if isinstance(item, bool):
            return "true" if item else "false"
        if isinstance(item, int | float):
            return str(item)
        if isinstance(item, dict):
            return "{ " + ", ".join(f"{k} = {value(v)}" for k, v in item.items()) + " }"
        return '"' + str(item).replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines: list[str] = []
    for section, body in document.items():
        lines.append(f"[{section}]")
        assert isinstance(body, dict)
        lines.extend(f"{key} = {value(item)}" for key, item in body.items())
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
    tomllib.loads(path.read_text(encoding="utf-8"))


@contextlib.asynccontextmanager
async def station_process(
    config: Path, state_dir: Path
) -> AsyncIterator[tuple[subprocess.Popen[bytes], RigControlClient]]:
    port_file = state_dir / "sim-control.port"
    port_file.unlink(missing_ok=True)
    log = (state_dir.parent / "station.log").open("ab")
    process = subprocess.Popen(  # noqa: ASYNC220 - starting a process does not block
        [sys.executable, "-m", "edge.cli", "station", "run", "--config", str(config), "--sim"],
        stdout=log,
        stderr=log,
    )
    try:
        await wait_for(lambda: port_file.exists() or process.poll() is not None, "rig up", 30)
        assert process.poll() is None, (state_dir.parent / "station.log").read_text()
        port = int(port_file.read_text())
        client = await RigControlClient.connect("127.0.0.1", port)
        try:
            yield process, client
        finally:
            with contextlib.suppress(Exception):
                await client.close()
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()


async def glows(client: RigControlClient, slot: str, window: float = 0.8) -> bool:
    led = f"GPIO{SLOT_PINS[slot][0]}"
    loop = asyncio.get_running_loop()
    deadline = loop.time() + window
    while loop.time() < deadline:
        if (await client.lit()).get(led):
            return True
        await asyncio.sleep(0.05)
    return False


async def until_glows(client: RigControlClient, slot: str, expected: bool = True) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while await glows(client, slot) != expected:
        assert loop.time() < deadline, f"slot {slot} never became {'lit' if expected else 'dark'}"


async def press_until_dark(client: RigControlClient, slot: str) -> None:
    """Press a slot's button once its press can count (the station opens its buttons at start)."""
    button = f"GPIO{SLOT_PINS[slot][1]}"
    await client.press(button, seconds=0.08)
    await until_glows(client, slot, expected=False)


@pytest.mark.timeout(180)
async def test_a_station_killed_mid_order_resumes_exactly_and_loses_nothing(
    mosquitto: MosquittoBroker,
    site_credentials: SiteCredentials,
    station_id: StationId,
    tmp_path: Path,
) -> None:
    state_dir = tmp_path / "state"
    config = tmp_path / "station.toml"
    document = sim_station_document(
        station_id,
        broker_url=mosquitto.tls_url,
        printer_port=free_port(),
        state_dir=state_dir,
    )
    document["broker"].update(site_credentials.station_link(station_id, mosquitto.tls_url))
    _write_toml(document, config)
    bridge_tls = site_credentials.credentials(control_client_id("test"), "bridge").tls_context()

    async with bridge_stand_in(station_id, mosquitto.tls_port, bridge_tls) as bridge:
        async with station_process(config, state_dir) as (process, client):
            await wait_for(lambda: bridge.births >= 1, "first birth", STARTUP_TIMEOUT)
            await bridge.allocate(allocation())
            await asyncio.sleep(0.5)
            await client.scan("SO-1", "]C0")
            await until_glows(client, "A1")
            await client.scan(MUG[1:], "]E0")
            await asyncio.sleep(0.3)
            await press_until_dark(client, "A1")
            await wait_for(lambda: "line_picked" in bridge.kinds(), "the first pick applied")
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

        async with station_process(config, state_dir) as (process, client):
            await until_glows(client, "A2")
            assert not await glows(client, "A1"), "a confirmed slot must never light again"
            await client.scan(TEA[1:], "]E0")
            await asyncio.sleep(0.3)
            await press_until_dark(client, "A2")
            await wait_for(
                lambda: "order_completed" in bridge.kinds(), "completion after restart", 30
            )
            labels = await client.printed()

    assert len(labels) == 1
    assert bridge.kinds() == [
        "order_scanned",
        "line_picked",
        "line_picked",
        "label_printed",
        "order_completed",
    ]
    assert sorted(bridge.applied) == list(range(1, 6))
