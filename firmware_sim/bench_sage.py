"""Sage posting throughput: the bridge's posting outbox beside plain POSTs of the same invoices.

Both runs talk to one Sage sandbox served by uvicorn on loopback, in the same run, so the ratio
says how much of the bare HTTP rate survives everything the outbox adds per invoice: planning
the posting and writing it (idempotency id and exact body) before sending, then storing Sage's
id and marking it posted, each in its own SQLite transaction. The client's own pace is off
(`requests_per_minute=0`), so the figure is the outbox's cost, not a configured limit.

Choices that keep the comparison honest:

* The baseline posts the very bodies the outbox stored, to the sandbox's other business
  ("live"), with the contact, product and ledger account ids swapped for that business's own
  and the idempotency ids left as they are (idempotency ids are per business). So every request
  does the same work on the server: the same lookups, the same stock moved, an idempotency miss
  that is then remembered, and collections of the same size. Posting them to the outbox's own
  business under fresh ids would do the same work too, but then each shipment's reference would
  appear twice there and the one-invoice-per-shipment check could not be made on it.
* Planning is timed as part of the outbox (it is the outbox's write-ahead), which is why it runs
  first on its own: the baseline needs the planned bodies. The baseline then runs before the
  outbox posts, so it meets a quiet process (no garbage or page cache left by the outbox run);
  any drift from the order therefore counts against the outbox. The outbox's client is warmed
  by the sync and the plain client by one GET, so neither pays for opening its connection.
* Time is the real clock on both sides, and the sandbox's access tokens outlive the run, so no
  token refresh lands inside either timed run.

The run fails loudly unless every shipment produced exactly one invoice in the outbox's business
and every plain POST created one in the other.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from cloud_bridge.db import make_engine, session_factory, upgrade
from cloud_bridge.db.models import (
    Account,
    Debtor,
    Location,
    Posting,
    PostingState,
    Product,
    Shipment,
    ShipmentLine,
    StockItem,
)
from cloud_bridge.posting.service import PostingService
from cloud_bridge.posting.settings import SageSettings
from cloud_bridge.posting.sync import sync_from_sage
from cloud_bridge.services.orders import NewLine, NewOrder, create_order
from firmware_sim.errors import SimError
from firmware_sim.sage import SageSandbox, SageSandboxServer
from firmware_sim.sage.login import save_sandbox_login

__all__ = ["SageBenchError", "SagePostingFigures", "measure_sage_posting"]

_OUTBOX_BUSINESS = "test"
_PLAIN_BUSINESS = "live"
_DEBTOR = "D1"
_ACCOUNT = "A"
_LOCATION = "L1"
_SKUS = ("MUG", "TEA")
_UNIT_PRICE = Decimal("10.00")
_TAX_RATE = Decimal("0.20")
_TOKEN_TTL = timedelta(hours=12)
_SECONDS_PER_POSTING_LIMIT = 0.5
_MIN_LIMIT_S = 60.0
_CODE_FIELDS = {"contacts": "reference", "products": "item_code", "ledger_accounts": "nominal_code"}


class SageBenchError(SimError, RuntimeError):
    """The Sage posting benchmark was given bad arguments or its results did not check out."""


@dataclass(frozen=True)
class SagePostingFigures:
    """One run: `postings` invoices through the outbox and the same number as plain POSTs."""

    postings: int
    plan_seconds: float
    """Planning every shipment into the outbox (part of `outbox_seconds`)."""
    outbox_seconds: float
    """Planning plus the posting pass, until every posting was marked posted."""
    plain_seconds: float
    """The same documents as back-to-back POSTs from one httpx client: the baseline."""
    invoices: int
    """Invoices found in the outbox's business afterwards (checked to equal `postings`)."""

    @property
    def outbox_per_minute(self) -> float:
        """Invoices per minute through the outbox."""
        return self.postings * 60 / self.outbox_seconds

    @property
    def plain_per_minute(self) -> float:
        """Invoices per minute as plain POSTs."""
        return self.postings * 60 / self.plain_seconds

    @property
    def ratio(self) -> float:
        """The outbox's rate as a fraction of the plain rate."""
        return self.outbox_per_minute / self.plain_per_minute


