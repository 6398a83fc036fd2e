"""Shipments: what actually left the building, which is what gets posted to Sage."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, String, true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cloud_bridge.db.base import Base
from cloud_bridge.db.types import UtcDateTime, utc_now

__all__ = ["Shipment", "ShipmentLine"]


class Shipment(Base):
    """One labelled parcel (or pallet) of an order, as a station completed it."""

    __tablename__ = "shipments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_no: Mapped[str] = mapped_column(ForeignKey("sales_orders.order_no"), index=True)
    station_id: Mapped[str] = mapped_column(String(128))
    label_id: Mapped[str] = mapped_column(String(64))
    sscc: Mapped[str | None] = mapped_column(String(18), unique=True)
    """The 18-digit Serial Shipping Container Code, when the parcel carries one."""
    carrier: Mapped[str] = mapped_column(String(64))
    tracking_number: Mapped[str | None] = mapped_column(String(128))
    shipped_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now, index=True)
    posting_due: Mapped[bool] = mapped_column(
        Boolean, default=True, server_default=true(), index=True
    )
    """Set when shipped or corrected; the posting planner compares it with what Sage has."""

    lines: Mapped[list[ShipmentLine]] = relationship(
        order_by="ShipmentLine.line_id", cascade="all, delete-orphan", passive_deletes=True
    )

    __table_args__ = (Index("ix_shipments_station_id_shipped_at", "station_id", "shipped_at"),)


class ShipmentLine(Base):
    """How many units of one order line went in a shipment."""

    __tablename__ = "shipment_lines"

    shipment_id: Mapped[int] = mapped_column(
        ForeignKey("shipments.id", ondelete="CASCADE"), primary_key=True
    )
    line_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    sku: Mapped[str] = mapped_column(ForeignKey("products.sku"))
    quantity: Mapped[int] = mapped_column(Integer)

    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)
