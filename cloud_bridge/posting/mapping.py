"""Which Sage contact and item a debtor and a product post as, in one business.

Ids in Sage belong to a business: the test business and the live one give the same customer
different ids. So the ids stored on a debtor (`sage_contact_id`) or a product (`sage_item_id`)
are used only where they exist among the records read from that business; otherwise the match
is by code (the contact's reference is our debtor number, the item code is our SKU), and only
when exactly one record matches. Anything unmatched is named in the posting's error, never
guessed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud_bridge.db.credit import Debtor
from cloud_bridge.db.posting import SageItemKind, SageRecord
from cloud_bridge.db.stock import Product

__all__ = ["SageItem", "contact_for", "item_for", "item_kind_of"]

_ITEM_RESOURCES = ("products", "services")


@dataclass(frozen=True)
class SageItem:
    """A product's Sage item in one business: its id and how it posts."""

    item_id: str
    kind: SageItemKind


def item_kind_of(resource: str, data: dict[str, object]) -> SageItemKind:
    """Stock item, non-stock product or service, from a record Sage returned."""
    if resource == "services":
        return SageItemKind.SERVICE
    item_type = data.get("item_type")
    type_id = item_type.get("id") if isinstance(item_type, dict) else None
    return SageItemKind.STOCK if type_id == "STOCK_ITEM" else SageItemKind.NON_STOCK


def _records(
    session: Session,
    business_id: str,
    resources: tuple[str, ...],
    *,
    sage_id: str | None = None,
    code: str | None = None,
) -> list[SageRecord]:
    query = select(SageRecord).where(
        SageRecord.business_id == business_id, SageRecord.resource.in_(resources)
    )
    if sage_id is not None:
        query = query.where(SageRecord.sage_id == sage_id)
    if code is not None:
        query = query.where(SageRecord.code == code)
    return list(session.scalars(query))


def contact_for(session: Session, business_id: str, debtor: Debtor) -> str | None:
    """The Sage contact id for `debtor` in `business_id`, or None if there is no single one."""
    if debtor.sage_contact_id and _records(
        session, business_id, ("contacts",), sage_id=debtor.sage_contact_id
    ):
        return debtor.sage_contact_id
    matches = _records(session, business_id, ("contacts",), code=debtor.debtor_no)
    return matches[0].sage_id if len(matches) == 1 else None


def item_for(session: Session, business_id: str, product: Product) -> SageItem | None:
    """The Sage item `product` posts as in `business_id`, or None if there is no single one."""
    if product.sage_item_id:
        stored = _records(session, business_id, _ITEM_RESOURCES, sage_id=product.sage_item_id)
        if stored:
            record = stored[0]
            kind = product.sage_item_kind or item_kind_of(record.resource, json.loads(record.data))
            return SageItem(record.sage_id, kind)
    matches = _records(session, business_id, _ITEM_RESOURCES, code=product.sku)
    if len(matches) != 1:
        return None
    record = matches[0]
    return SageItem(record.sage_id, item_kind_of(record.resource, json.loads(record.data)))
