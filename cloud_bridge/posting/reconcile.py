"""Reconciliation: does Sage hold exactly what the bridge shipped, posted and has in stock?

Why it works this way:

* The bridge's side is read first, in one transaction, and Sage's side after. A document the
  poster creates in between then shows up in Sage but not yet in our snapshot, where it matches
  a pending posting by reference and counts as in flight, not as a stray document. Read the
  other way round, a posting stored between the two reads would look missing from Sage.
* Pending postings are "not yet posted", reported as awaiting posting, which is information,
  not a problem: `ok` ignores it, and a quiet system (nothing pending) has no differences.
* Everything from Sage is read through the client, which follows Sage's pagination; stock is
  read fresh from `stock_items`, never from the synced copy, because it is the thing checked.
* Every run that finishes is stored (``reconcile_record``) by this function itself, whoever
  calls it, so the dashboard can show the last result and what it covered.
* Only postings of the client's environment (test or live) and business are compared, and
  shipments posted only in the other environment are left out: test history is never checked
  against the live books. Postings of the other environment that name this business are a
  configuration error and stop the reconciliation, naming both environments.
"""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from cloud_bridge.db.posting import Posting, PostingKind, PostingState, SageItemKind
from cloud_bridge.db.shipping import Shipment, ShipmentLine
from cloud_bridge.db.stock import Product, StockItem
from cloud_bridge.posting.mapping import item_for
from cloud_bridge.posting.reconcile_record import (
    CheckedCounts,
    RecordedDifference,
    RunFacts,
    record_reconciliation,
)
from cloud_bridge.sage.client import SageClient
from cloud_bridge.sage.errors import SageEnvironmentMismatch, SageProtocolError

__all__ = [
    "INFORMATIONAL_KINDS",
    "OUR_NOTES_MARK",
    "Difference",
    "DifferenceKind",
    "Reconciliation",
    "reconcile",
]

OUR_NOTES_MARK = "Packline shipment"
"""A Sage document whose notes contain this was written by us, whatever its reference."""

Record = dict[str, Any]


class DifferenceKind(enum.StrEnum):
    """What kind of disagreement between the bridge and Sage a difference is."""

    AWAITING_POSTING = "awaiting_posting"
    """A pending posting: not yet confirmed by Sage. Information, not a problem."""
    SHIPMENT_WITHOUT_DOCUMENT = "shipment_without_document"
    """Shipped units no posting covers (or more posted than shipped), or a posting marked
    posted without a Sage id."""
    DOCUMENT_WITHOUT_SHIPMENT = "document_without_shipment"
    """A Sage document that looks like ours but no live posting of ours records it."""
    DOCUMENT_MISSING_IN_SAGE = "document_missing_in_sage"
    """A posting records a Sage id, but Sage no longer has that document (or voided it)."""
    QUANTITY_MISMATCH = "quantity_mismatch"
    """A posted document's line quantities in Sage differ from our posting lines."""
    STOCK_MISMATCH = "stock_mismatch"
    """Sage's quantity in stock of a stock item differs from the bridge's on hand."""
    FAILED_POSTING = "failed_posting"
    """A posting Sage refused for good."""


INFORMATIONAL_KINDS = frozenset({DifferenceKind.AWAITING_POSTING})
"""Kinds that are reported but do not make a reconciliation fail."""

_COUNTED_STATES = (PostingState.PENDING, PostingState.POSTED)
_RESOURCES = {PostingKind.INVOICE: "sales_invoices", PostingKind.CREDIT_NOTE: "sales_credit_notes"}
_LINES_FIELDS = {"sales_invoices": "invoice_lines", "sales_credit_notes": "credit_note_lines"}
_DOCUMENT_NAMES = {"sales_invoices": "sales invoice", "sales_credit_notes": "sales credit note"}
_VOID = "VOID"


@dataclass(frozen=True)
class Difference:
    """One disagreement, as a kind and a sentence a person can act on, with what it concerns."""

    kind: DifferenceKind
    message: str
    shipment_id: int | None = None
    posting_id: int | None = None
    sage_id: str | None = None
    sku: str | None = None

    def __str__(self) -> str:
        return f"{self.kind.value}: {self.message}"

    def recorded(self) -> RecordedDifference:
        """The difference as the bridge stores it with its reconciliation."""
        return RecordedDifference(
            kind=self.kind.value,
            message=self.message,
            shipment_id=self.shipment_id,
            posting_id=self.posting_id,
            sage_id=self.sage_id,
            sku=self.sku,
        )


