"""The end of the shift, as the people on the floor see it: screens, dashboard, metrics, export.

While every process is still up, the demo reads what a packer, a manager and a Prometheus
would read, and compares it with the systems' own records:

- each station's screen answers with its own station id, and the completed orders the screens
  show add up to the shipments the bridge recorded;
- the dashboard's page is served without a token, and its data with a viewer token only;
- the bridge's ``/metrics`` counts the same orders and credit holds as the database, and each
  station's ``/metrics`` the same picks as its screen.

After the processes stop, `packline export` runs twice into the shift's folder: the first run
must carry every shipment, the second must find nothing new.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from cloud_bridge.export import ExportOptions, run_export

__all__ = ["PagesReport", "StationPages", "check_pages", "export_twice"]


@dataclass(frozen=True)
class StationPages:
    """Where one station serves its screen and its metrics."""

    name: str
    screen_port: int
    metrics_port: int


@dataclass
class PagesReport:
    """What the pages showed, and each way they disagreed with the books."""

    screens_answered: int = 0
    screens_orders_completed: int = 0
    dashboard_orders: int = 0
    metrics_orders: int = 0
    metrics_credit_holds: int = 0
    problems: list[str] = field(default_factory=list)


async def check_pages(
    *,
    api_url: str,
    viewer_token: str,
    stations: Iterable[StationPages],
    orders: int,
    credit_holds: int,
    shipments: int,
) -> PagesReport:
    """Read every page and endpoint the floor uses; `problems` names each disagreement."""
    report = PagesReport()
    async with httpx.AsyncClient(timeout=15.0) as client:
        for station in stations:
            await _check_station(client, station, report)
        await _check_bridge(client, api_url, viewer_token, report)
    if report.screens_orders_completed != shipments:
        report.problems.append(
            f"the screens show {report.screens_orders_completed} completed orders, the bridge "
            f"recorded {shipments} shipments"
        )
    for name, seen, books in (
        ("dashboard orders", report.dashboard_orders, orders),
        ("bridge /metrics orders", report.metrics_orders, orders),
        ("bridge /metrics credit holds", report.metrics_credit_holds, credit_holds),
    ):
        if seen != books:
            report.problems.append(f"{name}: {seen}, the database holds {books}")
    return report


async def _check_station(
    client: httpx.AsyncClient, station: StationPages, report: PagesReport
) -> None:
    screen = f"http://127.0.0.1:{station.screen_port}"
    try:
        page = await client.get(f"{screen}/")
        state = (await client.get(f"{screen}/api/state")).json()
        metrics = (await client.get(f"http://127.0.0.1:{station.metrics_port}/metrics")).text
    except (httpx.HTTPError, ValueError) as error:
        report.problems.append(f"{station.name}: screen or metrics did not answer: {error}")
        return
    if page.status_code != 200 or "text/html" not in page.headers.get("content-type", ""):
        report.problems.append(f"{station.name}: the screen's page answered {page.status_code}")
        return
    if state.get("station_id") != station.name:
        report.problems.append(
            f"{station.name}: the screen answered as {state.get('station_id')!r}"
        )
        return
    report.screens_answered += 1
    counts = state.get("counts", {})
    report.screens_orders_completed += int(counts.get("orders_completed", 0))
    picks = _sample_sum(metrics, "packline_station_picks_total")
    if picks != counts.get("picks"):
        report.problems.append(
            f"{station.name}: /metrics counts {picks} picks, the screen {counts.get('picks')}"
        )


async def _check_bridge(
    client: httpx.AsyncClient, api_url: str, viewer_token: str, report: PagesReport
) -> None:
    viewer = {"Authorization": f"Bearer {viewer_token}"}
    try:
        shell = await client.get(f"{api_url}/dashboard/")
        refused = await client.get(f"{api_url}/dashboard/api/orders/by-state")
        by_state = await client.get(f"{api_url}/dashboard/api/orders/by-state", headers=viewer)
        metrics = await client.get(f"{api_url}/metrics", headers=viewer)
    except httpx.HTTPError as error:
        report.problems.append(f"the bridge's dashboard or metrics did not answer: {error}")
        return
    if shell.status_code != 200:
        report.problems.append(f"the dashboard's page answered {shell.status_code}")
    if refused.status_code != 401:
        report.problems.append(
            f"the dashboard's data answered {refused.status_code} without a token, not 401"
        )
    if by_state.status_code != 200 or metrics.status_code != 200:
        report.problems.append(
            f"with a viewer token the dashboard answered {by_state.status_code} and /metrics "
            f"{metrics.status_code}"
        )
        return
    report.dashboard_orders = _dashboard_total(by_state.json())
    report.metrics_orders = _sample_sum(metrics.text, "packline_bridge_orders")
    report.metrics_credit_holds = _sample_sum(metrics.text, "packline_bridge_credit_holds")


def _dashboard_total(body: object) -> int:
    """The orders counted by the dashboard's by-state panel, whatever it calls its rows."""
    if isinstance(body, Mapping):
        if isinstance(body.get("total"), int):
            return int(body["total"])
        rows = body.get("states") or body.get("items") or []
        return sum(int(row.get("count", 0)) for row in rows if isinstance(row, Mapping))
    return 0


def _sample_sum(text: str, name: str) -> int:
    """The sum of one metric's samples over its labels (0 when it is absent)."""
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                total += sample.value
    return int(total)


@dataclass(frozen=True)
class ExportCheck:
    """Rows the two export runs wrote, by dataset."""

    first: Mapping[str, int]
    second: Mapping[str, int]


def export_twice(database_url: str, directory: Path) -> ExportCheck:
    """Run the nightly export twice, as cron would: the second run must find nothing new."""
    first = run_export(ExportOptions(database_url=database_url, directory=directory))
    second = run_export(ExportOptions(database_url=database_url, directory=directory))
    return ExportCheck(first=dict(first.rows), second=dict(second.rows))
