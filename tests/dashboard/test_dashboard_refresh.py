"""The dashboard in headless Chromium refreshes itself: every 15 s while the tab is in view, with
the time of the last update shown, its charts updated in place, its first-load mark untouched,
and the last reconcile result with its differences; axe finds nothing serious on it.

The bridge's real API app serves a seeded SQLite database on loopback; the page's clock is
Playwright's, so 15 seconds pass at once.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
import uvicorn
from axe_playwright_python.sync_playwright import Axe  # type: ignore[import-untyped]
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session, sessionmaker

from cloud_bridge.api import create_app
from cloud_bridge.api.roles import Role
from cloud_bridge.api.tokens import create_token
from cloud_bridge.db import make_engine, session_factory, upgrade
from cloud_bridge.posting.reconcile_record import (
    CheckedCounts,
    RecordedDifference,
    RunFacts,
    record_reconciliation,
)
from firmware_sim.browser import LocalBrowser, local_browser
from firmware_sim.dashboard_seed import seed_orders
from firmware_sim.ports import free_port

pytestmark = pytest.mark.timeout(120)

UPDATED = re.compile(r"^Updated at \d\d:\d\d:\d\d UTC$")
API_PATH = "/dashboard/api/"


@dataclass
class Site:
    url: str
    token: str
    sessions: sessionmaker[Session]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    directory = tmp_path_factory.mktemp("dashboard-refresh")
    engine = make_engine(f"sqlite:///{directory / 'bridge.db'}")
    upgrade(engine)
    sessions = session_factory(engine)
    token = create_token(sessions, f"viewer-{secrets.token_hex(4)}", Role.VIEWER)
    seed_orders(sessions, 200)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(sessions=sessions, slot_maps={}),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="off",
        )
    )
    thread = threading.Thread(target=server.run, name="dashboard-refresh-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive(), "the API's server stopped while starting"
        assert time.monotonic() < deadline, "the API did not start within 15 s"
        time.sleep(0.05)
    yield Site(f"http://127.0.0.1:{port}/dashboard/", token, sessions)
    server.should_exit = True
    thread.join(10)
    engine.dispose()


@pytest.fixture(scope="module")
def chromium() -> Iterator[LocalBrowser]:
    with local_browser() as browser:
        yield browser


@pytest.fixture
def page(chromium: LocalBrowser) -> Iterator[Page]:
    tab = chromium.context.new_page()
    tab.set_default_timeout(15_000)
    yield tab
    tab.close()
    chromium.offsite.assert_none()


def sign_in(page: Page, site: Site) -> None:
    page.goto(site.url)
    page.get_by_label("API token").fill(site.token)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_function("() => document.body.dataset.loaded === 'true'")


def api_requests(page: Page) -> list[str]:
    """Every request the page makes to the dashboard's JSON from now on."""
    seen: list[str] = []
    page.on(
        "request", lambda request: seen.append(request.url) if API_PATH in request.url else None
    )
    return seen


def wait_for_request(page: Page, requests: list[str], fragment: str) -> None:
    """Wait (up to 10 s of real time) until the page has asked for ``fragment``."""
    deadline = time.monotonic() + 10
    while not any(fragment in url for url in requests):
        assert time.monotonic() < deadline, f"the page never asked for {fragment}"
        page.wait_for_timeout(100)


def set_tab_hidden(page: Page, hidden: bool) -> None:
    """As a browser does when the tab goes to the background or comes back."""
    page.evaluate(
        """(hidden) => {
          Object.defineProperty(document, "hidden", { configurable: true, get: () => hidden });
          Object.defineProperty(document, "visibilityState", {
            configurable: true, get: () => (hidden ? "hidden" : "visible"),
          });
          document.dispatchEvent(new Event("visibilitychange"));
        }""",
        hidden,
    )


