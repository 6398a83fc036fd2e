"""The dashboard's JSON, under ``/dashboard/api``: one read-only endpoint per panel.

Each needs a bearer token with the read permission (the viewer role and every other), like the
rest of the API; each list is paged on the server with ``limit`` and ``offset``. Each reads in a
read-only transaction (`Transactions.read`), so a dashboard left open on many screens never
queues for the write lock that ingest and allocation need.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from cloud_bridge.api.dependencies import TransactionsDep
from cloud_bridge.api.schemas_credit import AutoQueueOut, ErrorReportOut
from cloud_bridge.api.transaction import ReadUnit
from cloud_bridge.dashboard.credit import ReportView, auto_queue_page, error_report_page
from cloud_bridge.dashboard.fleet import fleet_summary
from cloud_bridge.dashboard.inventory import inventory_page
from cloud_bridge.dashboard.orders import (
    despatches_today,
    order_page,
    orders_by_state,
    orders_per_hour,
)
from cloud_bridge.dashboard.paging import DEFAULT_LIMIT, Limit, Offset, Page
from cloud_bridge.dashboard.sage import rejected_page, sage_summary
from cloud_bridge.dashboard.schemas import (
    ChartOut,
    DespatchesOut,
    FleetOut,
    InventoryRowOut,
    OrderRowOut,
    OrdersByStateOut,
    RejectedPostingOut,
    SageOut,
    StationOut,
)
from cloud_bridge.dashboard.site import SettingsDep
from cloud_bridge.dashboard.stations import picks_per_station, station_page
from cloud_bridge.db.orders import OrderState

__all__ = ["API_PREFIX", "router"]

API_PREFIX = "/dashboard/api"

router = APIRouter(prefix=API_PREFIX, tags=["dashboard"])


@router.get(
    "/stations",
    summary="Stations: presence, printer, outbox, throughput, rates",
    description=(
        "Each station's presence, version, phase, printer and outbox as it last reported "
        "them, its shipments and orders in the last hour, and its short and wrong-scan "
        "rates from its counters. Paged by station id."
    ),
)
async def get_stations(
    transactions: TransactionsDep, limit: Limit = DEFAULT_LIMIT, offset: Offset = 0
) -> Page[StationOut]:
    def work(unit: ReadUnit) -> Page[StationOut]:
        return station_page(unit.session, unit.now, limit=limit, offset=offset)

    return await transactions.read(work)


@router.get(
    "/orders/by-state",
    summary="How many orders are in each state",
    description="Every order state with its count, zero included, counted by the database.",
)
async def get_orders_by_state(transactions: TransactionsDep) -> OrdersByStateOut:
    return await transactions.read(lambda unit: orders_by_state(unit.session))


@router.get(
    "/orders",
    summary="Orders, newest first, optionally of one state",
    description="The newest orders first, paged; `state` keeps one state only.",
)
async def get_orders(
    transactions: TransactionsDep,
    state: Annotated[OrderState | None, Query(description="Only orders in this state.")] = None,
    limit: Limit = DEFAULT_LIMIT,
    offset: Offset = 0,
) -> Page[OrderRowOut]:
    def work(unit: ReadUnit) -> Page[OrderRowOut]:
        return order_page(unit.session, state=state, limit=limit, offset=offset)

    return await transactions.read(work)


@router.get(
    "/despatches/today",
    summary="Shipments, orders and units since midnight on the site's clock",
    description=(
        "Shipments, distinct orders and units shipped since midnight today in the site's time "
        "zone (bridge.toml `[dashboard] timezone`, UTC by default), which the answer names."
    ),
)
async def get_despatches_today(
    transactions: TransactionsDep, settings: SettingsDep
) -> DespatchesOut:
    zone = settings.zone
    return await transactions.read(lambda unit: despatches_today(unit.session, unit.now, zone))


@router.get(
    "/charts/orders-per-hour",
    summary="Orders received and shipped per hour, 24 hours",
    description=(
        "Orders received and shipments made in each of the last 24 hours on the site's clock "
        "(its time zone is in the title), the current hour last."
    ),
)
async def get_orders_per_hour(transactions: TransactionsDep, settings: SettingsDep) -> ChartOut:
    zone = settings.zone
    return await transactions.read(lambda unit: orders_per_hour(unit.session, unit.now, zone))


@router.get(
    "/charts/picks-per-station",
    summary="Picks each station has reported",
    description=(
        "Picks each station has reported since it was set up, the busiest 100 stations first."
    ),
)
async def get_picks_per_station(transactions: TransactionsDep) -> ChartOut:
    return await transactions.read(lambda unit: picks_per_station(unit.session))


@router.get(
    "/credit-errors",
    summary="The credit gate's error report with its exact messages, open lines newest first",
    description=(
        "The error report's lines with the credit gate's exact messages (such as `Order "
        "(12345): Invoice debtor (12345): Credit line exceeded.`), newest first, paged. "
        "`show` picks the lines: `open` (the default, not yet resolved), `resolved` or `all`."
    ),
)
async def get_credit_errors(
    transactions: TransactionsDep,
    show: Annotated[
        ReportView,
        Query(description="open (default): unresolved lines; resolved; or all."),
    ] = ReportView.OPEN,
    limit: Limit = DEFAULT_LIMIT,
    offset: Offset = 0,
) -> Page[ErrorReportOut]:
    def work(unit: ReadUnit) -> Page[ErrorReportOut]:
        return error_report_page(unit.session, view=show, limit=limit, offset=offset)

    return await transactions.read(work)


@router.get(
    "/auto-queue",
    summary="Orders waiting for their retry, next retry first",
    description=(
        "Orders stopped by the credit gate and waiting for their retry, next retry first, paged."
    ),
)
async def get_auto_queue(
    transactions: TransactionsDep, limit: Limit = DEFAULT_LIMIT, offset: Offset = 0
) -> Page[AutoQueueOut]:
    def work(unit: ReadUnit) -> Page[AutoQueueOut]:
        return auto_queue_page(unit.session, limit=limit, offset=offset)

    return await transactions.read(work)


@router.get(
    "/inventory",
    summary="Stock by account and product, with borrowing",
    description=(
        "On hand, allocated and available stock per account and product, with the units "
        "lent to linked accounts and borrowed from them (per lender). Paged by account "
        "then product."
    ),
)
async def get_inventory(
    transactions: TransactionsDep,
    account: Annotated[str | None, Query(max_length=64, description="Only this account.")] = None,
    sku: Annotated[str | None, Query(max_length=64, description="Only this product.")] = None,
    limit: Limit = DEFAULT_LIMIT,
    offset: Offset = 0,
) -> Page[InventoryRowOut]:
    def work(unit: ReadUnit) -> Page[InventoryRowOut]:
        return inventory_page(unit.session, account=account, sku=sku, limit=limit, offset=offset)

    return await transactions.read(work)


@router.get(
    "/sage",
    summary="The Sage posting queue, connection and last reconciliation",
    description=(
        "Postings per state, those due now, the Sage environment and business, when "
        "records were last read from Sage, and the last recorded reconciliation: when it "
        "ran, what it compared, and its differences (those needing attention first), paged "
        "by `limit` and `offset`."
    ),
)
async def get_sage(
    transactions: TransactionsDep, limit: Limit = DEFAULT_LIMIT, offset: Offset = 0
) -> SageOut:
    def work(unit: ReadUnit) -> SageOut:
        return sage_summary(unit.session, unit.now, limit=limit, offset=offset)

    return await transactions.read(work)


@router.get(
    "/sage/rejected",
    summary="Postings Sage refused, with Sage's messages",
    description=(
        "The posting error report: postings Sage refused, with Sage's own messages, paged."
    ),
)
async def get_sage_rejected(
    transactions: TransactionsDep, limit: Limit = DEFAULT_LIMIT, offset: Offset = 0
) -> Page[RejectedPostingOut]:
    def work(unit: ReadUnit) -> Page[RejectedPostingOut]:
        return rejected_page(unit.session, limit=limit, offset=offset)

    return await transactions.read(work)


@router.get(
    "/fleet",
    summary="Software versions across stations, and rollouts' progress",
    description=(
        "Stations per software version (online ones counted), and the newest rollouts' progress."
    ),
)
async def get_fleet(transactions: TransactionsDep) -> FleetOut:
    return await transactions.read(lambda unit: fleet_summary(unit.session))
