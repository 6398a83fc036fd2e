"""Fixtures of the page tests, built so each test runs alone and in any order.

The running demo and the browser are shared by the module; everything a test could leave behind
is not. Each test gets a browser context of its own, whose record of requests is checked after
that test alone (no request left loopback, and at least one reached it). Each screen test finds
the station idle and online, and leaves it so even when it fails (`station`). A failed test
leaves a screenshot of the page as it was at the failure, and the run's summary says where the
screenshots are.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Generator, Iterator

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page

from firmware_sim.browser import LocalBrowser, local_browser
from firmware_sim.secure_site import SiteCredentials
from web.screenshots import FAILED_STEP, SCREENSHOTS, Screenshots, kept_since
from web.web_world import WebWorld

PAGE_TIMEOUT_MS = 15_000

_CALL_FAILED = pytest.StashKey[bool]()
_RUN_STARTED = pytest.StashKey[float]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_RUN_STARTED] = time.time()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """On a failed test, screenshot its page before any fixture tears the scene down."""
    report = yield
    if report.when == "call" and report.failed:
        item.stash[_CALL_FAILED] = True
        page = getattr(item, "funcargs", {}).get("page")
        if isinstance(page, Page):
            with contextlib.suppress(PlaywrightError):
                path = Screenshots(item.name).take(page, FAILED_STEP)
                report.sections.append(("screenshot of the failure", str(path)))
    return report


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    """Say where this run's screenshots are, so a CI log leads straight to them."""
    kept = kept_since(config.stash.get(_RUN_STARTED, time.time()))
    if kept:
        terminalreporter.write_sep("-", "browser screenshots")
        terminalreporter.write_line(f"{len(kept)} screenshot(s) of this run in {SCREENSHOTS}")


@pytest.fixture(scope="module")
def world(
    site_credentials: SiteCredentials, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WebWorld]:
    running = WebWorld(tmp_path_factory.mktemp("web-world"), site_credentials)
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def station(world: WebWorld) -> Iterator[WebWorld]:
    """The demo with its station idle and online, before the test and again after it."""
    world.leave_idle()
    yield world
    world.leave_idle()


@pytest.fixture(scope="module")
def chromium() -> Iterator[LocalBrowser]:
    with local_browser() as browser:
        yield browser


@pytest.fixture
def page(chromium: LocalBrowser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A tab in a context of its own (own sessionStorage, own record of requests).

    After the test, no request of its pages may have left loopback, and at least one must
    have reached it: a test whose pages loaded nothing would otherwise pass the check.
    """
    with chromium.isolated() as guarded:
        tab = guarded.context.new_page()
        tab.set_default_timeout(PAGE_TIMEOUT_MS)
        yield tab
    if request.node.stash.get(_CALL_FAILED, False):
        guarded.offsite.assert_none()  # the failure is reported; only an offsite one adds to it
    else:
        guarded.offsite.assert_stayed_local()


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Screenshots:
    taker = Screenshots(request.node.name)
    taker.clear_earlier()
    return taker
