"""Sales orders and their lines, as the bridge tracks them from arrival to shipment.

``version`` goes up on every change a station must see, so a station holding an older version
knows its copy is stale; it is bumped by the code that makes the change, not on every flush.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cloud_bridge.db.base import Base
from cloud_bridge.db.types import Money, Rate, UtcDateTime, string_enum, utc_now

__all__ = ["LinePolicy", "OrderLine", "OrderState", "OrderType", "SalesOrder"]


class OrderType(enum.StrEnum):
    """A prepayment order may be picked only once it has been paid in full."""

    NORMAL = "normal"
    PREPAYMENT = "prepayment"


class OrderState(enum.StrEnum):
    """Where an order is between arrival and despatch."""

    NEW = "new"
    HELD_CREDIT = "held_credit"
    HELD_PREPAYMENT = "held_prepayment"
    ALLOCATED = "allocated"
    PARTIALLY_ALLOCATED = "partially_allocated"
    RELEASED = "released"
    PICKING = "picking"
    SHIPPED = "shipped"
    PARTIALLY_SHIPPED = "partially_shipped"
    CANCELLED = "cancelled"


class LinePolicy(enum.StrEnum):
    """How much of a line may be allocated when stock is short."""

    PARTIAL = "partial"
    """Whatever is available now; the balance later."""
    ALL_OR_NOTHING = "all_or_nothing"
    """The whole quantity or none of it."""
    FULL_PACKS = "full_packs"
    """Only whole multiples of the product's pack size."""


class SalesOrder(Base):
    """An order to despatch: whose stock, who pays, where it goes, and how far it has got."""

    __tablename__ = "sales_orders"

    order_no: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    invoice_debtor_no: Mapped[str] = mapped_column(ForeignKey("debtors.debtor_no"), index=True)
    order_type: Mapped[OrderType] = mapped_column(
        string_enum(OrderType, "order_type"), default=OrderType.NORMAL
    )
    amount_paid: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    """Paid towards this order so far, as the order source reports it."""
    promised_date: Mapped[date | None] = mapped_column(Date)
    service_level: Mapped[int] = mapped_column(Integer, default=0)
    """Lower is more urgent (0 first); used after the promised date to order allocation."""
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now, index=True)
    deliver_to_name: Mapped[str] = mapped_column(String(128))
    deliver_to_line1: Mapped[str] = mapped_column(String(128))
    deliver_to_line2: Mapped[str] = mapped_column(String(128), default="")
    deliver_to_city: Mapped[str] = mapped_column(String(128))
    deliver_to_postal_code: Mapped[str] = mapped_column(String(16))
    deliver_to_country: Mapped[str] = mapped_column(String(2))
    """ISO 3166-1 alpha-2 code."""
    carrier: Mapped[str] = mapped_column(String(64))
    state: Mapped[OrderState] = mapped_column(
        string_enum(OrderState, "order_state"), default=OrderState.NEW
    )
    version: Mapped[int] = mapped_column(Integer, default=1)
    station_id: Mapped[str | None] = mapped_column(String(128), index=True)
    """The station the order is released to, once it is."""

    lines: Mapped[list[OrderLine]] = relationship(
        order_by="OrderLine.line_id", cascade="all, delete-orphan", passive_deletes=True
    )

    __table_args__ = (
        CheckConstraint("amount_paid >= 0", name="amount_paid_not_negative"),
        CheckConstraint("service_level >= 0", name="service_level_not_negative"),
        CheckConstraint("version >= 1", name="version_positive"),
        Index(
            "ix_sales_orders_allocation_priority",
            "state",
            "promised_date",
            "service_level",
            "created_at",
            "order_no",
        ),
        Index("ix_sales_orders_state_created_at", "state", "created_at"),
    )


class OrderLine(Base):
    """One product on an order: how many were ordered, at what price, and how many shipped."""

    __tablename__ = "order_lines"

    order_no: Mapped[str] = mapped_column(
        ForeignKey("sales_orders.order_no", ondelete="CASCADE"), primary_key=True
    )
    line_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    sku: Mapped[str] = mapped_column(ForeignKey("products.sku"), index=True)
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[Decimal] = mapped_column(Money)
    tax_rate: Mapped[Decimal] = mapped_column(Rate, default=Decimal(0))
    """A fraction: 0.2000 is 20 %."""
    shipped_quantity: Mapped[int] = mapped_column(Integer, default=0)
    picked_quantity: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """Picked at a station and not yet shipped; shipping moves it into ``shipped_quantity``."""
    policy: Mapped[LinePolicy] = mapped_column(
        string_enum(LinePolicy, "line_policy"), default=LinePolicy.PARTIAL
    )

    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("unit_price >= 0", name="unit_price_not_negative"),
        CheckConstraint("tax_rate >= 0", name="tax_rate_not_negative"),
        CheckConstraint(
            "shipped_quantity >= 0 AND shipped_quantity <= quantity",
            name="shipped_within_ordered",
        ),
        CheckConstraint("picked_quantity >= 0", name="picked_quantity_not_negative"),
    )
