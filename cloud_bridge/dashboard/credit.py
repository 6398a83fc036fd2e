"""The credit gate's error report and auto queue, a page at a time.

The rows and their messages are the ones the release gate stored and `GET /reports/errors` and
`GET /reports/auto-queue` serve, in the same response shapes; only paging is added. Messages are
never rebuilt here: they are the seeds' exact words as the gate wrote them.

The error report opens on the open lines, newest first: a manager comes to it for the holds that
still need someone, and after months of trading the resolved history would bury them pages deep.
Open lines are read through their own partial index (``ix_error_reports_open``), so the default
view costs the same however long the history.
"""

from __future__ import annotations

import enum

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloud_bridge.api.schemas_credit import AutoQueueOut, ErrorReportOut
from cloud_bridge.dashboard.paging import Page, page_of
from cloud_bridge.db.release import AutoQueueEntry, ErrorReport

__all__ = ["ReportView", "auto_queue_page", "error_report_page"]


class ReportView(enum.StrEnum):
    """Which lines of the error report to show."""

    OPEN = "open"
    """Not yet resolved: the holds someone still has to act on (the default)."""
    RESOLVED = "resolved"
    ALL = "all"


def error_report_page(
    session: Session, *, view: ReportView, limit: int, offset: int
) -> Page[ErrorReportOut]:
    """Report lines of ``view``, newest first."""
    query = select(ErrorReport)
    counting = select(func.count()).select_from(ErrorReport)
    if view is not ReportView.ALL:
        condition = (
            ErrorReport.resolved_at.is_(None)
            if view is ReportView.OPEN
            else ErrorReport.resolved_at.is_not(None)
        )
        query = query.where(condition)
        counting = counting.where(condition)
    rows = session.scalars(
        query.order_by(ErrorReport.created_at.desc(), ErrorReport.id.desc())
        .limit(limit)
        .offset(offset)
    )
    items = [
        ErrorReportOut(
            id=report.id,
            order_no=report.order_no,
            step=report.step,
            message=report.message,
            created_at=report.created_at,
            resolved_at=report.resolved_at,
        )
        for report in rows
    ]
    return page_of(items, total=session.scalar(counting) or 0, limit=limit, offset=offset)


def auto_queue_page(session: Session, *, limit: int, offset: int) -> Page[AutoQueueOut]:
    """Orders waiting for their retry, the next retry first."""
    rows = session.scalars(
        select(AutoQueueEntry)
        .order_by(AutoQueueEntry.next_retry_at, AutoQueueEntry.order_no)
        .limit(limit)
        .offset(offset)
    )
    items = [
        AutoQueueOut(
            order_no=entry.order_no,
            step=entry.step,
            message=entry.message,
            failed_at=entry.failed_at,
            next_retry_at=entry.next_retry_at,
            attempts=entry.attempts,
        )
        for entry in rows
    ]
    total = session.scalar(select(func.count()).select_from(AutoQueueEntry)) or 0
    return page_of(items, total=total, limit=limit, offset=offset)
