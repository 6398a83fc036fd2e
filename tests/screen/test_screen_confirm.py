"""Void and abort on the screen take a second touch, in a dialog the page itself shows.

A kiosk screen gets mis-taps, and neither a voided label nor an aborted order can be taken back,
so each first opens a modal dialog naming what it will act on (kiosk browsers may suppress
`window.confirm`, so the page has its own). Focus moves into the dialog, onto the safe choice;
Escape or "Keep" cancels; and what the dialog named is checked again on confirm, so an order
opened meanwhile is never the one acted on by surprise. Driven in headless Chromium against a
station on the simulated rig.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from axe_playwright_python.async_playwright import Axe  # type: ignore[import-untyped]
from playwright.async_api import Page, expect
from screen_rig import MUG, StationRun, allocate, station_on_rig

from edge.contract import StationId
from firmware_sim.broker import MosquittoBroker
from firmware_sim.browser import local_browser_async

pytestmark = pytest.mark.timeout(120)

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


@pytest.fixture
async def run(
    mosquitto: MosquittoBroker, station_id: StationId, tmp_path: Path
) -> AsyncIterator[StationRun]:
    async with station_on_rig(mosquitto, station_id, tmp_path / "state") as running:
        yield running


@pytest.fixture
async def screen(run: StationRun) -> AsyncIterator[Page]:
    assert run.station.screen_url is not None
    async with local_browser_async() as chromium:
        page = await chromium.context.new_page()
        page.set_default_timeout(15_000)
        await page.goto(run.station.screen_url)
        await page.wait_for_function("() => document.body.dataset.revision !== undefined")
        yield page
        chromium.offsite.assert_stayed_local()


async def open_order(run: StationRun, screen: Page, order_id: str, **lines: object) -> None:
    await allocate(run, order_id=order_id, **lines)
    run.scan(order_id)
    await expect(screen.get_by_test_id("order-id")).to_have_text(f"Order {order_id}")


async def pack_to_a_label(run: StationRun, screen: Page, order_id: str) -> str:
    """Pack a one-unit order through to its printed label; return the label's id."""
    await open_order(run, screen, order_id, lines=(("1", MUG, 1, "A1"),))
    run.scan(MUG[1:], "]E0")
    scanned = screen.get_by_test_id("last-scan")
    await expect(scanned).to_have_attribute("data-scan-seq", "2")
    await expect(scanned).to_have_attribute("data-outcome", "accepted")
    await run.press("A1")
    await run.until(
        lambda: (
            run.station.state.last_label is not None
            and run.station.state.last_label.order_id == order_id
        ),
        f"the label of {order_id}",
    )
    assert run.station.state.last_label is not None
    return run.station.state.last_label.label_id


async def focused_test_id(page: Page) -> str | None:
    test_id: str | None = await page.evaluate(
        "() => document.activeElement && document.activeElement.dataset.testid"
    )
    return test_id


async def test_void_opens_a_dialog_naming_the_label_and_escape_voids_nothing(
    run: StationRun, screen: Page
) -> None:
    label_id = await pack_to_a_label(run, screen, "SO-1")
    await open_order(run, screen, "SO-2")  # void acts on SO-1's label, not on the open order

    await screen.get_by_test_id("action-void").click()
    dialog = screen.get_by_test_id("confirm-void-dialog")
    await expect(dialog).to_be_visible()
    await expect(dialog).to_contain_text(f"label {label_id} of order SO-1, reason: Wrong address")
    assert await focused_test_id(screen) == "cancel-void"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await screen.screenshot(path=str(SCREENSHOTS / "screen-confirm-void.png"))
    blocking = [
        violation["id"]
        for violation in (await Axe().run(screen)).response["violations"]
        if violation["impact"] in {"serious", "critical"}
    ]
    assert blocking == []

    await screen.keyboard.press("Escape")

    await expect(dialog).to_be_hidden()
    await expect(screen.get_by_test_id("action-result")).to_have_text("Nothing voided: cancelled")
    assert await focused_test_id(screen) == "action-void"
    assert run.station.state.last_label is not None
    assert not run.station.state.last_label.voided
    assert run.station.screen_audit.recent(10) == []


async def test_a_confirmed_void_voids_the_last_label_and_is_audited_on_its_order(
    run: StationRun, screen: Page
) -> None:
    label_id = await pack_to_a_label(run, screen, "SO-1")
    await open_order(run, screen, "SO-2")

    await screen.get_by_test_id("action-void").click()
    await screen.get_by_test_id("confirm-void").click()

    await expect(screen.get_by_test_id("action-result")).to_have_text("✓ Label voided")
    await expect(screen.get_by_test_id("last-label")).to_contain_text(f"Voided: {label_id}")
    [row] = run.station.screen_audit.recent(10)
    assert (row["action"], row["outcome"], row["order_id"]) == ("void", "done", "SO-1")
    assert run.station.state.order is not None
    assert run.station.state.order.order_id == "SO-2"


async def test_a_confirmed_abort_carries_the_note_typed_in_its_dialog(
    run: StationRun, screen: Page
) -> None:
    await open_order(run, screen, "SO-1")
    await screen.locator("#abort-reason").select_option("damaged")

    await screen.get_by_test_id("action-abort").click()
    dialog = screen.get_by_test_id("confirm-abort-dialog")
    await expect(dialog).to_contain_text("order SO-1, reason: Damaged")
    await screen.get_by_label("Note (optional)").fill("box crushed")
    await screen.get_by_label("Note (optional)").press("Enter")  # typing is not confirming
    await expect(dialog).to_be_visible()
    assert run.station.state.order is not None
    await screen.get_by_test_id("confirm-abort").click()

    await expect(screen.get_by_test_id("order-id")).to_contain_text("No order open")
    await run.until(lambda: "order_aborted" in run.bridge.kinds(), "the abort at the bridge")
    [abort] = run.bridge.events("order_aborted")
    assert abort.model_dump()["reason"] == "damaged"
    assert abort.model_dump()["note"] == "box crushed"
    [row] = run.station.screen_audit.recent(10)
    assert (row["action"], row["order_id"], row["reason"]) == (
        "abort",
        "SO-1",
        "damaged: box crushed",
    )


async def test_a_confirm_after_the_order_changed_under_the_dialog_acts_on_nothing(
    run: StationRun, screen: Page
) -> None:
    await open_order(run, screen, "SO-1")
    await screen.get_by_test_id("action-abort").click()
    await expect(screen.get_by_test_id("confirm-abort-dialog")).to_contain_text("order SO-1")

    run.scan("PL:ABORT")  # someone at the bench aborts SO-1 and starts the next order
    await run.until(lambda: run.station.state.order is None, "SO-1 aborted at the bench")
    await open_order(run, screen, "SO-2")
    await screen.get_by_test_id("confirm-abort").click()

    result = screen.get_by_test_id("action-result")
    await expect(result).to_contain_text("not done: the station changed meanwhile")
    await expect(result).to_contain_text("order SO-2 now")
    assert run.station.state.order is not None
    assert run.station.state.order.order_id == "SO-2"
    assert run.station.screen_audit.recent(10) == []
