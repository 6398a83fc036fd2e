"""The uplink replay bench runs end to end and reports both timings."""

from __future__ import annotations

import pytest

from firmware_sim.bench_uplink import measure_replay


@pytest.mark.broker
def test_the_replay_bench_times_the_uplink_and_raw_paho_on_the_same_events() -> None:
    uplink_seconds, paho_seconds = measure_replay(events=300)

    assert uplink_seconds > 0
    assert paho_seconds > 0


def test_the_replay_bench_refuses_an_empty_run() -> None:
    with pytest.raises(ValueError, match="events must be at least 1"):
        measure_replay(events=0)
