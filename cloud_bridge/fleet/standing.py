"""The update message each station's retained `update` topic should hold, from the database.

The rollout tick commits a station's new state before its message is published, so a broker
blip or a bridge crash between the two would lose the message: an offer never made (the station
times out), a withdrawal never sent (a returning station installs a stopped rollout's release), a
revert never applied. And a rollout that stops leaves offers retained for stations that failed,
which would try again on their next connection. So the bridge also publishes, for every station
of a rollout whose state changed (and for all of them after it connects), the message that
should stand on its topic. Stations treat a repeated message as the no-op it is.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloud_bridge.db.fleet_control import (
    FleetRollout,
    FleetRolloutStation,
    RolloutState,
    RolloutStationState,
)
from cloud_bridge.fleet.published import release_target
from edge.contract import StationId, UpdateOffered, UpdateRevert, UpdateWithdrawn, WireMessage

__all__ = ["rollout_states", "standing_update_messages"]

_OFFER_STANDS = {
    RolloutStationState.OFFERED,
    RolloutStationState.STARTED,
    RolloutStationState.COMMITTED,
}
_REVERT_STANDS = {
    RolloutStationState.COMMITTED,
    RolloutStationState.REVERTING,
    RolloutStationState.REVERTED,
}


def rollout_states(session: Session) -> dict[int, str]:
    """Every rollout's id and state, to notice which ones changed since the last look."""
    return {
        rollout_id: state.value
        for rollout_id, state in session.execute(select(FleetRollout.id, FleetRollout.state))
    }


def standing_update_messages(
    session: Session, now: datetime, *, rollout_ids: set[int] | None = None
) -> list[tuple[StationId, WireMessage]]:
    """For each station, the message its newest rollout wants on its topic (None: every rollout).

    Only a station's newest rollout speaks for it, since its topic holds one message.
    """
    newest = (
        select(
            FleetRolloutStation.station_id,
            func.max(FleetRolloutStation.rollout_id).label("rollout_id"),
        )
        .group_by(FleetRolloutStation.station_id)
        .subquery()
    )
    query = (
        select(FleetRolloutStation, FleetRollout)
        .join(
            newest,
            (newest.c.station_id == FleetRolloutStation.station_id)
            & (newest.c.rollout_id == FleetRolloutStation.rollout_id),
        )
        .join(FleetRollout, FleetRollout.id == FleetRolloutStation.rollout_id)
        .order_by(FleetRolloutStation.station_id)
    )
    if rollout_ids is not None:
        query = query.where(FleetRollout.id.in_(rollout_ids))
    messages: list[tuple[StationId, WireMessage]] = []
    for row, rollout in session.execute(query):
        message = _standing(rollout, row, now)
        if message is not None:
            messages.append((StationId.from_client_id(row.station_id), message))
    return messages


def _standing(rollout: FleetRollout, row: FleetRolloutStation, now: datetime) -> WireMessage | None:
    if row.state in {RolloutStationState.WAITING, RolloutStationState.ALREADY}:
        return None  # nothing was ever sent to it by this rollout
    if rollout.state is RolloutState.ROLLED_BACK and row.state in _REVERT_STANDS:
        return UpdateRevert(rollout_id=rollout.name, from_version=rollout.version, at=now)
    running = rollout.state is RolloutState.RUNNING
    if row.state in _OFFER_STANDS and (running or row.state is RolloutStationState.COMMITTED):
        return UpdateOffered(
            rollout_id=rollout.name,
            version=rollout.version,
            target=release_target(rollout.version),
            at=now,
            health_deadline_s=rollout.health_deadline_s,
        )
    reason = f"{rollout.name} {rollout.state.value}: {rollout.state_reason}"[:500]
    if running:
        reason = f"{rollout.name} is done with this station ({row.state.value})"
    return UpdateWithdrawn(rollout_id=rollout.name, at=now, reason=reason)
