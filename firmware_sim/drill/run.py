"""The fleet drill: build release v+1, roll it out to N supervised stations, cut power, check.

Everything is the real thing on one machine: Mosquitto, the bridge process with its release
repository and rollout loop, and N station processes under the firmware_sim supervisor, each
started through `packline station boot` from its own home. The drill builds the next release from
the installed code (or, with ``bad_release``, one that crashes at start so its health gate fails),
signs and publishes it, starts a rollout to the drill's group, and with ``power_cuts`` SIGKILLs
stations at random points of their update. It then checks its own invariants and reports.
"""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from packaging.version import Version
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from cloud_bridge.db.fleet import FleetStation
from cloud_bridge.fleet.release.build import build_release
from cloud_bridge.fleet.rollout_status import list_rollouts
from edge import __version__
from firmware_sim.drill.site import BRIDGE_INSTANCE, GROUP, DrillSite, DrillStation
from firmware_sim.power_cut import arm_power_cut
from firmware_sim.secure_site import SiteCredentials
from firmware_sim.supervisor import Supervisor

__all__ = ["DrillError", "DrillOptions", "DrillResult", "next_version", "run_drill"]

_UPDATING = {"downloading", "installing", "switching", "trial", "rolling_back"}
_GOOD_CUT_STATES = ("downloading", "installing", "switching", "trial", "committed")
_BAD_CUT_STATES = ("downloading", "installing", "switching", "trial", "rolling_back", "rolled_back")
_MID_DOWNLOAD = "downloading"
"""A cut while downloading is the drill's own SIGKILL, at once, in the middle of the transfer."""
_POLL_S = 0.1


class DrillError(RuntimeError):
    """The drill could not run (not: an invariant failed; that is a result)."""


@dataclass(frozen=True)
class DrillOptions:
    stations: int = 8
    bad_release: bool = False
    power_cuts: int = 0
    seed: int | None = None
    work_dir: Path | None = None
    timeout_s: float | None = None
    health_deadline_s: int = 60
    station_timeout_s: int = 240
    measure_restart: bool = False
    cut_at: str | None = None
    """Put the first power cut at exactly this updater state (tests walk every state)."""
    """After the rollout, time one plain restart (power cut to online) as a baseline."""


@dataclass
class DrillResult:
    """The drill's report; `violations` lists each invariant that failed, with the reason."""

    stations: int
    target_version: str
    bad_release: bool
    updated: int = 0
    rolled_back: int = 0
    untouched: int = 0
    failed: int = 0
    aborted: bool = False
    aborted_before_wave: int | None = None
    waves: int = 0
    refused_bundles: int = 0
    on_known_good: int = 0
    between_versions: int = 0
    power_cuts: int = 0
    power_cuts_requested: int = 0
    power_cut_points: list[str] = field(default_factory=list)
    """``<station>@<updater state>`` of each cut the drill armed and the station reached."""
    seconds: float = 0.0
    rollout_seconds: float = 0.0
    """From the operator's `rollout start` to every station settled (the rollout's own time)."""
    rollback_seconds: list[float] = field(default_factory=list)
    """Per rolled-back station: from its rollback being seen to its previous version online."""
    restart_seconds: float | None = None
    """Baseline for the rollback: one settled station power-cut and back online, same run."""
    seed: int = 0
    rollout_state: str = ""
    violations: list[str] = field(default_factory=list)
    per_station: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.violations

    def to_json(self) -> str:
        document = asdict(self)
        document["ok"] = self.ok
        return json.dumps(document, sort_keys=True)


def next_version(version: str) -> str:
    """The release after `version`: the micro number plus one (0.1.0 -> 0.1.1)."""
    parsed = Version(version)
    major, minor, micro = (*parsed.release, 0, 0)[:3]
    return f"{major}.{minor}.{micro + 1}"


