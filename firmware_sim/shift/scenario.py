"""The shift's data: products, accounts, debtors, stock and orders, and what happens during it.

`build_scenario` is a pure function of its arguments: the same seed gives the same scenario, so
a shift that went wrong can be run again. The data is shaped to exercise every rule of the
source documents, and the shape is what makes the expected outcome certain:

- Accounts (seed 000): ACME borrows from DEPOT (both flags on); CORNER from ACME, then DEPOT
  (both on); BRIGHT is linked to DEPOT but has only one flag on, so it never borrows; DEPOT
  holds the shared stock. ACME and CORNER hold none of the scarce SKU and none of the
  linked-only SKU, so those lines can only be filled from a linked account.
- Credit (seed 004): one debtor is already over its credit line, so every order invoiced to it
  is held with the exact "Credit line exceeded." message; one has no limit; one has a limit
  with ample headroom. Some prepayment orders are paid in full by the script during the shift,
  the others never, and stay held with the exact prepayment message.
- Allocation (seed 002): one SKU is deliberately scarce. Its stock is the first to arrive,
  after every order, so one allocation run divides it by promised date and service level.
  Send the setup before any station is online, so nothing is released between receipts.
  The orders the script changes or cancels wait for that SKU with an all-or-nothing line and
  the latest promised date, so they cannot have shipped when the script reaches them.
- The replenishment gives every (account, SKU) enough of its own stock, or of the account it
  borrows from, for every order ever placed on it, so each order not held or cancelled is
  eventually filled.

Script actions fire on progress, not on wall time: `at_fraction` is compared with
`Expected.progress`, the share of the orders that must ship which have shipped at least once.
Every action before the replenishment is reachable with the setup's stock alone.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Final, Literal

from cloud_bridge.credit import credit_line_exceeded_message, prepayment_message
from edge.contract.fields import gtin_check_digit
from firmware_sim.errors import SimError

__all__ = [
    "MIN_ORDERS",
    "SHIFT_DATE",
    "ActionKind",
    "ApiRequest",
    "Expected",
    "Product",
    "SageContact",
    "SageSeed",
    "SageStockItem",
    "Scenario",
    "ScenarioError",
    "ScriptAction",
    "build_scenario",
]

MIN_ORDERS: Final = 30
"""Fewer orders cannot hold every role (held, paid, changed, cancelled) and still compete."""
SHIFT_DATE: Final = date(2025, 3, 3)
"""The shift's day; promised dates follow it. Fixed, so a seed always builds the same data."""
TAX_RATE: Final = Decimal("0.20")
"""Every line's tax rate; the bridge maps it to Sage's GB_STANDARD by default."""
SLOTS: Final = ("A1", "A2", "A3", "B1", "B2")
"""The simulated station's slots (`firmware_sim.sim_station.SLOT_PINS`), one SKU each."""

_PRODUCTS: Final = (
    ("MUG-RED-350", "Red stoneware mug, 350 ml", "8.50", 1),
    ("TEA-EARL-100", "Earl Grey tea, 100 bags", "4.25", 1),
    ("PEN-BLK-10", "Black gel pens, box of 10", "6.00", 1),
    ("NOTE-A5-DOT", "A5 dotted notebook", "7.75", 1),
    ("LID-CUP-80", "Compostable cup lids, sleeve of 80", "3.20", 2),
)
_SCARCE, _TEA, _PEN, _LINKED_ONLY, _LIDS = (sku for sku, *_ in _PRODUCTS)
_GTIN_BODY: Final = "506012345"
"""A GS1 UK prefix and company number; the item reference and check digit follow."""

