"""Both pages end to end in headless Chromium, against a small running demo (`web_world`).

The packer's screen follows a real pick on the simulated rig, shows a wrong scan's reason in
words, and shows the offline banner with the outbox depth while the broker is down; the
manager's dashboard shows the credit holds with the credit gate's exact messages after a viewer
signs in. axe-core checks both pages, and no page may reach past this machine. Screenshots of
each step are kept under test-artifacts/screenshots.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe  # type: ignore[import-untyped]
from playwright.sync_api import Page, expect
from web_world import WebWorld, wait_until

from edge.contract import OrderAllocated
from firmware_sim.browser import LocalBrowser, local_browser
from firmware_sim.secure_site import SiteCredentials

pytestmark = pytest.mark.timeout(180)

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
"""Kept after the run (git ignores them), so a failure can be seen as the browser saw it."""

BLOCKING_IMPACTS = frozenset({"serious", "critical"})


# -- fixtures ----------------------------------------------------------------------------------


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


@pytest.fixture(scope="module")
def chromium() -> Iterator[LocalBrowser]:
    with local_browser() as browser:
        yield browser


@pytest.fixture
def page(chromium: LocalBrowser) -> Iterator[Page]:
    """A fresh tab (its own sessionStorage); no request of the test may have left loopback."""
    tab = chromium.context.new_page()
    tab.set_default_timeout(15_000)
    yield tab
    tab.close()
    chromium.offsite.assert_none()


class Screenshots:
    """Saves `<test>-<step>.png` under test-artifacts/screenshots and prints each path."""

    def __init__(self, test_name: str) -> None:
        self._test = re.sub(r"[^A-Za-z0-9_.-]+", "-", test_name)

    def take(self, page: Page, step: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{self._test}-{step}.png"
        page.screenshot(path=str(path), full_page=True)
        print(f"screenshot: {path}")
        return path


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Screenshots:
    return Screenshots(request.node.name)


# -- helpers -----------------------------------------------------------------------------------


def open_screen(page: Page, world: WebWorld) -> None:
    page.goto(world.screen_url)
    page.wait_for_function("() => document.body.dataset.revision !== undefined")


def count_shown(page: Page, key: str) -> int:
    return int(page.locator(f'[data-testid="counts"] [data-count="{key}"] dd').inner_text())


def start_order(page: Page, world: WebWorld) -> OrderAllocated:
    """Scan an order the station holds; wait until the screen shows it open."""
    order = world.take_order()
    world.scan(order.order_id, "]C0")
    expect(page.get_by_test_id("order-id")).to_have_text(f"Order {order.order_id}")
    return order


def abort_open_order(page: Page, world: WebWorld) -> None:
    world.scan("PL:ABORT", "]C0")
    expect(page.get_by_test_id("order-id")).to_have_text(re.compile("No order open"))


def item_not_on(world: WebWorld, order: OrderAllocated) -> str:
    assert world.scenario is not None
    on_order = {line.gtin for line in order.lines}
    return next(p.gtin for p in world.scenario.skus if p.gtin not in on_order)


def sign_in(page: Page, world: WebWorld, token: str) -> None:
    page.goto(world.dashboard_url)
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Sign in").click()


def serious_violations(page: Page, where: str) -> list[str]:
    """axe-core's serious and critical violations on the page; the others are printed."""
    results = Axe().run(page)
    blocking = []
    for violation in results.response["violations"]:
        summary = (
            f"{violation['id']} ({violation['impact']}): {violation['help']} "
            f"[{len(violation['nodes'])} node(s)]"
        )
        if violation["impact"] in BLOCKING_IMPACTS:
            blocking.append(summary)
        else:
            print(f"axe on {where}, not blocking: {summary}")
    return blocking


# -- the packer's screen -----------------------------------------------------------------------


def test_the_screen_follows_a_real_pick_from_order_scan_to_printed_label(
    world: WebWorld, page: Page, shots: Screenshots
) -> None:
    open_screen(page, world)
    completed_before = count_shown(page, "orders_completed")
    picks_before = count_shown(page, "picks")
    labels_before = len(world.printed())
    shots.take(page, "1-idle")

    order = start_order(page, world)
    for line in order.lines:
        row = page.locator(f'[data-testid="line"][data-slot="{line.slot}"]')
        expect(row.locator('[data-field="required"]')).to_have_text(str(line.quantity))
        expect(row.locator('[data-field="remaining"]')).to_have_text(str(line.quantity))
        light = page.locator(f'[data-testid="light"][data-slot="{line.slot}"]')
        expect(light).to_have_attribute("data-pattern", "pick")
        expect(light).to_contain_text("Pick")
        assert world.slot_lit(line.slot), f"slot {line.slot}'s LED pin never went high"
    shots.take(page, "2-order-open")

    for number, line in enumerate(order.lines, start=1):
        row = page.locator(f'[data-testid="line"][data-slot="{line.slot}"]')
        world.scan_item(line.gtin)
        expect(row.locator('[data-field="status"]')).to_contain_text("Scanned 1")
        shots.take(page, f"3-line{number}-item-scanned")
        world.press_slot(line.slot)
        expect(page.locator('[data-count="picks"] dd')).to_have_text(str(picks_before + number))
        if number < len(order.lines):  # after the last line the order completes and clears
            expect(row.locator('[data-field="remaining"]')).to_have_text("0")
            expect(row).to_have_attribute("data-status", "picked")
        shots.take(page, f"4-line{number}-slot-pressed")

    wait_until(lambda: len(world.printed()) == labels_before + 1, "the label on the Zebra")
    expect(page.get_by_test_id("last-label")).to_contain_text(f"order {order.order_id}")
    expect(page.get_by_test_id("last-label")).to_contain_text("Printed")
    expect(page.locator('[data-count="orders_completed"] dd')).to_have_text(
        str(completed_before + 1)
    )
    expect(page.get_by_test_id("order-id")).to_have_text(re.compile("No order open"))
    slots = [line.slot for line in order.lines]
    wait_until(lambda: not any(world.slot_lit(slot) for slot in slots), f"slots {slots} dark")
    shots.take(page, "5-label-printed")


