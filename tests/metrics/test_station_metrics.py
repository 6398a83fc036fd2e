"""The station's Prometheus endpoint: a real station on the simulated rig and a real Mosquitto,
scraped over HTTP the way Prometheus scrapes it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from prometheus_client import generate_latest
from station_harness import (
    MUG,
    TEA,
    StationRun,
    allocation,
    bridge_stand_in,
    running_station,
    station_config,
    wait_for,
)

from edge.contract import StationId
from edge.station.metrics import StationCollector, StationMetricsSettings
from edge.station.runtime import Station
from edge.station.workflow import SlotPress
from firmware_sim.broker import MosquittoBroker
from firmware_sim.gpio import GpioRig
from firmware_sim.sim_station import SCANNER_PRODUCT_ID, SCANNER_VENDOR_ID
from firmware_sim.usb import SimulatedHidScanner, SimulatedUsbBackend
from firmware_sim.zebra.server import ZebraTcpServer
from metrics.scrape import parse, value


@contextlib.asynccontextmanager
async def station_with_metrics(
    broker: MosquittoBroker, station_id: StationId, state_dir: Path
) -> AsyncIterator[StationRun]:
    gpio = GpioRig()
    backend = SimulatedUsbBackend()
    scanner = SimulatedHidScanner(
        layout="us", vendor_id=SCANNER_VENDOR_ID, product_id=SCANNER_PRODUCT_ID
    )
    backend.plug(scanner)
    async with ZebraTcpServer(port=0) as zebra, bridge_stand_in(station_id, broker.port) as bridge:
        config = station_config(station_id, broker.port, zebra.port, state_dir)
        config = config.model_copy(
            update={
                "metrics": StationMetricsSettings(enabled=True, port=0),
                "screen": config.screen.model_copy(update={"enabled": False}),
            }
        )
        async with running_station(config, gpio, backend) as (running, task):
            await wait_for(lambda: running.metrics.port is not None, "the metrics endpoint")
            yield StationRun(running, gpio, scanner, zebra, bridge, task)
    gpio.reset()


async def scrape(station: Station) -> httpx.Response:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{station.metrics.port}") as client:
        return await client.get("/metrics")


def scanned_at(station: Station, slot: str) -> int:
    """How many items the open order's line at `slot` has scanned and not yet put away."""
    order = station.state.order
    line = order.line_at(slot) if order is not None else None
    return line.scanned if line is not None else 0


async def pick(run: StationRun, slot: str, gtin: str) -> None:
    run.scan(gtin[1:], "]E0")
    await run.until(lambda: scanned_at(run.station, slot) >= 1, f"the item at {slot} scanned")
    await run.press(slot)
    await run.until_glows(slot, expected=False)


async def test_a_packed_order_shows_in_the_scraped_counters_and_round_trips(
    mosquitto: MosquittoBroker, station_id: StationId, tmp_path: Path
) -> None:
    async with station_with_metrics(mosquitto, station_id, tmp_path / "state") as run:
        await wait_for(lambda: run.bridge.births >= 1, "the station's birth")
        await run.bridge.allocate(allocation())
        await run.until(lambda: run.station.allocations.get("SO-1") is not None, "allocation")
        run.scan("SO-1")
        await run.until_glows("A1")
        await pick(run, "A1", MUG)
        await pick(run, "A2", TEA)
        await run.until(lambda: "order_completed" in run.bridge.kinds(), "the completion")
        await run.until(lambda: run.station.outbox.stats().depth == 0, "the outbox acked")

        response = await scrape(run.station)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = parse(response.text)
    assert value(samples, "packline_station_scans_total", kind="order") == 1
    assert value(samples, "packline_station_scans_total", kind="item") == 2
    assert value(samples, "packline_station_scans_total", kind="bad") == 0
    assert value(samples, "packline_station_picks_total") == 2
    assert value(samples, "packline_station_orders_completed_total") == 1
    assert value(samples, "packline_station_labels_printed_total", kind="first") == 1
    assert value(samples, "packline_station_printer_state", state="ok") == 1
    assert value(samples, "packline_station_outbox_depth") == 0
    assert value(samples, "packline_station_outbox_acknowledged_seq") == len(run.bridge.applied)
    assert value(samples, "packline_station_online") == 1
    # Every event the bridge acked was timed: scanned, two picks, the label, the completion.
    assert value(samples, "packline_station_event_round_trip_seconds_count") == 5
    assert 0 < value(samples, "packline_station_event_round_trip_seconds_sum") < 5 * 15


async def test_only_the_metrics_path_is_served(
    mosquitto: MosquittoBroker, station_id: StationId, tmp_path: Path
) -> None:
    async with station_with_metrics(mosquitto, station_id, tmp_path / "state") as run:
        port = run.station.metrics.port
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            response = await client.get("/")

    assert response.status_code == 404
    assert "/metrics" in response.text


def idle_station(station_id: StationId, state_dir: Path) -> Station:
    return Station(station_config(station_id, 1883, 9100, state_dir))


async def test_two_stations_in_one_process_keep_their_own_figures(
    station_id: StationId, tmp_path: Path
) -> None:
    other_id = StationId(site=station_id.site, station="st02")
    first = idle_station(station_id, tmp_path / "first")
    second = idle_station(other_id, tmp_path / "second")
    try:
        await first.handle(SlotPress("A1"))
        await first.handle(SlotPress("A2"))

        first_samples = parse(generate_latest(first.metrics.registry).decode())
        second_samples = parse(generate_latest(second.metrics.registry).decode())
    finally:
        first.close()
        second.close()

    assert value(first_samples, "packline_station_wrong_slots_total") == 2
    assert value(second_samples, "packline_station_wrong_slots_total") == 0
    assert value(second_samples, "packline_station_info", station="st02") == 1


async def test_the_workflow_counters_survive_a_restart(
    station_id: StationId, tmp_path: Path
) -> None:
    before = idle_station(station_id, tmp_path / "state")
    try:
        await before.handle(SlotPress("A1"))
    finally:
        before.close()

    after = idle_station(station_id, tmp_path / "state")
    try:
        samples = parse(generate_latest(after.metrics.registry).decode())
    finally:
        after.close()

    assert value(samples, "packline_station_wrong_slots_total") == 1


def test_the_info_names_the_software_the_station_runs(
    station_id: StationId, tmp_path: Path
) -> None:
    config = station_config(station_id, 1883, 9100, tmp_path / "state")
    station = Station(config, software_version="2.7.1-rc1")
    try:
        samples = parse(generate_latest(station.metrics.registry).decode())
    finally:
        station.close()

    assert value(samples, "packline_station_info", version="2.7.1-rc1") == 1


def test_the_collector_describes_exactly_the_families_it_collects(
    station_id: StationId, tmp_path: Path
) -> None:
    station = idle_station(station_id, tmp_path / "state")
    try:
        collector = StationCollector(station, lambda: None)
        described = {family.name for family in collector.describe()}
        collected = {family.name for family in collector.collect()}
    finally:
        station.close()

    assert described == collected
