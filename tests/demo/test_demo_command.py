"""`packline demo` runs one real pick end to end against a real broker."""

from __future__ import annotations

import subprocess
import sys

from firmware_sim.broker import MosquittoBroker


def test_demo_shows_each_step_of_the_pick_and_the_events_back_from_the_broker(
    mosquitto: MosquittoBroker,
) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "edge.cli", "demo", "--broker", mosquitto.url],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    out = completed.stdout
    assert "scanner driver read 'SO-1001'" in out
    assert "verified as GTIN 05012345678900" in out
    assert "light off: True" in out
    assert "job SO-1001-label-1 printed" in out
    assert "Tracking: 1Z999AA10123456784" in out
    for event in ("OrderScanned", "LinePicked", "OrderCompleted"):
        assert event in out


def test_demo_refuses_a_broker_url_it_cannot_use() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "edge.cli", "demo", "--broker", "http://example"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode != 0
    assert "expected mqtt://HOST:PORT" in completed.stderr