@dataclass(frozen=True)
class Reconciliation:
    """Every difference found between the bridge and one Sage business."""

    business_id: str
    differences: list[Difference] = field(default_factory=list)
    checked: CheckedCounts = field(default_factory=CheckedCounts)
    """How much was compared."""
    run_id: int | None = None
    """The stored run (``sage_reconcile_runs``) this result was recorded as."""

    @property
    def problems(self) -> list[Difference]:
        """The differences that need someone's attention (all but awaiting posting)."""
        return [d for d in self.differences if d.kind not in INFORMATIONAL_KINDS]

    @property
    def ok(self) -> bool:
        """True when nothing but postings awaiting Sage was found."""
        return not self.problems

    def of_kind(self, kind: DifferenceKind) -> list[Difference]:
        """The differences of one kind."""
        return [d for d in self.differences if d.kind is kind]

    def lines(self) -> list[str]:
        """The reconciliation as lines of text: a verdict, then one line per difference."""
        if not self.differences:
            return [f"Sage business {self.business_id}: the bridge and Sage agree."]
        waiting = _count(len(self.differences) - len(self.problems), "posting")
        problems = _count(len(self.problems), "problem")
        verdict = "agree apart from" if self.ok else f"disagree: {problems},"
        head = f"Sage business {self.business_id}: the bridge and Sage {verdict}"
        return [f"{head} {waiting} awaiting Sage.", *(f"  {d}" for d in self.differences)]


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


# The bridge's side, read in one transaction


@dataclass(frozen=True)
class _PostingView:
    id: int
    shipment_id: int
    kind: PostingKind
    state: PostingState
    sage_id: str | None
    reference: str
    attempts: int
    last_error: str | None
    lines: tuple[tuple[str, str, int], ...]
    """(line_id, sku, quantity)"""

    @property
    def resource(self) -> str:
        return _RESOURCES[self.kind]

    @property
    def sign(self) -> int:
        return 1 if self.kind is PostingKind.INVOICE else -1

    def describe(self) -> str:
        label = "invoice" if self.kind is PostingKind.INVOICE else "credit note"
        return f"posting {self.id} ({label} {self.reference}) for shipment {self.shipment_id}"


@dataclass(frozen=True)
class _BridgeSide:
    postings: list[_PostingView]
    """This business's postings, every state."""
    shipment_ids: set[int]
    """Shipments in scope."""
    shipped: dict[tuple[int, str], tuple[str, int]]
    """(shipment id, line id) -> (sku, quantity) for shipments in scope."""
    items: dict[str, tuple[str | None, SageItemKind | None]]
    """sku -> (Sage item id, kind)."""
    on_hand: dict[str, int]
    our_references: set[str]
    """References of all our postings, in any business."""


def _check_no_other_environment(session: Session, business_id: str, environment: str) -> None:
    other = session.scalar(
        select(Posting)
        .where(Posting.business_id == business_id, Posting.environment != environment)
        .limit(1)
    )
    if other is not None:
        raise SageEnvironmentMismatch(
            f"business {business_id} is reconciled as Sage {environment}, but posting {other.id} "
            f"({other.reference}) was made in it as Sage {other.environment.value}; postings are "
            f"only ever reconciled against the environment they were made in"
        )


def _posted_only_elsewhere(session: Session, business_id: str, environment: str) -> set[int]:
    """Shipments with counted postings in another environment or business and none here."""
    here = select(Posting.shipment_id).where(
        Posting.business_id == business_id, Posting.environment == environment
    )
    return set(
        session.scalars(
            select(Posting.shipment_id)
            .where(Posting.state.in_(_COUNTED_STATES), Posting.shipment_id.not_in(here))
            .distinct()
        )
    )


