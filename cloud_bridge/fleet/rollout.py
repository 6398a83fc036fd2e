"""The rollout tick: from the rollouts' stored state to the messages the bridge must publish.

(The operator's side, starting and steering rollouts, is in `rollout_control` and re-exported
here, so `cloud_bridge.fleet.rollout` names everything a rollout needs.)

Each call looks at every rollout that may still need a message and returns, for each station,
what to publish retained on its `update` topic: an offer when its wave comes (or comes again
after a pause), a withdrawal when the rollout is paused, aborted or rolled back before the
station started, a revert after a rollback. The caller publishes them after committing the
session; everything needed to decide is in the database, so any bridge instance can tick.

Rules, after AWS IoT Jobs and hawkBit: the next wave starts only when every station of the
current one has finished (committed, failed, or timed out). A station that is offline and has
not started does not hold its wave back: its offer stays retained and it picks it up when it
returns, and its timeout counts only the time it is online. A started station holds its wave
even while offline (a power cut mid-update), since its result is exactly what the next wave
must wait for; a wave made only of absent stations waits for one of them. The rollout aborts
as soon as the failure rate passes the policy's threshold, and finishes when every station has
finished; while absent stations still hold offers it stays running (they pick it up when they
return), and an abort withdraws their offers and leaves them counted as absent, not updated.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud_bridge.db.engine import for_update
from cloud_bridge.db.fleet import FleetStation
from cloud_bridge.db.fleet_control import (
    FleetRollout,
    FleetRolloutStation,
    RolloutState,
    RolloutStationState,
)
from cloud_bridge.fleet.published import release_target
from cloud_bridge.fleet.rollout_control import (
    RolloutError,
    RolloutNotFoundError,
    abort_rollout,
    find_rollout,
    pause_rollout,
    record_event,
    resume_rollout,
    rollback_rollout,
    rollout_policy,
    set_rollout_state,
    start_rollout,
    station_presence,
)
from cloud_bridge.fleet.rollout_policy import failure_percent, should_abort
from edge.contract import StationId, UpdateOffered, UpdateRevert, UpdateWithdrawn, WireMessage

__all__ = [
    "FAILED_STATES",
    "FINISHED_STATES",
    "Outgoing",
    "RolloutError",
    "RolloutNotFoundError",
    "abort_rollout",
    "find_rollout",
    "pause_rollout",
    "resume_rollout",
    "rollback_rollout",
    "rollout_tick",
    "start_rollout",
]

Outgoing = tuple[StationId, WireMessage]
"""A message to publish retained on the station's `update` topic."""

FINISHED_STATES = frozenset(
    {RolloutStationState.COMMITTED, RolloutStationState.FAILED, RolloutStationState.TIMED_OUT}
)
"""A station's part in the rollout is over, for the wave and the abort arithmetic."""
FAILED_STATES = frozenset({RolloutStationState.FAILED, RolloutStationState.TIMED_OUT})
_SETTLED = FINISHED_STATES | {RolloutStationState.ALREADY}
_NEEDS_WORK = {
    RolloutState.RUNNING: None,
    RolloutState.PAUSED: {RolloutStationState.OFFERED},
    RolloutState.ABORTED: {RolloutStationState.OFFERED},
    RolloutState.ROLLED_BACK: {RolloutStationState.OFFERED, RolloutStationState.COMMITTED},
}
"""Per rollout state, the station states that need a message (None: look at every station)."""


def rollout_tick(session: Session, now: datetime) -> list[Outgoing]:
    """Advance every rollout one step and return the messages that step needs published."""
    query = for_update(
        select(FleetRollout)
        .where(FleetRollout.state.in_(list(_NEEDS_WORK)))
        .order_by(FleetRollout.id)
    )
    outgoing: list[Outgoing] = []
    for rollout in session.scalars(query).all():
        outgoing.extend(_tick_one(session, rollout, now))
    session.flush()
    return outgoing


def _tick_one(session: Session, rollout: FleetRollout, now: datetime) -> list[Outgoing]:
    wanted = _NEEDS_WORK[rollout.state]
    query = select(FleetRolloutStation).where(FleetRolloutStation.rollout_id == rollout.id)
    if wanted is not None:
        query = query.where(FleetRolloutStation.state.in_(wanted))
    rows = list(session.scalars(for_update(query.order_by(FleetRolloutStation.station_id))))
    if not rows:
        return []
    if rollout.state is RolloutState.RUNNING:
        outgoing = _advance(session, rollout, rows, now)
        if rollout.state is RolloutState.RUNNING:
            return outgoing
        return outgoing + _withdraw(session, rollout, rows, now)
    outgoing = _withdraw(session, rollout, rows, now)
    if rollout.state is RolloutState.ROLLED_BACK:
        outgoing += _revert(session, rollout, rows, now)
    return outgoing


