"""Reading Sage into the bridge: contacts, ledger accounts, tax rates and items, then mappings.

Why it works this way:

* Sage has no webhooks, so changes are found by polling with `updated_or_created_since`. The
  mark for the next poll is the newest `updated_at` Sage itself reported, never our clock: the
  two clocks differ, and a mark taken from ours could skip records Sage stamped earlier.
* The mark is inclusive (Sage stamps to the second, and a record can be stamped in the same
  second after we read), so the records at the mark are read again next time. Writing is an
  upsert, which makes that harmless, and the report counts what actually changed.
* Each resource is written with its mark in one transaction, so a crash mid-sync leaves every
  resource either fully read up to its mark or not moved at all.
* Mapping debtors to contacts and products to items is done automatically only where it is
  unambiguous (exactly one match), never over a mapping someone set, and every mapping made or
  refused is reported so a person can see it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session, sessionmaker

from cloud_bridge.db.credit import Debtor
from cloud_bridge.db.orders import SalesOrder
from cloud_bridge.db.posting import SageItemKind, SageRecord, SageSyncMark
from cloud_bridge.db.shipping import ShipmentLine
from cloud_bridge.db.stock import Product, StockItem
from cloud_bridge.sage.client import SageClient
from cloud_bridge.sage.errors import SageProtocolError

__all__ = [
    "SYNCED_RESOURCES",
    "MappingMade",
    "ResourceSync",
    "SyncReport",
    "Unmapped",
    "ledger_account_id",
    "parse_sage_datetime",
    "sync_from_sage",
    "tax_rate_exists",
]

SYNCED_RESOURCES = (
    "contacts",
    "ledger_accounts",
    "tax_rates",
    "products",
    "services",
    "stock_items",
)
"""What the bridge keeps a copy of, in the order they are read."""

_CODE_FIELDS = {
    "contacts": "reference",
    "ledger_accounts": "nominal_code",
    "tax_rates": "id",
    "products": "item_code",
    "services": "item_code",
    "stock_items": "item_code",
}
_ITEM_KINDS = {"STOCK_ITEM": SageItemKind.STOCK, "NON_STOCK_ITEM": SageItemKind.NON_STOCK}

Record = dict[str, Any]


@dataclass(frozen=True)
class ResourceSync:
    """What one resource's sync read: `read` records returned, `changed` of them new or edited."""

    resource: str
    read: int
    changed: int
    synced_since: datetime | None
    """The mark after this sync: the next one asks for records at or after it."""


@dataclass(frozen=True)
class MappingMade:
    """A mapping this sync set: a debtor to a contact, or a product to a Sage item."""

    subject: str
    """"debtor" or "product"."""
    key: str
    """The debtor number or SKU."""
    sage_id: str
    kind: str
    """"contact", or the item kind: stock, non_stock or service."""


@dataclass(frozen=True)
class Unmapped:
    """A debtor or product that still has no Sage mapping (or a dangling one), and why."""

    subject: str
    key: str
    reason: str


@dataclass(frozen=True)
class SyncReport:
    """The outcome of one sync, for `packline sage sync` to print."""

    business_id: str
    resources: tuple[ResourceSync, ...]
    mapped: tuple[MappingMade, ...]
    unmapped: tuple[Unmapped, ...]

    def resource(self, name: str) -> ResourceSync:
        """The sync of one resource by name."""
        for entry in self.resources:
            if entry.resource == name:
                return entry
        raise KeyError(f"no resource {name!r} in this sync; synced {SYNCED_RESOURCES}")

    def lines(self) -> list[str]:
        """The report as lines of text, one fact each."""
        out = [f"Sage business {self.business_id}:"]
        for entry in self.resources:
            since = entry.synced_since.isoformat() if entry.synced_since else "nothing yet"
            out.append(
                f"  {entry.resource}: {entry.read} read, {entry.changed} new or changed "
                f"(next sync from {since})"
            )
        if self.mapped:
            out.append("Mapped automatically:")
            out.extend(f"  {m.subject} {m.key} -> {m.kind} {m.sage_id}" for m in self.mapped)
        if self.unmapped:
            out.append("Still to map by hand:")
            out.extend(f"  {u.subject} {u.key}: {u.reason}" for u in self.unmapped)
        else:
            out.append("Every debtor with orders and product with shipments or stock is mapped.")
        return out


