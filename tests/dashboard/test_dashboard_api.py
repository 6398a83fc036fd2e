"""The dashboard's JSON: what each panel reads, who may read it, and how lists are paged.

The world is made through the bridge's own API and recording code, so credit holds carry the
gate's real messages and borrows are the allocator's real ones.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from dashboard_world import (
    Dashboard,
    add_accounts_products_debtor,
    order_body,
    receive,
    running_dashboard,
)

from cloud_bridge.api.roles import ROUTE_PERMISSIONS, Permission, Role
from cloud_bridge.credit import Step, credit_line_exceeded_message
from cloud_bridge.dashboard.reconcile import RECONCILE_NEVER_RUN
from cloud_bridge.db.fleet import FleetStation
from cloud_bridge.db.models import (
    ErrorReport,
    Posting,
    PostingKind,
    PostingState,
    Shipment,
    ShipmentLine,
)
from cloud_bridge.db.posting import SageEnvironment
from cloud_bridge.fleet.inventory import record_birth, record_status
from edge.contract import StationBirth, StationCounters, StationId, StationStatus

CREDIT_EXCEEDED = "Order (SO-HELD): Invoice debtor (D2): Credit line exceeded."
DASHBOARD_PATHS = sorted(
    path for method, path in ROUTE_PERMISSIONS if path.startswith("/dashboard/api/")
)
LISTS = [
    "stations",
    "orders",
    "credit-errors",
    "auto-queue",
    "inventory",
    "sage/rejected",
]


@pytest.fixture
async def dashboard(tmp_path: Path) -> AsyncIterator[Dashboard]:
    async with running_dashboard(tmp_path) as dashboard:
        await add_accounts_products_debtor(dashboard)
        yield dashboard


def today_and_recent(now: datetime) -> datetime:
    """An instant both since midnight UTC and within the last hour, whatever the time now."""
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return now - min(timedelta(minutes=30), (now - midnight) / 2)


# --- access -----------------------------------------------------------------------------------


def test_every_dashboard_endpoint_needs_only_the_read_permission() -> None:
    assert len(DASHBOARD_PATHS) == 12
    for path in DASHBOARD_PATHS:
        assert ROUTE_PERMISSIONS[("GET", path)] is Permission.READ


@pytest.mark.parametrize("path", DASHBOARD_PATHS)
async def test_a_request_without_a_token_is_refused_with_401(
    dashboard: Dashboard, path: str
) -> None:
    response = await dashboard.client.get(path)

    assert response.status_code == 401
    assert response.json()["error"]["field"] == "Authorization"


async def test_an_unknown_token_is_refused_with_401(dashboard: Dashboard) -> None:
    unknown = {"Authorization": "Bearer not-a-token"}
    statuses = {
        (await dashboard.client.get(path, headers=unknown)).status_code for path in DASHBOARD_PATHS
    }

    assert statuses == {401}


async def test_every_role_may_read_every_dashboard_endpoint(dashboard: Dashboard) -> None:
    refused = [
        (role.value, path, response.status_code)
        for role in Role
        for path in DASHBOARD_PATHS
        if (
            response := await dashboard.client.get(path, headers=dashboard.bearer(role))
        ).status_code
        != 200
    ]

    assert refused == []


# --- paging -----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", LISTS)
async def test_a_limit_over_500_is_refused_naming_limit(dashboard: Dashboard, path: str) -> None:
    response = await dashboard.client.get(
        f"/dashboard/api/{path}", params={"limit": 501}, headers=dashboard.bearer(Role.VIEWER)
    )

    assert response.status_code == 422
    assert response.json()["error"]["field"] == "limit"


@pytest.mark.parametrize(
    ("name", "value"),
    [("limit", 0), ("offset", -1), ("limit", "ten"), ("offset", 2**63)],
)
async def test_a_limit_below_one_or_an_offset_out_of_range_is_refused_by_name(
    dashboard: Dashboard, name: str, value: int | str
) -> None:
    response = await dashboard.client.get(
        "/dashboard/api/orders", params={name: value}, headers=dashboard.bearer(Role.VIEWER)
    )

    assert response.status_code == 422
    assert response.json()["error"]["field"] == name


async def test_orders_are_paged_newest_first_each_exactly_once_with_the_total(
    dashboard: Dashboard,
) -> None:
    for number in range(12):
        body = order_body(f"SO-{number:02d}", "A", [("MUG", 1)])
        await dashboard.admin("POST", "/orders", body, expect=201)

    seen: list[str] = []
    offset: int | None = 0
    pages = 0
    while offset is not None:
        page = await dashboard.read("orders", limit=5, offset=offset)
        assert page["total"] == 12
        assert len(page["items"]) <= 5
        seen += [item["order_no"] for item in page["items"]]
        offset = page["next_offset"]
        pages += 1

    assert pages == 3
    assert seen == [f"SO-{number:02d}" for number in reversed(range(12))]
    default = await dashboard.read("orders")
    assert (default["limit"], default["offset"], len(default["items"])) == (50, 0, 12)


# --- orders and despatches --------------------------------------------------------------------


async def test_orders_by_state_lists_every_state_with_its_count(dashboard: Dashboard) -> None:
    await receive(dashboard, "A", "MUG", 5)
    await dashboard.admin("POST", "/orders", order_body("SO-1", "A", [("MUG", 2)]), expect=201)
    await dashboard.admin("POST", "/orders", order_body("SO-2", "A", [("MUG", 1)]), expect=201)
    await dashboard.admin("POST", "/orders/SO-2/cancel", {"reason": "customer"})

    counts = await dashboard.read("orders/by-state")

    by_state = {item["state"]: item["count"] for item in counts["states"]}
    assert by_state["new"] == 1
    assert by_state["cancelled"] == 1
    assert sum(by_state.values()) == counts["total"] == 2
    assert len(by_state) == 10
    only_new = await dashboard.read("orders", state="new")
    assert [item["order_no"] for item in only_new["items"]] == ["SO-1"]


async def test_despatches_today_and_throughput_count_shipments_since_midnight(
    dashboard: Dashboard,
) -> None:
    now = datetime.now(UTC)
    await dashboard.admin("POST", "/orders", order_body("SO-1", "A", [("MUG", 3)]), expect=201)
    await dashboard.admin("POST", "/orders", order_body("SO-2", "A", [("MUG", 2)]), expect=201)
    with dashboard.sessions.begin() as session:
        for number, (order_no, units, at) in enumerate(
            [
                ("SO-1", 3, today_and_recent(now)),
                ("SO-2", 2, today_and_recent(now)),
                ("SO-2", 1, now - timedelta(days=2)),
            ]
        ):
            session.add(
                Shipment(
                    order_no=order_no,
                    station_id="w1.st01",
                    label_id=f"L{number}",
                    carrier="DPD",
                    shipped_at=at,
                    lines=[ShipmentLine(line_id="1", sku="MUG", quantity=units)],
                )
            )
    _record_station(dashboard, "st01", picks=10, shorts=0, wrong_scans=0)

    today = await dashboard.read("despatches/today")
    stations = await dashboard.read("stations")
    per_hour = await dashboard.read("charts/orders-per-hour")

    assert (today["shipments"], today["orders"], today["units"]) == (2, 2, 5)
    assert today["since"].startswith(now.date().isoformat())
    station = stations["items"][0]
    assert (station["shipments_last_hour"], station["orders_last_hour"]) == (2, 2)
    received, shipped = per_hour["series"]
    assert len(per_hour["labels"]) == len(received["values"]) == 24
    assert sum(received["values"]) == 2
    assert sum(shipped["values"]) == 2


# --- stations and fleet -----------------------------------------------------------------------


def _record_station(
    dashboard: Dashboard, name: str, *, picks: int, shorts: int, wrong_scans: int
) -> None:
    """A birth and a status, recorded by the bridge's own fleet code."""
    station = StationId(site="w1", station=name)
    now = datetime.now(UTC)
    birth = StationBirth(
        bd_seq=1,
        at=now - timedelta(seconds=5),
        software_version="1.4.0" if name != "st03" else "1.5.0",
        config_version=1,
        config_hash="0" * 64,
        outbox_depth=0,
    )
    status = StationStatus(
        at=now,
        phase="picking",
        printer="fault",
        printer_detail="paper out",
        outbox_depth=4,
        outbox_bytes=400,
        outbox_alarm=False,
        acknowledged_seq=9,
        counters=StationCounters(picks=picks, shorts=shorts, wrong_scans=wrong_scans),
    )
    with dashboard.sessions.begin() as session:
        record_birth(session, station, birth)
        record_status(session, station, status)


