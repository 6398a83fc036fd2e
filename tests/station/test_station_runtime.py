"""The station on the simulated rig and a real Mosquitto: the packer's workflow end to end."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from station_harness import (
    MUG,
    PEN,
    TEA,
    StationRun,
    allocation,
    bridge_stand_in,
    running_station,
    station_config,
    wait_for,
)

from edge.contract import OrderCancelled, StationId, TopicKind, station_topic
from firmware_sim.broker import MosquittoBroker
from firmware_sim.gpio import GpioRig
from firmware_sim.sim_station import (
    CONFIRM_PIN,
    SCANNER_PRODUCT_ID,
    SCANNER_VENDOR_ID,
    SHORTAGE_PIN,
)
from firmware_sim.usb import SimulatedHidScanner, SimulatedUsbBackend
from firmware_sim.zebra.server import ZebraTcpServer


@contextlib.asynccontextmanager
async def station_on_rig(
    broker: MosquittoBroker, station_id: StationId, state_dir: Path, **station: object
) -> AsyncIterator[StationRun]:
    gpio = GpioRig()
    backend = SimulatedUsbBackend()
    scanner = SimulatedHidScanner(
        layout="us", vendor_id=SCANNER_VENDOR_ID, product_id=SCANNER_PRODUCT_ID
    )
    backend.plug(scanner)
    async with ZebraTcpServer(port=0) as zebra, bridge_stand_in(station_id, broker.port) as bridge:
        config = station_config(station_id, broker.port, zebra.port, state_dir, **station)
        async with running_station(config, gpio, backend) as (running, task):
            yield StationRun(running, gpio, scanner, zebra, bridge, task)
    gpio.reset()


@pytest.fixture
async def run(
    mosquitto: MosquittoBroker, station_id: StationId, tmp_path: Path
) -> AsyncIterator[StationRun]:
    async with station_on_rig(mosquitto, station_id, tmp_path / "state") as running:
        await wait_for(lambda: running.station.outbox is not None, "station up")
        yield running


async def allocate(run: StationRun, **kwargs: object) -> None:
    message = allocation(**kwargs)  # type: ignore[arg-type]
    await wait_for(lambda: run.bridge.births >= 1, "the station's birth")
    await run.bridge.allocate(message)
    await wait_for(
        lambda: run.station.allocations.get(message.order_id) is not None,
        f"allocation {message.order_id} cached",
    )


async def pick(run: StationRun, slot: str, gtin: str) -> None:
    run.scan(gtin[1:], "]E0")
    await asyncio.sleep(0.15)
    await run.press(slot)
    await run.until_glows(slot, expected=False)


async def test_an_order_is_picked_labelled_and_reported_once_each(run: StationRun) -> None:
    await allocate(run)
    run.scan("SO-1")
    await run.until_glows("A1")
    await run.until_glows("A2")
    assert not await run.glows("A3")

    await pick(run, "A1", MUG)
    await pick(run, "A2", TEA)

    await run.until(lambda: len(run.zebra.model.printed) == 1, "the label printed")
    await run.until(lambda: "order_completed" in run.bridge.kinds(), "completion at the bridge")
    assert run.bridge.kinds() == [
        "order_scanned",
        "line_picked",
        "line_picked",
        "label_printed",
        "order_completed",
    ]
    label = run.zebra.model.printed[0]
    assert any("Harbour Cafe Ltd" in text.data for text in label.fields)
    await run.until(lambda: run.station.outbox.stats().depth == 0, "outbox pruned by the ack")
    assert run.bridge.duplicates == 0


async def test_an_unlit_slot_press_buzzes_and_changes_nothing(run: StationRun) -> None:
    await allocate(run)
    run.scan("SO-1")
    await run.until_glows("A1")

    await run.press("A3")
    await run.until(lambda: run.station.state.counts.wrong_slots == 1, "wrong slot counted")
    assert run.station.state.order is not None
    assert all(not line.closed for line in run.station.state.order.lines)


async def test_a_wrong_item_and_an_unknown_barcode_are_refused_with_a_reason(
    run: StationRun,
) -> None:
    await allocate(run)
    run.scan("SO-1")
    await run.until_glows("A1")

    run.scan(PEN[1:], "]E0")
    await run.until(
        lambda: (
            run.station.state.alert is not None and run.station.state.alert.kind == "wrong_item"
        ),
        "wrong item alert",
    )
    run.scan("NOT-A-THING")
    await run.until(
        lambda: (
            run.station.state.alert is not None
            and run.station.state.alert.kind == "unknown_barcode"
        ),
        "unknown barcode alert",
    )
    assert run.station.state.counts.wrong_scans == 2
    assert run.bridge.kinds() == ["order_scanned"]


async def test_a_shortage_then_confirm_ships_a_partial_and_reports_the_shortfall(
    run: StationRun,
) -> None:
    await allocate(run)
    run.scan("SO-1")
    await run.until_glows("A2")
    await pick(run, "A1", MUG)

    await run.press_pin(SHORTAGE_PIN, seconds=1.0)
    await run.until(lambda: run.station.state.phase == "finalising", "finalising")
    await run.press_pin(CONFIRM_PIN)

    await run.until(lambda: "order_completed" in run.bridge.kinds(), "partial completion")
    short = run.bridge.events("shortage_recorded")
    assert len(short) == 1
    assert short[0].model_dump()["found_quantity"] == 0


async def test_a_cancelled_order_goes_dark_mid_pick(run: StationRun) -> None:
    await allocate(run)
    run.scan("SO-1")
    await run.until_glows("A1")

    await run.bridge.allocate(
        OrderCancelled(order_id="SO-1", version=2, at=allocation().at, reason="x")
    )
    await run.until_glows("A1", expected=False)
    await run.until_glows("A2", expected=False)
    await run.until(lambda: "order_aborted" in run.bridge.kinds(), "abort reported")


async def test_a_changed_quantity_mid_pick_relights_the_balance(run: StationRun) -> None:
    await allocate(run)
    run.scan("SO-1")
    await pick(run, "A1", MUG)

    await run.bridge.allocate(
        allocation(version=2, lines=(("1", MUG, 3, "A1"), ("2", TEA, 1, "A2")))
    )
    await run.until_glows("A1")
    order = run.station.state.order
    assert order is not None
    assert order.version == 2


async def test_a_restart_mid_order_relights_only_the_unconfirmed_slots(
    mosquitto: MosquittoBroker, station_id: StationId, tmp_path: Path
) -> None:
    state_dir = tmp_path / "state"
    async with station_on_rig(mosquitto, station_id, state_dir) as first:
        await allocate(first)
        first.scan("SO-1")
        await pick(first, "A1", MUG)
        first.task.cancel()  # no clean stop: as if the power went

    async with station_on_rig(mosquitto, station_id, state_dir) as second:
        await second.until_glows("A2")
        assert not await second.glows("A1")
        await pick(second, "A2", TEA)
        await second.until(lambda: len(second.zebra.model.printed) == 1, "label printed")


async def test_events_written_while_the_broker_is_down_arrive_once_after_it_returns(
    station_id: StationId, tmp_path: Path
) -> None:
    with MosquittoBroker() as broker:
        async with station_on_rig(broker, station_id, tmp_path / "state") as run:
            await allocate(run)
            broker.stop()
            run.scan("SO-1")
            await pick(run, "A1", MUG)
            await pick(run, "A2", TEA)
            await run.until(lambda: len(run.zebra.model.printed) == 1, "label printed offline")
            assert run.station.outbox.stats().depth == 5
            broker.start()
            await run.until(
                lambda: "order_completed" in run.bridge.kinds(), "replayed after reconnect"
            )
            assert sorted(run.bridge.applied) == list(range(1, 6))
            assert run.bridge.kinds() == [
                "order_scanned",
                "line_picked",
                "line_picked",
                "label_printed",
                "order_completed",
            ]


async def test_paper_out_holds_the_label_and_it_prints_once_when_the_fault_clears(
    run: StationRun,
) -> None:
    await allocate(run)
    run.zebra.model.set_fault("paper_out")
    run.scan("SO-1")
    await pick(run, "A1", MUG)
    await pick(run, "A2", TEA)

    await run.until(lambda: run.station.printer_state[0] == "fault", "printer fault shown")
    alert = run.station.state.alert
    assert alert is not None
    assert "paper" in alert.message.lower()
    assert run.zebra.model.printed == []
    assert run.station.status().printer == "fault"

    run.zebra.model.clear_fault("paper_out")
    await run.until(lambda: "order_completed" in run.bridge.kinds(), "completed after the fault")
    await asyncio.sleep(0.5)
    assert len(run.zebra.model.printed) == 1
    assert run.bridge.kinds().count("label_printed") == 1


async def test_reprint_void_and_abort_by_command_barcode_are_recorded(run: StationRun) -> None:
    await allocate(run)
    await allocate(run, order_id="SO-2")
    run.scan("SO-1")
    await pick(run, "A1", MUG)
    await pick(run, "A2", TEA)
    await run.until(lambda: "order_completed" in run.bridge.kinds(), "first order done")

    run.scan("PL:REPRINT:torn")
    await run.until(lambda: len(run.zebra.model.printed) == 2, "the reprint")
    await run.until(lambda: "label_reprinted" in run.bridge.kinds(), "reprint audited")
    assert run.bridge.events("label_reprinted")[0].model_dump()["reason"] == "torn"

    run.scan("PL:VOID:wrong parcel")
    await run.until(lambda: "label_voided" in run.bridge.kinds(), "void recorded")

    run.scan("SO-2")
    await run.until_glows("A1")
    run.scan("PL:ABORT")
    await run.until(lambda: "order_aborted" in run.bridge.kinds(), "abort recorded")
    await run.until_glows("A1", expected=False)
    assert run.station.state.counts.reprints == 1
    assert run.station.state.counts.voids == 1
    assert run.station.state.counts.aborts == 1


async def test_bad_messages_from_the_bridge_are_rejected_and_the_station_keeps_working(
    run: StationRun, caplog: pytest.LogCaptureFixture
) -> None:
    await wait_for(lambda: run.bridge.births >= 1, "the station's birth")
    client = run.bridge.client
    assert client is not None
    topic = station_topic(run.station.config.station.station_id, TopicKind.ALLOCATION)
    await client.publish(topic, b"{not json", qos=1)
    await client.publish(topic, b'{"schema_version": 1, "type": "order_allocated"}', qos=1)
    await client.publish(topic, b"x" * 70_000, qos=1)
    await run.bridge.allocate(allocation(order_id="SO-9", lines=(("1", MUG, 1, "Z9"),)))

    await run.until(
        lambda: run.station.status().counters.rejected_messages >= 3, "three rejections counted"
    )
    await run.until(lambda: "slot(s) Z9" in caplog.text, "the unknown slot logged")
    assert run.station.allocations.get("SO-9") is None

    await allocate(run)
    run.scan("SO-1")
    await pick(run, "A1", MUG)
    await pick(run, "A2", TEA)
    await run.until(lambda: "order_completed" in run.bridge.kinds(), "still working")
