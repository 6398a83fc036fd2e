"""Fold a station's fleet report into the bridge's view: the fleet row and its rollout.

A station publishes its report retained whenever its updater or its configuration changes, so
a reconnect redelivers an old one; the report's ``at`` orders them and an older one changes
nothing. The update part moves the station's row in the rollout it names: working on it is
`started`, committed is `committed`, refused, failed or rolled back by itself is `failed`, and
rolled back after the operator's rollback is `reverted`.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud_bridge.db.engine import for_update
from cloud_bridge.db.fleet_control import (
    FleetRollout,
    FleetRolloutStation,
    FleetStationReport,
    RolloutStationState,
)
from cloud_bridge.fleet.rollout_control import (
    ACTIVE_ROLLOUT_STATES,
    RolloutNotFoundError,
    find_rollout,
    record_event,
)
from cloud_bridge.fleet.rows import locked_station_row
from edge.contract import FleetReport, StationId, UpdateReport, UpdateState

__all__ = ["record_fleet_report"]

_WORKING: frozenset[UpdateState] = frozenset(
    {"downloading", "installing", "switching", "trial", "rolling_back"}
)
_FAILED: frozenset[UpdateState] = frozenset({"refused", "failed", "rolled_back"})
_FROZEN = frozenset(
    {RolloutStationState.WAITING, RolloutStationState.ALREADY, RolloutStationState.REVERTED}
)
"""Station states a report does not move: nothing was offered, or nothing is left to do."""


def record_fleet_report(session: Session, station_id: StationId, report: FleetReport) -> bool:
    """Take the report into the fleet row and the rollout it names; False if it is older."""
    row = locked_station_row(session, station_id, seen_at=report.at)
    row.last_seen = max(row.last_seen, report.at)
    stored = session.get(FleetStationReport, station_id.client_id, with_for_update=True)
    if stored is not None and report.at < stored.report_at:
        return False
    if stored is None:
        stored = FleetStationReport(station_id=station_id.client_id)
        session.add(stored)
    _store(stored, report)
    row.update_state = report.update.state
    rollout_row = _rollout_row(session, station_id, report.update)
    if rollout_row is not None:
        _fold(session, *rollout_row, report)
    session.flush()
    return True


def _store(stored: FleetStationReport, report: FleetReport) -> None:
    update, config = report.update, report.config
    stored.report_at = report.at
    stored.update_state = update.state
    stored.running_version = update.running_version
    stored.previous_version = update.previous_version
    stored.target_version = update.target_version
    stored.rollout_id = update.rollout_id
    stored.refusal = update.refusal
    stored.reason = update.reason
    stored.update_at = update.at
    stored.config_applied_version = config.applied_version
    stored.config_refused_version = config.refused_version
    stored.config_refused_reason = config.refused_reason


def _rollout_row(
    session: Session, station_id: StationId, update: UpdateReport
) -> tuple[FleetRollout, FleetRolloutStation] | None:
    """The rollout the report is about and the station's row in it, if there is one.

    A report names its rollout; one that names none (an updater that lost it) is matched to an
    active rollout of the station offering the version it targets.
    """
    if update.rollout_id is not None:
        try:
            rollout = find_rollout(session, update.rollout_id, lock=True)
        except RolloutNotFoundError:
            return None
        rollouts = [rollout]
    elif update.target_version is not None:
        rollouts = list(
            session.scalars(
                select(FleetRollout).where(
                    FleetRollout.state.in_(ACTIVE_ROLLOUT_STATES),
                    FleetRollout.version == update.target_version,
                )
            )
        )
    else:
        return None
    for rollout in rollouts:
        query = for_update(
            select(FleetRolloutStation).where(
                FleetRolloutStation.rollout_id == rollout.id,
                FleetRolloutStation.station_id == station_id.client_id,
            )
        )
        row = session.scalar(query)
        if row is not None:
            return rollout, row
    return None


def _fold(
    session: Session, rollout: FleetRollout, row: FleetRolloutStation, report: FleetReport
) -> None:
    if row.report_at is not None and report.at < row.report_at:
        return
    update = report.update
    row.report_at = report.at
    row.update_state = update.state
    if update.refusal is not None or update.reason is not None:
        row.refusal = update.refusal
        row.reason = update.reason
    new_state = _next_state(row.state, update.state)
    if new_state is None or new_state is row.state:
        return
    row.state = new_state
    row.state_at = report.at
    if new_state is not RolloutStationState.STARTED:
        detail = f" ({update.refusal}: {update.reason})" if update.refusal else ""
        record_event(
            session,
            rollout,
            report.at,
            new_state.value,
            f"{update.state} on {update.running_version}{detail}",
            station_id=row.station_id,
        )


def _next_state(current: RolloutStationState, reported: UpdateState) -> RolloutStationState | None:
    """Where a station's row goes on a report of ``reported``; None to leave it."""
    if current in _FROZEN:
        return None
    if current is RolloutStationState.REVERTING:
        return RolloutStationState.REVERTED if reported == "rolled_back" else None
    if reported == "committed":
        return RolloutStationState.COMMITTED
    if reported in _FAILED:
        return RolloutStationState.FAILED
    if reported in _WORKING and current is not RolloutStationState.TIMED_OUT:
        return RolloutStationState.STARTED
    return None
