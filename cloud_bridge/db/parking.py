"""Events that arrived ahead of a gap in their station's sequence, kept until the gap closes.

Events are applied strictly in sequence order per station, but MQTT and shared subscriptions do
not deliver them that way. An event above the next expected sequence is parked here, durably, so
that neither a bridge restart nor a station that has already pruned it loses it; when the missing
events arrive, the parked ones are applied in order and their rows deleted.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cloud_bridge.db.base import Base
from cloud_bridge.db.types import UtcDateTime, utc_now

__all__ = ["ParkedEvent"]


class ParkedEvent(Base):
    """One validated station event waiting for the events before it."""

    __tablename__ = "parked_events"

    station_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    payload: Mapped[str] = mapped_column(Text)
    """The event as contract JSON, decoded again with the contract's codec when it is applied."""
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)

    __table_args__ = (CheckConstraint("seq >= 1", name="seq_positive"),)
