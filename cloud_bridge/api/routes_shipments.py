"""Shipments: read one with its corrections and Sage postings, and correct what it contained.

A correction is committed with its stock and order changes in the request's transaction; only
then is the poster woken (if the app was given a way to wake it), so the credit note or invoice
for the difference goes out now rather than at the poster's next cycle.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from pydantic import Field, StrictInt, StrictStr, field_validator
from pydantic_core import PydanticCustomError
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from cloud_bridge.api.audit_trail import record_change
from cloud_bridge.api.auth import PrincipalDep
from cloud_bridge.api.dependencies import TransactionsDep
from cloud_bridge.api.error_handlers import errors_documented
from cloud_bridge.api.errors import ApiError, ConflictError, NotFoundError
from cloud_bridge.api.fields import MAX_DATABASE_INT, Name
from cloud_bridge.api.schemas_base import ApiModel, RequestModel, unique
from cloud_bridge.api.transaction import Unit
from cloud_bridge.db.models import (
    Posting,
    PostingKind,
    PostingState,
    Shipment,
    ShipmentCorrection,
)
from cloud_bridge.posting.corrections import (
    MAX_REASON_LENGTH,
    CorrectionError,
    CorrectionInvalid,
    ShipmentNotFound,
    correct_shipment,
)

__all__ = [
    "CorrectionIn",
    "CorrectionLineIn",
    "CorrectionOut",
    "PostingOut",
    "ShipmentLineOut",
    "ShipmentOut",
    "WakePoster",
    "router",
]

router = APIRouter(tags=["shipments"])

WakePoster = Callable[[], None]
"""Tells the Sage poster there is work now; called on the event loop after the commit."""

ShipmentId = Annotated[int, Path(ge=1, le=MAX_DATABASE_INT, description="The shipment's id.")]


# --- bodies -----------------------------------------------------------------------------------


class CorrectionLineIn(RequestModel):
    """What one order line really shipped in the parcel."""

    line_id: Name = Field(description="The order line's id; it need not be on the shipment yet.")
    quantity: StrictInt = Field(
        ge=0, le=1_000_000, description="Units that really shipped in this parcel; 0 for none."
    )


class CorrectionIn(RequestModel):
    """A correction of a shipment's contents, after it left."""

    reason: StrictStr = Field(
        min_length=1,
        max_length=MAX_REASON_LENGTH,
        description="Why, such as a miscount at the dock; it goes on the credit note.",
    )
    lines: list[CorrectionLineIn] = Field(
        min_length=1,
        max_length=1000,
        description="The corrected lines; lines not named keep their quantity.",
    )

    @field_validator("reason")
    @classmethod
    def _not_blank(cls, reason: str) -> str:
        if not reason.strip():
            raise PydanticCustomError(
                "blank", "the reason is blank", {"rule": "a reason that is not blank"}
            )
        return reason

    @field_validator("lines")
    @classmethod
    def _one_entry_per_line(cls, lines: list[CorrectionLineIn]) -> list[CorrectionLineIn]:
        unique([line.line_id for line in lines], "line_id")
        return lines


class ShipmentLineOut(ApiModel):
    """Units of one order line in the shipment, as corrected."""

    line_id: str = Field(description="The order line.")
    sku: str = Field(description="The product.")
    quantity: int = Field(description="Units in the parcel.")


class CorrectionOut(ApiModel):
    """One line's correction: the audit trail behind a credit note or extra invoice."""

    id: int = Field(description="The correction's id.")
    line_id: str = Field(description="The order line corrected.")
    sku: str = Field(description="The product.")
    quantity_before: int = Field(description="Units the shipment held before.")
    quantity_after: int = Field(description="Units it holds after.")
    reason: str = Field(description="Why it was corrected.")
    corrected_at: datetime = Field(description="When (UTC).")


class PostingOut(ApiModel):
    """One Sage document for the shipment, written to the outbox before it is sent."""

    id: int = Field(description="The posting's id.")
    business_id: str = Field(description="The Sage business it is posted to.")
    kind: PostingKind = Field(description="`invoice` or `credit_note`.")
    revision: int = Field(description="1 for the first document, one more per later one.")
    state: PostingState = Field(
        description="`pending` (not yet confirmed), `posted`, `failed` or `dismissed`."
    )
    reference: str = Field(description="The document's reference in Sage.")
    sage_id: str | None = Field(description="Sage's id for the document, once posted.")
    sage_number: str | None = Field(description="Sage's document number, once posted.")
    last_error: str | None = Field(description="The latest failure, in words, if any.")


class ShipmentOut(ApiModel):
    """A shipment: what left, its corrections, and what was posted to Sage for it."""

    id: int = Field(description="The shipment's id.")
    order_no: str = Field(description="The order it belongs to.")
    station: str = Field(description="The station that completed it.")
    label_id: str = Field(description="The label it shipped under.")
    sscc: str | None = Field(description="Its Serial Shipping Container Code, if it has one.")
    carrier: str = Field(description="The carrier's code.")
    tracking_number: str | None = Field(description="The carrier's tracking number, if any.")
    shipped_at: datetime = Field(description="When it shipped (UTC).")
    posting_due: bool = Field(
        description="True until the posting planner has written the documents for its change."
    )
    lines: list[ShipmentLineOut] = Field(description="What it contains now.")
    corrections: list[CorrectionOut] = Field(description="Every correction, oldest first.")
    postings: list[PostingOut] = Field(description="Its Sage documents, oldest first.")