def measure_sage_posting(postings: int) -> SagePostingFigures:
    """Post `postings` shipments through the outbox and as plain POSTs; see the module notes."""
    if postings < 1:
        raise SageBenchError(f"postings {postings} is below 1; expected at least 1")
    return asyncio.run(_measure(postings))


def _order_lines(number: int) -> list[tuple[str, int]]:
    """Order `number`'s lines: one or two, shipped in full by its one shipment."""
    lines = [(_SKUS[0], 1 + number % 3)]
    if number % 2:
        lines.append((_SKUS[1], 2))
    return lines


def _units_needed(postings: int) -> dict[str, int]:
    needed = dict.fromkeys(_SKUS, 0)
    for number in range(1, postings + 1):
        for sku, quantity in _order_lines(number):
            needed[sku] += quantity
    return needed


async def _measure(postings: int) -> SagePostingFigures:
    needed = _units_needed(postings)
    sandbox = SageSandbox(access_token_ttl=_TOKEN_TTL)
    _seed_sage(sandbox, needed)
    with tempfile.TemporaryDirectory(prefix="packline-sage-bench-") as name:
        folder = Path(name)
        engine = make_engine(f"sqlite:///{folder / 'bridge.db'}")
        try:
            upgrade(engine)
            sessions = session_factory(engine)
            _seed_bridge(sessions, postings, needed)
            async with (
                SageSandboxServer(sandbox) as server,
                asyncio.timeout(max(_MIN_LIMIT_S, postings * _SECONDS_PER_POSTING_LIMIT)),
            ):
                settings = _settings(folder, server, sandbox)
                access_token = _save_tokens(sandbox, folder)
                figures = await _timed_runs(sessions, settings, server, access_token, postings)
            _check_sandbox(sandbox, sessions, postings)
        finally:
            engine.dispose()
    return figures


def _seed_sage(sandbox: SageSandbox, needed: Mapping[str, int]) -> None:
    """The customer and the stock items in both businesses, with stock for every shipment."""
    for business in (_OUTBOX_BUSINESS, _PLAIN_BUSINESS):
        sandbox.add_contact(business, "Harbour Cafe Ltd", reference=_DEBTOR)
        for sku, units in needed.items():
            sandbox.add_product(business, sku, f"{sku} item", quantity_in_stock=Decimal(units))


def _seed_bridge(sessions: sessionmaker[Session], postings: int, needed: Mapping[str, int]) -> None:
    """Account A's stock, debtor D1, and `postings` orders each shipped in full by one shipment."""
    with sessions.begin() as session:
        session.add(Location(id=_LOCATION))
        session.add_all(Product(sku=sku, pack_size=1, unit_price=_UNIT_PRICE) for sku in _SKUS)
        session.add(Account(id=_ACCOUNT, name="Bench account"))
        session.add(Debtor(debtor_no=_DEBTOR, name="Harbour Cafe Ltd", credit_line=None))
        session.flush()
        session.add_all(
            StockItem(account_id=_ACCOUNT, sku=sku, location_id=_LOCATION, on_hand=units)
            for sku, units in needed.items()
        )
    with sessions.begin() as session:
        for number in range(1, postings + 1):
            _ship_order(session, number)