def record_a_reconciliation(site: Site) -> None:
    now = datetime.now(UTC)
    record_reconciliation(
        site.sessions,
        RunFacts(
            environment="test",
            business_id="biz-1",
            started_at=now,
            finished_at=now,
            shipped_since=None,
            checked=CheckedCounts(shipment_lines=12, postings=4, documents=4, stock_items=3),
            problems=1,
        ),
        [
            RecordedDifference(
                kind="awaiting_posting",
                message="posting 4 (invoice SO-9/1) for shipment 9 is awaiting posting",
                shipment_id=9,
                posting_id=4,
            ),
            RecordedDifference(
                kind="stock_mismatch",
                message="MUG: Sage stock item s-1 has 100 in stock, the bridge has 7 on hand",
                sage_id="s-1",
                sku="MUG",
            ),
        ],
    )


CHART_MARK = """() => {
  const canvas = document.querySelector("#orders-per-hour-canvas");
  canvas.dataset.mark = canvas.dataset.mark || "first-drawn";
  return [canvas.dataset.mark, Chart.getChart(canvas).id];
}"""


def test_the_page_refreshes_itself_every_15_seconds_keeping_charts_and_first_load_mark(
    site: Site, page: Page
) -> None:
    page.clock.install()
    sign_in(page, site)
    loaded_at = page.evaluate("() => window.__dashboardLoadedAt")
    expect(page.locator("#updated")).to_have_text(UPDATED)
    first_update = page.locator("#updated").get_attribute("data-updated-at")
    chart = page.evaluate(CHART_MARK)
    expect(page.get_by_label("Refresh every 15 s")).to_be_checked()
    expect(page.get_by_role("button", name="Refresh")).to_be_visible()
    requests = api_requests(page)

    page.clock.fast_forward(16_000)

    expect(page.locator("#updated")).not_to_have_attribute("data-updated-at", first_update or "")
    expect(page.locator("#updated")).to_have_text(UPDATED)
    assert any("charts/orders-per-hour" in url for url in requests)
    assert page.evaluate(CHART_MARK) == chart, "the same canvas and chart, updated in place"
    assert page.evaluate("() => window.__dashboardLoadedAt") == loaded_at
    assert page.evaluate("() => document.body.dataset.loaded") == "true"


def test_a_hidden_tab_does_not_refresh_and_refreshes_at_once_when_shown_again(
    site: Site, page: Page
) -> None:
    page.clock.install()
    sign_in(page, site)
    set_tab_hidden(page, hidden=True)
    requests = api_requests(page)

    page.clock.fast_forward(60_000)
    page.wait_for_timeout(500)
    assert requests == [], "nothing is fetched while the tab is hidden"

    set_tab_hidden(page, hidden=False)

    wait_for_request(page, requests, "orders/by-state")


def test_unticking_automatic_refresh_stops_it_and_the_button_still_refreshes(
    site: Site, page: Page
) -> None:
    page.clock.install()
    sign_in(page, site)
    page.get_by_label("Refresh every 15 s").uncheck()
    requests = api_requests(page)

    page.clock.fast_forward(60_000)
    page.wait_for_timeout(500)
    assert requests == []

    page.get_by_role("button", name="Refresh").click()

    wait_for_request(page, requests, "fleet")
    expect(page.locator("#updated")).to_have_text(UPDATED)


def test_the_sage_panel_shows_the_last_reconcile_result_and_axe_finds_nothing_serious(
    site: Site, page: Page
) -> None:
    record_a_reconciliation(site)
    sign_in(page, site)

    sage = page.get_by_test_id("sage")
    expect(sage).to_contain_text("Last reconcile result")
    expect(sage).to_contain_text("the bridge and Sage disagreed: 1 problem, 1 posting awaiting")
    expect(sage).to_contain_text("Compared 12 shipment lines, 4 postings, 4 Sage documents")
    rows = sage.locator("table", has_text="Differences the last reconciliation found")
    expect(rows.locator("tbody tr").first).to_contain_text("stock mismatch")
    expect(rows.locator("tbody tr").nth(1)).to_contain_text("awaiting posting")

    violations = Axe().run(page).response["violations"]
    serious = [v["id"] for v in violations if v["impact"] in {"serious", "critical"}]
    assert serious == []