async def test_a_station_shows_its_printer_outbox_and_rates_from_its_reported_counters(
    dashboard: Dashboard,
) -> None:
    _record_station(dashboard, "st01", picks=200, shorts=5, wrong_scans=50)

    station = (await dashboard.read("stations"))["items"][0]

    assert station["station_id"] == "w1.st01"
    assert station["online"] is True
    assert (station["printer"], station["printer_detail"]) == ("fault", "paper out")
    assert station["outbox_depth"] == 4
    assert (station["picks"], station["shorts"], station["wrong_scans"]) == (200, 5, 50)
    assert station["short_rate"] == pytest.approx(5 / 200)
    assert station["wrong_scan_rate"] == pytest.approx(50 / 200)
    with dashboard.sessions() as session:
        stored = session.get_one(FleetStation, "w1.st01").counters
    assert stored is not None
    assert json.loads(stored)["picks"] == 200


async def test_picks_per_station_and_versions_come_from_what_stations_reported(
    dashboard: Dashboard,
) -> None:
    _record_station(dashboard, "st01", picks=30, shorts=0, wrong_scans=0)
    _record_station(dashboard, "st02", picks=70, shorts=0, wrong_scans=0)
    _record_station(dashboard, "st03", picks=10, shorts=0, wrong_scans=0)

    chart = await dashboard.read("charts/picks-per-station")
    fleet = await dashboard.read("fleet")

    assert chart["labels"] == ["w1.st02", "w1.st01", "w1.st03"]
    assert chart["series"][0]["values"] == [70, 30, 10]
    assert fleet["versions"] == [
        {"version": "1.4.0", "stations": 2, "online": 2},
        {"version": "1.5.0", "stations": 1, "online": 1},
    ]
    assert fleet["rollouts"] == []