def _ship_order(session: Session, number: int) -> None:
    """One order, then its shipment as the ingest of a completed order records it."""
    now = datetime.now(UTC)
    order_no = f"SO{number}"
    lines = _order_lines(number)
    order = create_order(
        session,
        NewOrder(
            order_no=order_no,
            account_id=_ACCOUNT,
            invoice_debtor_no=_DEBTOR,
            lines=tuple(
                NewLine(
                    line_id=str(line_no),
                    sku=sku,
                    quantity=quantity,
                    unit_price=_UNIT_PRICE,
                    tax_rate=_TAX_RATE,
                )
                for line_no, (sku, quantity) in enumerate(lines, start=1)
            ),
            deliver_to_name="Harbour Cafe Ltd",
            deliver_to_line1="12 Quay Street",
            deliver_to_city="Bristol",
            deliver_to_postal_code="BS1 4DJ",
            deliver_to_country="GB",
            carrier="DPD",
        ),
        now=now,
    )
    session.flush()
    session.add(
        Shipment(
            order_no=order_no,
            station_id="bench.st01",
            label_id=f"L-{order_no}",
            carrier="DPD",
            shipped_at=now,
            lines=[
                ShipmentLine(line_id=line.line_id, sku=line.sku, quantity=line.quantity)
                for line in order.lines
            ],
        )
    )
    for line in order.lines:
        line.shipped_quantity += line.quantity
        stock = session.scalars(
            select(StockItem).where(StockItem.account_id == _ACCOUNT, StockItem.sku == line.sku)
        ).one()
        stock.on_hand -= line.quantity


def _settings(folder: Path, server: SageSandboxServer, sandbox: SageSandbox) -> SageSettings:
    secret = folder / "client-secret"
    secret.write_text("sandbox-secret\n")
    os.chmod(secret, 0o600)
    return SageSettings.model_validate(
        {
            "environment": _OUTBOX_BUSINESS,
            "client_id": "packline-bench",
            "client_secret_file": secret,
            "base_url": server.api_url,
            "token_url": f"{server.url}/oauth/token",
            "requests_per_minute": 0,
            _OUTBOX_BUSINESS: {
                "business_id": sandbox.business_id(_OUTBOX_BUSINESS),
                "token_file": folder / "tokens.json",
            },
            "posting": {"tax_rates": {"0.20": "GB_STANDARD", "0": "GB_ZERO"}},
        }
    )


def _save_tokens(sandbox: SageSandbox, folder: Path) -> str:
    """Save a fresh token pair where the outbox reads it; the access token for the baseline."""
    return save_sandbox_login(sandbox, folder / "tokens.json", "test").access_token


async def _timed_runs(
    sessions: sessionmaker[Session],
    settings: SageSettings,
    server: SageSandboxServer,
    access_token: str,
    postings: int,
) -> SagePostingFigures:
    async with PostingService(sessions, settings, requests_per_minute=0) as service:
        await sync_from_sage(sessions, service.client)
        started = time.perf_counter()
        planned = await asyncio.to_thread(service.plan)
        plan_seconds = time.perf_counter() - started
        if len(planned.postings) != postings or planned.failed:
            raise SageBenchError(
                f"planning wrote {len(planned.postings)} postings ({len(planned.failed)} failed "
                f"for a missing mapping); expected {postings}, none failed"
            )
        bodies = _plain_bodies(sessions, server.sandbox)
        plain_seconds = await _plain_run(server, access_token, bodies)
        started = time.perf_counter()
        sent = (await service.run_pass()).sent
        post_seconds = time.perf_counter() - started
    if len(sent.posted) != postings or sent.failed or sent.halted:
        raise SageBenchError(
            f"the outbox posted {len(sent.posted)} of {postings} postings "
            f"({len(sent.failed)} failed, halted: {sent.halted}); expected all posted"
        )
    invoices = len(_invoices(server.sandbox, _OUTBOX_BUSINESS))
    return SagePostingFigures(
        postings=postings,
        plan_seconds=plan_seconds,
        outbox_seconds=plan_seconds + post_seconds,
        plain_seconds=plain_seconds,
        invoices=invoices,
    )