# --- the poster -------------------------------------------------------------------------------


def _wake_poster(request: Request) -> WakePoster | None:
    """The app's way to wake the poster, if it was given one (``app.state.wake_poster``)."""
    wake: WakePoster | None = getattr(request.app.state, "wake_poster", None)
    return wake


WakePosterDep = Annotated[WakePoster | None, Depends(_wake_poster)]


# --- views ------------------------------------------------------------------------------------


def _require_shipment(session: Session, shipment_id: int) -> Shipment:
    shipment = session.scalar(
        select(Shipment).where(Shipment.id == shipment_id).options(selectinload(Shipment.lines))
    )
    if shipment is None:
        raise NotFoundError(
            "shipment_id", "an existing shipment", f"shipment {shipment_id} does not exist"
        )
    return shipment


def shipment_view(session: Session, shipment: Shipment) -> ShipmentOut:
    """The shipment with its lines, corrections and postings, from one snapshot."""
    corrections = session.scalars(
        select(ShipmentCorrection)
        .where(ShipmentCorrection.shipment_id == shipment.id)
        .order_by(ShipmentCorrection.id)
    )
    postings = session.scalars(
        select(Posting).where(Posting.shipment_id == shipment.id).order_by(Posting.id)
    )
    return ShipmentOut(
        id=shipment.id,
        order_no=shipment.order_no,
        station=shipment.station_id,
        label_id=shipment.label_id,
        sscc=shipment.sscc,
        carrier=shipment.carrier,
        tracking_number=shipment.tracking_number,
        shipped_at=shipment.shipped_at,
        posting_due=shipment.posting_due,
        lines=[
            ShipmentLineOut(line_id=line.line_id, sku=line.sku, quantity=line.quantity)
            for line in shipment.lines
        ],
        corrections=[
            CorrectionOut(
                id=row.id,
                line_id=row.line_id,
                sku=row.sku,
                quantity_before=row.quantity_before,
                quantity_after=row.quantity_after,
                reason=row.reason,
                corrected_at=row.corrected_at,
            )
            for row in corrections
        ],
        postings=[
            PostingOut(
                id=row.id,
                business_id=row.business_id,
                kind=row.kind,
                revision=row.revision,
                state=row.state,
                reference=row.reference,
                sage_id=row.sage_id,
                sage_number=row.sage_number,
                last_error=row.last_error,
            )
            for row in postings
        ],
    )


class _InvalidCorrection(ApiError, ValueError):
    """A malformed correction the body's own validation let through; answered like one."""

    status = 422


def _api_error(error: CorrectionError, body: CorrectionIn) -> ApiError:
    """The service's refusal as the API's, naming the body field at fault."""
    field = error.part
    if error.line_id is not None:
        positions = [n for n, line in enumerate(body.lines) if line.line_id == error.line_id]
        if positions:
            field = f"lines.{positions[0]}.{error.part}"
    if isinstance(error, ShipmentNotFound):
        return NotFoundError(field, error.rule, error.message)
    if isinstance(error, CorrectionInvalid):
        return _InvalidCorrection(field, error.rule, error.message)
    return ConflictError(field, error.rule, error.message)


# --- routes -----------------------------------------------------------------------------------


@router.get(
    "/shipments/{shipment_id}",
    summary="Read a shipment",
    description="The shipment with its lines as corrected, every correction made to it, and "
    "its Sage postings (kind, revision, state, reference, Sage id and number, last error).",
    responses=errors_documented(404),
)
async def get_shipment(shipment_id: ShipmentId, transactions: TransactionsDep) -> ShipmentOut:
    def work(unit: Unit) -> ShipmentOut:
        return shipment_view(unit.session, _require_shipment(unit.session, shipment_id))

    return await transactions.run(work)


@router.post(
    "/shipments/{shipment_id}/corrections",
    summary="Correct a shipment",
    description="Sets what order lines really shipped in the parcel, with a reason. Stock goes "
    "back on hand (or comes off it), the order's shipped quantities and state follow, and the "
    "difference is posted to Sage: a credit note for less, an invoice for more. Refused (409) "
    "above what the order line still allows, when the stock to take is not there, or while the "
    "order is at a station. Unchanged lines write nothing.",
    responses=errors_documented(404, 409),
)
async def post_correction(
    shipment_id: ShipmentId,
    body: CorrectionIn,
    transactions: TransactionsDep,
    wake_poster: WakePosterDep,
    who: PrincipalDep,
) -> ShipmentOut:
    def work(unit: Unit) -> tuple[ShipmentOut, bool]:
        session = unit.session
        try:
            written = correct_shipment(
                session,
                shipment_id,
                {line.line_id: line.quantity for line in body.lines},
                reason=body.reason,
                now=unit.now,
            )
        except CorrectionError as error:
            raise _api_error(error, body) from error
        if written:
            record_change(
                unit,
                who,
                action="shipment.correct",
                subject=f"shipment:{shipment_id}",
                before={row.line_id: row.quantity_before for row in written},
                after={
                    **{row.line_id: row.quantity_after for row in written},
                    "reason": body.reason,
                },
            )
        view = shipment_view(session, _require_shipment(session, shipment_id))
        return view, bool(written)

    view, changed = await transactions.run(work)
    if changed and wake_poster is not None:
        wake_poster()
    return view
