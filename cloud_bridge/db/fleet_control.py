"""Fleet control: pushed configuration, what stations report about it, and staged rollouts.

The inventory (`cloud_bridge.db.fleet`) holds what a station says about itself in its birth and
status; these tables hold what the bridge wants from the fleet and how far it got. Everything a
rollout does is derived from rows here, so a restarted bridge, or a second instance, picks a
rollout up where it stood: the operator's commands write rows, and the bridge's tick turns them
into messages.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cloud_bridge.db.base import Base
from cloud_bridge.db.types import UtcDateTime, string_enum

__all__ = [
    "ConfigScope",
    "FleetConfig",
    "FleetConfigPublished",
    "FleetRollout",
    "FleetRolloutEvent",
    "FleetRolloutStation",
    "FleetStationReport",
    "RolloutState",
    "RolloutStationState",
]


class ConfigScope(enum.StrEnum):
    """Whom a desired configuration is for: one station, or every station of a group."""

    STATION = "station"
    GROUP = "group"


class FleetConfig(Base):
    """One version of the desired configuration of a station or a group.

    The newest row of a (scope, target) is in force; older ones are kept as history. Versions
    come from one sequence for the whole bridge, so a station's effective version (the higher of
    its group's and its own) only goes up, whichever of the two changed.
    """

    __tablename__ = "fleet_configs"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scope: Mapped[ConfigScope] = mapped_column(string_enum(ConfigScope, "config_scope"))
    target: Mapped[str] = mapped_column(String(128))
    """A station id ``<site>.<station>`` or a group name."""
    settings: Mapped[str] = mapped_column(Text)
    """The overlay as JSON: ``{section: {key: value}}``, as `ConfigDesired.settings`."""
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (Index("ix_fleet_configs_target", "scope", "target", "version"),)


class FleetConfigPublished(Base):
    """The configuration version last published to a station, so it is sent once per change."""

    __tablename__ = "fleet_config_published"

    station_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    published_at: Mapped[datetime] = mapped_column(UtcDateTime)


class FleetStationReport(Base):
    """A station's last fleet report: its updater and the configuration it applied or refused.

    Kept beside the inventory row rather than in it, because it comes from another retained
    topic with its own ordering (the report's ``at``).
    """

    __tablename__ = "fleet_station_reports"

    station_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    report_at: Mapped[datetime] = mapped_column(UtcDateTime)
    update_state: Mapped[str] = mapped_column(String(32))
    running_version: Mapped[str] = mapped_column(String(64))
    previous_version: Mapped[str | None] = mapped_column(String(64), default=None)
    target_version: Mapped[str | None] = mapped_column(String(64), default=None)
    rollout_id: Mapped[str | None] = mapped_column(String(64), default=None)
    refusal: Mapped[str | None] = mapped_column(String(32), default=None)
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    update_at: Mapped[datetime] = mapped_column(UtcDateTime)
    config_applied_version: Mapped[int] = mapped_column(Integer)
    config_refused_version: Mapped[int | None] = mapped_column(Integer, default=None)
    config_refused_reason: Mapped[str | None] = mapped_column(Text, default=None)


class RolloutState(enum.StrEnum):
    """Where a rollout stands. Only a running rollout offers; the last three are final."""

    RUNNING = "running"
    PAUSED = "paused"
    FINISHED = "finished"
    ABORTED = "aborted"
    ROLLED_BACK = "rolled_back"


class RolloutStationState(enum.StrEnum):
    """Where one station of a rollout stands, as far as the bridge knows."""

    WAITING = "waiting"
    """Its wave has not come yet; nothing was sent."""
    OFFERED = "offered"
    """The offer is retained on its update topic; it has not reported starting."""
    STARTED = "started"
    """It reported working on this rollout's release (downloading ... trial)."""
    COMMITTED = "committed"
    FAILED = "failed"
    """It refused the release, failed, or rolled back by itself."""
    TIMED_OUT = "timed_out"
    """No final report within the station timeout of online time after the offer."""
    WITHDRAWN = "withdrawn"
    """The offer was withdrawn (pause or abort) before it started."""
    ALREADY = "already"
    """It ran the rollout's version already when the rollout started; nothing is sent."""
    REVERTING = "reverting"
    """The operator rolled the rollout back; the revert is retained on its update topic."""
    REVERTED = "reverted"


class FleetRollout(Base):
    """One rollout of a release version to a group, with its policy and where it stands."""

    __tablename__ = "fleet_rollouts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    version: Mapped[str] = mapped_column(String(64))
    group: Mapped[str] = mapped_column(String(64), index=True)
    state: Mapped[RolloutState] = mapped_column(string_enum(RolloutState, "rollout_state"))
    state_reason: Mapped[str] = mapped_column(Text)
    state_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    canaries: Mapped[int] = mapped_column(Integer)
    base_rate: Mapped[int] = mapped_column(Integer)
    increment_factor: Mapped[float] = mapped_column(Float)
    abort_percent: Mapped[float] = mapped_column(Float)
    min_sample: Mapped[int] = mapped_column(Integer)
    station_timeout_s: Mapped[int] = mapped_column(Integer)
    health_deadline_s: Mapped[int] = mapped_column(Integer)
    current_wave: Mapped[int | None] = mapped_column(Integer, default=None)
    """The newest wave offered; None before the first tick."""

    @property
    def name(self) -> str:
        """The rollout's id on the wire and in the CLI: ``rollout-<n>``."""
        return f"rollout-{self.id}"

    __table_args__ = (
        CheckConstraint("canaries >= 0", name="canaries_not_negative"),
        CheckConstraint("base_rate >= 1", name="base_rate_positive"),
    )


class FleetRolloutStation(Base):
    """One station of a rollout: its wave, where it stands and what it last reported."""

    __tablename__ = "fleet_rollout_stations"

    rollout_id: Mapped[int] = mapped_column(
        ForeignKey("fleet_rollouts.id", ondelete="CASCADE"), primary_key=True
    )
    station_id: Mapped[str] = mapped_column(String(128), primary_key=True, index=True)
    wave: Mapped[int | None] = mapped_column(Integer, default=None)
    """0 for the first wave (the canaries); None for a station that needs nothing."""
    state: Mapped[RolloutStationState] = mapped_column(
        string_enum(RolloutStationState, "rollout_station_state")
    )
    state_at: Mapped[datetime] = mapped_column(UtcDateTime)
    offered_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    online_s: Mapped[float] = mapped_column(Float, default=0.0)
    """Seconds the station has been online since its offer: the clock its timeout runs on."""
    clock_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    """Up to when ``online_s`` has been counted."""
    report_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    """The ``at`` of the newest fleet report folded in, so older ones are ignored."""
    update_state: Mapped[str | None] = mapped_column(String(32), default=None)
    refusal: Mapped[str | None] = mapped_column(String(32), default=None)
    reason: Mapped[str | None] = mapped_column(Text, default=None)


class FleetRolloutEvent(Base):
    """A transition of a rollout or of one of its stations, with its time and reason."""

    __tablename__ = "fleet_rollout_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    rollout_id: Mapped[int] = mapped_column(
        ForeignKey("fleet_rollouts.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    kind: Mapped[str] = mapped_column(String(32))
    station_id: Mapped[str | None] = mapped_column(String(128), default=None)
    reason: Mapped[str] = mapped_column(Text)
