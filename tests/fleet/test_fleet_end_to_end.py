"""The fleet end to end: pushed configuration and refused releases on real processes.

Each test brings up a broker of its own, the bridge process and a supervised station started
through `packline station boot`, as the drill does, and acts only as an operator would: with
`packline fleet` commands, and by looking at what the station keeps on its disk and what the
bridge shows.
"""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path
from typing import Any

import pytest
from fleet_world import FACTORY_VERSION, GROUP, FleetWorld, fleet_world
from packaging.version import Version

from cloud_bridge.db.fleet import FleetStation
from cloud_bridge.db.fleet_control import FleetStationReport
from edge.station.service import RESTART_EXIT_STATUS
from firmware_sim.drill.run import next_version

pytestmark = pytest.mark.broker

_SETTLE_S = 1.5
"""Long enough for a restart the station asked for to show (it stops in well under a second)."""
_ROLLOUT = (
    "--canaries", "1", "--base-rate", "1", "--min-sample", "1", "--abort-percent", "20",
    "--station-timeout-s", "120", "--health-deadline-s", "60",
)  # fmt: skip


def _running(
    world: FleetWorld, name: str, version: int, after_bd_seq: int | None
) -> FleetStation | None:
    """Online from a birth naming the hash of station.toml with overlay ``version`` on top."""
    applied = world.applied_config(name)
    if applied is None or applied["version"] != version:
        return None
    config_hash = world.effective_config_hash(name)
    return world.born(name, config_hash=config_hash, after_bd_seq=after_bd_seq)


async def _restarted_into(
    world: FleetWorld, name: str, version: int, *, after_bd_seq: int | None = None
) -> None:
    """The station is born again running ``version``, and reports it applied."""
    row = await world.wait_for(
        lambda: _running(world, name, version, after_bd_seq),
        f"{name} born running configuration v{version}",
    )
    report = world.report_row(name)
    assert row.config_version == version
    assert report is not None
    assert report.config_applied_version == version


async def _apply(world: FleetWorld, name: str, overlay: str) -> int:
    """Push a valid overlay and wait for the station to be born again running it."""
    version = await world.push_config(name, overlay)
    await _restarted_into(world, name, version)
    return version


def _config_refused(world: FleetWorld, name: str, version: int) -> FleetStationReport | None:
    report = world.report_row(name)
    return report if report is not None and report.config_refused_version == version else None


def _no_op_count(world: FleetWorld, name: str, version: int) -> int:
    """How often the station took ``version`` again and did nothing (its fleet agent logs it)."""
    return world.log_text(name).count(f"configuration v{version}: unchanged")


# --- configuration push ------------------------------------------------------------------------


async def test_a_valid_configuration_is_applied_and_the_station_restarts_into_it_once(
    tmp_path: Path,
) -> None:
    async with fleet_world(tmp_path) as world:
        name = world.names[0]
        before = world.station_row(name)
        assert before is not None

        version = await _apply(world, name, "[station]\nalert_seconds = 5.0\n")

        assert world.runs(name).exit_codes == [RESTART_EXIT_STATUS]
        assert world.runs(name).starts == 2
        assert world.applied_config(name) == {
            "version": version,
            "settings": {"station": {"alert_seconds": 5.0}},
        }
        status = (await world.fleet_status())[name]
        assert (status["config_version"], status["config_applied_version"]) == (version, version)
        assert status["config_refused_version"] is None
        assert status["config_hash"] == world.effective_config_hash(name) != before.config_hash