def run_drill(options: DrillOptions) -> DrillResult:
    """Run the whole drill synchronously (the console command's entry point)."""
    if options.stations < 1:
        raise DrillError(f"--stations must be at least 1, got {options.stations}")
    if options.power_cuts < 0:
        raise DrillError(f"--power-cuts must not be negative, got {options.power_cuts}")
    if options.work_dir is not None:
        options.work_dir.mkdir(parents=True, exist_ok=True)
        return asyncio.run(_drill(options, options.work_dir))
    with tempfile.TemporaryDirectory(prefix="packline-drill-") as directory:
        return asyncio.run(_drill(options, Path(directory)))


async def _drill(options: DrillOptions, directory: Path) -> DrillResult:
    started = time.monotonic()
    seed = options.seed if options.seed is not None else random.SystemRandom().randrange(2**32)
    rng = random.Random(seed)
    limit = options.timeout_s or 240.0 + 25.0 * options.stations + 40.0 * options.power_cuts
    deadline = started + limit
    target = next_version(__version__)
    result = DrillResult(
        stations=options.stations,
        target_version=target,
        bad_release=options.bad_release,
        power_cuts_requested=options.power_cuts,
        seed=seed,
    )
    credentials = SiteCredentials.create(directory / "pki")
    with credentials.broker(bridge_instances=[BRIDGE_INSTANCE]) as broker:
        site = DrillSite.create(
            directory, broker_url=broker.tls_url, credentials=credentials, stations=options.stations
        )
        engine = create_engine(f"sqlite:///{site.directory / 'bridge' / 'bridge.db'}")
        await site.bridge.start()
        try:
            async with Supervisor([s.program for s in site.stations], restart_s=0.5) as fleet:
                await _wait_for_fleet(
                    engine, site, __version__, min(deadline, started + 90 + 3 * options.stations)
                )
                _cli(site, "group", "set", "--group", GROUP, *(s.name for s in site.stations))
                release_dir = build_release(
                    target,
                    site.directory / "release-build",
                    fault="crash_at_start" if options.bad_release else None,
                )
                site.repository.publish(release_dir)
                cuts = _PowerCuts(
                    site.stations, options.power_cuts, options.bad_release, rng, options.cut_at
                )
                rollout_started = time.monotonic()
                _cli(
                    site, "rollout", "start", "--version", target, "--group", GROUP,
                    "--canaries", "1", "--base-rate", "2", "--increment-factor", "2",
                    "--abort-percent", "20", "--min-sample", "1",
                    "--station-timeout-s", str(options.station_timeout_s),
                    "--health-deadline-s", str(options.health_deadline_s),
                )  # fmt: skip
                rollbacks = _RollbackClock(site.stations)
                while True:
                    rollbacks.step(engine)
                    rollout = _rollout_state(engine)
                    offered = {
                        station["station_id"]
                        for station in rollout.get("station_states", [])
                        if station["state"] in {"offered", "started"}
                    }
                    await cuts.step(fleet, offered)
                    site.bridge.check_alive()
                    if rollout["state"] in {"finished", "aborted"} and _settled(engine, site):
                        break
                    if time.monotonic() > deadline:
                        result.violations.append(
                            f"the drill did not settle within {limit:.0f} s (rollout "
                            f"{rollout['state']}); see the logs in {site.directory}"
                        )
                        break
                    await asyncio.sleep(_POLL_S)
                result.rollout_seconds = round(time.monotonic() - rollout_started, 2)
                cuts.disarm()
                result.rollback_seconds = rollbacks.finish(engine)
                if options.measure_restart:
                    result.restart_seconds = await _restart_time(fleet, engine, site, deadline)
                result.power_cut_points = [f"{name}@{state}" for name, state in cuts.where]
                result.power_cuts = len(cuts.where)
                _collect(result, engine, site, rollout)
        finally:
            await site.bridge.stop()
            engine.dispose()
    result.seconds = round(time.monotonic() - started, 1)
    _check(result)
    return result


# --- observing ------------------------------------------------------------------------------


def _updater_state(station: DrillStation) -> dict[str, Any]:
    try:
        document: dict[str, Any] = json.loads(station.home.state_file.read_text())
    except (OSError, ValueError):
        return {}
    return document