def _read_bridge(
    session: Session, business_id: str, environment: str, shipped_since: datetime | None
) -> _BridgeSide:
    _check_no_other_environment(session, business_id, environment)
    shipments = select(Shipment.id)
    if shipped_since is not None:
        shipments = shipments.where(Shipment.shipped_at >= shipped_since)
    elsewhere = _posted_only_elsewhere(session, business_id, environment)
    shipment_ids = set(session.scalars(shipments)) - elsewhere
    postings = [
        _PostingView(
            id=p.id,
            shipment_id=p.shipment_id,
            kind=p.kind,
            state=p.state,
            sage_id=p.sage_id,
            reference=p.reference,
            attempts=p.attempts,
            last_error=p.last_error,
            lines=tuple((line.line_id, line.sku, line.quantity) for line in p.lines),
        )
        for p in session.scalars(
            select(Posting)
            .where(Posting.business_id == business_id, Posting.environment == environment)
            .options(selectinload(Posting.lines))
            .order_by(Posting.id)
        )
    ]
    lines = select(ShipmentLine)
    if shipped_since is not None:
        lines = lines.join(Shipment).where(Shipment.shipped_at >= shipped_since)
    shipped = {
        (line.shipment_id, line.line_id): (line.sku, line.quantity)
        for line in session.scalars(lines)
        if line.shipment_id not in elsewhere
    }
    items: dict[str, tuple[str | None, SageItemKind | None]] = {}
    for product in session.scalars(select(Product)):
        # The same mapping the planner posts with: ids are per business, codes match otherwise.
        item = item_for(session, business_id, product)
        items[product.sku] = (item.item_id, item.kind) if item is not None else (None, None)
    on_hand = {
        sku: int(total)
        for sku, total in session.execute(
            select(StockItem.sku, func.sum(StockItem.on_hand)).group_by(StockItem.sku)
        )
    }
    references = set(session.scalars(select(Posting.reference).distinct()))
    return _BridgeSide(postings, shipment_ids, shipped, items, on_hand, references)


# Sage's side, read through the client


@dataclass(frozen=True)
class _SageSide:
    documents: dict[str, dict[str, Record]]
    """resource -> id -> document, for sales invoices and credit notes."""
    stock: dict[str, Record]
    """stock item id -> stock item."""


async def _read_sage(client: SageClient) -> _SageSide:
    documents: dict[str, dict[str, Record]] = {}
    for resource in _LINES_FIELDS:
        documents[resource] = {
            str(record.get("id")): record async for record in client.list_all(resource)
        }
    stock = {str(record.get("id")): record async for record in client.list_all("stock_items")}
    return _SageSide(documents, stock)


async def _document_lines(client: SageClient, resource: str, document: Record) -> list[Record]:
    """A document's lines; fetched one by one if Sage left them out of the list."""
    lines_field = _LINES_FIELDS[resource]
    lines = document.get(lines_field)
    if lines is None:
        lines = (await client.get(resource, str(document["id"]))).get(lines_field)
    if not isinstance(lines, list):
        raise SageProtocolError(
            f"{resource} {document.get('id')} has no {lines_field} list; expected one"
        )
    return [line for line in lines if isinstance(line, dict)]


def _quantity(value: Any, what: str) -> Decimal:
    try:
        number = Decimal(str(value))
    except InvalidOperation as error:
        raise SageProtocolError(f"{what} is {value!r}; expected a number") from error
    if not number.is_finite():
        raise SageProtocolError(f"{what} is {value!r}; expected a finite number")
    return number


def _is_void(document: Record) -> bool:
    status = document.get("status")
    return isinstance(status, dict) and status.get("id") == _VOID


def _document_label(resource: str, document: Record) -> str:
    name = _DOCUMENT_NAMES[resource]
    return (
        f"Sage {name} {document.get('displayed_as') or document.get('id')} "
        f"(id {document.get('id')}, reference {document.get('reference')!r})"
    )


# The checks


async def reconcile(
    sessions: sessionmaker[Session],
    client: SageClient,
    *,
    shipped_since: datetime | None = None,
) -> Reconciliation:
    """Compare the bridge with the client's Sage business and list every difference.

    `shipped_since` limits the shipment checks to shipments shipped at or after it (for a
    business that only took postings from some date on); documents and stock are always checked
    whole.
    """
    started_at = datetime.now(UTC)
    business_id = client.business_id
    with sessions() as session:
        bridge = _read_bridge(session, business_id, client.environment, shipped_since)
    sage = await _read_sage(client)
    differences = [
        *_postings_in_flight_or_failed(bridge),
        *_unposted_shipments(bridge),
        *_stray_documents(bridge, sage),
        *_missing_documents(bridge, sage),
        *[d async for d in _quantity_mismatches(client, bridge, sage)],
        *_stock_mismatches(bridge, sage),
    ]
    order = list(DifferenceKind)
    differences.sort(key=lambda d: order.index(d.kind))
    result = Reconciliation(business_id, differences, _checked(bridge, sage))
    facts = RunFacts(
        environment=client.environment,
        business_id=business_id,
        started_at=started_at,
        finished_at=datetime.now(UTC),
        shipped_since=shipped_since,
        checked=result.checked,
        problems=len(result.problems),
    )
    run_id = record_reconciliation(sessions, facts, [d.recorded() for d in differences])
    return replace(result, run_id=run_id)


