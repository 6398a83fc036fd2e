"""Sage for the dashboard: the posting queue, rejected postings, and what is known of reconciling.

Rejected postings are the lines of the posting error report (`cloud_bridge.posting.report`), so
the dashboard shows the same lines, with Sage's own messages, as ``packline sage errors``; here
they are paged and counted in SQL through the report's own partial index, since a bridge that
has posted for years holds far more postings than the report has lines.

Every reconciliation that finishes is recorded, so the panel shows the last result with its
differences (see ``cloud_bridge.dashboard.reconcile``), beside the queue, when the bridge last
posted, and when it last read each kind of record from Sage.
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import func, select, text
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
    REJECTED_POSTINGS_CONDITION,
    SAGE_CONNECTION_ID,
    Posting,
    PostingState,
    SageConnection,
    SageSyncMark,
)

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
    """The posting error report in id order, one page of it, with how many lines it has."""
    in_report = text(REJECTED_POSTINGS_CONDITION)
    rows = session.scalars(
        select(Posting).where(in_report).order_by(Posting.id).limit(limit).offset(offset)
    )
    items = [_rejected(posting) for posting in rows]
    total = session.scalar(select(func.count()).select_from(Posting).where(in_report)) or 0
    return page_of(items, total=total, limit=limit, offset=offset)


def _rejected(posting: Posting) -> RejectedPostingOut:
    """One report line as ``packline sage errors`` words it: Sage's messages from its array."""
    refusal = json.loads(posting.error_items) if posting.error_items else []
    return RejectedPostingOut(
        posting_id=posting.id,
        environment=posting.environment.value,
        shipment_id=posting.shipment_id,
        kind=posting.kind.value,
        reference=posting.reference,
        state=posting.state.value,
        message=posting.last_error or "",
        sage_messages=[str(item.get("$message", "")) for item in refusal],
        created_at=posting.created_at,
    )