def _rows(engine: Any) -> dict[str, FleetStation]:
    with Session(engine) as session:
        return {row.station_id: row for row in session.scalars(select(FleetStation))}


def _all_reporting(engine: Any, site: DrillSite, version: str) -> bool:
    try:
        rows = _rows(engine)
    except Exception:  # the bridge may not have created its tables yet
        return False
    return all(
        (row := rows.get(s.name)) is not None
        and row.online
        and row.software_version == version
        and row.update_state is not None
        for s in site.stations
    )


def _settled(engine: Any, site: DrillSite) -> bool:
    """Every station online, on the version its home runs, and its updater at rest."""
    rows = _rows(engine)
    for station in site.stations:
        row = rows.get(station.name)
        state = _updater_state(station).get("state", "idle")
        if row is None or not row.online or state in _UPDATING:
            return False
        if row.software_version != station.home.running_version():
            return False
    return True


def _rollout_state(engine: Any) -> dict[str, Any]:
    """The drill's rollout as `packline fleet rollout status --json` shows it, plus its waves."""
    with Session(engine) as session:
        views = list_rollouts(session, limit=1)
    if not views:
        return {"state": "missing", "waves_offered": 0}
    summary = views[0].as_json()
    offered = {
        station["wave"]
        for station in summary["station_states"]
        if station["wave"] is not None and station["state"] not in {"waiting", "already"}
    }
    summary["waves_offered"] = len(offered)
    return summary


async def _wait_for_fleet(engine: Any, site: DrillSite, version: str, deadline: float) -> None:
    """Every station online on `version` with a fleet report; else name the ones missing."""
    while not _all_reporting(engine, site, version):
        site.bridge.check_alive()
        if time.monotonic() > deadline:
            rows = _rows(engine)
            missing = [s for s in site.stations if not (row := rows.get(s.name)) or not row.online]
            tails = "; ".join(f"{s.name}: {_last_line(s.program.log_file)}" for s in missing[:5])
            raise DrillError(
                f"{len(missing)} station(s) never came online on {version}: {tails} "
                f"(logs in {site.directory})"
            )
        await asyncio.sleep(_POLL_S)


def _last_line(path: Path) -> str:
    try:
        lines = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return lines[-1][-300:] if lines else "(empty log)"


def _cli(site: DrillSite, *args: str) -> None:
    """Run one `packline fleet` command against the drill's bridge, as an operator would."""
    argv = [sys.executable, "-m", "edge.cli", "fleet", args[0], args[1], "--config",
            str(site.bridge_config), *args[2:]]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120)
    if done.returncode != 0:
        raise DrillError(
            f"packline fleet {' '.join(args)} failed ({done.returncode}): "
            f"{done.stdout.strip()} {done.stderr.strip()}"
        )


