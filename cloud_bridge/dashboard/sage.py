"""Sage for the dashboard: the posting queue, rejected postings, and what is known of reconciling.

Rejected postings come from the posting error report (`cloud_bridge.posting.report`), so the
dashboard shows the same lines, with Sage's own messages, as ``packline sage errors``.

Every reconciliation that finishes is recorded, so the panel shows the last result with its
differences (see ``cloud_bridge.dashboard.reconcile``), beside the queue, when the bridge last
posted, and when it last read each kind of record from Sage.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloud_bridge.dashboard.paging import Page, page_of
from cloud_bridge.dashboard.reconcile import last_reconcile
from cloud_bridge.dashboard.schemas import (
    RejectedPostingOut,
    SageOut,
    StateCountOut,
    SyncMarkOut,
)
from cloud_bridge.db.posting import (
    SAGE_CONNECTION_ID,
    Posting,
    PostingState,
    SageConnection,
    SageSyncMark,
)
from cloud_bridge.posting.report import error_report

__all__ = ["rejected_page", "sage_summary"]


def sage_summary(session: Session, now: datetime, *, limit: int, offset: int) -> SageOut:
    """Postings per state, those due, the connection, the sync marks and the last reconcile.

    ``limit`` and ``offset`` page the last reconciliation's differences.
    """
    counted = dict(
        session.execute(select(Posting.state, func.count()).group_by(Posting.state)).all()
    )
    due_now = session.scalar(
        select(func.count())
        .select_from(Posting)
        .where(Posting.state == PostingState.PENDING, Posting.due_at <= now)
    )
    connection = session.get(SageConnection, SAGE_CONNECTION_ID)
    marks = session.scalars(
        select(SageSyncMark).order_by(SageSyncMark.business_id, SageSyncMark.resource)
    )
    return SageOut(
        environment=None if connection is None else connection.environment.value,
        business_id=None if connection is None else connection.business_id,
        queue=[
            StateCountOut(state=state.value, count=counted.get(state, 0)) for state in PostingState
        ],
        due_now=due_now or 0,
        last_posted_at=session.scalar(select(func.max(Posting.posted_at))),
        sync_marks=[
            SyncMarkOut(
                business_id=mark.business_id, resource=mark.resource, synced_at=mark.synced_at
            )
            for mark in marks
        ],
        reconcile=last_reconcile(session, limit=limit, offset=offset),
    )


def rejected_page(session: Session, *, limit: int, offset: int) -> Page[RejectedPostingOut]:
    """The posting error report, a page at a time (it holds only refused postings, so is short)."""
    problems = error_report(session)
    items = [
        RejectedPostingOut(
            posting_id=problem.posting_id,
            environment=problem.environment,
            shipment_id=problem.shipment_id,
            kind=problem.kind.value,
            reference=problem.reference,
            state=problem.state.value,
            message=problem.message,
            sage_messages=list(problem.sage_messages),
            created_at=problem.created_at,
        )
        for problem in problems[offset : offset + limit]
    ]
    return page_of(items, total=len(problems), limit=limit, offset=offset)