_ACCOUNTS: Final = (
    # id, name, links in fallback order, order_from_linked, pick_from_linked_if_unavailable
    ("ACME", "Acme Coffee Co", ("DEPOT",), True, True),
    ("BRIGHT", "Bright Stationers", ("DEPOT",), True, False),
    ("CORNER", "Corner Cafe Group", ("ACME", "DEPOT"), True, True),
    ("DEPOT", "Central Depot", (), False, False),
)
_SHARED: Final = "DEPOT"
_NOT_HELD: Final = {"ACME": {_SCARCE, _LINKED_ONLY}, "CORNER": {_SCARCE, _LINKED_ONLY}}
"""SKUs an account holds none of: its lines of them draw on its linked accounts."""
_BRIGHT_SKUS: Final = (_TEA, _PEN, _LIDS)
_BRIGHT_SHORT: Final = _PEN
"""BRIGHT starts with half of what it needs of this, and may not borrow it: it waits."""
_SCARCE_ACCOUNTS: Final = ("ACME", "CORNER", "DEPOT")
"""Accounts whose scarce lines all draw on DEPOT's one pool, so priority decides alone."""

_NO_LIMIT, _WITHIN, _OVER, _SPARE = "30001", "30002", "30003", "30004"
_DEBTORS: Final = {
    _NO_LIMIT: "Harbour Cafe Ltd",
    _WITHIN: "Quayside Stores",
    _OVER: "Moorland Outfitters",
    _SPARE: "Riverside Deli",
}
_OVER_LINE, _OVER_OPEN = Decimal("500.00"), Decimal("1840.50")
_WITHIN_OPEN = Decimal("1250.00")
_SPARE_SHIPPED = Decimal("120.00")

_ADDRESSES: Final = (
    ("Harbour Cafe Ltd", "12 Quay Street", "Bristol", "BS1 4DJ"),
    ("Quayside Stores", "3 Dock Road", "Liverpool", "L3 4AF"),
    ("Moorland Outfitters", "Unit 7, Tor Park", "Okehampton", "EX20 1FB"),
    ("Riverside Deli", "48 Bridge Street", "York", "YO1 6DP"),
    ("Corner Cafe Group", "1 Market Place", "Leeds", "LS1 6LB"),
)
_CARRIERS: Final = ("DPD", "ROYAL-MAIL", "EVRI")

_SETUP_MARGIN: Final = 2
_REPLENISH_MARGIN: Final = 3
"""Spare units, so a unit a packer reports missing does not leave an order short for good."""
_LATEST_REPLENISHMENT: Final = 0.4
_CORRECTION_AT: Final = 0.75
_CANCEL_REASON: Final = "Customer cancelled before despatch"
_CORRECTION_REASON: Final = "Miscount at the dock: one unit fewer was in the parcel"

Role = Literal["normal", "credit", "unpaid", "paid", "change", "cancel"]
ActionKind = Literal["pay", "change_quantity", "cancel", "receive", "correct_after_posting"]


class ScenarioError(SimError, ValueError):
    """The scenario cannot be built from the arguments given; the message names which."""


# --- what the scenario holds ------------------------------------------------------------------


@dataclass(frozen=True)
class ApiRequest:
    """One call to the bridge's HTTP API: `body` is JSON-ready (money as decimal strings)."""

    method: Literal["GET", "POST", "PUT", "PATCH"]
    path: str
    body: dict[str, Any] | None = None


@dataclass(frozen=True)
class Product:
    """One SKU, in its slot at every station."""

    sku: str
    gtin: str
    description: str
    unit_price: Decimal
    pack_size: int
    slot: str


@dataclass(frozen=True)
class SageContact:
    """A customer contact in Sage; the bridge matches it to a debtor by `reference`."""

    reference: str
    name: str


@dataclass(frozen=True)
class SageStockItem:
    """A stock item in Sage; the bridge matches it to a product by `item_code` (the SKU)."""

    item_code: str
    description: str
    sales_price: Decimal
    quantity_in_stock: int


@dataclass(frozen=True)
class SageSeed:
    """What the Sage sandbox must hold before the shift, matching the bridge after `setup`."""

    contacts: tuple[SageContact, ...]
    stock_items: tuple[SageStockItem, ...]


