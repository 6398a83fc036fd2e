"""Both pages end to end in headless Chromium, against a small running demo (`web_world`).

The packer's screen follows a real pick on the simulated rig, shows a wrong scan's reason in
words, and shows the offline banner with the outbox depth while the broker is down; the
manager's dashboard shows the credit holds with the credit gate's exact messages after a viewer
signs in. axe-core checks both pages. Every test runs alone and in any order: the fixtures
(`conftest`) give each test its own browser context, check after each that no request of its
pages left this machine, and leave the station idle after each screen test. Screenshots of each
step are kept under test-artifacts/screenshots.
"""

from __future__ import annotations

import re

import pytest
from axe_playwright_python.sync_playwright import Axe  # type: ignore[import-untyped]
from playwright.sync_api import Page, expect

from edge.contract import OrderAllocated
from web.screenshots import Screenshots
from web.web_world import WebWorld, wait_until

pytestmark = pytest.mark.timeout(180)

BLOCKING_IMPACTS = frozenset({"serious", "critical"})


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
    station: WebWorld, page: Page, shots: Screenshots
) -> None:
    open_screen(page, station)
    completed_before = count_shown(page, "orders_completed")
    picks_before = count_shown(page, "picks")
    labels_before = len(station.printed())
    shots.take(page, "1-idle")

    order = start_order(page, station)
    for line in order.lines:
        row = page.locator(f'[data-testid="line"][data-slot="{line.slot}"]')
        expect(row.locator('[data-field="required"]')).to_have_text(str(line.quantity))
        expect(row.locator('[data-field="remaining"]')).to_have_text(str(line.quantity))
        light = page.locator(f'[data-testid="light"][data-slot="{line.slot}"]')
        expect(light).to_have_attribute("data-pattern", "pick")
        expect(light).to_contain_text("Pick")
        assert station.slot_lit(line.slot), f"slot {line.slot}'s LED pin never went high"
    shots.take(page, "2-order-scanned-lights-lit")

    for number, line in enumerate(order.lines, start=1):
        row = page.locator(f'[data-testid="line"][data-slot="{line.slot}"]')
        station.scan_item(line.gtin)
        expect(row.locator('[data-field="status"]')).to_contain_text("Scanned 1")
        shots.take(page, f"3-line{number}-item-scanned")
        station.press_slot(line.slot)
        expect(page.locator('[data-count="picks"] dd')).to_have_text(str(picks_before + number))
        if number < len(order.lines):  # after the last line the order completes and clears
            expect(row.locator('[data-field="remaining"]')).to_have_text("0")
            expect(row).to_have_attribute("data-status", "picked")
        shots.take(page, f"4-line{number}-button-pressed")

    wait_until(lambda: len(station.printed()) == labels_before + 1, "the label on the Zebra")
    expect(page.get_by_test_id("last-label")).to_contain_text(f"order {order.order_id}")
    expect(page.get_by_test_id("last-label")).to_contain_text("Printed")
    expect(page.locator('[data-count="orders_completed"] dd')).to_have_text(
        str(completed_before + 1)
    )
    expect(page.get_by_test_id("order-id")).to_have_text(re.compile("No order open"))
    slots = [line.slot for line in order.lines]
    wait_until(lambda: not any(station.slot_lit(slot) for slot in slots), f"slots {slots} dark")
    shots.take(page, "5-label-printed")


def test_a_wrong_item_shows_the_alert_with_its_reason_in_words(
    station: WebWorld, page: Page, shots: Screenshots
) -> None:
    open_screen(page, station)
    order = start_order(page, station)
    stranger = item_not_on(station, order)

    station.scan_item(stranger)

    alert = page.get_by_test_id("alert")
    expect(alert).to_have_attribute("data-kind", "wrong_item")
    expect(alert.locator(".alert-kind")).to_have_text(re.compile("Wrong item"))
    expect(alert.locator(".alert-message")).to_contain_text(f"is not on order {order.order_id}")
    expect(alert.locator(".alert-message")).to_contain_text("put it back")
    shots.take(page, "wrong-item-alert")