def _checked(bridge: _BridgeSide, sage: _SageSide) -> CheckedCounts:
    return CheckedCounts(
        shipment_lines=len(bridge.shipped),
        postings=len(bridge.postings),
        documents=sum(len(documents) for documents in sage.documents.values()),
        stock_items=sum(
            1
            for item_id, kind in bridge.items.values()
            if kind is SageItemKind.STOCK and item_id is not None
        ),
    )


def _postings_in_flight_or_failed(bridge: _BridgeSide) -> Iterable[Difference]:
    for posting in bridge.postings:
        if posting.state is PostingState.PENDING:
            error = f"; last error: {posting.last_error}" if posting.last_error else ""
            yield Difference(
                DifferenceKind.AWAITING_POSTING,
                f"{posting.describe()} is awaiting posting "
                f"({posting.attempts} attempts so far{error})",
                shipment_id=posting.shipment_id,
                posting_id=posting.id,
                sage_id=posting.sage_id,
            )
        elif posting.state is PostingState.FAILED:
            yield Difference(
                DifferenceKind.FAILED_POSTING,
                f"{posting.describe()} failed: {posting.last_error or 'no message was stored'}",
                shipment_id=posting.shipment_id,
                posting_id=posting.id,
            )
        elif posting.state is PostingState.POSTED and not posting.sage_id:
            yield Difference(
                DifferenceKind.SHIPMENT_WITHOUT_DOCUMENT,
                f"{posting.describe()} is marked posted but records no Sage document id",
                shipment_id=posting.shipment_id,
                posting_id=posting.id,
            )


def _unposted_shipments(bridge: _BridgeSide) -> Iterable[Difference]:
    """Shipment lines whose shipped quantity differs from their posted quantity."""
    posted: dict[tuple[int, str], int] = defaultdict(int)
    skus: dict[tuple[int, str], str] = {}
    for posting in bridge.postings:
        if posting.state not in _COUNTED_STATES or posting.shipment_id not in bridge.shipment_ids:
            continue
        for line_id, sku, quantity in posting.lines:
            posted[posting.shipment_id, line_id] += posting.sign * quantity
            skus[posting.shipment_id, line_id] = sku
    for key in sorted(set(bridge.shipped) | set(posted)):
        sku, shipped = bridge.shipped.get(key, (skus.get(key, "?"), 0))
        covered = posted.get(key, 0)
        if shipped == covered:
            continue
        shipment_id, line_id = key
        gap = (
            f"{_count(shipped - covered, 'unit')} without a Sage document"
            if shipped > covered
            else f"{_count(covered - shipped, 'unit')} more than shipped are posted"
        )
        yield Difference(
            DifferenceKind.SHIPMENT_WITHOUT_DOCUMENT,
            f"shipment {shipment_id} line {line_id} ({sku}): shipped {shipped}, posted "
            f"{covered} (invoices less credit notes, pending or posted); {gap}",
            shipment_id=shipment_id,
            sku=sku,
        )


def _stray_documents(bridge: _BridgeSide, sage: _SageSide) -> Iterable[Difference]:
    """Sage documents that look like ours but no pending or posted posting records."""
    live = {p.sage_id: p for p in bridge.postings if p.sage_id and p.state in _COUNTED_STATES}
    dead = {p.sage_id: p for p in bridge.postings if p.sage_id and p.state not in _COUNTED_STATES}
    in_flight = {
        p.reference for p in bridge.postings if p.state is PostingState.PENDING and not p.sage_id
    }
    for resource, documents in sage.documents.items():
        for sage_id, document in documents.items():
            if sage_id in live or _is_void(document):
                continue
            reference = str(document.get("reference") or "")
            if reference in in_flight:
                continue
            label = _document_label(resource, document)
            if sage_id in dead:
                owner = dead[sage_id]
                yield Difference(
                    DifferenceKind.DOCUMENT_WITHOUT_SHIPMENT,
                    f"{label} belongs to {owner.describe()}, which is {owner.state.value}, so "
                    "no shipment counts it",
                    shipment_id=owner.shipment_id,
                    posting_id=owner.id,
                    sage_id=sage_id,
                )
            elif reference in bridge.our_references or OUR_NOTES_MARK in str(
                document.get("notes") or ""
            ):
                yield Difference(
                    DifferenceKind.DOCUMENT_WITHOUT_SHIPMENT,
                    f"{label} looks like ours but is the document of none of our postings",
                    sage_id=sage_id,
                )