@dataclass(frozen=True)
class ScriptAction:
    """One thing that happens during the shift, once progress reaches `at_fraction`.

    `request` is the API call, except for ``correct_after_posting``: the shipment is picked at
    that moment from those already posted, and `correction` builds the call. A ``receive``
    action names `sku` and `units`, which Sage's stock item must gain at the same time.
    """

    at_fraction: float
    kind: ActionKind
    request: ApiRequest | None
    order_no: str | None = None
    sku: str | None = None
    units: int = 0
    reason: str | None = None
    reduce_by: int = 0

    def correction(self, shipment_id: int, line_id: str, quantity_now: int) -> ApiRequest:
        """The correction of one shipped line: `quantity_now` less `reduce_by`, with the reason."""
        if self.kind != "correct_after_posting" or self.reason is None:
            raise ScenarioError(
                f"a {self.kind} action has no correction; expected a correct_after_posting action"
            )
        if quantity_now < self.reduce_by:
            raise ScenarioError(
                f"shipment {shipment_id} line {line_id} holds {quantity_now} units; expected at "
                f"least {self.reduce_by} to take off"
            )
        line = {"line_id": line_id, "quantity": quantity_now - self.reduce_by}
        body = {"reason": self.reason, "lines": [line]}
        return ApiRequest("POST", f"/shipments/{shipment_id}/corrections", body)


_SHIPPING_STATES: Final = frozenset({"shipped", "partially_shipped"})


@dataclass(frozen=True)
class Expected:
    """How every order must end, given the data and the script."""

    credit_held: frozenset[str]
    prepayment_held: frozenset[str]
    cancelled: frozenset[str]
    to_ship: frozenset[str]
    """Must end shipped or partially shipped."""
    messages: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """The error report's exact messages for each order that must end held."""

    def progress(self, states: Mapping[str, str]) -> float:
        """The share of `to_ship` orders whose state (order -> state) shows a shipment."""
        shipped = sum(1 for order_no in self.to_ship if states.get(order_no) in _SHIPPING_STATES)
        return shipped / len(self.to_ship)


@dataclass(frozen=True)
class Scenario:
    """Everything the shift needs: send `setup` to a fresh bridge, seed Sage with `sage`, then
    apply `script` as progress passes each action's fraction; `expected` is how it must end."""

    seed: int
    skus: tuple[Product, ...]
    slot_maps: dict[str, dict[str, str]]
    setup: tuple[ApiRequest, ...]
    sage: SageSeed
    script: tuple[ScriptAction, ...]
    expected: Expected
    scarce_sku: str
    linked_only_sku: str


# --- building it ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Line:
    sku: str
    quantity: int
    policy: str


@dataclass(frozen=True)
class _Order:
    order_no: str
    role: Role
    account: str
    debtor: str
    promised: date
    service_level: int
    lines: tuple[_Line, ...]
    address: int
    carrier: str

    def total(self, prices: Mapping[str, Decimal]) -> Decimal:
        """The whole order including tax, as the bridge's gate reckons it."""
        return sum(
            (line.quantity * prices[line.sku] * (1 + TAX_RATE) for line in self.lines),
            Decimal(0),
        )


def _money(value: Decimal) -> str:
    return format(value.quantize(Decimal("0.0001")), "f")


def _products() -> tuple[Product, ...]:
    products = []
    for index, (sku, description, price, pack_size) in enumerate(_PRODUCTS):
        body = f"{_GTIN_BODY}{index + 1:03d}"
        gtin = f"{body}{gtin_check_digit(body)}"
        products.append(Product(sku, gtin, description, Decimal(price), pack_size, SLOTS[index]))
    return tuple(products)


