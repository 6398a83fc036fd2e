"""The bridge's database: typed SQLAlchemy models, engines for SQLite or PostgreSQL, migrations.

Importing any part of this package registers every table, so the schema is always whole. The
mapped classes themselves are in ``cloud_bridge.db.models``.
"""

from __future__ import annotations

from cloud_bridge.db.engine import (
    DEFAULT_BUSY_TIMEOUT_MS,
    UnsupportedDatabaseError,
    for_update,
    make_engine,
    session_factory,
)
from cloud_bridge.db.fleet_control import (
    ConfigScope,
    FleetConfig,
    FleetConfigPublished,
    FleetRollout,
    FleetRolloutEvent,
    FleetRolloutStation,
    FleetStationReport,
    RolloutState,
    RolloutStationState,
)
from cloud_bridge.db.migrate import current_revision, head_revision, upgrade
from cloud_bridge.db.models import Base
from cloud_bridge.db.types import Money, Rate, UtcDateTime, utc_now

__all__ = [
    "DEFAULT_BUSY_TIMEOUT_MS",
    "Base",
    "ConfigScope",
    "FleetConfig",
    "FleetConfigPublished",
    "FleetRollout",
    "FleetRolloutEvent",
    "FleetRolloutStation",
    "FleetStationReport",
    "Money",
    "Rate",
    "RolloutState",
    "RolloutStationState",
    "UnsupportedDatabaseError",
    "UtcDateTime",
    "current_revision",
    "for_update",
    "head_revision",
    "make_engine",
    "session_factory",
    "upgrade",
    "utc_now",
]
