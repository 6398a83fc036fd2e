"""The sandbox's memory: businesses, their records, OAuth tokens and the log of every write.

Each business keeps its own records and idempotency ids, as Sage does, and every write is
logged with the business it hit, so a test can prove a posting meant for the test business
never reached the live one. Time comes from an injectable clock so token expiry and the 7-day
idempotency window can be crossed without waiting.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from firmware_sim.sage.faults import FaultQueue

__all__ = [
    "IDEMPOTENCY_WINDOW",
    "Business",
    "Clock",
    "ManualClock",
    "SageApiError",
    "SageSandbox",
    "TokenPair",
    "TokenStore",
    "WriteRecord",
    "error_item",
    "new_id",
]

Record = dict[str, Any]
Clock = Callable[[], datetime]

IDEMPOTENCY_WINDOW = timedelta(days=7)
CODE_LIFETIME = timedelta(seconds=60)
DEFAULT_ACCESS_TTL = timedelta(minutes=5)
DEFAULT_REFRESH_TTL = timedelta(days=31)


def new_id() -> str:
    """A Sage-style id: 32 lowercase hex characters."""
    return secrets.token_hex(16)


def error_item(data_code: str, message: str, source: str = "") -> dict[str, str]:
    """One entry of Sage's error array."""
    return {"$severity": "error", "$dataCode": data_code, "$message": message, "$source": source}


class SageApiError(Exception):
    """An error answer: a status and Sage's JSON array of error objects."""

    def __init__(self, status: int, items: list[dict[str, str]]) -> None:
        super().__init__(f"{status}: {items}")
        self.status = status
        self.items = items

    @classmethod
    def one(cls, status: int, data_code: str, message: str, source: str = "") -> SageApiError:
        """An error answer with a single error object."""
        return cls(status, [error_item(data_code, message, source)])


