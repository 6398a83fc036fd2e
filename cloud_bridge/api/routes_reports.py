"""Reports: the error report and the auto queue monitor, as people watching the floor read them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select

from cloud_bridge.api.dependencies import TransactionsDep
from cloud_bridge.api.schemas_credit import (
    AutoQueueOut,
    AutoQueueReport,
    ErrorReportOut,
    ErrorReportPage,
)
from cloud_bridge.api.transaction import Unit
from cloud_bridge.db.models import AutoQueueEntry, ErrorReport

__all__ = ["router"]

router = APIRouter(tags=["reports"])


@router.get(
    "/reports/errors",
    summary="The error report",
    description="Why orders did not progress, with the exact messages (such as `Order (12345): "
    "Invoice debtor (12345): Credit line exceeded.`), the step, and when each was reported "
    "and resolved. Oldest first.",
)
async def get_error_report(
    transactions: TransactionsDep,
    unresolved: Annotated[
        bool | None,
        Query(
            alias="open",
            description="true: only unresolved lines; false: only resolved; absent: all.",
        ),
    ] = None,
) -> ErrorReportPage:
    def work(unit: Unit) -> ErrorReportPage:
        query = select(ErrorReport).order_by(ErrorReport.created_at, ErrorReport.id)
        if unresolved is True:
            query = query.where(ErrorReport.resolved_at.is_(None))
        elif unresolved is False:
            query = query.where(ErrorReport.resolved_at.is_not(None))
        items = [
            ErrorReportOut(
                id=report.id,
                order_no=report.order_no,
                step=report.step,
                message=report.message,
                created_at=report.created_at,
                resolved_at=report.resolved_at,
            )
            for report in unit.session.scalars(query)
        ]
        return ErrorReportPage(items=items)

    return await transactions.run(work)


@router.get(
    "/reports/auto-queue",
    summary="The auto queue monitor",
    description="Orders stopped by the credit gate and waiting for their retry, next retry "
    "first, with the failure message, when it failed, when it is retried and how many tries "
    "have failed.",
)
async def get_auto_queue(transactions: TransactionsDep) -> AutoQueueReport:
    def work(unit: Unit) -> AutoQueueReport:
        query = select(AutoQueueEntry).order_by(
            AutoQueueEntry.next_retry_at, AutoQueueEntry.order_no
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
            for entry in unit.session.scalars(query)
        ]
        return AutoQueueReport(items=items)

    return await transactions.run(work)
