"""A power cut right after every durable write of the updater, in every state it can be in.

Each case runs a station's life as the real processes do: the boot step, a station process that
resumes its updater, receives the retained offer, and runs its health gate (or crashes at start).
`checkpoint` raising `PowerCut` is the process dying right after a state write; the life then
goes on with fresh processes on the same home. Every case must end settled, on a version that
passed its gate (or the factory one), with a report that says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest
from release_kit import KitFetch, leftovers, make_release, offer_for

from edge.contract import UpdateRefusal, UpdateState
from edge.fleet.errors import UpdateRefused
from edge.fleet.home import StationHome
from edge.fleet.updater import Updater

Release = Literal["good", "fails_gate", "crashes", "refused", "fails_download"]


class PowerCut(BaseException):
    """The station lost power right after a durable write (nothing below may catch it)."""


@dataclass
class CutAt:
    """A checkpoint that cuts the power the n-th time the updater writes `state`."""

    state: UpdateState
    occurrence: int = 1
    seen: int = 0
    fired: bool = False

    def __call__(self, state: UpdateState) -> None:
        if state != self.state or self.fired:
            return
        self.seen += 1
        if self.seen == self.occurrence:
            self.fired = True
            raise PowerCut(state)


def _live(home: StationHome, fetch: KitFetch, cut: CutAt, release: Release) -> Updater:
    """Run station processes until nothing is left to do; each PowerCut starts the next one."""
    offer = offer_for("0.2.0", "r-1")
    for _ in range(20):
        try:
            Updater(home, fetch=fetch, checkpoint=cut).boot()
            updater = Updater(home, fetch=fetch, checkpoint=cut)
            restart = updater.resume()
            if updater.in_trial:
                if release == "crashes":
                    continue  # the release dies at import: the supervisor starts it again
                if release == "fails_gate":
                    restart = updater.roll_back("health_gate", "not healthy within 60 s: broker")
                else:
                    updater.commit()
            else:
                restart = updater.offer(offer) or restart  # the retained offer, at every connect
            if not restart:
                return updater
        except PowerCut:
            continue
    raise AssertionError("the station never settled")


EXPECTED_END: dict[Release, tuple[UpdateState, str, UpdateRefusal | None]] = {
    "good": ("committed", "0.2.0", None),
    "fails_gate": ("rolled_back", "0.1.0", "health_gate"),
    "crashes": ("rolled_back", "0.1.0", "crash_loop"),
    "refused": ("refused", "0.1.0", "tampered"),
    "fails_download": ("failed", "0.1.0", None),
}

CUTS: list[tuple[Release, UpdateState, int]] = [
    ("good", "downloading", 1),
    ("good", "installing", 1),
    ("good", "switching", 1),
    ("good", "trial", 1),  # right after the switch, before the restart
    ("good", "trial", 2),  # right after the boot step counted the first start
    ("good", "committed", 1),  # before the old releases were pruned
    ("fails_gate", "trial", 2),
    ("fails_gate", "rolling_back", 1),
    ("fails_gate", "rolled_back", 1),
    ("crashes", "trial", 3),
    ("crashes", "rolling_back", 1),
    ("crashes", "rolled_back", 1),
    ("refused", "downloading", 1),
    ("refused", "refused", 1),
    ("fails_download", "downloading", 1),
    ("fails_download", "failed", 1),
]


@pytest.mark.parametrize(
    ("release", "state", "occurrence"),
    CUTS,
    ids=[f"{release}-cut-in-{state}-{n}" for release, state, n in CUTS],
)
def test_a_power_cut_in_every_state_ends_on_a_known_good_version_with_a_true_report(
    release: Release, state: UpdateState, occurrence: int, tmp_path: Path
) -> None:
    home = StationHome.provision(tmp_path / "home", factory_version="0.1.0")
    fetch = KitFetch()
    fetch.publish(make_release(tmp_path / "repo", "0.2.0"))
    if release == "refused":
        fetch.refusals["0.2.0"] = UpdateRefused("tampered", "wheel hash differs from targets")
    if release == "fails_download":
        fetch.failures["0.2.0"] = OSError(5, "Input/output error")
    cut = CutAt(state, occurrence)

    updater = _live(home, fetch, cut, release)

    assert cut.fired, f"the life never wrote {state} {occurrence} time(s); the case tests nothing"
    expected_state, expected_version, expected_refusal = EXPECTED_END[release]
    report = updater.report()
    assert (report.state, report.running_version, report.refusal) == (
        expected_state,
        expected_version,
        expected_refusal,
    )
    assert report.target_version == "0.2.0"
    assert report.rollout_id == "r-1"
    assert home.running_version() == expected_version
    assert Updater(home, fetch=fetch).report() == report
    assert leftovers(home) == []
    lib = Updater(home, fetch=fetch).boot()
    assert lib == (home.release_dir("0.2.0") / "lib" if expected_version == "0.2.0" else None)
    if release == "good":
        assert report.previous_version == "0.1.0"


def test_every_state_but_idle_is_cut_by_the_table() -> None:
    cut_states = {state for _release, state, _n in CUTS}
    assert cut_states == set(UpdateState.__args__) - {"idle"}  # type: ignore[attr-defined]


def test_a_power_cut_right_after_a_withdrawal_leaves_the_station_idle_on_its_version(
    tmp_path: Path,
) -> None:
    home = StationHome.provision(tmp_path / "home", factory_version="0.1.0")
    fetch = KitFetch()
    fetch.publish(make_release(tmp_path / "repo", "0.2.0"))
    with pytest.raises(PowerCut):
        Updater(home, fetch=fetch, checkpoint=CutAt("installing")).offer(offer_for("0.2.0"))
    with pytest.raises(PowerCut):  # the rollout was aborted while the station was down
        Updater(home, fetch=fetch, checkpoint=CutAt("idle")).withdraw("r-1")

    Updater(home, fetch=fetch).boot()
    updater = Updater(home, fetch=fetch)
    restart = updater.resume()

    assert restart is False
    report = updater.report()
    assert (report.state, report.running_version, report.target_version) == ("idle", "0.1.0", None)
    assert home.running_version() == "0.1.0"
    assert leftovers(home) == []