async def test_a_configuration_the_station_refuses_keeps_the_old_one_and_the_bridge_shows_why(
    tmp_path: Path,
) -> None:
    async with fleet_world(tmp_path) as world:
        name = world.names[0]
        good = await _apply(world, name, "[station]\nalert_seconds = 5.0\n")
        applied_before = (world.state_dir(name) / "config-applied.json").read_bytes()

        # The bridge checks only sections and identity keys; the station's models refuse this.
        bad = await world.push_config(name, "[outbox]\nmax_events = 1\n")
        report = await world.wait_for(
            lambda: _config_refused(world, name, bad),
            f"{name} reporting configuration v{bad} refused",
        )
        await asyncio.sleep(_SETTLE_S)

        assert report.config_refused_reason is not None
        assert "outbox.max_events" in report.config_refused_reason
        assert report.config_applied_version == good
        assert (world.state_dir(name) / "config-applied.json").read_bytes() == applied_before
        assert world.runs(name).exit_codes == [RESTART_EXIT_STATUS]  # the first push's only
        assert world.runs(name).running
        status = (await world.fleet_status())[name]
        assert (status["config_version"], status["config_applied_version"]) == (good, good)
        assert status["config_refused_version"] == bad
        assert "outbox.max_events" in status["config_refused_reason"]


async def test_the_bridge_refuses_an_overlay_that_changes_an_identity_or_names_no_section(
    tmp_path: Path,
) -> None:
    async with fleet_world(tmp_path) as world:
        name = world.names[0]

        identity = await world.fleet(
            "config", "set", "--station", name,
            "--file", str(world.overlay_file('[station]\nid = "st099"\n')),
            check=False,
        )  # fmt: skip
        unknown = await world.fleet(
            "config", "set", "--station", name,
            "--file", str(world.overlay_file("[outbx]\nmax_events = 20000\n")),
            check=False,
        )  # fmt: skip

        assert identity.returncode == 2, identity
        assert "station.id" in identity.stdout
        assert unknown.returncode == 2, unknown
        assert "'outbx'" in unknown.stdout
        shown = await world.config_show(name)
        assert (shown["version"], shown["published_version"]) == (None, None)
        assert shown["applied_version"] == 0
        assert world.applied_config(name) is None
        assert world.runs(name).exit_codes == []


async def test_the_same_configuration_delivered_again_is_a_no_op_without_a_second_restart(
    tmp_path: Path,
) -> None:
    async with fleet_world(tmp_path) as world:
        name = world.names[0]
        version = await _apply(world, name, "[station]\nalert_seconds = 5.0\n")
        applied = world.applied_config(name)
        # Restarted into it, the station got the retained configuration again on connecting.
        await world.wait_for(
            lambda: _no_op_count(world, name, version) >= 1,
            f"{name} taking the retained v{version} again after its restart as a no-op",
        )

        before_cut = world.station_row(name)
        assert before_cut is not None
        await world.power_cut(name)
        await _restarted_into(world, name, version, after_bd_seq=before_cut.bd_seq)
        await world.wait_for(
            lambda: _no_op_count(world, name, version) >= 2,
            f"{name} back after a power cut, taking v{version} again as a no-op",
        )
        assert await world.republish_config(name) == version
        await world.wait_for(
            lambda: _no_op_count(world, name, version) >= 3,
            f"{name} taking the re-published v{version} as a no-op",
        )
        await asyncio.sleep(_SETTLE_S)

        assert world.runs(name).exit_codes == [RESTART_EXIT_STATUS, -signal.SIGKILL]
        assert world.runs(name).starts == 3
        assert world.runs(name).running
        assert world.applied_config(name) == applied
        report = world.report_row(name)
        assert report is not None
        assert (report.config_applied_version, report.config_refused_version) == (version, None)


async def test_a_configuration_set_while_the_station_is_offline_is_applied_when_it_returns(
    tmp_path: Path,
) -> None:
    async with fleet_world(tmp_path) as world:
        name = world.names[0]
        await world.stop_station(name)
        await world.wait_for(lambda: world.offline(name), f"the bridge seeing {name} offline")

        version = await world.push_config(name, "[station]\nalert_seconds = 5.0\n")
        await world.wait_for_async(
            lambda: _published(world, name, version),
            f"the bridge publishing v{version} (retained) while {name} is offline",
        )
        assert world.applied_config(name) is None

        await world.start_station(name)
        await _restarted_into(world, name, version)

        assert world.runs(name).exit_codes == [RESTART_EXIT_STATUS]
        assert world.runs(name).starts == 2
        assert world.applied_config(name) == {
            "version": version,
            "settings": {"station": {"alert_seconds": 5.0}},
        }


