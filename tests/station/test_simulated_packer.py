"""The simulated packer packs orders at a real station on the simulated rig, through the rig's
control socket, and the station's own counts and events agree with what the packer says it did."""

from __future__ import annotations

import contextlib
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from station_harness import (
    MUG,
    PEN,
    TEA,
    BridgeStandIn,
    allocation,
    bridge_stand_in,
    running_station,
    station_config,
    wait_for,
)

from edge.contract import OrderAllocated, StationId
from edge.station.runtime import Station
from firmware_sim.broker import MosquittoBroker
from firmware_sim.control import RigControlClient, RigControlServer
from firmware_sim.packer import MistakePlan, SimulatedPacker
from firmware_sim.sim_station import SCANNER_PRODUCT_ID, SCANNER_VENDOR_ID
from firmware_sim.station_rig import SimulatedStationRig

THREE_LINES = (("1", MUG, 2, "A1"), ("2", TEA, 1, "A2"), ("3", PEN, 3, "B1"))


@dataclass
class Bench:
    """A station on the rig, its bridge stand-in, and the control client a packer uses."""

    station: Station
    bridge: BridgeStandIn
    hands: RigControlClient

    async def allocate(self, order: OrderAllocated) -> None:
        await wait_for(lambda: self.bridge.births >= 1, "the station's birth")
        await self.bridge.allocate(order)
        await wait_for(
            lambda: self.station.allocations.get(order.order_id) is not None,
            f"allocation {order.order_id} cached",
        )

    def picked(self) -> dict[str, int]:
        return {
            str(event.model_dump()["line_id"]): int(event.model_dump()["quantity"])
            for event in self.bridge.events("line_picked")
        }


@contextlib.asynccontextmanager
async def open_bench(
    mosquitto: MosquittoBroker, station_id: StationId, state_dir: Path, **settings: object
) -> AsyncIterator[Bench]:
    """The station on a rig it shares with a control server, as a station process has it."""
    rig = SimulatedStationRig(
        scanner_vendor_id=SCANNER_VENDOR_ID, scanner_product_id=SCANNER_PRODUCT_ID
    )
    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(rig)
        bridge = await stack.enter_async_context(bridge_stand_in(station_id, mosquitto.port))
        config = station_config(station_id, mosquitto.port, rig.printer.port, state_dir, **settings)
        station, _ = await stack.enter_async_context(
            running_station(config, rig.gpio, rig.usb_backend)
        )
        server = await stack.enter_async_context(RigControlServer(rig))
        hands = await RigControlClient.connect(server.host, server.port)
        await stack.enter_async_context(hands)
        await wait_for(lambda: station.outbox is not None, "station up")
        yield Bench(station, bridge, hands)


@pytest.fixture
async def bench(
    mosquitto: MosquittoBroker, station_id: StationId, tmp_path: Path
) -> AsyncIterator[Bench]:
    async with open_bench(mosquitto, station_id, tmp_path / "state") as opened:
        yield opened


async def test_a_careful_packer_packs_the_whole_order_and_the_label_prints(bench: Bench) -> None:
    order = allocation(lines=THREE_LINES)
    await bench.allocate(order)

    result = await SimulatedPacker(bench.hands).pack(order)

    assert result.label_printed
    assert result.units_picked == 6
    assert result.mistakes == {}
    assert result.shortages == ()
    await wait_for(lambda: "order_completed" in bench.bridge.kinds(), "completion at the bridge")
    assert bench.picked() == {"1": 2, "2": 1, "3": 3}
    assert bench.bridge.events("shortage_recorded") == []
    assert len(await bench.hands.printed()) == 1
    counts = bench.station.state.counts
    assert (counts.orders_completed, counts.picks, counts.wrong_slots, counts.wrong_scans) == (
        1,
        3,
        0,
        0,
    )


