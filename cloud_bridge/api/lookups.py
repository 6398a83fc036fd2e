"""Loading a row a request names, or refusing with 404 naming the field that named it."""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy.orm import Session

from cloud_bridge.api.errors import NotFoundError
from cloud_bridge.db.models import Account, Debtor, Product, SalesOrder
from cloud_bridge.services.orders import OrderNotFound, load_order

__all__ = ["require", "require_order"]

_Row = TypeVar("_Row", Account, Debtor, Product)

_WHAT: dict[type[object], str] = {Account: "account", Debtor: "debtor", Product: "product"}


def require(session: Session, kind: type[_Row], key: str, *, field: str) -> _Row:
    """The account, debtor or product ``key``; 404 naming ``field`` if there is none."""
    row = session.get(kind, key)
    if row is None:
        what = _WHAT[kind]
        raise NotFoundError(field, f"an existing {what}", f"{what} {key!r} does not exist")
    return row


def require_order(session: Session, order_no: str, *, field: str = "order_no") -> SalesOrder:
    """The order with its lines; 404 naming ``field`` if there is none."""
    try:
        return load_order(session, order_no)
    except OrderNotFound as missing:
        raise NotFoundError(field, "an existing order", str(missing)) from missing
