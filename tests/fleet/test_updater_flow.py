"""The updater's life without power cuts: offer, trial, commit, roll back, revert, withdraw."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from release_kit import (
    KitFetch,
    KitRelease,
    leftovers,
    make_release,
    make_wheel,
    offer_for,
    probe_files,
)

from edge.contract import UpdateRefusal
from edge.fleet.errors import FleetError, UpdateRefused
from edge.fleet.home import StationHome
from edge.fleet.state import load_state
from edge.fleet.updater import Updater


@pytest.fixture
def home(tmp_path: Path) -> StationHome:
    return StationHome.provision(tmp_path / "home", factory_version="0.1.0")


@pytest.fixture
def fetch(tmp_path: Path) -> KitFetch:
    kit = KitFetch()
    for version in ("0.2.0", "0.3.0", "0.4.0"):
        kit.publish(make_release(tmp_path / "repo", version))
    return kit


def _restart(home: StationHome, fetch: KitFetch) -> Updater:
    """A station restart: the boot step, then a fresh station process resuming its updater."""
    Updater(home, fetch=fetch).boot()
    updater = Updater(home, fetch=fetch)
    updater.resume()
    return updater


def _update_to(home: StationHome, fetch: KitFetch, version: str, rollout: str) -> Updater:
    assert Updater(home, fetch=fetch).offer(offer_for(version, rollout)) is True
    updater = _restart(home, fetch)
    updater.commit()
    return updater


def test_an_offered_release_is_installed_switched_to_and_put_on_trial(
    home: StationHome, fetch: KitFetch
) -> None:
    updater = Updater(home, fetch=fetch)

    restart = updater.offer(offer_for("0.2.0", health_deadline_s=45))

    assert restart is True
    assert home.running_version() == "0.2.0"
    assert updater.in_trial
    assert updater.health_deadline_s == 45
    report = updater.report()
    assert (report.state, report.running_version, report.previous_version) == (
        "trial",
        "0.2.0",
        "0.1.0",
    )
    assert (report.target_version, report.rollout_id) == ("0.2.0", "r-1")
    assert fetch.calls == [("releases/0.2.0/release.json", "0.1.0")]
    assert leftovers(home) == []


def test_the_release_on_trial_commits_after_its_gate_and_keeps_the_previous_one(
    home: StationHome, fetch: KitFetch
) -> None:
    Updater(home, fetch=fetch).offer(offer_for("0.2.0"))
    updater = Updater(home, fetch=fetch)
    lib = updater.boot()

    updater.commit()

    assert lib == home.release_dir("0.2.0") / "lib"
    report = updater.report()
    assert (report.state, report.running_version, report.previous_version) == (
        "committed",
        "0.2.0",
        "0.1.0",
    )
    assert report.refusal is None
    assert home.installed_versions() == ["0.1.0", "0.2.0"]
    assert load_state(home.state_file) == updater.state


def test_the_same_offer_again_is_a_no_op_once_committed(home: StationHome, fetch: KitFetch) -> None:
    updater = _update_to(home, fetch, "0.2.0", "r-1")
    before = updater.report()

    assert updater.offer(offer_for("0.2.0", "r-1")) is False

    assert updater.report() == before
    assert len(fetch.calls) == 1


def test_an_offer_of_the_running_version_reports_committed_without_downloading(
    home: StationHome, fetch: KitFetch
) -> None:
    updater = Updater(home, fetch=fetch)

    assert updater.offer(offer_for("0.1.0", "r-9")) is False

    report = updater.report()
    assert (report.state, report.running_version, report.rollout_id) == (
        "committed",
        "0.1.0",
        "r-9",
    )
    assert fetch.calls == []


def test_an_older_version_is_refused_as_a_rollback_before_any_download(
    home: StationHome, fetch: KitFetch
) -> None:
    updater = _update_to(home, fetch, "0.3.0", "r-1")
    calls = len(fetch.calls)

    assert updater.offer(offer_for("0.2.0", "r-2")) is False

    report = updater.report()
    assert (report.state, report.refusal, report.running_version) == (
        "refused",
        "rollback",
        "0.3.0",
    )
    assert report.reason is not None
    assert "0.2.0" in report.reason
    assert "0.3.0" in report.reason
    assert len(fetch.calls) == calls
    assert home.running_version() == "0.3.0"


@pytest.mark.parametrize(
    "refusal",
    ["unsigned", "bad_signature", "tampered", "rollback", "freeze", "oversize", "not_found"],
)
def test_a_release_verification_refuses_leaves_current_untouched_and_no_partial(
    refusal: UpdateRefusal, home: StationHome, fetch: KitFetch
) -> None:
    fetch.refusals["0.2.0"] = UpdateRefused(refusal, f"crafted: {refusal}")
    updater = Updater(home, fetch=fetch)

    assert updater.offer(offer_for("0.2.0")) is False

    report = updater.report()
    assert (report.state, report.refusal, report.reason) == (
        "refused",
        refusal,
        f"crafted: {refusal}",
    )
    assert (report.running_version, report.target_version) == ("0.1.0", "0.2.0")
    assert home.running_version() == "0.1.0"
    assert home.installed_versions() == ["0.1.0"]
    assert leftovers(home) == []
    assert Updater(home, fetch=fetch).boot() is None


def test_a_wheel_that_escapes_its_directory_is_refused_by_the_install_step(
    home: StationHome, fetch: KitFetch, tmp_path: Path
) -> None:
    files = {**probe_files("0.2.0"), "../../evil.py": b"print('owned')\n"}
    wheel = make_wheel(tmp_path / "evil", "0.2.0", files)
    fetch.publish(KitRelease("0.2.0", wheel.parent, (wheel,)))
    updater = Updater(home, fetch=fetch)

    assert updater.offer(offer_for("0.2.0")) is False

    report = updater.report()
    assert (report.state, report.refusal) == ("refused", "path_escape")
    assert home.running_version() == "0.1.0"
    assert leftovers(home) == []
    assert not (home.root.parent / "evil.py").exists()


def test_an_unnamed_failure_is_reported_failed_and_the_same_offer_retries(
    home: StationHome, fetch: KitFetch
) -> None:
    fetch.failures["0.2.0"] = OSError(28, "No space left on device")
    updater = Updater(home, fetch=fetch)

    assert updater.offer(offer_for("0.2.0")) is False
    report = updater.report()
    assert (report.state, report.refusal) == ("failed", None)
    assert report.reason is not None
    assert "No space left on device" in report.reason
    assert leftovers(home) == []

    del fetch.failures["0.2.0"]
    assert updater.offer(offer_for("0.2.0")) is True
    assert updater.report().state == "trial"


def test_a_failed_health_gate_rolls_back_to_the_previous_release(
    home: StationHome, fetch: KitFetch
) -> None:
    Updater(home, fetch=fetch).offer(offer_for("0.2.0"))
    updater = _restart(home, fetch)

    restart = updater.roll_back("health_gate", "not healthy within 60 s: printer: paper out")

    assert restart is True
    report = updater.report()
    assert (report.state, report.running_version, report.previous_version) == (
        "rolled_back",
        "0.1.0",
        None,
    )
    assert (report.target_version, report.refusal) == ("0.2.0", "health_gate")
    assert report.reason == "not healthy within 60 s: printer: paper out"
    assert Updater(home, fetch=fetch).boot() is None
    assert updater.roll_back("health_gate", "again") is False


def test_a_release_started_more_than_the_limit_without_committing_is_rolled_back(
    home: StationHome, fetch: KitFetch
) -> None:
    Updater(home, fetch=fetch, max_trial_starts=3).offer(offer_for("0.2.0"))

    libs = [Updater(home, fetch=fetch, max_trial_starts=3).boot() for _ in range(4)]

    assert libs[:3] == [home.release_dir("0.2.0") / "lib"] * 3
    assert libs[3] is None
    report = Updater(home, fetch=fetch).report()
    assert (report.state, report.refusal, report.running_version) == (
        "rolled_back",
        "crash_loop",
        "0.1.0",
    )
    assert report.reason is not None
    assert "started 3 times" in report.reason


def test_a_release_still_on_trial_after_its_deadline_is_rolled_back_at_the_next_start(
    home: StationHome, fetch: KitFetch
) -> None:
    now = [datetime(2025, 3, 4, 10, 0, tzinfo=UTC)]
    Updater(home, fetch=fetch, clock=lambda: now[0]).offer(offer_for("0.2.0", health_deadline_s=60))
    assert Updater(home, fetch=fetch, clock=lambda: now[0]).boot() is not None

    now[0] += timedelta(seconds=60 * 3 + 1)
    lib = Updater(home, fetch=fetch, clock=lambda: now[0]).boot()

    assert lib is None
    report = Updater(home, fetch=fetch).report()
    assert (report.state, report.refusal) == ("rolled_back", "crash_loop")
    assert report.reason is not None
    assert "deadline" in report.reason


def test_after_a_commit_only_the_running_previous_and_factory_releases_stay(
    home: StationHome, fetch: KitFetch
) -> None:
    _update_to(home, fetch, "0.2.0", "r-1")
    _update_to(home, fetch, "0.3.0", "r-2")
    _update_to(home, fetch, "0.4.0", "r-3")

    assert home.installed_versions() == ["0.1.0", "0.3.0", "0.4.0"]
    assert leftovers(home) == []


def test_an_operator_revert_goes_back_to_the_previous_release_once(
    home: StationHome, fetch: KitFetch
) -> None:
    updater = _update_to(home, fetch, "0.2.0", "r-1")

    assert updater.revert("0.2.0", rollout_id="r-1") is True
    report = updater.report()
    assert (report.state, report.running_version, report.target_version) == (
        "rolled_back",
        "0.1.0",
        "0.2.0",
    )
    assert report.refusal is None
    assert home.running_version() == "0.1.0"

    assert updater.revert("0.2.0", rollout_id="r-1") is False
    assert updater.offer(offer_for("0.2.0", "r-1")) is False
    assert home.running_version() == "0.1.0"


def test_a_revert_without_a_previous_release_is_refused_as_no_previous(
    home: StationHome, fetch: KitFetch
) -> None:
    updater = Updater(home, fetch=fetch)

    assert updater.revert("0.1.0") is False

    report = updater.report()
    assert (report.state, report.refusal, report.running_version) == (
        "refused",
        "no_previous",
        "0.1.0",
    )
    assert home.running_version() == "0.1.0"


def test_a_withdrawal_during_the_download_abandons_the_update_before_the_switch(
    home: StationHome, tmp_path: Path
) -> None:
    release = make_release(tmp_path / "repo", "0.2.0")
    inner = KitFetch(published={"0.2.0": release})
    holder: list[Updater] = []

    def slow_fetch(target: str, installed: str, into: Path) -> KitRelease:
        if not inner.calls:
            withdrawing = threading.Thread(target=holder[0].withdraw, args=("r-1",))
            withdrawing.start()
            time.sleep(0.2)  # the withdrawal is flagged at once, then waits for the offer
        return inner(target, installed, into)

    updater = Updater(home, fetch=slow_fetch)
    holder.append(updater)

    assert updater.offer(offer_for("0.2.0", "r-1")) is False

    report = updater.report()
    assert (report.state, report.running_version, report.target_version) == ("idle", "0.1.0", None)
    assert home.running_version() == "0.1.0"
    assert leftovers(home) == []
    assert updater.offer(offer_for("0.2.0", "r-1")) is True  # the rollout resumed


def test_an_offer_while_a_release_is_on_trial_is_ignored(
    home: StationHome, fetch: KitFetch
) -> None:
    updater = Updater(home, fetch=fetch)
    updater.offer(offer_for("0.2.0", "r-1"))

    assert updater.offer(offer_for("0.3.0", "r-2")) is False

    assert updater.report().target_version == "0.2.0"
    assert len(fetch.calls) == 1


def test_commit_outside_a_trial_is_an_error_naming_the_state(home: StationHome) -> None:
    updater = Updater(home, fetch=KitFetch())

    with pytest.raises(FleetError, match="the updater is idle, not on trial"):
        updater.commit()
