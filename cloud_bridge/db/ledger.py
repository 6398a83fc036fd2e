"""The allocation ledger: every reservation of stock for an order line, borrowed or not.

Available stock is ``on_hand`` minus the sum of *active* allocations by (account, SKU). Rows
are not deleted: a released or consumed allocation stays as the audit of what was reserved,
from whose stock, and when it stopped counting.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from cloud_bridge.db.base import Base
from cloud_bridge.db.types import UtcDateTime, string_enum, utc_now

__all__ = [
    "ACTIVE_ALLOCATIONS_INDEX",
    "ACTIVE_BORROWED_INDEX",
    "Allocation",
    "AllocationState",
]

ACTIVE_ALLOCATIONS_INDEX = "ix_allocations_active_by_account_sku"
"""The partial index that makes "active allocations of this SKU from this account" cheap."""

ACTIVE_BORROWED_INDEX = "ix_allocations_active_borrowed"
"""The partial index of active borrowed allocations, covering what the borrowing summary reads.

Its condition is written as queries must write theirs (``borrowed = 1`` on SQLite, whose planner
matches a partial index's terms literally), so compare with ``Allocation.borrowed == True``.
"""


class AllocationState(enum.StrEnum):
    """Whether an allocation still holds stock back from other orders."""

    ACTIVE = "active"
    """Counts against the owning account's available stock."""
    RELEASED = "released"
    """Given back without shipping (order cancelled, quantity reduced, re-allocated)."""
    CONSUMED = "consumed"
    """Shipped: the units left ``on_hand`` with the parcel."""


_ACTIVE_ONLY = text("state = 'active'")
_ACTIVE_BORROWED_SQLITE = text("state = 'active' AND borrowed = 1")
_ACTIVE_BORROWED_POSTGRESQL = text("state = 'active' AND borrowed")


class Allocation(Base):
    """Units of an order line reserved from one account's stock.

    ``borrowed`` marks stock taken from a linked account rather than the order's own, so every
    borrow can be audited.
    """

    __tablename__ = "allocations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_no: Mapped[str] = mapped_column(String(64))
    line_id: Mapped[str] = mapped_column(String(64))
    sku: Mapped[str] = mapped_column(ForeignKey("products.sku"))
    from_account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    borrowed: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[AllocationState] = mapped_column(
        string_enum(AllocationState, "allocation_state"), default=AllocationState.ACTIVE
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    released_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    def end_units(self, units: int, state: AllocationState, now: datetime) -> Allocation | None:
        """End ``units`` of this active row in ``state``: the whole row, or a split-off part.

        Returns the new row for the ended part when only part ends (the caller adds it to the
        session); this row keeps the rest, still active. The ledger keeps one row per fate.
        """
        if units >= self.quantity:
            self.state = state
            self.released_at = now
            return None
        self.quantity -= units
        return Allocation(
            order_no=self.order_no,
            line_id=self.line_id,
            sku=self.sku,
            from_account_id=self.from_account_id,
            quantity=units,
            borrowed=self.borrowed,
            state=state,
            created_at=self.created_at,
            released_at=now,
        )

    """When the allocation stopped being active, by release or by shipping."""

    __table_args__ = (
        ForeignKeyConstraint(
            ["order_no", "line_id"], ["order_lines.order_no", "order_lines.line_id"]
        ),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint(
            "(state = 'active') = (released_at IS NULL)", name="released_at_iff_inactive"
        ),
        Index(
            ACTIVE_ALLOCATIONS_INDEX,
            "from_account_id",
            "sku",
            postgresql_where=_ACTIVE_ONLY,
            sqlite_where=_ACTIVE_ONLY,
        ),
        Index("ix_allocations_order_line", "order_no", "line_id"),
        Index(
            ACTIVE_BORROWED_INDEX,
            "order_no",
            "sku",
            "from_account_id",
            "quantity",
            postgresql_where=_ACTIVE_BORROWED_POSTGRESQL,
            sqlite_where=_ACTIVE_BORROWED_SQLITE,
        ),
    )