def _advance(
    session: Session, rollout: FleetRollout, rows: list[FleetRolloutStation], now: datetime
) -> list[Outgoing]:
    """Run the timeouts, then abort, finish, re-offer or offer the next wave, in that order."""
    presence = station_presence(session, [row.station_id for row in rows])
    _run_clocks(session, rollout, rows, presence, now)
    finished = [row for row in rows if row.state in FINISHED_STATES]
    failed = [row for row in finished if row.state in FAILED_STATES]
    if should_abort(len(failed), len(finished), rollout_policy(rollout)):
        percent = failure_percent(len(failed), len(finished))
        set_rollout_state(
            session,
            rollout,
            RolloutState.ABORTED,
            now,
            f"{len(failed)} of {len(finished)} finished station(s) failed ({percent:.0f} %, "
            f"above {rollout.abort_percent:g} %)",
        )
        return []
    if all(row.state in _SETTLED for row in rows):
        updated = sum(row.state is RolloutStationState.COMMITTED for row in rows)
        set_rollout_state(
            session,
            rollout,
            RolloutState.FINISHED,
            now,
            f"{updated} updated, {len(failed)} failed, of {len(rows)} station(s)",
        )
        return []
    outgoing = [
        _offer(rollout, row, now)
        for row in rows
        if row.state is RolloutStationState.WITHDRAWN
        and row.wave is not None
        and rollout.current_wave is not None
        and row.wave <= rollout.current_wave
    ]
    next_wave = _next_wave(rollout, rows, presence)
    if next_wave is not None:
        wave_rows = [row for row in rows if row.wave == next_wave]
        outgoing += [_offer(rollout, row, now) for row in wave_rows]
        rollout.current_wave = next_wave
        record_event(
            session,
            rollout,
            now,
            "wave",
            f"wave {next_wave} offered to {len(wave_rows)} station(s)",
        )
    return outgoing


def _next_wave(
    rollout: FleetRollout, rows: list[FleetRolloutStation], presence: dict[str, FleetStation]
) -> int | None:
    """The wave to offer now, if the current one is done (or none was offered yet)."""
    waiting = [row.wave for row in rows if row.state is RolloutStationState.WAITING]
    upcoming = [wave for wave in waiting if wave is not None]
    if not upcoming:
        return None
    if rollout.current_wave is not None:
        current = [row for row in rows if row.wave == rollout.current_wave]
        if not _wave_done(current, presence):
            return None
    return min(upcoming)


def _wave_done(rows: Sequence[FleetRolloutStation], presence: dict[str, FleetStation]) -> bool:
    """Every station finished, or is offline without having started; and one at least finished.

    A wave made only of absent stations has taught nothing, so the rollout waits for one.
    """
    finished = 0
    for row in rows:
        if row.state in FINISHED_STATES:
            finished += 1
        elif row.state is RolloutStationState.OFFERED and not _online(presence, row.station_id):
            continue
        else:
            return False
    return finished > 0


def _run_clocks(
    session: Session,
    rollout: FleetRollout,
    rows: list[FleetRolloutStation],
    presence: dict[str, FleetStation],
    now: datetime,
) -> None:
    """Count each offered station's online time since the last tick; time out the slow ones."""
    for row in rows:
        if row.state not in {RolloutStationState.OFFERED, RolloutStationState.STARTED}:
            continue
        since = row.clock_at or row.offered_at or now
        station = presence.get(row.station_id)
        if station is not None and station.online:
            start = max(since, station.presence_at) if station.presence_at else since
            if now > start:
                row.online_s += (now - start).total_seconds()
        row.clock_at = now
        if row.online_s >= rollout.station_timeout_s:
            row.state = RolloutStationState.TIMED_OUT
            row.state_at = now
            row.reason = (
                f"no final report within {rollout.station_timeout_s} s online after the offer"
            )
            record_event(session, rollout, now, "timed_out", row.reason, station_id=row.station_id)


def _online(presence: dict[str, FleetStation], station_id: str) -> bool:
    station = presence.get(station_id)
    return station is not None and station.online


def _offer(rollout: FleetRollout, row: FleetRolloutStation, now: datetime) -> Outgoing:
    row.state = RolloutStationState.OFFERED
    row.state_at = now
    row.offered_at = now
    row.clock_at = now
    row.online_s = 0.0
    message = UpdateOffered(
        rollout_id=rollout.name,
        version=rollout.version,
        target=release_target(rollout.version),
        at=now,
        health_deadline_s=rollout.health_deadline_s,
    )
    return StationId.from_client_id(row.station_id), message


def _withdraw(
    session: Session, rollout: FleetRollout, rows: list[FleetRolloutStation], now: datetime
) -> list[Outgoing]:
    """Withdraw every offer not yet started, saying why the rollout stopped offering."""
    reason = f"{rollout.name} {rollout.state.value}: {rollout.state_reason}"[:500]
    outgoing: list[Outgoing] = []
    for row in rows:
        if row.state is not RolloutStationState.OFFERED:
            continue
        row.state = RolloutStationState.WITHDRAWN
        row.state_at = now
        outgoing.append(
            (
                StationId.from_client_id(row.station_id),
                UpdateWithdrawn(rollout_id=rollout.name, at=now, reason=reason),
            )
        )
    if outgoing:
        record_event(
            session, rollout, now, "withdrawn", f"offer withdrawn from {len(outgoing)} station(s)"
        )
    return outgoing


def _revert(
    session: Session, rollout: FleetRollout, rows: list[FleetRolloutStation], now: datetime
) -> list[Outgoing]:
    """Send every station that committed the rollout's version back to the one before."""
    outgoing: list[Outgoing] = []
    for row in rows:
        if row.state is not RolloutStationState.COMMITTED:
            continue
        row.state = RolloutStationState.REVERTING
        row.state_at = now
        outgoing.append(
            (
                StationId.from_client_id(row.station_id),
                UpdateRevert(rollout_id=rollout.name, from_version=rollout.version, at=now),
            )
        )
    if outgoing:
        record_event(session, rollout, now, "revert", f"revert sent to {len(outgoing)} station(s)")
    return outgoing
