"""`kill -9` at random points never loses an event the outbox said was durable.

A forked child appends (and sometimes acknowledges or compacts) and reports each seq only after
the call returned; the parent SIGKILLs it at a random moment and checks the reopened store. The
seed is printed (and is in every failure message); set PACKLINE_CRASH_SEED to replay one run.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from firmware_sim.bench_outbox import CrashCheckError, CrashReport, run_crash_trials, verify_store

KILLS = 200


@pytest.fixture
def seed() -> int:
    chosen = int(os.environ.get("PACKLINE_CRASH_SEED", random.randrange(2**32)))
    print(f"crash seed: {chosen} (replay with PACKLINE_CRASH_SEED={chosen})")
    return chosen


def test_every_reported_append_survives_200_kills_and_no_seq_is_reused(
    tmp_path: Path, seed: int
) -> None:
    report = run_crash_trials(tmp_path, KILLS, seed)

    assert report.kills == KILLS
    assert report.kills_after_appends >= KILLS // 4, "too few kills landed mid-run to prove much"
    assert report.compactions_seen > 0
    assert report.verified_events >= report.kills_after_appends


def test_the_check_catches_a_reported_event_that_went_missing(tmp_path: Path, seed: int) -> None:
    report = run_crash_trials(tmp_path, 5, seed)
    assert report.reported, "each kill's check appends one event itself"
    (tmp_path / "station.json.journal").write_bytes(b"")
    (tmp_path / "station.json").write_bytes(b"")
    lost_everything = CrashReport(seed=seed, reported=report.reported)

    with pytest.raises(CrashCheckError, match=f"seed {seed}.*neither pending nor acknowledged"):
        verify_store(tmp_path, lost_everything, segment_size=16, trial=0)
