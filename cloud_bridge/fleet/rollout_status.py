"""What a rollout has done so far, as plain values, a table for people, and JSON for scripts.

Rows are read into frozen values first, so rendering needs no session and `--watch` can redraw
from a fresh read each time. The counts answer the questions an operator asks in order: how many
stations took the release, how many failed or timed out, how many are still working, and which
are absent (offered while offline: they keep the offer and are not counted as updated).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rich.console import Console, Group
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cloud_bridge.db.fleet_control import (
    FleetRollout,
    FleetRolloutEvent,
    FleetRolloutStation,
    RolloutStationState,
)
from cloud_bridge.fleet.rollout_control import (
    ACTIVE_ROLLOUT_STATES,
    FINAL_ROLLOUT_STATES,
    RolloutNotFoundError,
    find_rollout,
    rollout_policy,
    station_presence,
)
from cloud_bridge.fleet.rollout_policy import wave_sizes

__all__ = [
    "RolloutEventView",
    "RolloutStationView",
    "RolloutView",
    "list_rollouts",
    "newest_rollout",
    "rollout_json",
    "rollout_table",
    "rollout_view",
    "rollouts_table",
    "watch_rollout",
]

_STATE_STYLE = {
    "running": "cyan",
    "paused": "yellow",
    "finished": "green",
    "aborted": "red",
    "rolled_back": "magenta",
}


@dataclass(frozen=True, slots=True)
class RolloutStationView:
    """One station of a rollout."""

    station_id: str
    wave: int | None
    state: str
    online: bool
    update_state: str | None
    refusal: str | None
    reason: str | None

    @property
    def absent(self) -> bool:
        """Offered or working on it, but offline now: it picks the offer up when it returns."""
        working = self.state in {"offered", "started"}
        return working and not self.online


@dataclass(frozen=True, slots=True)
class RolloutEventView:
    """One stored transition."""

    at: datetime
    kind: str
    station_id: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class RolloutView:
    """A rollout with its policy, its waves, its stations and its history."""

    id: int
    name: str
    version: str
    group: str
    state: str
    state_reason: str
    state_at: datetime
    created_at: datetime
    policy: dict[str, float | int]
    current_wave: int | None
    waves: tuple[int, ...]
    stations: tuple[RolloutStationView, ...]
    events: tuple[RolloutEventView, ...]

    @property
    def ended(self) -> bool:
        return self.state in {state.value for state in FINAL_ROLLOUT_STATES}

    @property
    def counts(self) -> dict[str, int]:
        """Stations per state, plus ``absent`` (offered while offline)."""
        counts = Counter(station.state for station in self.stations)
        summary = {state.value: counts.get(state.value, 0) for state in RolloutStationState}
        summary["absent"] = sum(station.absent for station in self.stations)
        return summary

    @property
    def targeted(self) -> int:
        """Stations the rollout has to update (those already on the version excluded)."""
        return sum(station.wave is not None for station in self.stations)

    @property
    def done(self) -> int:
        """Stations whose part is over: committed, failed or timed out (and reverted ones)."""
        counts = self.counts
        return sum(
            counts[state] for state in ("committed", "failed", "timed_out", "reverting", "reverted")
        )

    def as_json(self) -> dict[str, Any]:
        counts = self.counts
        return {
            "rollout": self.name,
            "version": self.version,
            "group": self.group,
            "state": self.state,
            "reason": self.state_reason,
            "state_at": self.state_at.isoformat(),
            "created_at": self.created_at.isoformat(),
            "policy": self.policy,
            "current_wave": self.current_wave,
            "waves": list(self.waves),
            "stations": len(self.stations),
            "targeted": self.targeted,
            "updated": counts["committed"],
            "already": counts["already"],
            "failed": counts["failed"],
            "timed_out": counts["timed_out"],
            "in_progress": counts["started"],
            "offered": counts["offered"],
            "absent": counts["absent"],
            "untouched": counts["waiting"] + counts["withdrawn"],
            "reverting": counts["reverting"],
            "reverted": counts["reverted"],
            "station_states": [
                {
                    "station_id": s.station_id,
                    "wave": s.wave,
                    "state": s.state,
                    "online": s.online,
                    "update_state": s.update_state,
                    "refusal": s.refusal,
                    "reason": s.reason,
                }
                for s in self.stations
            ],
            "events": [
                {
                    "at": e.at.isoformat(),
                    "kind": e.kind,
                    "station_id": e.station_id,
                    "reason": e.reason,
                }
                for e in self.events
            ],
        }


def rollout_view(session: Session, ref: str | int) -> RolloutView:
    """One rollout, by ``rollout-<n>`` or ``<n>``."""
    return _view(session, find_rollout(session, ref))


def list_rollouts(session: Session, *, limit: int = 20) -> list[RolloutView]:
    """The newest rollouts first."""
    query = select(FleetRollout).order_by(FleetRollout.id.desc()).limit(limit)
    return [_view(session, rollout) for rollout in session.scalars(query).all()]


def newest_rollout(session: Session) -> FleetRollout:
    """The newest running or paused rollout, else the newest of all."""
    newest_first = select(FleetRollout).order_by(FleetRollout.id.desc()).limit(1)
    active = session.scalar(newest_first.where(FleetRollout.state.in_(ACTIVE_ROLLOUT_STATES)))
    rollout = active or session.scalar(newest_first)
    if rollout is None:
        raise RolloutNotFoundError("there is no rollout yet; start one with rollout start")
    return rollout


def watch_rollout(
    sessions: sessionmaker[Session],
    ref: str | int | None,
    *,
    interval_s: float = 1.0,
    console: Console | None = None,
) -> RolloutView:
    """Redraw a progress bar from a fresh read every ``interval_s`` until the rollout ends.

    Each read is its own short transaction, so watching never holds a lock the bridge's tick
    needs. Returns the last view, for the caller to print in full.
    """
    with sessions() as session:
        rollout_id = (newest_rollout(session) if ref is None else find_rollout(session, ref)).id
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
        console=console,
    )
    with progress:
        task = progress.add_task("", total=None, detail="")
        while True:
            with sessions() as session:
                view = rollout_view(session, rollout_id)
            counts = view.counts
            progress.update(
                task,
                total=view.targeted,
                completed=view.done,
                description=f"{view.name} {view.version} {view.state}, wave {_wave(view)}",
                detail=f"failed {counts['failed'] + counts['timed_out']}, "
                f"absent {counts['absent']}",
            )
            if view.ended:
                return view
            time.sleep(interval_s)


def _view(session: Session, rollout: FleetRollout) -> RolloutView:
    rows = list(
        session.scalars(
            select(FleetRolloutStation)
            .where(FleetRolloutStation.rollout_id == rollout.id)
            .order_by(FleetRolloutStation.wave, FleetRolloutStation.station_id)
        )
    )
    presence = station_presence(session, [row.station_id for row in rows])
    events = session.scalars(
        select(FleetRolloutEvent)
        .where(FleetRolloutEvent.rollout_id == rollout.id)
        .order_by(FleetRolloutEvent.id)
    )
    policy: dict[str, float | int] = {
        "canaries": rollout.canaries,
        "base_rate": rollout.base_rate,
        "increment_factor": rollout.increment_factor,
        "abort_percent": rollout.abort_percent,
        "min_sample": rollout.min_sample,
        "station_timeout_s": rollout.station_timeout_s,
        "health_deadline_s": rollout.health_deadline_s,
    }
    targeted = sum(row.wave is not None for row in rows)
    return RolloutView(
        id=rollout.id,
        name=rollout.name,
        version=rollout.version,
        group=rollout.group,
        state=rollout.state.value,
        state_reason=rollout.state_reason,
        state_at=rollout.state_at,
        created_at=rollout.created_at,
        policy=policy,
        current_wave=rollout.current_wave,
        waves=tuple(wave_sizes(targeted, rollout_policy(rollout))),
        stations=tuple(
            RolloutStationView(
                station_id=row.station_id,
                wave=row.wave,
                state=row.state.value,
                online=row.station_id in presence and presence[row.station_id].online,
                update_state=row.update_state,
                refusal=row.refusal,
                reason=row.reason,
            )
            for row in rows
        ),
        events=tuple(
            RolloutEventView(at=e.at, kind=e.kind, station_id=e.station_id, reason=e.reason)
            for e in events
        ),
    )


def rollout_json(views: list[RolloutView]) -> str:
    return json.dumps([view.as_json() for view in views], indent=2)


def rollouts_table(views: list[RolloutView]) -> Table:
    """Several rollouts, one line each."""
    table = Table(title=f"Rollouts: {len(views)}")
    for header in ("rollout", "version", "group", "state", "wave", "updated", "failed", "absent"):
        table.add_column(header)
    for view in views:
        counts = view.counts
        table.add_row(
            Text(view.name),
            Text(view.version),
            Text(view.group),
            Text(view.state, style=_STATE_STYLE.get(view.state, "")),
            Text(_wave(view)),
            Text(f"{counts['committed']}/{view.targeted}"),
            Text(str(counts["failed"] + counts["timed_out"])),
            Text(str(counts["absent"])),
        )
    return table


def rollout_table(view: RolloutView) -> Group:
    """One rollout: a summary line, its stations, and its last transitions."""
    counts = view.counts
    summary = Text.assemble(
        (f"{view.name} ", "bold"),
        f"{view.version} to group {view.group}: ",
        (view.state, _STATE_STYLE.get(view.state, "")),
        f" ({view.state_reason}); wave {_wave(view)}; waves {list(view.waves)}\n",
        f"updated {counts['committed']}, failed {counts['failed']}, timed out "
        f"{counts['timed_out']}, in progress {counts['started']}, offered {counts['offered']}, "
        f"absent {counts['absent']}, untouched {counts['waiting'] + counts['withdrawn']}, "
        f"already {counts['already']}, reverted {counts['reverted']}/"
        f"{counts['reverting'] + counts['reverted']}",
    )
    stations = Table(title="Stations")
    for header in ("station", "wave", "state", "online", "update", "reason"):
        stations.add_column(header)
    for station in view.stations:
        reason = f"{station.refusal}: {station.reason}" if station.refusal else station.reason
        stations.add_row(
            Text(station.station_id),
            Text("-" if station.wave is None else str(station.wave)),
            Text(station.state),
            Text("yes", style="green") if station.online else Text("no", style="red"),
            Text(station.update_state or "-"),
            Text(reason or "-"),
        )
    history = Table(title="Transitions")
    for header in ("at", "what", "station", "reason"):
        history.add_column(header)
    for event in view.events[-10:]:
        history.add_row(
            Text(event.at.strftime("%Y-%m-%d %H:%M:%SZ")),
            Text(event.kind),
            Text(event.station_id or "-"),
            Text(event.reason),
        )
    return Group(summary, stations, history)


def _wave(view: RolloutView) -> str:
    if view.current_wave is None:
        return "-"
    return f"{view.current_wave + 1}/{len(view.waves)}"