class _PowerCuts:
    """Power cuts at random steps of the stations' updates, `wanted` of them in all.

    A station becomes a target once the rollout has offered it the release. Most cuts are armed
    through the station's power-cut file, which makes it SIGKILL itself right after it durably
    writes the chosen updater state (so even steps that take a millisecond are hit); a cut while
    downloading is the drill's own SIGKILL in the middle of the transfer.
    """

    def __init__(
        self,
        stations: list[DrillStation],
        wanted: int,
        bad: bool,
        rng: random.Random,
        first: str | None = None,
    ) -> None:
        self._stations = stations
        self._left = wanted
        self._states = _BAD_CUT_STATES if bad else _GOOD_CUT_STATES
        self._rng = rng
        self._armed: dict[str, str] = {}
        self._cut_states: dict[str, set[str]] = {}
        self.where: list[tuple[str, str]] = []
        if first is None and wanted > 0:
            # The first canary is the first online station by id (the bridge orders them so),
            # and a crash-looping canary runs through its steps in about a second: arming it
            # before the rollout starts is the only way to be sure its early steps are hit.
            first = rng.choice(self._states[: max(1, len(self._states) - (wanted - 1))])
        if first is not None and wanted > 0:
            # Armed before the rollout starts, so even the first step of the update is hit.
            station = stations[0]
            self._cut_states[station.name] = {first}
            arm_power_cut(station.power_cut_file, first)  # type: ignore[arg-type]
            self._armed[station.name] = first
            self._left -= 1

    async def step(self, fleet: Supervisor, offered: set[str]) -> None:
        for station in self._stations:
            name = station.name
            state = _updater_state(station).get("state", "idle")
            if name in self._armed:
                if not station.power_cut_file.exists():
                    self.where.append((name, self._armed.pop(name)))
                elif self._passed(self._armed[name], state):
                    # The station was already past the armed step when the file was written:
                    # that cut can no longer come, so take it back and place it later.
                    station.power_cut_file.unlink(missing_ok=True)
                    del self._armed[name]
                    self._left += 1
            if self._left <= 0 or name in self._armed:
                continue
            if state not in _UPDATING and name not in offered:
                continue
            done = self._cut_states.setdefault(name, set())
            if state == _MID_DOWNLOAD and _MID_DOWNLOAD not in done:
                done.add(_MID_DOWNLOAD)
                if self._rng.random() < 0.5 and await fleet.power_cut(name):
                    self.where.append((name, "mid-download"))
                    self._left -= 1
                    continue
            position = self._states.index(state) + 1 if state in self._states else 0
            # A crash-looping release writes `trial` at every start, so it can be cut again.
            later = [s for s in self._states[position:] if s not in done or s == "trial"]
            if not later:
                continue
            # Leave enough later steps for the cuts still to come on this station's path.
            chosen = self._rng.choice(later[: max(1, len(later) - (self._left - 1))])
            done.add(chosen)
            arm_power_cut(station.power_cut_file, chosen)  # type: ignore[arg-type]
            self._armed[name] = chosen
            self._left -= 1

    def _passed(self, armed: str, state: str) -> bool:
        """Whether a station in `state` will never again write the `armed` state."""
        if state not in self._states or armed not in self._states:
            return False
        return self._states.index(state) > self._states.index(armed)

    def disarm(self) -> None:
        """Take back cuts that never came (their step did not happen), so none fires later."""
        for name in list(self._armed):
            station = next(s for s in self._stations if s.name == name)
            station.power_cut_file.unlink(missing_ok=True)
            del self._armed[name]


class _RollbackClock:
    """Times each rollback: the updater's rollback write to the previous version's birth.

    Both ends are the station's own wall-clock stamps (the updater state's ``at`` and the
    birth's ``at``, as the bridge stored it), so the drill's polling adds nothing.
    """

    def __init__(self, stations: list[DrillStation]) -> None:
        self._stations = stations
        self._seen: dict[str, tuple[datetime, int]] = {}
        self._done: dict[str, float] = {}

    def step(self, engine: Any) -> None:
        rows: dict[str, FleetStation] | None = None
        for station in self._stations:
            name = station.name
            if name in self._done:
                continue
            updater = _updater_state(station)
            if name not in self._seen:
                if updater.get("state") in {"rolling_back", "rolled_back"} and updater.get("at"):
                    rows = rows if rows is not None else _rows(engine)
                    row = rows.get(name)
                    at = datetime.fromisoformat(str(updater["at"]).replace("Z", "+00:00"))
                    self._seen[name] = (at, (row.bd_seq or 0) if row else 0)
                continue
            rows = rows if rows is not None else _rows(engine)
            row = rows.get(name)
            rolled_at, bd_seq = self._seen[name]
            if (
                row is not None
                and row.online
                and row.presence_at is not None
                and (row.bd_seq or 0) > bd_seq
                and row.software_version == station.home.running_version()
            ):
                born = row.presence_at
                if born.tzinfo is None:
                    born = born.replace(tzinfo=UTC)
                self._done[name] = round((born - rolled_at).total_seconds(), 3)

    def finish(self, engine: Any) -> list[float]:
        self.step(engine)
        return sorted(self._done.values())


