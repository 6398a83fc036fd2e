"""The last reconciliation for the dashboard's Sage panel, as the reconciliation recorded it.

Every reconciliation that finishes is stored by ``cloud_bridge.posting.reconcile`` itself, from
``packline sage reconcile`` or anything else that runs one. The panel shows the newest, with
the differences needing attention before the postings merely awaiting Sage, a page at a time.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from cloud_bridge.dashboard.paging import page_of
from cloud_bridge.dashboard.schemas import ReconcileDifferenceOut, ReconcileOut, ReconcileRunOut
from cloud_bridge.db.posting import SageReconcileRun
from cloud_bridge.posting.reconcile import INFORMATIONAL_KINDS
from cloud_bridge.posting.reconcile_record import latest_reconciliation, recorded_differences

__all__ = ["RECONCILE_NEVER_RUN", "last_reconcile"]

RECONCILE_NEVER_RUN = (
    "No reconciliation has been recorded yet: run 'packline sage reconcile' to compare the "
    "bridge's shipments, postings and stock with Sage. Its result is kept and shown here."
)
_INFORMATION = frozenset(kind.value for kind in INFORMATIONAL_KINDS)


def last_reconcile(session: Session, *, limit: int, offset: int) -> ReconcileOut:
    """The newest recorded reconciliation, with one page of its differences."""
    run = latest_reconciliation(session)
    if run is None:
        return ReconcileOut(stored=False, note=RECONCILE_NEVER_RUN, last=None)
    return ReconcileOut(stored=True, note=_verdict(run), last=_run_out(run, limit, offset))


def _run_out(run: SageReconcileRun, limit: int, offset: int) -> ReconcileRunOut:
    differences = [
        ReconcileDifferenceOut(
            kind=difference.kind,
            needs_attention=difference.kind not in _INFORMATION,
            message=difference.message,
            shipment_id=difference.shipment_id,
            posting_id=difference.posting_id,
            sage_id=difference.sage_id,
            sku=difference.sku,
        )
        for difference in recorded_differences(run)
    ]
    differences.sort(key=lambda difference: not difference.needs_attention)
    return ReconcileRunOut(
        run_id=run.id,
        environment=run.environment.value,
        business_id=run.business_id,
        started_at=run.started_at,
        finished_at=run.finished_at,
        shipped_since=run.shipped_since,
        shipment_lines_checked=run.shipment_lines_checked,
        postings_checked=run.postings_checked,
        documents_checked=run.documents_checked,
        stock_items_checked=run.stock_items_checked,
        differences=run.differences,
        problems=run.problems,
        ok=run.problems == 0,
        difference_lines=page_of(
            differences[offset : offset + limit],
            total=len(differences),
            limit=limit,
            offset=offset,
        ),
    )


def _verdict(run: SageReconcileRun) -> str:
    where = f"Sage {run.environment.value} business {run.business_id}"
    waiting = run.differences - run.problems
    if run.differences == 0:
        return f"{where}: the bridge and Sage agreed."
    if run.problems == 0:
        return (
            f"{where}: the bridge and Sage agreed apart from "
            f"{_count(waiting, 'posting')} awaiting Sage."
        )
    return (
        f"{where}: the bridge and Sage disagreed: {_count(run.problems, 'problem')}, "
        f"{_count(waiting, 'posting')} awaiting Sage."
    )


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"