def parse_sage_datetime(value: Any, what: str) -> datetime | None:
    """A Sage ISO 8601 timestamp as an aware UTC datetime; None when Sage sent none."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise SageProtocolError(f"{what} is {value!r}; expected an ISO 8601 date-time string")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as error:
        raise SageProtocolError(
            f"{what} is {value!r}; expected an ISO 8601 date-time string"
        ) from error
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


async def sync_from_sage(
    sessions: sessionmaker[Session], client: SageClient, *, now: datetime | None = None
) -> SyncReport:
    """Read every synced resource changed since its mark, then map what is unambiguous."""
    business_id = client.business_id
    synced_at = now or datetime.now(UTC)
    resources = []
    for resource in SYNCED_RESOURCES:
        resources.append(await _sync_resource(sessions, client, resource, synced_at))
    with sessions() as session, session.begin():
        mapped = (*_map_debtors(session, business_id), *_map_products(session, business_id))
        session.flush()
        unmapped = (
            *_unmapped_debtors(session, business_id),
            *_unmapped_products(session, business_id),
        )
    return SyncReport(business_id, tuple(resources), mapped, unmapped)


async def _sync_resource(
    sessions: sessionmaker[Session], client: SageClient, resource: str, synced_at: datetime
) -> ResourceSync:
    """Read one resource from its mark, then store it and move the mark in one transaction."""
    business_id = client.business_id
    with sessions() as session:
        mark = session.get(SageSyncMark, (business_id, resource))
        since = mark.synced_since if mark is not None else None
    records = [record async for record in client.list_all(resource, updated_or_created_since=since)]
    newest = since
    changed = 0
    with sessions() as session, session.begin():
        for record in records:
            updated_at = parse_sage_datetime(
                record.get("updated_at"), f"{resource} {record.get('id')} updated_at"
            )
            if _upsert(session, business_id, resource, record, updated_at):
                changed += 1
            if updated_at is not None and (newest is None or updated_at > newest):
                newest = updated_at
        if newest is not None:
            session.merge(
                SageSyncMark(
                    business_id=business_id,
                    resource=resource,
                    synced_since=newest,
                    synced_at=synced_at,
                )
            )
    return ResourceSync(resource, len(records), changed, newest)


def _code(resource: str, record: Record) -> str | None:
    value = record.get(_CODE_FIELDS[resource])
    if value is None or value == "":
        return None
    return str(value)


def _upsert(
    session: Session,
    business_id: str,
    resource: str,
    record: Record,
    updated_at: datetime | None,
) -> bool:
    """Store one record; True when it is new or differs from the stored copy."""
    sage_id = record.get("id")
    if not isinstance(sage_id, str) or not sage_id:
        raise SageProtocolError(f"a {resource} record from Sage has no id: {record!r}")
    data = json.dumps(record, sort_keys=True, default=str)
    stored = session.get(SageRecord, (business_id, resource, sage_id))
    if stored is not None and stored.data == data:
        return False
    if stored is None:
        stored = SageRecord(business_id=business_id, resource=resource, sage_id=sage_id)
        session.add(stored)
    stored.code = _code(resource, record)
    stored.displayed_as = str(record.get("displayed_as") or "")[:400]
    stored.data = data
    stored.updated_at = updated_at
    return True


def _records_with_code(
    session: Session, business_id: str, resource: str, code: str
) -> list[SageRecord]:
    return list(
        session.scalars(
            select(SageRecord)
            .where(
                SageRecord.business_id == business_id,
                SageRecord.resource == resource,
                SageRecord.code == code,
            )
            .order_by(SageRecord.sage_id)
        )
    )


def _record_exists(session: Session, business_id: str, resource: str, sage_id: str) -> bool:
    return session.get(SageRecord, (business_id, resource, sage_id)) is not None


def _map_debtors(session: Session, business_id: str) -> Iterable[MappingMade]:
    debtors = session.scalars(
        select(Debtor).where(Debtor.sage_contact_id.is_(None)).order_by(Debtor.debtor_no)
    )
    for debtor in debtors:
        matches = _records_with_code(session, business_id, "contacts", debtor.debtor_no)
        if len(matches) == 1:
            debtor.sage_contact_id = matches[0].sage_id
            yield MappingMade("debtor", debtor.debtor_no, matches[0].sage_id, "contact")


def _item_kind(record: SageRecord) -> SageItemKind | None:
    item_type = json.loads(record.data).get("item_type") or {}
    return _ITEM_KINDS.get(str(item_type.get("id"))) if isinstance(item_type, dict) else None


def _map_products(session: Session, business_id: str) -> Iterable[MappingMade]:
    products = session.scalars(
        select(Product).where(Product.sage_item_id.is_(None)).order_by(Product.sku)
    )
    for product in products:
        items = _records_with_code(session, business_id, "products", product.sku)
        if len(items) > 1:
            continue
        if len(items) == 1:
            kind = _item_kind(items[0])
            if kind is None:
                continue
            chosen = items[0]
        else:
            services = _records_with_code(session, business_id, "services", product.sku)
            if len(services) != 1:
                continue
            kind, chosen = SageItemKind.SERVICE, services[0]
        product.sage_item_id = chosen.sage_id
        product.sage_item_kind = kind
        yield MappingMade("product", product.sku, chosen.sage_id, kind.value)


def _ids(records: list[SageRecord]) -> str:
    return ", ".join(record.sage_id for record in records)


def _unmapped_debtors(session: Session, business_id: str) -> Iterable[Unmapped]:
    """Debtors with orders whose contact is missing, ambiguous, or not in this business."""
    has_orders = exists().where(SalesOrder.invoice_debtor_no == Debtor.debtor_no)
    debtors = session.scalars(select(Debtor).where(has_orders).order_by(Debtor.debtor_no))
    for debtor in debtors:
        contact_id = debtor.sage_contact_id
        if contact_id is not None:
            if not _record_exists(session, business_id, "contacts", contact_id):
                yield Unmapped(
                    "debtor",
                    debtor.debtor_no,
                    f"mapped to contact {contact_id}, which is not among this business's "
                    "synced contacts",
                )
            continue
        matches = _records_with_code(session, business_id, "contacts", debtor.debtor_no)
        if matches:
            reason = (
                f"{len(matches)} Sage contacts have reference {debtor.debtor_no} "
                f"({_ids(matches)}); choose one"
            )
        else:
            reason = f"no Sage contact has reference {debtor.debtor_no}"
        yield Unmapped("debtor", debtor.debtor_no, reason)


def _unmapped_products(session: Session, business_id: str) -> Iterable[Unmapped]:
    """Products with shipments or stock whose item is missing, ambiguous, or not synced here."""
    shipped = exists().where(ShipmentLine.sku == Product.sku)
    stocked = exists().where(StockItem.sku == Product.sku, StockItem.on_hand > 0)
    products = session.scalars(select(Product).where(shipped | stocked).order_by(Product.sku))
    for product in products:
        item_id = product.sage_item_id
        if item_id is None:
            yield Unmapped("product", product.sku, _why_unmapped(session, business_id, product.sku))
            continue
        resource = "services" if product.sage_item_kind is SageItemKind.SERVICE else "products"
        if not _record_exists(session, business_id, resource, item_id):
            yield Unmapped(
                "product",
                product.sku,
                f"mapped to {resource[:-1]} {item_id}, which is not among this business's "
                f"synced {resource}",
            )


def _why_unmapped(session: Session, business_id: str, sku: str) -> str:
    items = _records_with_code(session, business_id, "products", sku)
    services = _records_with_code(session, business_id, "services", sku)
    if len(items) > 1:
        return f"{len(items)} Sage products have item code {sku} ({_ids(items)}); choose one"
    if len(items) == 1:
        return (
            f"Sage product {items[0].sage_id} has an item type that is neither stock nor non-stock"
        )
    if len(services) > 1:
        return f"{len(services)} Sage services have item code {sku} ({_ids(services)}); choose one"
    return f"no Sage product or service has item code {sku}"


def ledger_account_id(session: Session, business_id: str, code_or_id: str) -> str | None:
    """The Sage id of a ledger account given by nominal code (digits) or by id; None if unknown.

    Only synced ledger accounts count, so a mistyped setting is caught before a posting is made.
    """
    if code_or_id.isdigit():
        matches = _records_with_code(session, business_id, "ledger_accounts", code_or_id)
        return matches[0].sage_id if len(matches) == 1 else None
    if _record_exists(session, business_id, "ledger_accounts", code_or_id):
        return code_or_id
    return None


def tax_rate_exists(session: Session, business_id: str, tax_rate_id: str) -> bool:
    """Whether a tax rate id is among this business's synced tax rates."""
    return _record_exists(session, business_id, "tax_rates", tax_rate_id)
