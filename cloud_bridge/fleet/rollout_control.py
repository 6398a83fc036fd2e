"""Rollouts: start one, and the operator's pause, resume, abort and rollback.

These functions only write the database: the state a rollout is in and why. The bridge's tick
(`cloud_bridge.fleet.rollout.rollout_tick`) turns that state into offers, withdrawals and
reverts on each station's retained `update` topic, so a command typed on any machine with the
database takes effect on the next tick of whichever bridge instance runs it.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

from packaging.version import InvalidVersion, Version
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud_bridge.db.engine import for_update
from cloud_bridge.db.fleet import FleetStation
from cloud_bridge.db.fleet_control import (
    FleetRollout,
    FleetRolloutEvent,
    FleetRolloutStation,
    RolloutState,
    RolloutStationState,
)
from cloud_bridge.errors import BridgeError
from cloud_bridge.fleet.groups import group_members
from cloud_bridge.fleet.names import check_group
from cloud_bridge.fleet.published import published_releases, release_target
from cloud_bridge.fleet.rollout_policy import RolloutPolicy, assign_waves
from edge.contract import UpdateOffered

__all__ = [
    "ACTIVE_ROLLOUT_STATES",
    "FINAL_ROLLOUT_STATES",
    "RolloutError",
    "RolloutNotFoundError",
    "abort_rollout",
    "find_rollout",
    "pause_rollout",
    "record_event",
    "resume_rollout",
    "rollback_rollout",
    "rollout_policy",
    "same_version",
    "set_rollout_state",
    "start_rollout",
    "station_presence",
]

ACTIVE_ROLLOUT_STATES = frozenset({RolloutState.RUNNING, RolloutState.PAUSED})
"""A group has at most one rollout in these states."""
FINAL_ROLLOUT_STATES = frozenset(
    {RolloutState.FINISHED, RolloutState.ABORTED, RolloutState.ROLLED_BACK}
)
_REASON_LIMIT = 500
_ROLLOUT_REF = re.compile(r"^(?:rollout-)?(?P<id>[0-9]{1,9})$")


class RolloutError(BridgeError, ValueError):
    """A rollout cannot be started or changed; the message says why and what was expected."""


class RolloutNotFoundError(RolloutError, LookupError):
    """No rollout has the id the operator gave."""


def start_rollout(
    session: Session,
    *,
    version: str,
    group: str,
    canaries: int = 1,
    base_rate: int = 2,
    increment_factor: float = 2.0,
    abort_percent: float = 20.0,
    min_sample: int = 1,
    station_timeout_s: int = 600,
    health_deadline_s: int = 120,
    now: datetime,
    repository_dir: Path | None = None,
) -> FleetRollout:
    """Plan a rollout of ``version`` to every station of ``group``; the tick sends the offers.

    Refused: an invalid version, one the repository at ``repository_dir`` does not publish, an
    empty group, a group that already has a running or paused rollout, and a group whose every
    station runs the version already. Stations already on the version are kept out of the
    waves; the others are put in waves with the online ones first, so the canaries can answer.
    """
    policy = RolloutPolicy(
        canaries=canaries,
        base_rate=base_rate,
        increment_factor=increment_factor,
        abort_percent=abort_percent,
        min_sample=min_sample,
        station_timeout_s=station_timeout_s,
        health_deadline_s=health_deadline_s,
    )
    _check_version(version, now)
    check_group(group)
    if repository_dir is not None:
        _check_published(version, repository_dir)
    # Locking the members first makes two starts for one group take turns, so the second
    # sees the first's rollout (PostgreSQL; SQLite's write lock already serialises them).
    members = group_members(session, group, lock=True)
    _check_no_active_rollout(session, group)
    if not members:
        raise RolloutError(
            f"group {group!r} has no stations; put some in it first "
            "(packline fleet group set --group ...)"
        )
    already = [m for m in members if same_version(m.software_version, version)]
    to_update = sorted(
        (m for m in members if m not in already), key=lambda m: (not m.online, m.station_id)
    )
    if not to_update:
        raise RolloutError(f"every station of group {group!r} runs {version} already")
    rollout = FleetRollout(
        version=version,
        group=group,
        state=RolloutState.RUNNING,
        state_reason="started",
        state_at=now,
        created_at=now,
        canaries=policy.canaries,
        base_rate=policy.base_rate,
        increment_factor=policy.increment_factor,
        abort_percent=policy.abort_percent,
        min_sample=policy.min_sample,
        station_timeout_s=policy.station_timeout_s,
        health_deadline_s=policy.health_deadline_s,
    )
    session.add(rollout)
    session.flush()
    waves = assign_waves([m.station_id for m in to_update], policy)
    for station_id, wave in waves:
        session.add(_station_row(rollout, station_id, wave, RolloutStationState.WAITING, now))
    for member in already:
        session.add(
            _station_row(rollout, member.station_id, None, RolloutStationState.ALREADY, now)
        )
    record_event(
        session,
        rollout,
        now,
        "started",
        f"{version} to group {group}: {len(to_update)} station(s) in "
        f"{max(wave for _, wave in waves) + 1} wave(s), {len(already)} already on it",
    )
    session.flush()
    return rollout


def _station_row(
    rollout: FleetRollout,
    station_id: str,
    wave: int | None,
    state: RolloutStationState,
    now: datetime,
) -> FleetRolloutStation:
    return FleetRolloutStation(
        rollout_id=rollout.id,
        station_id=station_id,
        wave=wave,
        state=state,
        state_at=now,
        online_s=0.0,
    )


def _check_version(version: str, now: datetime) -> None:
    try:
        Version(version)
    except InvalidVersion:
        raise RolloutError(
            f"version {version!r} is not a valid release version; expected PEP 440, e.g. 0.2.0"
        ) from None
    try:
        UpdateOffered(rollout_id="check", version=version, target=release_target(version), at=now)
    except ValidationError as error:
        raise RolloutError(f"version {version!r} cannot be offered to stations: {error}") from None


def _check_published(version: str, repository_dir: Path) -> None:
    versions = published_releases(repository_dir)
    if version not in versions:
        known = ", ".join(versions) if versions else "none"
        raise RolloutError(
            f"version {version} is not published in the release repository {repository_dir} "
            f"(published: {known}); publish it first (packline fleet release publish)"
        )


def _check_no_active_rollout(session: Session, group: str) -> None:
    query = for_update(
        select(FleetRollout).where(
            FleetRollout.group == group, FleetRollout.state.in_(ACTIVE_ROLLOUT_STATES)
        )
    )
    active = session.scalar(query)
    if active is not None:
        raise RolloutError(
            f"group {group!r} already has {active.name} ({active.version}, {active.state}); "
            "abort it or wait for it to finish"
        )


def same_version(running: str | None, version: str) -> bool:
    """Whether a station's reported version is ``version`` (by PEP 440, so 1.0 == 1.0.0)."""
    if running is None:
        return False
    try:
        return Version(running) == Version(version)
    except InvalidVersion:
        return False