def _roles(orders: int, rng: random.Random) -> list[Role]:
    counts: dict[Role, int] = {
        "credit": max(2, round(orders * 0.08)),
        "unpaid": max(1, round(orders * 0.04)),
        "paid": max(2, round(orders * 0.05)),
        "change": max(2, orders // 30),
        "cancel": max(2, orders // 50),
    }
    roles: list[Role] = [role for role, count in counts.items() for _ in range(count)]
    roles += ["normal"] * (orders - len(roles))
    rng.shuffle(roles)
    return roles


class _OrderMaker:
    """Draws orders from one seeded generator, in a fixed order of draws."""

    def __init__(self, rng: random.Random, packs: Mapping[str, int]) -> None:
        self._rng = rng
        self._packs = packs
        self._forced_scarce = 4
        """The first normal orders that must compete for the scarce SKU, so it is contested."""

    def make(self, number: int, role: Role) -> _Order:
        rng = self._rng
        if role in {"change", "cancel"}:
            return self._waiting(number, role)
        forced = role == "normal" and self._forced_scarce > 0
        if forced:
            account = ("ACME", "CORNER", "DEPOT")[self._forced_scarce % 3]
            self._forced_scarce -= 1
        else:
            account = rng.choices(("ACME", "BRIGHT", "CORNER", "DEPOT"), (7, 5, 4, 4))[0]
        debtor = _OVER if role == "credit" else self._debtor()
        lines = self._lines(account, with_scarce=forced)
        return _Order(
            order_no=f"SO-{number}",
            role=role,
            account=account,
            debtor=debtor,
            promised=SHIFT_DATE + timedelta(days=rng.randint(1, 7)),
            service_level=rng.randint(0, 3),
            lines=lines,
            address=rng.randrange(len(_ADDRESSES)),
            carrier=rng.choice(_CARRIERS),
        )

    def _debtor(self) -> str:
        return self._rng.choices((_NO_LIMIT, _WITHIN, _SPARE), (5, 3, 2))[0]

    def _waiting(self, number: int, role: Role) -> _Order:
        """A one-line order that waits for the scarce SKU behind every other: all or nothing,
        promised last, so it has not shipped when the script changes or cancels it."""
        rng = self._rng
        return _Order(
            order_no=f"SO-{number}",
            role=role,
            account=rng.choice(_SCARCE_ACCOUNTS),
            debtor=self._debtor(),
            promised=SHIFT_DATE + timedelta(days=14),
            service_level=rng.randint(5, 9),
            lines=(_Line(_SCARCE, rng.randint(2, 3), "all_or_nothing"),),
            address=rng.randrange(len(_ADDRESSES)),
            carrier=rng.choice(_CARRIERS),
        )

    def _lines(self, account: str, *, with_scarce: bool) -> tuple[_Line, ...]:
        rng = self._rng
        pool = list(_BRIGHT_SKUS) if account == "BRIGHT" else [s for s, *_ in _PRODUCTS]
        count = rng.randint(1, 3)
        if account != "BRIGHT" and (with_scarce or rng.random() < 0.25):
            others = [sku for sku in pool if sku != _SCARCE]
            skus = [_SCARCE, *rng.sample(others, count - 1)]
        else:
            skus = rng.sample([sku for sku in pool if sku != _SCARCE], count)
        if account == "ACME" and with_scarce and _LINKED_ONLY not in skus:
            # So borrowing is certain, whatever the draws.
            skus = [*skus, _LINKED_ONLY] if len(skus) < 3 else [*skus[:2], _LINKED_ONLY]
        return tuple(self._line(sku, forced=with_scarce and sku == _SCARCE) for sku in skus)

    def _line(self, sku: str, *, forced: bool) -> _Line:
        rng = self._rng
        if sku == _LIDS and rng.random() < 0.5:
            return _Line(sku, self._packs[sku] * rng.randint(1, 2), "full_packs")
        policy = "all_or_nothing" if not forced and rng.random() < 0.1 else "partial"
        return _Line(sku, rng.randint(1, 3), policy)


def _home(account: str, sku: str) -> str:
    """The account whose stock fills the account's lines of `sku`."""
    return _SHARED if sku in _NOT_HELD.get(account, set()) else account


def _demand(orders: Sequence[_Order]) -> dict[tuple[str, str], int]:
    """Units ordered per (stock-holding account, SKU), over every order ever placed."""
    demand: dict[tuple[str, str], int] = defaultdict(int)
    for order in orders:
        for line in order.lines:
            demand[(_home(order.account, line.sku), line.sku)] += line.quantity
    return dict(demand)


def _setup_stock(orders: Sequence[_Order]) -> dict[tuple[str, str], int]:
    """Enough of every SKU for every order, except BRIGHT's short SKU and the scarce one."""
    stock = {key: units + _SETUP_MARGIN for key, units in _demand(orders).items()}
    short = ("BRIGHT", _BRIGHT_SHORT)
    stock[short] = stock.get(short, _SETUP_MARGIN) // 2
    contested = sum(
        line.quantity
        for order in orders
        if order.role == "normal"
        for line in order.lines
        if line.sku == _SCARCE and line.policy == "partial"
    )
    stock[(_SHARED, _SCARCE)] = max(3, contested // 2)
    return {key: units for key, units in stock.items() if units > 0}


def _replenishment(
    orders: Sequence[_Order], stock: Mapping[tuple[str, str], int]
) -> dict[tuple[str, str], int]:
    """Units to receive per (account, SKU) so every order can be filled, with a margin."""
    needed = {}
    for key, units in _demand(orders).items():
        missing = units - stock.get(key, 0)
        if missing > 0:
            needed[key] = missing + _REPLENISH_MARGIN
    return dict(sorted(needed.items(), key=lambda item: _receipt_order(*item[0])))


def _receipt_order(account: str, sku: str) -> tuple[bool, int, str]:
    """Scarce stock first, then borrowers before the accounts they borrow from.

    An account borrows only while its own stock is short; a lender's stock that arrived first
    would be borrowed before the borrower's own arrived, and the lender's own orders left short.
    The scarce SKU arrives before all else, so it is divided in one run over every order.
    """
    lenders_last = ("CORNER", "ACME", "BRIGHT", "DEPOT")
    return (sku != _SCARCE, lenders_last.index(account), sku)


def _surely_filled(order: _Order) -> bool:
    """Whether the setup's stock fills the whole order in the first run, whatever the priority."""
    skus = {line.sku for line in order.lines}
    bright_short = order.account == "BRIGHT" and _BRIGHT_SHORT in skus
    return order.role == "normal" and _SCARCE not in skus and not bright_short


def _spread(count: int, start: float, end: float) -> list[float]:
    if count == 1:
        return [round(start, 3)]
    return [round(start + (end - start) * k / (count - 1), 3) for k in range(count)]


def _order_body(order: _Order, prices: Mapping[str, Decimal]) -> dict[str, Any]:
    name, line1, city, postal_code = _ADDRESSES[order.address]
    return {
        "order_no": order.order_no,
        "account": order.account,
        "invoice_debtor": order.debtor,
        "order_type": "prepayment" if order.role in {"paid", "unpaid"} else "normal",
        "promised_date": order.promised.isoformat(),
        "service_level": order.service_level,
        "deliver_to": {
            "name": name,
            "line1": line1,
            "city": city,
            "postal_code": postal_code,
            "country": "GB",
        },
        "carrier": order.carrier,
        "lines": [
            {
                "sku": line.sku,
                "quantity": line.quantity,
                "unit_price": _money(prices[line.sku]),
                "tax_rate": _money(TAX_RATE),
                "policy": line.policy,
            }
            for line in order.lines
        ],
    }


def _receipt(account: str, sku: str, units: int, location: str) -> ApiRequest:
    body = {"account": account, "sku": sku, "location": location, "quantity": units}
    return ApiRequest("POST", "/stock/receipts", body)


def _setup(
    products: Sequence[Product],
    orders: Sequence[_Order],
    stock: Mapping[tuple[str, str], int],
) -> tuple[ApiRequest, ...]:
    prices = {product.sku: product.unit_price for product in products}
    requests = [
        ApiRequest(
            "PUT",
            "/settings/credit",
            {
                "check_credit_line": True,
                "risk_control": ["open_invoices", "open_orders", "shipped_not_invoiced"],
                "retry_in_minutes": 1,
            },
        )
    ]
    for account, name, _, order_from, pick_from in _ACCOUNTS:
        body = {
            "id": account,
            "name": name,
            "order_from_linked": order_from,
            "pick_from_linked_if_unavailable": pick_from,
        }
        requests.append(ApiRequest("POST", "/accounts", body))
    for account, _, links, _, _ in _ACCOUNTS:
        if links:
            body = {"linked_account_ids": list(links)}
            requests.append(ApiRequest("POST", f"/accounts/{account}/links", body))
    for product in products:
        body = {
            "sku": product.sku,
            "gtin": product.gtin,
            "pack_size": product.pack_size,
            "description": product.description,
            "unit_price": _money(product.unit_price),
        }
        requests.append(ApiRequest("POST", "/products", body))
    requests += [ApiRequest("POST", "/debtors", body) for body in _debtors(orders, prices)]
    requests += [ApiRequest("POST", "/orders", _order_body(order, prices)) for order in orders]
    # Stock after every order: a receipt allocates the orders waiting on it in one run, so the
    # scarce units go by priority however the bridge's own cycle interleaves with the setup.
    bays = {product.sku: f"BAY-{product.slot}" for product in products}
    for account, sku in sorted(stock, key=lambda key: _receipt_order(*key)):
        requests.append(_receipt(account, sku, stock[(account, sku)], bays[sku]))
    return tuple(requests)


def _debtors(orders: Sequence[_Order], prices: Mapping[str, Decimal]) -> list[dict[str, Any]]:
    """One debtor with no limit, one with ample headroom, one over its line, and a spare."""
    within = sum((o.total(prices) for o in orders if o.debtor == _WITHIN), Decimal(0))
    thousands = ((_WITHIN_OPEN + within) * 2 / 1000).to_integral_value(rounding="ROUND_CEILING")
    terms: dict[str, tuple[Decimal | None, Decimal, Decimal]] = {
        _NO_LIMIT: (None, Decimal(0), Decimal(0)),
        _WITHIN: (thousands * 1000, _WITHIN_OPEN, Decimal(0)),
        _OVER: (_OVER_LINE, _OVER_OPEN, Decimal(0)),
        _SPARE: (None, Decimal(0), _SPARE_SHIPPED),
    }
    bodies = []
    for debtor_no, name in _DEBTORS.items():
        credit_line, open_invoices, shipped = terms[debtor_no]
        bodies.append(
            {
                "debtor_no": debtor_no,
                "name": name,
                "credit_line": None if credit_line is None else _money(credit_line),
                "open_invoices": _money(open_invoices),
                "shipped_not_invoiced": _money(shipped),
            }
        )
    return bodies


def _script(
    orders: Sequence[_Order],
    prices: Mapping[str, Decimal],
    replenish: Mapping[tuple[str, str], int],
    replenish_at: float,
) -> tuple[ScriptAction, ...]:
    paid = [order for order in orders if order.role == "paid"]
    changed = [order for order in orders if order.role == "change"]
    cancelled = [order for order in orders if order.role == "cancel"]
    actions: list[ScriptAction] = []
    for order, at in zip(paid, _spread(len(paid), 0.02, replenish_at * 0.5), strict=True):
        paid_in_full = {"amount": _money(order.total(prices)), "order_no": order.order_no}
        request = ApiRequest("POST", f"/debtors/{order.debtor}/payments", paid_in_full)
        actions.append(ScriptAction(at, "pay", request, order_no=order.order_no))
    for order, at in zip(changed, _spread(len(changed), 0.05, replenish_at * 0.7), strict=True):
        body = {"quantity": max(1, order.lines[0].quantity - 1)}
        request = ApiRequest("PATCH", f"/orders/{order.order_no}/lines/1", body)
        actions.append(ScriptAction(at, "change_quantity", request, order_no=order.order_no))
    spread = _spread(len(cancelled), 0.1, replenish_at * 0.9)
    for order, at in zip(cancelled, spread, strict=True):
        request = ApiRequest("POST", f"/orders/{order.order_no}/cancel", {"reason": _CANCEL_REASON})
        actions.append(
            ScriptAction(at, "cancel", request, order_no=order.order_no, reason=_CANCEL_REASON)
        )
    slots = {sku: SLOTS[index] for index, (sku, *_) in enumerate(_PRODUCTS)}
    for (account, sku), units in replenish.items():
        request = _receipt(account, sku, units, f"OVERFLOW-{slots[sku]}")
        actions.append(ScriptAction(replenish_at, "receive", request, sku=sku, units=units))
    actions.append(
        ScriptAction(
            _CORRECTION_AT,
            "correct_after_posting",
            None,
            reason=_CORRECTION_REASON,
            reduce_by=1,
        )
    )
    return tuple(sorted(actions, key=lambda action: action.at_fraction))


def _expected(orders: Sequence[_Order]) -> Expected:
    def having(*roles: Role) -> frozenset[str]:
        return frozenset(order.order_no for order in orders if order.role in roles)

    messages = {
        order.order_no: (
            credit_line_exceeded_message(order.order_no, order.debtor)
            if order.role == "credit"
            else prepayment_message(order.order_no, order.debtor),
        )
        for order in orders
        if order.role in {"credit", "unpaid"}
    }
    return Expected(
        credit_held=having("credit"),
        prepayment_held=having("unpaid"),
        cancelled=having("cancel"),
        to_ship=having("normal", "paid", "change"),
        messages=messages,
    )


def _check_arguments(orders: int, stations: Sequence[str]) -> None:
    if isinstance(orders, bool) or not isinstance(orders, int) or orders < MIN_ORDERS:
        raise ScenarioError(
            f"orders is {orders!r}; expected a whole number of at least {MIN_ORDERS}, enough for "
            "every role (held, paid, changed, cancelled) and a contest for the scarce SKU"
        )
    if not stations:
        raise ScenarioError("stations is empty; expected at least one station id")
    for station in stations:
        if not isinstance(station, str) or not station.strip():
            raise ScenarioError(f"station id {station!r} is blank; expected a station id")
    if len(set(stations)) != len(stations):
        raise ScenarioError(f"stations {list(stations)!r} name a station twice; expected each once")


def build_scenario(*, orders: int, stations: list[str], seed: int) -> Scenario:
    """The shift's data for `orders` orders over `stations`, the same for the same `seed`."""
    _check_arguments(orders, stations)
    rng = random.Random(seed)
    products = _products()
    prices = {product.sku: product.unit_price for product in products}
    maker = _OrderMaker(rng, {product.sku: product.pack_size for product in products})
    drawn = [maker.make(10_001 + index, role) for index, role in enumerate(_roles(orders, rng))]
    stock = _setup_stock(drawn)
    replenish = _replenishment(drawn, stock)
    expected = _expected(drawn)
    reachable = sum(1 for order in drawn if _surely_filled(order)) / len(expected.to_ship)
    replenish_at = min(_LATEST_REPLENISHMENT, int(reachable * 75) / 100)
    if replenish_at < 0.1:  # pragma: no cover - the order mix makes this unreachable
        raise ScenarioError(
            f"seed {seed}: only {reachable:.0%} of the orders to ship can ship before the "
            "replenishment; expected at least 14 %"
        )
    on_hand: dict[str, int] = defaultdict(int)
    for (_, sku), units in stock.items():
        on_hand[sku] += units
    sage = SageSeed(
        contacts=tuple(SageContact(number, name) for number, name in _DEBTORS.items()),
        stock_items=tuple(
            SageStockItem(p.sku, p.description, p.unit_price, on_hand[p.sku]) for p in products
        ),
    )
    return Scenario(
        seed=seed,
        skus=products,
        slot_maps={station: {p.sku: p.slot for p in products} for station in stations},
        setup=_setup(products, drawn, stock),
        sage=sage,
        script=_script(drawn, prices, replenish, replenish_at),
        expected=expected,
        scarce_sku=_SCARCE,
        linked_only_sku=_LINKED_ONLY,
    )
