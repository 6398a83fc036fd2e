"""The fleet inventory: one row per station with what it last said about itself.

Stations publish a retained birth (software, config, hardware, outbox) and a retained status
(phase, printer, outbox); the bridge folds each into this row so `packline fleet status` can
answer from the database without a broker, and so every bridge instance sees the same fleet.
Each part keeps the instant or the birth/death sequence it came from, so an older message
arriving late never overwrites a newer one.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, CheckConstraint, Float, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cloud_bridge.db.base import Base
from cloud_bridge.db.types import UtcDateTime

__all__ = ["FleetStation"]


class FleetStation(Base):
    """What one station last reported: presence, versions, hardware, printer, outbox, phase."""

    __tablename__ = "fleet_stations"

    station_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    """``<site>.<station>``, as in the station's topics."""
    site: Mapped[str] = mapped_column(String(64), index=True)
    group: Mapped[str | None] = mapped_column(String(64), default=None)
    """A group of stations for rollouts; set from configuration, None until then."""

    online: Mapped[bool] = mapped_column(Boolean, default=False)
    bd_seq: Mapped[int | None] = mapped_column(BigInteger, default=None)
    """The birth/death sequence of the presence message ``online`` came from."""
    presence_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    last_seen: Mapped[datetime] = mapped_column(UtcDateTime)
    """The latest instant any message of the station was stamped with."""

    software_version: Mapped[str | None] = mapped_column(String(64), default=None)
    config_version: Mapped[int | None] = mapped_column(Integer, default=None)
    config_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    hardware: Mapped[str] = mapped_column(Text, default="[]")
    """The birth's device list as JSON: ``[{"kind", "name", "status", "detail"}, ...]``."""

    phase: Mapped[str | None] = mapped_column(String(16), default=None)
    printer: Mapped[str | None] = mapped_column(String(16), default=None)
    printer_detail: Mapped[str | None] = mapped_column(Text, default=None)
    status_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)

    outbox_depth: Mapped[int | None] = mapped_column(Integer, default=None)
    outbox_bytes: Mapped[int | None] = mapped_column(BigInteger, default=None)
    outbox_oldest_age_s: Mapped[float | None] = mapped_column(Float, default=None)
    """The age of the oldest unacknowledged event at ``outbox_at``."""
    outbox_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    """When the outbox figures were taken: the birth's or the status's instant, the newer."""
    counters: Mapped[str | None] = mapped_column(Text, default=None)
    """The status's counters as JSON (``{"picks": ..., "shorts": ...}``), taken with ``status_at``;
    they only go up, so the dashboard derives rates from them. None until a status arrives."""

    update_state: Mapped[str | None] = mapped_column(String(32), default=None)
    """Where a software update stands on the station; None until updates exist."""

    __table_args__ = (
        CheckConstraint("bd_seq >= 0", name="bd_seq_not_negative"),
        CheckConstraint("outbox_depth >= 0", name="outbox_depth_not_negative"),
    )
