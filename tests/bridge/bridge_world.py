"""A small warehouse in the bridge's database: accounts with links, products, stock, debtors."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy.orm import Session

from cloud_bridge.db.models import (
    Account,
    AccountLink,
    Debtor,
    Location,
    OrderType,
    Product,
    StockItem,
)
from cloud_bridge.services.orders import NewLine, NewOrder, create_order

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
GTINS = {"MUG": "05012345678900", "TEA": "04006381333931", "PEN": "09501101530003"}


def add_account(
    session: Session, account_id: str, *, links: Iterable[str] = (), borrow: bool = False
) -> None:
    session.add(
        Account(
            id=account_id,
            name=f"Account {account_id}",
            order_from_linked=borrow,
            pick_from_linked_if_unavailable=borrow,
        )
    )
    session.flush()
    for position, linked in enumerate(links):
        session.add(AccountLink(account_id=account_id, linked_account_id=linked, position=position))


def add_products(session: Session) -> None:
    session.add(Location(id="L1"))
    for sku, gtin in GTINS.items():
        session.add(Product(sku=sku, gtin=gtin, pack_size=1, unit_price=Decimal("10")))


def add_stock(session: Session, account_id: str, sku: str, units: int) -> None:
    session.add(StockItem(account_id=account_id, sku=sku, location_id="L1", on_hand=units))


def add_debtor(session: Session, debtor_no: str, credit_line: Decimal | None = None) -> None:
    session.add(Debtor(debtor_no=debtor_no, name=f"Debtor {debtor_no}", credit_line=credit_line))


def order(
    session: Session,
    order_no: str,
    account_id: str,
    lines: Iterable[tuple[str, int]],
    *,
    debtor: str = "D1",
    order_type: OrderType = OrderType.NORMAL,
    amount_paid: Decimal = Decimal(0),
    promised: date | None = None,
    price: Decimal = Decimal("10"),
) -> None:
    create_order(
        session,
        NewOrder(
            order_no=order_no,
            account_id=account_id,
            invoice_debtor_no=debtor,
            lines=tuple(
                NewLine(line_id=str(number), sku=sku, quantity=quantity, unit_price=price)
                for number, (sku, quantity) in enumerate(lines, start=1)
            ),
            deliver_to_name="Harbour Cafe Ltd",
            deliver_to_line1="12 Quay Street",
            deliver_to_city="Bristol",
            deliver_to_postal_code="BS1 4DJ",
            deliver_to_country="GB",
            carrier="DPD",
            order_type=order_type,
            amount_paid=amount_paid,
            promised_date=promised,
        ),
        now=NOW,
    )
    session.flush()


def basic_world(session: Session) -> None:
    """Account A borrows from B (both flags on); C has the flags off; debtor D1 has no limit."""
    add_products(session)
    add_account(session, "B")
    add_account(session, "A", links=["B"], borrow=True)
    add_account(session, "C", links=["B"], borrow=False)
    add_debtor(session, "D1")
    session.flush()