async def test_a_station_without_a_status_has_no_rates(dashboard: Dashboard) -> None:
    station = StationId(site="w1", station="st09")
    birth = StationBirth(
        bd_seq=1,
        at=datetime.now(UTC),
        software_version="1.4.0",
        config_version=1,
        config_hash="0" * 64,
        outbox_depth=0,
    )
    with dashboard.sessions.begin() as session:
        record_birth(session, station, birth)

    row = (await dashboard.read("stations"))["items"][0]

    assert (row["picks"], row["short_rate"], row["wrong_scan_rate"]) == (None, None, None)


# --- credit -----------------------------------------------------------------------------------


async def test_a_credit_hold_shows_the_gates_exact_message_and_its_next_retry(
    dashboard: Dashboard,
) -> None:
    await receive(dashboard, "A", "MUG", 5)
    body = order_body("SO-HELD", "A", [("MUG", 1)], debtor="D2")
    await dashboard.admin("POST", "/orders", body, expect=201)
    await dashboard.admin("POST", "/allocation/run")

    errors = await dashboard.read("credit-errors")
    queue = await dashboard.read("auto-queue")
    every_line = await dashboard.read("credit-errors", show="all")
    resolved_only = await dashboard.read("credit-errors", show="resolved")

    assert [item["message"] for item in errors["items"]] == [CREDIT_EXCEEDED]
    assert errors["items"][0]["resolved_at"] is None
    assert every_line["total"] == 1
    assert resolved_only["total"] == 0
    entry = queue["items"][0]
    assert (entry["order_no"], entry["message"], entry["attempts"]) == (
        "SO-HELD",
        CREDIT_EXCEEDED,
        1,
    )
    assert datetime.fromisoformat(entry["next_retry_at"]) > datetime.fromisoformat(
        entry["failed_at"]
    )


def _report_lines(dashboard: Dashboard, lines: list[tuple[str, int, bool]]) -> None:
    """Error report lines (order, hours ago, resolved?) with the gate's words for each order."""
    now = datetime.now(UTC)
    with dashboard.sessions.begin() as session:
        for order_no, hours_ago, resolved in lines:
            created = now - timedelta(hours=hours_ago)
            session.add(
                ErrorReport(
                    order_no=order_no,
                    step=Step.ADVICE,
                    message=credit_line_exceeded_message(order_no, "D2"),
                    created_at=created,
                    resolved_at=created + timedelta(minutes=5) if resolved else None,
                )
            )


async def test_the_credit_report_opens_on_open_lines_newest_first_with_all_a_choice_away(
    dashboard: Dashboard,
) -> None:
    for order_no in ("SO-OLD", "SO-MID", "SO-NEW"):
        body = order_body(order_no, "A", [("MUG", 1)], debtor="D2")
        await dashboard.admin("POST", "/orders", body, expect=201)
    _report_lines(dashboard, [("SO-OLD", 30, False), ("SO-MID", 20, True), ("SO-NEW", 10, False)])

    opened = await dashboard.read("credit-errors")
    everything = await dashboard.read("credit-errors", show="all")

    assert [item["order_no"] for item in opened["items"]] == ["SO-NEW", "SO-OLD"]
    assert opened["total"] == 2
    assert [item["order_no"] for item in everything["items"]] == ["SO-NEW", "SO-MID", "SO-OLD"]
    assert everything["items"][0]["message"] == (
        "Order (SO-NEW): Invoice debtor (D2): Credit line exceeded."
    )