def test_aborting_from_the_screen_takes_a_confirming_touch(
    station: WebWorld, page: Page, shots: Screenshots
) -> None:
    open_screen(page, station)
    order = start_order(page, station)
    aborts_before = count_shown(page, "aborts")
    dialog = page.get_by_test_id("confirm-abort-dialog")

    page.get_by_test_id("action-abort").click()
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(f"order {order.order_id}")
    shots.take(page, "1-asked-to-confirm")
    page.get_by_test_id("cancel-abort").click()

    expect(dialog).to_be_hidden()
    expect(page.get_by_test_id("action-result")).to_contain_text("Nothing aborted")
    expect(page.get_by_test_id("order-id")).to_have_text(f"Order {order.order_id}")
    assert station.screen_state()["order"]["order_id"] == order.order_id
    shots.take(page, "2-kept")

    page.get_by_test_id("action-abort").click()
    page.get_by_test_id("confirm-abort").click()

    expect(page.get_by_test_id("order-id")).to_have_text(re.compile("No order open"))
    expect(page.locator('[data-count="aborts"] dd')).to_have_text(str(aborts_before + 1))
    shots.take(page, "3-aborted")


# -- the manager's dashboard -------------------------------------------------------------------


def test_a_viewer_sees_the_credit_holds_with_their_exact_messages_and_the_station_online(
    world: WebWorld, page: Page, shots: Screenshots
) -> None:
    assert world.scenario is not None
    sign_in(page, world, world.viewer_token)
    page.wait_for_function("() => document.body.dataset.loaded === 'true'")
    shots.take(page, "1-signed-in")

    stations = page.get_by_test_id("stations")
    station_row = stations.locator("tr", has_text=world.station_id.client_id)
    expect(station_row).to_contain_text("Online")

    panel = page.get_by_test_id("credit-errors")
    shown = [panel.inner_text()]
    shots.take(page, "2-credit-holds")
    next_page = panel.get_by_role("button", name="Next page")
    while next_page.is_enabled():
        first_row = panel.locator("tbody tr").first.inner_text()
        next_page.click()
        expect(panel.locator("tbody tr").first).not_to_have_text(first_row)
        shown.append(panel.inner_text())
        shots.take(page, f"2-credit-holds-page{len(shown)}")
    text = "\n".join(shown)
    expected = world.scenario.expected.messages
    assert expected, "the scenario holds no order on credit"
    missing = [m for messages in expected.values() for m in messages if m not in text]
    assert not missing, f"messages missing from the error report: {missing}"


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
    station: WebWorld, page: Page, shots: Screenshots
) -> None:
    open_screen(page, station)
    order = start_order(page, station)
    station.scan_item(item_not_on(station, order))
    expect(page.get_by_test_id("alert")).to_have_attribute("data-kind", "wrong_item")
    shots.take(page, "checked")

    assert not serious_violations(page, "the packer's screen")


def test_axe_finds_no_serious_violation_on_the_loaded_dashboard(
    world: WebWorld, page: Page, shots: Screenshots
) -> None:
    sign_in(page, world, world.viewer_token)
    page.wait_for_function("() => document.body.dataset.loaded === 'true'")
    shots.take(page, "checked")

    assert not serious_violations(page, "the dashboard")


# -- the broker goes away ----------------------------------------------------------------------


def test_the_offline_banner_shows_the_outbox_depth_while_the_broker_is_down(
    station: WebWorld, page: Page, shots: Screenshots
) -> None:
    open_screen(page, station)
    banner = page.get_by_test_id("offline-banner")
    expect(banner).to_be_hidden()

    station.kill_broker()
    try:
        expect(banner).to_be_visible(timeout=20_000)
        start_order(page, station)  # written to the outbox; nothing can be sent
        wait_until(lambda: station.screen_state()["link"]["outbox_depth"] > 0, "an event queued")
        depth = station.screen_state()["link"]["outbox_depth"]
        words = "event" if depth == 1 else "events"
        expect(banner).to_contain_text(f"Offline: {depth} {words} waiting to send")
        shots.take(page, "1-offline-banner")
    finally:
        station.start_broker()

    expect(banner).to_be_hidden(timeout=30_000)
    expect(page.get_by_test_id("link-state")).to_contain_text("Online")
    shots.take(page, "2-back-online")
