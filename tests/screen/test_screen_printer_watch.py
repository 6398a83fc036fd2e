"""The screen knows the printer's state before the first label: the station reads it at start
and then every `[printer] status_poll_s` while no label job runs (simulated Zebra over TCP).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from screen_rig import (
    MUG,
    TEA,
    StationRun,
    allocate,
    line,
    screen_client,
    state_when,
    station_on_rig,
)

from edge.contract import StationId
from firmware_sim.broker import MosquittoBroker
from firmware_sim.zebra.model import Fault

POLL_S = 0.5


def picked(snapshot: dict[str, Any], slot: str) -> bool:
    """The slot's line is picked, or the whole order is (it closes once its label prints)."""
    return snapshot["order"] is None or line(snapshot, slot)["remaining"] == 0


def orders_completed(run: StationRun, count: int) -> Callable[[], bool]:
    return lambda: run.bridge.kinds().count("order_completed") == count


@pytest.fixture
async def run(
    mosquitto: MosquittoBroker, station_id: StationId, tmp_path: Path
) -> AsyncIterator[StationRun]:
    async with station_on_rig(
        mosquitto, station_id, tmp_path / "state", printer_poll_s=POLL_S
    ) as running:
        yield running


async def test_the_printer_reads_ready_at_start_with_no_label_printed(run: StationRun) -> None:
    async with screen_client(run) as client:
        ready = await state_when(client, lambda s: s["printer"]["state"] == "ok", "printer read")
    assert ready["printer"]["headline"] == "Printer ready"
    assert ready["last_label"] is None
    assert run.zebra.model.printed == []


async def test_paper_out_shows_within_the_poll_interval_without_a_label_job(
    run: StationRun,
) -> None:
    async with screen_client(run) as client:
        await state_when(client, lambda s: s["printer"]["state"] == "ok", "printer read")

        run.zebra.model.set_fault(Fault.PAPER_OUT)
        started = time.monotonic()
        out = await state_when(
            client, lambda s: s["printer"]["headline"] == "Paper out", "paper out on the screen"
        )
        shown_after = time.monotonic() - started
        assert out["printer"]["state"] == "fault"
        assert out["printer"]["faults"] == ["Paper out"]
        assert out["order"] is None
        assert out["last_label"] is None
        assert run.station.status().printer == "fault"

        run.zebra.model.clear_fault(Fault.PAPER_OUT)
        back = await state_when(
            client, lambda s: s["printer"]["state"] == "ok", "the printer ready again"
        )
        assert back["printer"]["headline"] == "Printer ready"
    print(f"paper out on the screen {shown_after * 1000:.0f} ms after it was set")
    assert shown_after < POLL_S + 1.0
    assert run.zebra.model.printed == []


async def test_a_head_opened_and_a_printer_gone_silent_are_told_apart(run: StationRun) -> None:
    async with screen_client(run) as client:
        await state_when(client, lambda s: s["printer"]["state"] == "ok", "printer read")
        run.zebra.model.set_fault(Fault.HEAD_OPEN)
        head = await state_when(
            client, lambda s: s["printer"]["headline"] == "Head open", "head open shown"
        )
        assert head["printer"]["state"] == "fault"

        run.zebra.model.set_faults([Fault.NO_STATUS_REPLY])
        silent = await state_when(
            client, lambda s: s["printer"]["state"] == "offline", "an unanswered status shown"
        )
        assert silent["printer"]["headline"] == "Printer offline"
        assert "no complete ~HS reply" in silent["printer"]["detail"]


async def test_a_label_prints_once_while_the_status_is_read_between_jobs(
    mosquitto: MosquittoBroker, station_id: StationId, tmp_path: Path
) -> None:
    # A very short interval: a status read that slipped into a job's exchange would garble the
    # job's own ~HS reply or send the label twice.
    async with (
        station_on_rig(mosquitto, station_id, tmp_path / "state", printer_poll_s=0.02) as run,
        screen_client(run) as client,
    ):
        for done, order_id in enumerate(("SO-1", "SO-2"), start=1):
            await allocate(run, order_id=order_id)
            run.scan(order_id)
            await state_when(client, lambda s: s["order"] is not None, f"{order_id} open")
            for slot, gtin in (("A1", MUG), ("A2", TEA)):
                run.scan(gtin[1:], "]E0")
                await state_when(client, lambda s, at=slot: line(s, at)["scanned"] >= 1, "scan")
                await run.press(slot)
                await state_when(client, lambda s, at=slot: picked(s, at), f"{slot} picked")
            await run.until(orders_completed(run, done), f"{order_id} completed")
        snapshot = await state_when(client, lambda s: s["order"] is None, "idle again")
    assert len(run.zebra.model.printed) == 2
    assert run.bridge.kinds().count("label_printed") == 2
    assert snapshot["printer"]["state"] == "ok"
