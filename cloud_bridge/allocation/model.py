"""The values the allocation planner reads and the plan it returns.

They are plain frozen records so that the planner stays a pure function: the persistence
layer builds them from one locked snapshot, and the plan can be compared, logged and
property-tested without a database.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal, TypeAlias

from cloud_bridge.allocation.errors import AllocationInputError

__all__ = [
    "POLICIES",
    "AccountRules",
    "AllocationPlan",
    "Grant",
    "LineDemand",
    "LineKey",
    "Policy",
    "StockKey",
]

Policy: TypeAlias = Literal["partial", "all_or_nothing", "full_packs"]
POLICIES: frozenset[str] = frozenset({"partial", "all_or_nothing", "full_packs"})

LineKey: TypeAlias = tuple[str, str]
"""(order_id, line_id): identifies an order line."""

StockKey: TypeAlias = tuple[str, str]
"""(account_id, sku): identifies one account's stock of one product."""


@dataclass(frozen=True, slots=True)
class AccountRules:
    """How an account's order lines may use stock owned by other accounts.

    Borrowing needs BOTH flags. *Order from Linked Accounts* lets the account's orders be
    filled from linked stock at all; *Pick from Linked Accounts if Stock is Unavailable* lets
    that happen when the account's own stock runs out. The planner only ever borrows once the
    own stock is short, so every borrow is exactly the case both flags describe, and the
    source document asks for both to be enabled.

    `links` is the fallback order. Only this account's own links are followed: a linked
    account's links are not, so stock never travels along a chain of links the owner of the
    stock never agreed to.
    """

    account_id: str
    links: tuple[str, ...] = ()
    order_from_linked: bool = False
    pick_from_linked_if_unavailable: bool = False

    def __post_init__(self) -> None:
        if self.account_id in self.links:
            raise AllocationInputError(
                f"account {self.account_id!r} is linked to itself; expected links to other "
                "accounts only"
            )
        if len(set(self.links)) != len(self.links):
            raise AllocationInputError(
                f"account {self.account_id!r} lists a linked account twice in {self.links!r}; "
                "expected each linked account once, in fallback order"
            )

    @property
    def may_borrow(self) -> bool:
        """True when both flags allow this account's lines to fall back on linked stock."""
        return self.order_from_linked and self.pick_from_linked_if_unavailable


@dataclass(frozen=True, slots=True, kw_only=True)
class LineDemand:
    """One open order line that still needs stock.

    `outstanding` is what is left to reserve now (ordered less allocated less shipped); it is
    what every policy works on, so an all-or-nothing line whose earlier reservation still
    stands needs only its outstanding balance, not the whole line, to be covered.
    `ordered` is the whole line, kept so that a plan can be checked against the line.
    `service_level` ranks urgency, lower first. All `created_at` values of one snapshot must
    be alike, all timezone-aware or all naive, since they are compared with each other.
    """

    order_id: str
    line_id: str
    account_id: str
    sku: str
    outstanding: int
    ordered: int
    pack_size: int = 1
    promised_date: date | None = None
    service_level: int = 0
    created_at: datetime
    policy: Policy = "partial"

    def __post_init__(self) -> None:
        if self.outstanding < 0:
            raise AllocationInputError(
                f"line {self.key!r} has outstanding {self.outstanding}; expected 0 or more"
            )
        if self.ordered < self.outstanding:
            raise AllocationInputError(
                f"line {self.key!r} has outstanding {self.outstanding} above ordered "
                f"{self.ordered}; expected outstanding <= ordered"
            )
        if self.pack_size < 1:
            raise AllocationInputError(
                f"line {self.key!r} has pack size {self.pack_size}; expected 1 or more"
            )
        if self.policy not in POLICIES:
            raise AllocationInputError(
                f"line {self.key!r} has policy {self.policy!r}; expected one of {sorted(POLICIES)}"
            )

    @property
    def key(self) -> LineKey:
        """The line's identity, (order_id, line_id)."""
        return (self.order_id, self.line_id)


@dataclass(frozen=True, slots=True)
class Grant:
    """Stock of one account reserved for one line: one row of the allocation ledger.

    `borrowed` is true when the stock belongs to a linked account rather than the line's own
    account, so that every borrow can be audited.
    """

    order_id: str
    line_id: str
    sku: str
    from_account: str
    quantity: int
    borrowed: bool


@dataclass(frozen=True, slots=True)
class AllocationPlan:
    """What the planner decided for every line it was given.

    `grants` are in service order (highest priority first). `unfilled` holds only lines left
    with a balance above zero, and `reasons` says why, for each of those lines.
    """

    grants: tuple[Grant, ...]
    unfilled: Mapping[LineKey, int]
    reasons: Mapping[LineKey, str]
