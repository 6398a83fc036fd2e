"""The manager's dashboard's first load with many orders, beside the same with 100, same run.

The issue asks that a database with 100,000 orders opens as fast as one with 100, which holds
only if every panel is paged and counted on the server. So the real API app (the one
`packline bridge run` serves) runs over a SQLite database seeded with the dashboard's own
`seed_orders`, and headless Chromium opens the page: it signs in once with a viewer token (kept
in the tab's sessionStorage, as the page does), then each timed load is a fresh navigation from
navigation start to the page's `__dashboardLoadedAt` (every panel's first data rendered). The
median of the loads at each size is reported. The browser's cache is warm after the sign-in at
both sizes alike, as on a manager's machine; what differs is only the data.
"""

from __future__ import annotations

import contextlib
import secrets
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

from firmware_sim.browser import local_browser
from firmware_sim.errors import SimError
from firmware_sim.ports import free_port

if TYPE_CHECKING:
    from playwright.sync_api import Page
    from sqlalchemy.orm import Session, sessionmaker

__all__ = ["BASELINE_ORDERS", "DashboardFigures", "measure_dashboard"]

BASELINE_ORDERS: Final = 100
_LOAD_TIMEOUT_MS: Final = 60_000
_SERVER_START_S: Final = 15.0

_LOADED_MS = """
() => {
  const at = window.__dashboardLoadedAt;
  // An absolute time (ms since the epoch) or one on the page's own clock: either way, from
  // the navigation's start.
  return at > 1e12 ? at - performance.timeOrigin : at;
}
"""


@dataclass(frozen=True)
class DashboardFigures:
    """Median first load in milliseconds with `orders` orders, and with `baseline_orders`."""

    orders: int
    baseline_orders: int
    loads: int
    load_ms: float
    baseline_load_ms: float
    seed_seconds: float
    """How long `seed_orders` took to write the `orders` orders."""

    @property
    def ratio(self) -> float:
        """How many times slower the first load is with `orders` than with `baseline_orders`."""
        return self.load_ms / self.baseline_load_ms


@dataclass(frozen=True)
class _Site:
    url: str
    token: str
    seed_seconds: float


def _seeded_sessions(url: str, orders: int) -> tuple[sessionmaker[Session], str, float]:
    """A migrated database holding `orders` orders, its sessions, a viewer token and the
    seconds the seeding took."""
    from cloud_bridge.api.roles import Role
    from cloud_bridge.api.tokens import create_token
    from cloud_bridge.db import make_engine, session_factory, upgrade
    from firmware_sim.dashboard_seed import seed_orders

    engine = make_engine(url)
    upgrade(engine)
    token = create_token(engine, f"bench-viewer-{secrets.token_hex(4)}", Role.VIEWER)
    sessions = session_factory(engine)
    started = time.perf_counter()
    seed_orders(sessions, orders)
    return sessions, token, time.perf_counter() - started


@contextlib.contextmanager
def _serving(directory: Path, orders: int) -> Iterator[_Site]:
    """The bridge's API app over a seeded SQLite database, served on loopback by uvicorn."""
    import uvicorn

    from cloud_bridge.api import create_app

    sessions, token, seeded = _seeded_sessions(f"sqlite:///{directory / 'bridge.db'}", orders)
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
    thread = threading.Thread(target=server.run, name="dashboard-bench-api", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + _SERVER_START_S
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise SimError(f"bench: the bridge's API did not start on port {port}")
            time.sleep(0.05)
        yield _Site(f"http://127.0.0.1:{port}/dashboard/", token, seeded)
    finally:
        server.should_exit = True
        thread.join(10.0)


def sign_in(page: Page, url: str, token: str) -> None:
    """Open the dashboard and sign in through its form, as a manager does."""
    page.goto(url)
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_function(
        "() => document.body.dataset.loaded === 'true'", timeout=_LOAD_TIMEOUT_MS
    )


def _first_loads(page: Page, url: str, loads: int) -> list[float]:
    timings: list[float] = []
    for _ in range(loads):
        page.goto(url)
        page.wait_for_function(
            "() => document.body.dataset.loaded === 'true'", timeout=_LOAD_TIMEOUT_MS
        )
        timings.append(float(page.evaluate(_LOADED_MS)))
    return timings


def _median_load(directory: Path, orders: int, loads: int) -> tuple[float, float]:
    with _serving(directory, orders) as site, local_browser() as browser:
        page = browser.context.new_page()
        sign_in(page, site.url, site.token)
        timings = _first_loads(page, site.url, loads)
        browser.offsite.assert_stayed_local()
    return statistics.median(timings), site.seed_seconds


def measure_dashboard(orders: int, loads: int) -> DashboardFigures:
    """The dashboard's median first load with `orders` orders and with 100, `loads` each."""
    with tempfile.TemporaryDirectory(prefix="packline-bench-") as directory:
        root = Path(directory)
        (root / "baseline").mkdir()
        (root / "large").mkdir()
        baseline_ms, _ = _median_load(root / "baseline", BASELINE_ORDERS, loads)
        load_ms, seeded = _median_load(root / "large", orders, loads)
    return DashboardFigures(
        orders=orders,
        baseline_orders=BASELINE_ORDERS,
        loads=loads,
        load_ms=load_ms,
        baseline_load_ms=baseline_ms,
        seed_seconds=seeded,
    )


if __name__ == "__main__":
    figures = measure_dashboard(10_000, 3)
    print(figures, f"ratio {figures.ratio:.2f}")