def _plain_bodies(sessions: sessionmaker[Session], sandbox: SageSandbox) -> list[dict[str, Any]]:
    """The stored invoice bodies, wrapped for POST, with ids rebound to the other business."""
    ids = _id_map(sandbox)
    with sessions() as session:
        documents = session.scalars(select(Posting.document).order_by(Posting.id)).all()
    return [{"sales_invoice": _rebind(json.loads(document), ids)} for document in documents]


def _id_map(sandbox: SageSandbox) -> dict[str, str]:
    """Outbox-business id to other-business id, for records matched by their code."""
    source = sandbox.businesses[sandbox.business_id(_OUTBOX_BUSINESS)]
    target = sandbox.businesses[sandbox.business_id(_PLAIN_BUSINESS)]
    ids: dict[str, str] = {}
    for resource, field in _CODE_FIELDS.items():
        by_code = {record[field]: record["id"] for record in target.collection(resource).values()}
        for record in source.collection(resource).values():
            ids[record["id"]] = by_code[record[field]]
    return ids


def _rebind(value: Any, ids: Mapping[str, str]) -> Any:
    if isinstance(value, dict):
        return {key: _rebind(item, ids) for key, item in value.items()}
    if isinstance(value, list):
        return [_rebind(item, ids) for item in value]
    if isinstance(value, str):
        return ids.get(value, value)
    return value


async def _plain_run(
    server: SageSandboxServer, access_token: str, bodies: list[dict[str, Any]]
) -> float:
    """Seconds to POST every body in turn, each answered 201, from one plain httpx client."""
    headers = {
        "Authorization": f"Bearer {access_token}",
        "X-Business": server.sandbox.business_id(_PLAIN_BUSINESS),
    }
    async with httpx.AsyncClient(base_url=server.api_url, headers=headers) as client:
        (await client.get("/businesses")).raise_for_status()
        started = time.perf_counter()
        for body in bodies:
            response = await client.post("/sales_invoices", json=body)
            if response.status_code != httpx.codes.CREATED:
                raise SageBenchError(
                    f"plain POST /sales_invoices answered {response.status_code} "
                    f"{response.text[:300]}; expected 201 Created"
                )
            response.json()
        return time.perf_counter() - started


def _check_sandbox(sandbox: SageSandbox, sessions: sessionmaker[Session], postings: int) -> None:
    """Exactly one invoice per shipment in the outbox's business; every plain POST created one."""
    outbox = _invoices(sandbox, _OUTBOX_BUSINESS)
    with sessions() as session:
        shipments = session.scalar(select(func.count()).select_from(Shipment))
        rows = session.execute(
            select(Posting.shipment_id, Posting.reference, Posting.sage_id, Posting.state)
        ).all()
    per_shipment = {row.shipment_id for row in rows}
    problems = []
    if shipments != postings or len(rows) != postings or len(per_shipment) != postings:
        problems.append(
            f"{shipments} shipments and {len(rows)} postings for {len(per_shipment)} shipments"
        )
    if any(row.state is not PostingState.POSTED for row in rows):
        problems.append("postings left unposted")
    if len(outbox) != postings:
        problems.append(f"{len(outbox)} invoices in the outbox's business")
    references = sorted(str(invoice["reference"]) for invoice in outbox)
    if references != sorted(row.reference for row in rows):
        problems.append("invoice references that do not match the postings one to one")
    if {str(invoice["id"]) for invoice in outbox} != {row.sage_id for row in rows}:
        problems.append("invoice ids that do not match the postings' stored Sage ids")
    plain = _invoices(sandbox, _PLAIN_BUSINESS)
    if len(plain) != postings:
        problems.append(f"{len(plain)} invoices from the plain POSTs")
    if problems:
        raise SageBenchError(
            f"Sage posting bench: {'; '.join(problems)}; expected {postings} shipments, each "
            "posted as exactly one invoice, and as many plain invoices"
        )


def _invoices(sandbox: SageSandbox, business: str) -> list[dict[str, Any]]:
    return list(
        sandbox.businesses[sandbox.business_id(business)].collection("sales_invoices").values()
    )