async def _restart_time(
    fleet: Supervisor, engine: Any, site: DrillSite, deadline: float
) -> float | None:
    """One settled station power-cut, and the time until its next birth (the birth's stamp)."""
    station = site.stations[-1]
    before = _rows(engine).get(station.name)
    if before is None or before.bd_seq is None:
        return None
    bd_seq = before.bd_seq
    cut_at = datetime.now(UTC)
    if not await fleet.power_cut(station.name):
        return None
    while time.monotonic() < deadline:
        row = _rows(engine).get(station.name)
        if row is not None and row.online and (row.bd_seq or 0) > bd_seq and row.presence_at:
            born = row.presence_at
            if born.tzinfo is None:
                born = born.replace(tzinfo=UTC)
            return round((born - cut_at).total_seconds(), 3)
        await asyncio.sleep(0.05)
    return None


# --- the verdict ----------------------------------------------------------------------------


def _collect(result: DrillResult, engine: Any, site: DrillSite, rollout: dict[str, Any]) -> None:
    rows = _rows(engine)
    result.rollout_state = str(rollout.get("state"))
    result.aborted = rollout.get("state") == "aborted"
    result.waves = int(rollout.get("waves_offered", 0))
    if result.aborted:
        result.aborted_before_wave = result.waves + 1
    for station in site.stations:
        row = rows.get(station.name)
        updater = _updater_state(station)
        state = updater.get("state", "idle")
        running = station.home.running_version()
        reported = row.software_version if row is not None else None
        known_good = (
            row is not None
            and row.online
            and reported == running
            and state not in _UPDATING
            and (state != "committed" or running == result.target_version)
        )
        took_it = state in {"committed", "rolled_back", "refused", "failed"} and (
            updater.get("target_version") == result.target_version
        )
        if state == "committed" and running == result.target_version:
            result.updated += 1
        elif state == "rolled_back" and took_it:
            result.rolled_back += 1
        elif state in {"refused", "failed"} and took_it:
            result.failed += 1
            if state == "refused":
                result.refused_bundles += 1
        else:
            result.untouched += 1
        result.on_known_good += int(known_good)
        result.between_versions += int(state in _UPDATING)
        result.per_station[station.name] = {
            "running": running,
            "reported": reported,
            "state": state,
            "refusal": updater.get("refusal"),
            "reason": updater.get("reason"),
            "online": bool(row and row.online),
        }


def _check(result: DrillResult) -> None:
    problems = result.violations
    if result.on_known_good != result.stations:
        problems.append(
            f"on_known_good {result.on_known_good} != stations {result.stations}: "
            + ", ".join(
                f"{name} runs {info['running']} (reported {info['reported']}, {info['state']})"
                for name, info in result.per_station.items()
                if info["state"] in _UPDATING or info["running"] != info["reported"]
            )
        )
    if result.between_versions:
        problems.append(f"{result.between_versions} station(s) left between versions")
    if result.power_cuts < result.power_cuts_requested:
        problems.append(
            f"only {result.power_cuts} of {result.power_cuts_requested} power cuts happened"
        )
    if not result.bad_release:
        if result.updated != result.stations:
            problems.append(f"good release: updated {result.updated} != {result.stations}")
        if result.rolled_back:
            problems.append(f"good release: {result.rolled_back} station(s) rolled back")
        return
    if not result.aborted:
        problems.append(f"bad release: the rollout ended {result.rollout_state}, not aborted")
    elif result.waves > 1:
        problems.append(f"bad release: aborted only after {result.waves} waves (expected 1)")
    if result.updated:
        problems.append(f"bad release: {result.updated} station(s) kept the bad release")
    if result.failed:
        problems.append(f"bad release: {result.failed} station(s) failed or refused it instead "
                        "of rolling back")  # fmt: skip
    factory = {info["running"] for info in result.per_station.values()} - {result.target_version}
    for name, info in result.per_station.items():
        if info["state"] not in {"rolled_back", "idle"}:
            problems.append(f"bad release: {name} ended {info['state']}, not rolled back or "
                            "untouched")  # fmt: skip
        if len(factory) != 1:
            problems.append(f"bad release: stations run {sorted(factory)}, not one version")
            break
    if result.rolled_back < 1:
        problems.append("bad release: no station took it and rolled back (the canary)")