def rollout_policy(rollout: FleetRollout) -> RolloutPolicy:
    """The policy a rollout was started with."""
    return RolloutPolicy(
        canaries=rollout.canaries,
        base_rate=rollout.base_rate,
        increment_factor=rollout.increment_factor,
        abort_percent=rollout.abort_percent,
        min_sample=rollout.min_sample,
        station_timeout_s=rollout.station_timeout_s,
        health_deadline_s=rollout.health_deadline_s,
    )


def find_rollout(session: Session, ref: str | int, *, lock: bool = False) -> FleetRollout:
    """The rollout named ``rollout-<n>`` or ``<n>``; locked for the transaction if asked."""
    match = _ROLLOUT_REF.match(str(ref).strip())
    if match is None:
        raise RolloutNotFoundError(f"rollout {ref!r} is not a rollout id; expected rollout-<n>")
    query = select(FleetRollout).where(FleetRollout.id == int(match["id"]))
    rollout = session.scalar(for_update(query) if lock else query)
    if rollout is None:
        raise RolloutNotFoundError(f"there is no rollout-{int(match['id'])}")
    return rollout


def pause_rollout(
    session: Session, ref: str | int, *, now: datetime, reason: str = "paused by the operator"
) -> FleetRollout:
    """Stop offering; the tick withdraws every offer not yet started."""
    return _change(
        session, ref, allowed={RolloutState.RUNNING}, to=RolloutState.PAUSED, now=now, reason=reason
    )


def resume_rollout(
    session: Session, ref: str | int, *, now: datetime, reason: str = "resumed by the operator"
) -> FleetRollout:
    """Offer again; the tick re-offers what the pause withdrew and goes on with the waves."""
    return _change(
        session, ref, allowed={RolloutState.PAUSED}, to=RolloutState.RUNNING, now=now, reason=reason
    )


def abort_rollout(
    session: Session, ref: str | int, *, now: datetime, reason: str = "aborted by the operator"
) -> FleetRollout:
    """End the rollout; stations already updated keep the version, unstarted offers go."""
    return _change(
        session, ref, allowed=ACTIVE_ROLLOUT_STATES, to=RolloutState.ABORTED, now=now, reason=reason
    )


def rollback_rollout(
    session: Session,
    ref: str | int,
    *,
    now: datetime,
    reason: str = "rolled back by the operator",
) -> FleetRollout:
    """End the rollout and send every station that committed its version back to the one before."""
    allowed = set(RolloutState) - {RolloutState.ROLLED_BACK}
    return _change(
        session, ref, allowed=allowed, to=RolloutState.ROLLED_BACK, now=now, reason=reason
    )


def _change(
    session: Session,
    ref: str | int,
    *,
    allowed: set[RolloutState] | frozenset[RolloutState],
    to: RolloutState,
    now: datetime,
    reason: str,
) -> FleetRollout:
    rollout = find_rollout(session, ref, lock=True)
    if rollout.state not in allowed:
        expected = " or ".join(sorted(state.value for state in allowed))
        raise RolloutError(f"{rollout.name} is {rollout.state}; it must be {expected} to be {to}")
    set_rollout_state(session, rollout, to, now, reason)
    return rollout


def set_rollout_state(
    session: Session, rollout: FleetRollout, state: RolloutState, now: datetime, reason: str
) -> None:
    """Move the rollout to ``state`` and keep the transition with its time and reason."""
    rollout.state = state
    rollout.state_reason = reason[:_REASON_LIMIT]
    rollout.state_at = now
    kind = "resumed" if state is RolloutState.RUNNING else state.value
    record_event(session, rollout, now, kind, reason)


def record_event(
    session: Session,
    rollout: FleetRollout,
    at: datetime,
    kind: str,
    reason: str,
    *,
    station_id: str | None = None,
) -> None:
    """Keep one transition of the rollout or of one of its stations."""
    session.add(
        FleetRolloutEvent(
            rollout_id=rollout.id,
            at=at,
            kind=kind,
            station_id=station_id,
            reason=reason[:_REASON_LIMIT] or kind,
        )
    )


def station_presence(session: Session, station_ids: list[str]) -> dict[str, FleetStation]:
    """The inventory rows of the given stations, by id (stations never seen are absent)."""
    if not station_ids:
        return {}
    query = select(FleetStation).where(FleetStation.station_id.in_(station_ids))
    return {row.station_id: row for row in session.scalars(query)}
