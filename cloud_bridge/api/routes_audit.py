"""The audit trail, read-only: who changed what and when, filtered and a page at a time.

There is deliberately no route that changes or deletes an entry; the database refuses that too.
Reading it needs the ``read_audit`` permission (credit controllers and admins; see
`cloud_bridge.api.roles`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AwareDatetime
from sqlalchemy import func, select

from cloud_bridge.api.dependencies import TransactionsDep
from cloud_bridge.api.fields import MAX_DATABASE_INT
from cloud_bridge.api.schemas_audit import AuditEntryOut, AuditPage
from cloud_bridge.api.transaction import Unit
from cloud_bridge.db.audit import AuditEntry

__all__ = ["router"]

router = APIRouter(tags=["audit"])


@router.get(
    "/audit",
    summary="Read the audit trail",
    description="Audited changes matching every filter given, newest first, a page at a time. "
    "`before_id` pages stably while new entries arrive: pass the last id of the previous page.",
)
async def list_audit(  # noqa: PLR0917 - one query parameter each
    transactions: TransactionsDep,
    actor: Annotated[str | None, Query(description="Only this actor's changes.")] = None,
    action: Annotated[
        str | None, Query(description="Only this action, or actions starting with it and a dot.")
    ] = None,
    subject: Annotated[str | None, Query(description="Only changes to this subject.")] = None,
    since: Annotated[
        AwareDatetime | None,
        Query(description="Only changes at or after this instant (with its UTC offset)."),
    ] = None,
    until: Annotated[
        AwareDatetime | None,
        Query(description="Only changes before this instant (with its UTC offset)."),
    ] = None,
    before_id: Annotated[
        int | None,
        Query(ge=1, le=MAX_DATABASE_INT, description="Only entries with a lower id than this."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500, description="Page size.")] = 50,
    offset: Annotated[
        int, Query(ge=0, le=MAX_DATABASE_INT, description="Matching entries to skip.")
    ] = 0,
) -> AuditPage:
    def work(unit: Unit) -> AuditPage:
        query = select(AuditEntry)
        if actor is not None:
            query = query.where(AuditEntry.actor == actor)
        if action is not None:
            query = query.where(
                (AuditEntry.action == action)
                | AuditEntry.action.startswith(f"{action}.", autoescape=True)
            )
        if subject is not None:
            query = query.where(AuditEntry.subject == subject)
        if since is not None:
            query = query.where(AuditEntry.at >= since)
        if until is not None:
            query = query.where(AuditEntry.at < until)
        if before_id is not None:
            query = query.where(AuditEntry.id < before_id)
        total = unit.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        page = unit.session.scalars(
            query.order_by(AuditEntry.id.desc()).limit(limit).offset(offset)
        )
        items = [AuditEntryOut.model_validate(entry, from_attributes=True) for entry in page]
        return AuditPage(items=items, total=total, limit=limit, offset=offset)

    return await transactions.run(work)