class ManualClock:
    """A clock that only moves when told to, for crossing token and idempotency windows."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start if start is not None else datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> None:
        """Move time forward."""
        self._now += delta


def _system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class TokenPair:
    """What the token endpoint returns."""

    access_token: str
    refresh_token: str
    expires_in: int
    refresh_token_expires_in: int

    def as_json(self) -> dict[str, Any]:
        """The OAuth token response body."""
        return {
            "access_token": self.access_token,
            "token_type": "bearer",
            "expires_in": self.expires_in,
            "refresh_token": self.refresh_token,
            "refresh_token_expires_in": self.refresh_token_expires_in,
            "scope": "full_access",
        }


class TokenStore:
    """OAuth codes and tokens: codes work once within 60 s, refresh tokens rotate on use."""

    def __init__(self, clock: Clock, access_ttl: timedelta, refresh_ttl: timedelta) -> None:
        self._clock = clock
        self._access_ttl = access_ttl
        self._refresh_ttl = refresh_ttl
        self._codes: dict[str, datetime] = {}
        self._access: dict[str, datetime] = {}
        self._refresh: dict[str, datetime] = {}

    def issue_code(self) -> str:
        """An authorisation code, as the consent redirect would hand the client."""
        code = secrets.token_urlsafe(24)
        self._codes[code] = self._clock() + CODE_LIFETIME
        return code

    def exchange_code(self, code: str) -> TokenPair | None:
        """Tokens for a fresh, unused code; None when the code is unknown, used or expired."""
        expires = self._codes.pop(code, None)
        if expires is None or self._clock() >= expires:
            return None
        return self._issue_pair()

    def refresh(self, refresh_token: str) -> TokenPair | None:
        """A new pair; the presented refresh token stops working at once, even if unexpired."""
        expires = self._refresh.pop(refresh_token, None)
        if expires is None or self._clock() >= expires:
            return None
        return self._issue_pair()

    def access_valid(self, access_token: str) -> bool:
        """Whether an access token is known and unexpired."""
        expires = self._access.get(access_token)
        return expires is not None and self._clock() < expires

    def _issue_pair(self) -> TokenPair:
        now = self._clock()
        access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        self._access[access] = now + self._access_ttl
        self._refresh[refresh] = now + self._refresh_ttl
        return TokenPair(
            access_token=access,
            refresh_token=refresh,
            expires_in=int(self._access_ttl.total_seconds()),
            refresh_token_expires_in=int(self._refresh_ttl.total_seconds()),
        )


@dataclass(frozen=True)
class WriteRecord:
    """One write the sandbox accepted; `replayed` marks an idempotent repeat (nothing stored)."""

    business_id: str
    resource: str
    record_id: str
    at: datetime
    replayed: bool = False


@dataclass(frozen=True)
class _IdempotentWrite:
    resource: str
    record_id: str
    at: datetime


@dataclass
class Business:
    """One Sage business: its own records, counters and idempotency ids."""

    id: str
    name: str
    records: dict[str, dict[str, Record]] = field(default_factory=dict)
    idempotency: dict[str, _IdempotentWrite] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)

    def collection(self, resource: str) -> dict[str, Record]:
        """The records of one resource, in creation order."""
        return self.records.setdefault(resource, {})

    def next_number(self, prefix: str) -> str:
        """The next document number, e.g. SI-1, as Sage numbers invoices per business."""
        self.counters[prefix] = self.counters.get(prefix, 0) + 1
        return f"{prefix}-{self.counters[prefix]}"


_TAX_RATES = (
    ("GB_STANDARD", "Standard 20.00%", Decimal("20.00")),
    ("GB_ZERO", "Zero 0.00%", Decimal("0.00")),
    ("GB_EXEMPT", "Exempt 0.00%", Decimal("0.00")),
    ("GB_NO_TAX", "No Tax", Decimal("0.00")),
)
_LEDGER_ACCOUNTS = (
    ("4000", "Sales Type A", "SALES"),
    ("4010", "Sales Type B", "SALES"),
    ("1100", "Trade Debtors", "CURRENT_ASSETS"),
)


class SageSandbox:
    """Everything the sandbox server holds: businesses, tokens, faults and the write log.

    `businesses` names the businesses to create (ids are generated; look them up with
    `business_id(name)`). Token lifetimes are configurable because Sage's 5-minute access
    token is too slow for tests that prove a client refreshes.
    """

    def __init__(
        self,
        *,
        businesses: Iterable[str] = ("test", "live"),
        clock: Clock | None = None,
        access_token_ttl: timedelta = DEFAULT_ACCESS_TTL,
        refresh_token_ttl: timedelta = DEFAULT_REFRESH_TTL,
    ) -> None:
        self.clock: Clock = clock if clock is not None else _system_clock
        self.tokens = TokenStore(self.clock, access_token_ttl, refresh_token_ttl)
        self.faults = FaultQueue()
        self.writes: list[WriteRecord] = []
        self.businesses: dict[str, Business] = {}
        for name in businesses:
            business = Business(id=new_id(), name=name)
            self.businesses[business.id] = business
            self._seed(business)

    def issue_code(self) -> str:
        """An authorisation code for `POST /oauth/token` (stands in for the consent screen)."""
        return self.tokens.issue_code()

    def login(self) -> TokenPair:
        """A token pair straight away, for tests that are not about the OAuth dance."""
        pair = self.tokens.exchange_code(self.tokens.issue_code())
        assert pair is not None
        return pair

    def business_id(self, name: str) -> str:
        """The id of the business created under `name`."""
        for business in self.businesses.values():
            if business.name == name:
                return business.id
        raise KeyError(f"no sandbox business named {name!r}; have {self.business_names()}")

    def business_names(self) -> list[str]:
        """Names of every business, in creation order."""
        return [business.name for business in self.businesses.values()]

    def writes_to(self, name: str) -> list[WriteRecord]:
        """Every write that hit the named business."""
        business_id = self.business_id(name)
        return [write for write in self.writes if write.business_id == business_id]

    def add_record(self, business_id: str, resource: str, fields: Record) -> Record:
        """Store a new record with Sage's common fields; `fields` supplies displayed_as."""
        business = self.businesses[business_id]
        now = self.clock()
        record_id = new_id()
        record: Record = {
            "id": record_id,
            "$path": f"/{resource}/{record_id}",
            "created_at": now,
            "updated_at": now,
            **fields,
        }
        business.collection(resource)[record_id] = record
        return record

    def add_contact(self, business_name: str, name: str, reference: str = "") -> Record:
        """Seed a customer contact."""
        return self.add_record(
            self.business_id(business_name),
            "contacts",
            {
                "displayed_as": f"{name} ({reference})" if reference else name,
                "name": name,
                "reference": reference,
                "contact_types": [{"id": "CUSTOMER", "displayed_as": "Customer"}],
                "credit_limit": None,
                "credit_days": None,
                "balance": Decimal("0.00"),
                "notes": "",
            },
        )

    def add_product(
        self,
        business_name: str,
        item_code: str,
        description: str,
        *,
        sales_price: Decimal = Decimal("0.00"),
        quantity_in_stock: Decimal | None = None,
    ) -> Record:
        """Seed a product; with `quantity_in_stock` it is a stock item that invoices move."""
        is_stock = quantity_in_stock is not None
        return self.add_record(
            self.business_id(business_name),
            "products",
            {
                "displayed_as": description,
                "item_code": item_code,
                "description": description,
                "item_type": {
                    "id": "STOCK_ITEM" if is_stock else "NON_STOCK_ITEM",
                    "displayed_as": "Stock" if is_stock else "Non-stock",
                },
                "sales_prices": [{"price": sales_price, "price_includes_tax": False}],
                "quantity_in_stock": quantity_in_stock if is_stock else None,
                "reorder_level": None,
                "cost_price": None,
            },
        )

    def record(self, business_name: str, resource: str, record_id: str) -> Record:
        """A stored record, for assertions."""
        return self.businesses[self.business_id(business_name)].collection(resource)[record_id]

    def remember_idempotent(
        self, business: Business, idempotency_id: str, resource: str, record_id: str
    ) -> None:
        """Remember which record an idempotency id created, from now."""
        business.idempotency[idempotency_id] = _IdempotentWrite(resource, record_id, self.clock())

    def idempotent_original(
        self, business: Business, idempotency_id: str, resource: str
    ) -> Record | None:
        """The record an idempotency id created within the last 7 days, if any.

        Reusing an id for a different resource type is refused, as Sage does.
        """
        seen = business.idempotency.get(idempotency_id)
        if seen is None or self.clock() - seen.at >= IDEMPOTENCY_WINDOW:
            return None
        if seen.resource != resource:
            raise SageApiError.one(
                409,
                "IdempotencyResourceMismatch",
                f"idempotency_id was first used for {seen.resource}, not {resource}",
                "idempotency_id",
            )
        return business.collection(resource)[seen.record_id]

    def log_write(
        self, business: Business, resource: str, record_id: str, *, replayed: bool = False
    ) -> None:
        """Append to the write log."""
        self.writes.append(WriteRecord(business.id, resource, record_id, self.clock(), replayed))

    def _seed(self, business: Business) -> None:
        for code, name, percentage in _TAX_RATES:
            record: Record = {
                "id": code,
                "$path": f"/tax_rates/{code}",
                "displayed_as": name,
                "name": name,
                "percentage": percentage,
                "is_visible": True,
                "created_at": self.clock(),
                "updated_at": self.clock(),
            }
            business.collection("tax_rates")[code] = record
        for nominal, name, account_type in _LEDGER_ACCOUNTS:
            self.add_record(
                business.id,
                "ledger_accounts",
                {
                    "displayed_as": f"{name} ({nominal})",
                    "name": name,
                    "nominal_code": int(nominal),
                    "ledger_account_type": {"id": account_type, "displayed_as": account_type},
                    "visible_in_sales": account_type == "SALES",
                },
            )

    def ledger_account_id(self, business_name: str, nominal_code: int) -> str:
        """The id of a seeded ledger account by its nominal code (4000 = Sales Type A)."""
        accounts = self.businesses[self.business_id(business_name)].collection("ledger_accounts")
        for record in accounts.values():
            if record["nominal_code"] == nominal_code:
                return str(record["id"])
        raise KeyError(f"no ledger account with nominal code {nominal_code}")
