"""The fleet for the dashboard: software versions across stations, and rollouts' progress.

Rollout progress is the same summary ``packline fleet rollout status`` prints
(`cloud_bridge.fleet.rollout_status`), so the two never disagree about a rollout.
"""

from __future__ import annotations

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from cloud_bridge.dashboard.schemas import FleetOut, RolloutOut, VersionCountOut
from cloud_bridge.db.fleet import FleetStation
from cloud_bridge.fleet.rollout_status import list_rollouts

__all__ = ["ROLLOUTS_SHOWN", "fleet_summary"]

ROLLOUTS_SHOWN = 5
"""The newest rollouts shown; older ones are history, kept in the CLI's list."""


def fleet_summary(session: Session) -> FleetOut:
    """Stations per software version (and how many of them are online), and recent rollouts."""
    online = func.sum(case((FleetStation.online.is_(True), 1), else_=0))
    versions = session.execute(
        select(FleetStation.software_version, func.count(), online)
        .group_by(FleetStation.software_version)
        .order_by(func.count().desc(), FleetStation.software_version)
    ).all()
    rollouts = []
    for view in list_rollouts(session, limit=ROLLOUTS_SHOWN):
        summary = view.as_json()
        rollouts.append(
            RolloutOut(
                rollout=summary["rollout"],
                version=summary["version"],
                group=summary["group"],
                state=summary["state"],
                reason=summary["reason"],
                targeted=summary["targeted"],
                updated=summary["updated"],
                failed=summary["failed"],
                timed_out=summary["timed_out"],
                in_progress=summary["in_progress"],
                absent=summary["absent"],
                stations=summary["stations"],
            )
        )
    return FleetOut(
        versions=[
            VersionCountOut(version=version, stations=count, online=int(up or 0))
            for version, count, up in versions
        ],
        rollouts=rollouts,
    )