async def test_an_unknown_credit_report_view_is_refused_naming_show(dashboard: Dashboard) -> None:
    response = await dashboard.client.get(
        "/dashboard/api/credit-errors",
        params={"show": "closed"},
        headers=dashboard.bearer(Role.VIEWER),
    )

    assert response.status_code == 422
    assert response.json()["error"]["field"] == "show"


# --- inventory --------------------------------------------------------------------------------


async def test_inventory_shows_stock_borrowed_from_a_linked_account_on_both_sides(
    dashboard: Dashboard,
) -> None:
    await receive(dashboard, "A", "MUG", 1)
    await receive(dashboard, "B", "MUG", 10)
    await dashboard.admin("POST", "/orders", order_body("SO-1", "A", [("MUG", 3)]), expect=201)
    await dashboard.admin("POST", "/allocation/run")

    rows = {
        (row["account"], row["sku"]): row for row in (await dashboard.read("inventory"))["items"]
    }

    borrower = rows[("A", "MUG")]
    lender = rows[("B", "MUG")]
    assert (borrower["on_hand"], borrower["allocated"], borrower["available"]) == (1, 1, 0)
    assert borrower["borrowed"] == 2
    assert borrower["borrowed_from"] == [{"from_account": "B", "units": 2}]
    assert (lender["on_hand"], lender["allocated"], lender["available"], lender["lent"]) == (
        10,
        2,
        8,
        2,
    )
    assert lender["borrowed"] == 0


async def test_an_account_that_only_borrows_a_product_is_listed_and_filters_apply(
    dashboard: Dashboard,
) -> None:
    await receive(dashboard, "B", "TEA", 4)
    await dashboard.admin("POST", "/orders", order_body("SO-1", "A", [("TEA", 4)]), expect=201)
    await dashboard.admin("POST", "/allocation/run")

    only_a = await dashboard.read("inventory", account="A")
    only_tea = await dashboard.read("inventory", sku="TEA")

    assert [(row["account"], row["on_hand"], row["borrowed"]) for row in only_a["items"]] == [
        ("A", 0, 4)
    ]
    assert [row["account"] for row in only_tea["items"]] == ["A", "B"]
    assert only_tea["total"] == 2


# --- Sage -------------------------------------------------------------------------------------


async def test_sage_shows_an_empty_queue_and_says_no_reconciliation_has_run(
    dashboard: Dashboard,
) -> None:
    sage = await dashboard.read("sage")
    rejected = await dashboard.read("sage/rejected")

    assert {item["state"]: item["count"] for item in sage["queue"]} == {
        "pending": 0,
        "posted": 0,
        "failed": 0,
        "dismissed": 0,
    }
    assert sage["environment"] is None
    assert sage["reconcile"] == {"stored": False, "note": RECONCILE_NEVER_RUN, "last": None}
    assert rejected == {"items": [], "total": 0, "limit": 50, "offset": 0, "next_offset": None}


async def test_a_rejected_posting_shows_sages_own_message(dashboard: Dashboard) -> None:
    await dashboard.admin("POST", "/orders", order_body("SO-1", "A", [("MUG", 1)]), expect=201)
    refusal = [{"$severity": "error", "$dataCode": "RecordInvalid", "$message": "Stock is too low"}]
    now = datetime.now(UTC)
    with dashboard.sessions.begin() as session:
        shipment = Shipment(
            order_no="SO-1",
            station_id="w1.st01",
            label_id="L1",
            carrier="DPD",
            lines=[ShipmentLine(line_id="1", sku="MUG", quantity=1)],
        )
        session.add(shipment)
        session.flush()
        session.add(
            Posting(
                environment=SageEnvironment.TEST,
                business_id="biz-1",
                shipment_id=shipment.id,
                kind=PostingKind.INVOICE,
                revision=1,
                idempotency_id="a" * 32,
                reference="SO-1/1",
                document="{}",
                state=PostingState.FAILED,
                due_at=now,
                last_error="Sage refused the invoice (422)",
                error_items=json.dumps(refusal),
            )
        )

    sage = await dashboard.read("sage")
    rejected = await dashboard.read("sage/rejected")

    assert {item["state"]: item["count"] for item in sage["queue"]}["failed"] == 1
    [posting] = rejected["items"]
    assert posting["message"] == "Sage refused the invoice (422)"
    assert posting["sage_messages"] == ["Stock is too low"]
    assert (posting["kind"], posting["reference"], posting["state"]) == (
        "invoice",
        "SO-1/1",
        "failed",
    )
