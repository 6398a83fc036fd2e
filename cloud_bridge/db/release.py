"""The release gate's records: error reports people read, and the automatic retry queue.

A failing credit or prepayment check stops the order; it cannot be overruled. The failure is
written as an error report with its exact message, and the order waits in the automatic queue
until ``next_retry_at`` comes round.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from cloud_bridge.credit.gate import Step
from cloud_bridge.db.base import Base
from cloud_bridge.db.types import UtcDateTime, string_enum, utc_now

__all__ = ["OPEN_ERRORS_INDEX", "AutoQueueEntry", "ErrorReport", "ReleaseStep"]


ReleaseStep = Step
"""The steps at which an order is checked before it may be picked: the credit gate's own enum,
so the stored step and the gate's step are one type."""


OPEN_ERRORS_INDEX = "ix_error_reports_open"
"""The partial index of unresolved report lines by age, so the open ones page without a scan."""


class ErrorReport(Base):
    """Why an order did not progress at a step, shown to people until it is resolved."""

    __tablename__ = "error_reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_no: Mapped[str] = mapped_column(ForeignKey("sales_orders.order_no"))
    step: Mapped[ReleaseStep] = mapped_column(string_enum(ReleaseStep, "release_step"))
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now, index=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (
        Index("ix_error_reports_order_no_resolved_at", "order_no", "resolved_at"),
        Index(
            OPEN_ERRORS_INDEX,
            "created_at",
            "id",
            sqlite_where=text("resolved_at IS NULL"),
            postgresql_where=text("resolved_at IS NULL"),
        ),
        CheckConstraint(
            "resolved_at IS NULL OR resolved_at >= created_at", name="resolved_after_created"
        ),
    )


class AutoQueueEntry(Base):
    """An order waiting to be retried at a step after it failed there."""

    __tablename__ = "auto_queue"

    order_no: Mapped[str] = mapped_column(
        ForeignKey("sales_orders.order_no", ondelete="CASCADE"), primary_key=True
    )
    step: Mapped[ReleaseStep] = mapped_column(string_enum(ReleaseStep, "release_step"))
    message: Mapped[str] = mapped_column(Text)
    failed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    next_retry_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=1)

    __table_args__ = (
        CheckConstraint("attempts >= 1", name="attempts_positive"),
        CheckConstraint("next_retry_at >= failed_at", name="retry_after_failure"),
    )