async def test_a_clumsy_packer_still_completes_and_the_station_counts_every_mistake(
    bench: Bench,
) -> None:
    order = allocation(lines=THREE_LINES)
    await bench.allocate(order)
    mistakes = MistakePlan(wrong_slot=1.0, wrong_item=1.0, short_lines=frozenset({"2"}))

    result = await SimulatedPacker(bench.hands, mistakes=mistakes, rng=random.Random(7)).pack(order)

    assert result.label_printed
    assert result.mistakes == {"wrong_slot": 2, "wrong_item": 2}
    assert [(s.line_id, s.expected, s.found) for s in result.shortages] == [("2", 1, 0)]
    assert result.units_picked == 5
    await wait_for(lambda: "order_completed" in bench.bridge.kinds(), "completion at the bridge")
    assert bench.picked() == {"1": 2, "3": 3}
    [short] = [event.model_dump() for event in bench.bridge.events("shortage_recorded")]
    assert (short["line_id"], short["expected_quantity"], short["found_quantity"]) == ("2", 1, 0)
    counts = bench.station.state.counts
    assert counts.wrong_slots == result.mistakes["wrong_slot"]
    assert counts.wrong_scans == result.mistakes["wrong_item"]
    assert (counts.shorts, counts.picks, counts.orders_completed) == (1, 2, 1)


async def test_a_shortage_on_the_last_open_line_is_recorded_at_once_and_ships_the_rest(
    bench: Bench,
) -> None:
    order = allocation(lines=(("1", MUG, 2, "A1"), ("2", TEA, 4, "A2")))
    await bench.allocate(order)
    mistakes = MistakePlan(short_lines=frozenset({"2"}), shortage_by="barcode")

    result = await SimulatedPacker(bench.hands, mistakes=mistakes).pack(order)

    assert result.label_printed
    assert [(s.line_id, s.expected) for s in result.shortages] == [("2", 4)]
    await wait_for(lambda: "order_completed" in bench.bridge.kinds(), "completion at the bridge")
    assert bench.picked() == {"1": 2}
    [short] = [event.model_dump() for event in bench.bridge.events("shortage_recorded")]
    assert (short["line_id"], short["found_quantity"]) == ("2", 0)
    assert bench.station.state.counts.wrong_slots == 0


async def test_mistakes_drawn_at_a_rate_are_all_seen_by_the_station(bench: Bench) -> None:
    order = allocation(lines=THREE_LINES)
    await bench.allocate(order)
    mistakes = MistakePlan(wrong_slot=0.5, wrong_item=0.5, shortage=0.4)

    result = await SimulatedPacker(bench.hands, mistakes=mistakes, rng=random.Random(3)).pack(order)

    assert result.label_printed
    await wait_for(lambda: "order_completed" in bench.bridge.kinds(), "completion at the bridge")
    short_lines = {shortage.line_id for shortage in result.shortages}
    expected = {line.line_id: line.quantity for line in order.lines}
    assert bench.picked() == {k: v for k, v in expected.items() if k not in short_lines}
    assert {e.model_dump()["line_id"] for e in bench.bridge.events("shortage_recorded")} == (
        short_lines
    )
    counts = bench.station.state.counts
    assert counts.wrong_slots == result.mistakes.get("wrong_slot", 0)
    assert counts.wrong_scans == result.mistakes.get("wrong_item", 0)
    assert result.units_picked == sum(bench.picked().values())


async def test_a_packer_at_a_scan_every_unit_station_scans_each_unit_before_the_press(
    mosquitto: MosquittoBroker, station_id: StationId, tmp_path: Path
) -> None:
    async with open_bench(mosquitto, station_id, tmp_path / "state", verification="each") as b:
        order = allocation(lines=(("1", MUG, 3, "A1"), ("2", TEA, 2, "A2")))
        await b.allocate(order)

        result = await SimulatedPacker(b.hands, verification="each").pack(order)

        assert (result.label_printed, result.units_picked) == (True, 5)
        await wait_for(lambda: "order_completed" in b.bridge.kinds(), "completion at the bridge")
        assert b.picked() == {"1": 3, "2": 2}


def test_a_mistake_rate_outside_zero_to_one_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"MistakePlan\.wrong_slot is 1\.5"):
        MistakePlan(wrong_slot=1.5)
