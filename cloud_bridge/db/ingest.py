"""What the bridge has applied from each station, so a redelivered event is a harmless no-op.

The row for (station, sequence) is written in the same transaction as the event's effect: if
the effect commits, so does the record, and a duplicate hits the primary key instead of being
applied twice.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cloud_bridge.db.base import Base
from cloud_bridge.db.types import UtcDateTime, utc_now

__all__ = ["AppliedEvent", "StationCursor"]


class AppliedEvent(Base):
    """One station event the bridge has applied."""

    __tablename__ = "applied_events"

    station_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    """The event's UUID in its canonical 36-character text form."""
    type: Mapped[str] = mapped_column(String(64))
    applied_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    body: Mapped[str | None] = mapped_column(Text)
    """The event as applied, as JSON text: what the export hands a warehouse. Null for events
    applied before the bridge kept bodies (schema revision 0009)."""

    __table_args__ = (CheckConstraint("seq >= 1", name="seq_positive"),)


class StationCursor(Base):
    """How far each station's events are applied without a hole, and the holes above that.

    ``highest_contiguous_seq`` is what the bridge acknowledges; events can arrive out of order,
    so those above it are parked (``parked_events``) and the missing ranges are named in ``gaps``
    until they arrive.
    """

    __tablename__ = "station_cursors"

    station_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    highest_contiguous_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    gaps: Mapped[str] = mapped_column(Text, default="")
    """The missing sequence ranges below the highest parked event, e.g. ``"5-6,9"``."""

    __table_args__ = (
        CheckConstraint("highest_contiguous_seq >= 0", name="highest_contiguous_seq_not_negative"),
    )