def _missing_documents(bridge: _BridgeSide, sage: _SageSide) -> Iterable[Difference]:
    """Pending or posted postings whose recorded Sage document is gone or voided."""
    for posting in bridge.postings:
        if not posting.sage_id or posting.state not in _COUNTED_STATES:
            continue
        document = sage.documents[posting.resource].get(posting.sage_id)
        if document is not None and not _is_void(document):
            continue
        name = _DOCUMENT_NAMES[posting.resource]
        what = "which Sage has voided" if document is not None else "which Sage does not have"
        yield Difference(
            DifferenceKind.DOCUMENT_MISSING_IN_SAGE,
            f"{posting.describe()} records Sage {name} {posting.sage_id}, {what}",
            shipment_id=posting.shipment_id,
            posting_id=posting.id,
            sage_id=posting.sage_id,
        )


def _item_label(bridge: _BridgeSide, item_id: str | None) -> str:
    if item_id is None:
        return "lines without a Sage item"
    skus = sorted(sku for sku, (mapped, _) in bridge.items.items() if mapped == item_id)
    return "/".join(skus) if skus else f"Sage item {item_id}"


async def _quantity_mismatches(
    client: SageClient, bridge: _BridgeSide, sage: _SageSide
) -> AsyncIterator[Difference]:
    """Posted documents whose quantities per item in Sage differ from our posting lines."""
    for posting in bridge.postings:
        if posting.state is not PostingState.POSTED or not posting.sage_id:
            continue
        document = sage.documents[posting.resource].get(posting.sage_id)
        if document is None or _is_void(document):
            continue
        ours: dict[str | None, Decimal] = defaultdict(Decimal)
        for _line_id, sku, quantity in posting.lines:
            ours[bridge.items.get(sku, (None, None))[0]] += quantity
        theirs: dict[str | None, Decimal] = defaultdict(Decimal)
        for line in await _document_lines(client, posting.resource, document):
            item = line.get("product") or line.get("service") or {}
            item_id = str(item["id"]) if isinstance(item, dict) and item.get("id") else None
            theirs[item_id] += _quantity(
                line.get("quantity", 1), f"{posting.resource} {posting.sage_id} line quantity"
            )
        for item_id in sorted(set(ours) | set(theirs), key=lambda key: key or ""):
            if ours.get(item_id, Decimal(0)) == theirs.get(item_id, Decimal(0)):
                continue
            yield Difference(
                DifferenceKind.QUANTITY_MISMATCH,
                f"{_document_label(posting.resource, document)} has "
                f"{theirs.get(item_id, Decimal(0)).normalize():f} of "
                f"{_item_label(bridge, item_id)} where {posting.describe()} has "
                f"{ours.get(item_id, Decimal(0)).normalize():f}",
                shipment_id=posting.shipment_id,
                posting_id=posting.id,
                sage_id=posting.sage_id,
            )


def _in_flight_units(bridge: _BridgeSide) -> dict[str, int]:
    """Per SKU, the units pending postings would still take out of Sage's stock."""
    units: dict[str, int] = defaultdict(int)
    for posting in bridge.postings:
        if posting.state is PostingState.PENDING and not posting.sage_id:
            for _line_id, sku, quantity in posting.lines:
                units[sku] += posting.sign * quantity
    return units


def _stock_mismatches(bridge: _BridgeSide, sage: _SageSide) -> Iterable[Difference]:
    """Stock items whose quantity in Sage differs from the bridge's on hand.

    Units in pending postings may or may not have reached Sage yet, so either count is accepted
    for them.
    """
    in_flight = _in_flight_units(bridge)
    for sku, (item_id, kind) in sorted(bridge.items.items()):
        if kind is not SageItemKind.STOCK or item_id is None:
            continue
        record = sage.stock.get(item_id)
        on_hand = Decimal(bridge.on_hand.get(sku, 0))
        if record is None:
            yield Difference(
                DifferenceKind.STOCK_MISMATCH,
                f"{sku} is mapped to Sage stock item {item_id}, which Sage does not list",
                sage_id=item_id,
                sku=sku,
            )
            continue
        in_sage = _quantity(
            record.get("quantity_in_stock") or 0, f"stock item {item_id} quantity_in_stock"
        )
        pending = in_flight.get(sku, 0)
        if in_sage in (on_hand, on_hand + pending):
            continue
        note = f" ({_count(pending, 'unit')} in postings awaiting Sage)" if pending else ""
        yield Difference(
            DifferenceKind.STOCK_MISMATCH,
            f"{sku}: Sage stock item {item_id} has {in_sage.normalize():f} in stock, the "
            f"bridge has {on_hand} on hand{note}",
            sage_id=item_id,
            sku=sku,
        )
