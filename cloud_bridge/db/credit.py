"""Invoice debtors with their credit line and exposure, and the payments they make.

A ``NULL`` credit line means the debtor has no limit; zero is a real limit that refuses any
order with a positive total. The exposure columns hold what the credit check counts besides the
order itself, so the check reads one row instead of re-deriving the ledger of another system.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from cloud_bridge.db.base import Base
from cloud_bridge.db.types import Money, UtcDateTime, utc_now

__all__ = ["Debtor", "Payment"]


class Debtor(Base):
    """An invoice debtor: who pays for orders, and how much credit they may use."""

    __tablename__ = "debtors"

    debtor_no: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    credit_line: Mapped[Decimal | None] = mapped_column(Money)
    """``None`` is no limit; ``Decimal(0)`` is a limit of zero."""
    open_invoices: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    """Invoiced and not yet paid (may be negative when credit notes exceed invoices)."""
    shipped_not_invoiced: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    """Despatched to the debtor but not yet invoiced."""
    sage_contact_id: Mapped[str | None] = mapped_column(String(64))
    """The Sage customer contact invoiced for this debtor; set by hand or matched on reference."""

    __table_args__ = (CheckConstraint("credit_line >= 0", name="credit_line_not_negative"),)


class Payment(Base):
    """Money received from a debtor, optionally against one order (a prepayment)."""

    __tablename__ = "payments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    debtor_no: Mapped[str] = mapped_column(ForeignKey("debtors.debtor_no"), index=True)
    order_no: Mapped[str | None] = mapped_column(ForeignKey("sales_orders.order_no"), index=True)
    amount: Mapped[Decimal] = mapped_column(Money)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)

    __table_args__ = (CheckConstraint("amount > 0", name="amount_positive"),)
