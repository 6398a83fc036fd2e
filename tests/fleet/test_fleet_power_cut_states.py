"""A power cut at every updater state, on a real station process, ends on a known-good version.

Table-driven, as Mender tests its client: for each state the station SIGKILLs itself right after
durably writing it (its power-cut file), the supervisor starts it again through the boot step,
and the update must be finished or undone. Each row is a one-station fleet drill: real broker,
bridge, release repository and station process; the drill checks its own invariants.
"""

from __future__ import annotations

import pytest

from firmware_sim.drill.run import DrillOptions, run_drill

pytestmark = [pytest.mark.broker, pytest.mark.timeout(300)]


@pytest.mark.parametrize(
    ("release", "state", "ends_as"),
    [
        ("good", "downloading", "committed"),
        ("good", "installing", "committed"),
        ("good", "switching", "committed"),
        ("good", "trial", "committed"),
        ("good", "committed", "committed"),
        ("bad", "trial", "rolled_back"),
        ("bad", "rolling_back", "rolled_back"),
        ("bad", "rolled_back", "rolled_back"),
    ],
)
def test_a_power_cut_right_after_the_updater_writes_a_state_still_ends_on_a_known_good_version(
    release: str, state: str, ends_as: str
) -> None:
    result = run_drill(
        DrillOptions(
            stations=1,
            bad_release=release == "bad",
            power_cuts=1,
            cut_at=state,
            seed=1,
            health_deadline_s=30,
        )
    )

    assert result.ok, result.violations
    assert result.power_cut_points == [f"drill.st001@{state}"]
    station = result.per_station["drill.st001"]
    assert station["state"] == ends_as
    assert station["running"] == station["reported"]
    expected_version = result.target_version if release == "good" else station["running"]
    assert station["running"] == expected_version
    assert result.on_known_good == 1
    if release == "bad":
        assert station["running"] != result.target_version
        assert station["refusal"] in {"crash_loop", "health_gate"}