def test_a_wrong_item_shows_the_alert_with_its_reason_in_words(
    world: WebWorld, page: Page, shots: Screenshots
) -> None:
    open_screen(page, world)
    order = start_order(page, world)
    stranger = item_not_on(world, order)

    world.scan_item(stranger)

    alert = page.get_by_test_id("alert")
    expect(alert).to_have_attribute("data-kind", "wrong_item")
    expect(alert.locator(".alert-kind")).to_have_text(re.compile("Wrong item"))
    expect(alert.locator(".alert-message")).to_contain_text(f"is not on order {order.order_id}")
    expect(alert.locator(".alert-message")).to_contain_text("put it back")
    shots.take(page, "wrong-item-alert")
    abort_open_order(page, world)


# -- the manager's dashboard -------------------------------------------------------------------


def test_a_viewer_sees_the_credit_holds_with_their_exact_messages_and_the_station_online(
    world: WebWorld, page: Page, shots: Screenshots
) -> None:
    assert world.scenario is not None
    sign_in(page, world, world.viewer_token)
    page.wait_for_function("() => document.body.dataset.loaded === 'true'")
    shots.take(page, "signed-in")

    stations = page.get_by_test_id("stations")
    station_row = stations.locator("tr", has_text=world.station_id.client_id)
    expect(station_row).to_contain_text("Online")

    panel = page.get_by_test_id("credit-errors")
    shown = [panel.inner_text()]
    next_page = panel.get_by_role("button", name="Next page")
    while next_page.is_enabled():
        first_row = panel.locator("tbody tr").first.inner_text()
        next_page.click()
        expect(panel.locator("tbody tr").first).not_to_have_text(first_row)
        shown.append(panel.inner_text())
    text = "\n".join(shown)
    expected = world.scenario.expected.messages
    assert expected, "the scenario holds no order on credit"
    missing = [m for messages in expected.values() for m in messages if m not in text]
    assert not missing, f"messages missing from the error report: {missing}"
    shots.take(page, "credit-errors")


def test_a_wrong_token_is_refused_with_the_sign_in_error(
    world: WebWorld, page: Page, shots: Screenshots
) -> None:
    sign_in(page, world, "not-a-real-token")

    expect(page.locator("#notice")).to_contain_text("The token was not accepted")
    expect(page.get_by_label("API token")).to_be_visible()
    expect(page.get_by_test_id("credit-errors")).to_be_hidden()
    shots.take(page, "refused")


# -- accessibility -----------------------------------------------------------------------------


def test_axe_finds_no_serious_violation_on_the_screen_with_an_order_and_an_alert(
    world: WebWorld, page: Page, shots: Screenshots
) -> None:
    open_screen(page, world)
    order = start_order(page, world)
    world.scan_item(item_not_on(world, order))
    expect(page.get_by_test_id("alert")).to_have_attribute("data-kind", "wrong_item")
    shots.take(page, "checked")

    blocking = serious_violations(page, "the packer's screen")

    abort_open_order(page, world)
    assert not blocking


def test_axe_finds_no_serious_violation_on_the_loaded_dashboard(
    world: WebWorld, page: Page, shots: Screenshots
) -> None:
    sign_in(page, world, world.viewer_token)
    page.wait_for_function("() => document.body.dataset.loaded === 'true'")
    shots.take(page, "checked")

    assert not serious_violations(page, "the dashboard")


# -- the broker goes away ----------------------------------------------------------------------


def test_the_offline_banner_shows_the_outbox_depth_while_the_broker_is_down(
    world: WebWorld, page: Page, shots: Screenshots
) -> None:
    open_screen(page, world)
    banner = page.get_by_test_id("offline-banner")
    expect(banner).to_be_hidden()

    world.kill_broker()
    try:
        expect(banner).to_be_visible(timeout=20_000)
        start_order(page, world)  # written to the outbox; nothing can be sent
        wait_until(lambda: world.screen_state()["link"]["outbox_depth"] > 0, "an event queued")
        depth = world.screen_state()["link"]["outbox_depth"]
        words = "event" if depth == 1 else "events"
        expect(banner).to_contain_text(f"Offline: {depth} {words} waiting to send")
        shots.take(page, "1-offline")
    finally:
        world.start_broker()

    expect(banner).to_be_hidden(timeout=30_000)
    expect(page.get_by_test_id("link-state")).to_contain_text("Online")
    shots.take(page, "2-back-online")
    abort_open_order(page, world)


def test_no_page_request_left_this_machine(chromium: LocalBrowser) -> None:
    """Every page above worked with nothing but loopback: no CDN, no font, no beacon."""
    assert chromium.offsite.local > 0, "no page request was seen at all"
    assert chromium.offsite.attempted == []