async def _published(world: FleetWorld, name: str, version: int) -> bool:
    shown = await world.config_show(name)
    return bool(shown["published_version"] == version)


# --- refused releases --------------------------------------------------------------------------


def _refused(world: FleetWorld, name: str, version: str) -> dict[str, Any] | None:
    state = world.updater_state(name)
    if state.get("state") == "refused" and state.get("target_version") == version:
        return state
    return None


async def _roll_out(world: FleetWorld, version: str) -> None:
    await world.fleet("rollout", "start", "--version", version, "--group", GROUP, *_ROLLOUT)


async def _rollout_ended(world: FleetWorld, version: str) -> dict[str, Any] | None:
    for rollout in await world.rollout_status():
        if rollout["version"] == version and rollout["state"] in {"aborted", "finished"}:
            return rollout
    return None


async def _assert_untouched(world: FleetWorld, name: str) -> None:
    """Still on the factory release: `current`, the installed releases, the running process."""
    home = world.home(name)
    assert home.running_version() == FACTORY_VERSION
    assert sorted(path.name for path in home.releases.iterdir()) == [FACTORY_VERSION]
    assert world.runs(name).exit_codes == []
    assert world.runs(name).running
    status = (await world.fleet_status())[name]
    assert status["software_version"] == FACTORY_VERSION


async def test_a_release_with_a_tampered_wheel_is_refused_and_the_running_version_is_untouched(
    tmp_path: Path,
) -> None:
    async with fleet_world(tmp_path) as world:
        name = world.names[0]
        target = next_version(FACTORY_VERSION)
        release_dir = world.publish_release(target)
        wheel = json.loads((release_dir / "release.json").read_text())["wheels"][0]
        stored = world.stored_target(target, wheel)
        data = bytearray(stored.read_bytes())
        data[len(data) // 2] ^= 0xFF  # same length: a changed byte, not a longer file
        stored.write_bytes(bytes(data))
        await world.fleet("group", "set", "--group", GROUP, name)

        await _roll_out(world, target)
        state = await world.wait_for(
            lambda: _refused(world, name, target), f"{name} refusing {target}"
        )
        rollout = await world.wait_for_async(
            lambda: _rollout_ended(world, target), f"the rollout of {target} ending"
        )

        assert state["refusal"] == "tampered", state
        assert "signed hashes" in state["reason"]
        assert state["running_version"] == FACTORY_VERSION
        await _assert_untouched(world, name)
        status = (await world.fleet_status())[name]
        assert (status["update_state"], status["update_refusal"]) == ("refused", "tampered")
        assert status["target_version"] == target
        assert rollout["failed"] == 1


async def test_an_older_release_is_refused_as_rollback_and_an_expired_timestamp_as_freeze(
    tmp_path: Path,
) -> None:
    async with fleet_world(tmp_path) as world:
        name = world.names[0]
        older = "0.0.1"
        assert Version(older) < Version(FACTORY_VERSION)
        newer = next_version(FACTORY_VERSION)
        world.publish_release(older)
        await world.fleet("group", "set", "--group", GROUP, name)

        # The bridge starts it (the station runs something else); the station refuses it.
        await _roll_out(world, older)
        rollback = await world.wait_for(
            lambda: _refused(world, name, older), f"{name} refusing the older {older}"
        )
        await world.wait_for_async(
            lambda: _rollout_ended(world, older), f"the rollout of {older} ending"
        )
        world.publish_release(newer)
        world.expire_timestamp()
        await _roll_out(world, newer)
        freeze = await world.wait_for(
            lambda: _refused(world, name, newer), f"{name} refusing {newer} under stale metadata"
        )

        assert rollback["refusal"] == "rollback", rollback
        assert "not newer" in rollback["reason"]
        assert freeze["refusal"] == "freeze", freeze
        assert "expired" in freeze["reason"]
        await _assert_untouched(world, name)
        status = (await world.fleet_status())[name]
        assert (status["update_refusal"], status["target_version"]) == ("freeze", newer)
