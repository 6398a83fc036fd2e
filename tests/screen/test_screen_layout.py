"""The packer's screen as a kiosk shows it: every action reachable without scrolling.

Packers use the screen with gloves, standing, on the small touch screens a Pi drives, so the page
is opened in headless Chromium at those screens' sizes with its tallest content (an order with a
line in every slot and an alert) and checked the way a finger would: each action's button and
its reason must lie inside the first screenful, be at least 64 px each way, and be what a touch
at its centre reaches (not covered by anything); every reason must fit in its box, not be cut
off. axe-core must find no serious or critical violation at either size, and the page must run
under its Content-Security-Policy without a single violation. Screenshots are kept under
test-artifacts/screenshots.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from axe_playwright_python.async_playwright import Axe  # type: ignore[import-untyped]
from playwright.async_api import Page, expect
from screen_rig import MUG, PEN, TEA, StationRun, allocate, station_on_rig

from edge.contract import StationId
from firmware_sim.broker import MosquittoBroker
from firmware_sim.browser import LocalBrowserAsync, local_browser_async

pytestmark = pytest.mark.timeout(120)

KIOSK_SCREENS = ((1280, 800), (1024, 600))
"""A common 10" panel, and the 7" touch screens most Pi stations use."""

TOUCH_TARGET_PX = 64

ACTIONS = ("shortage", "finalise", "reprint", "void", "abort")

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"

FIVE_LINES = (
    ("1", MUG, 2, "A1"),
    ("2", TEA, 1, "A2"),
    ("3", PEN, 3, "A3"),
    ("4", "05060000000016", 1, "B1"),
    ("5", "05060000000023", 12, "B2"),
)


@pytest.fixture
async def run(
    mosquitto: MosquittoBroker, station_id: StationId, tmp_path: Path
) -> AsyncIterator[StationRun]:
    # The alert is the tallest state the layout must fit; on a loaded machine the default 3 s
    # could clear it before both kiosk sizes are looked at.
    async with station_on_rig(
        mosquitto, station_id, tmp_path / "state", alert_seconds=60
    ) as running:
        yield running


@pytest.fixture
async def chromium() -> AsyncIterator[LocalBrowserAsync]:
    async with local_browser_async() as browser:
        yield browser
        browser.offsite.assert_none()


CSP_WATCH_JS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.effectiveDirective} blocked ${event.blockedURI}`);
});
"""
"""Records what the page's Content-Security-Policy blocked, from before the page's own script."""


async def open_kiosk(chromium: LocalBrowserAsync, url: str, width: int, height: int) -> Page:
    context = await chromium.browser.new_context(viewport={"width": width, "height": height})
    await context.add_init_script(CSP_WATCH_JS)
    page = await context.new_page()
    page.set_default_timeout(15_000)
    await page.goto(url)
    await page.wait_for_function("() => document.body.dataset.revision !== undefined")
    return page


UNCOVERED_JS = """([selector, centre]) => {
    const node = document.querySelector(selector);
    if (centre) node.scrollIntoView({ block: "center" });
    const box = node.getBoundingClientRect();
    const hit = document.elementFromPoint(box.x + box.width / 2, box.y + box.height / 2);
    return hit !== null && (hit === node || node.contains(hit));
}"""
"""Whether a touch at the element's centre lands on it (nothing lies over it)."""


async def reached_by_touch(page: Page, selector: str, *, centre_first: bool = False) -> bool:
    """Whether a touch at the element's centre reaches it, after scrolling it to the middle of
    the screen if `centre_first`."""
    return bool(await page.evaluate(UNCOVERED_JS, [selector, centre_first]))


async def csp_violations(page: Page) -> list[str]:
    violations: list[str] = await page.evaluate("window.__cspViolations")
    return violations


ARROW_ROOM_PX = 20
"""What a select's drop-down arrow takes from its text in Chromium."""

CUT_OFF_CHOICES_JS = """(arrow) => {
    const measure = document.createElement("canvas").getContext("2d");
    const cut = [];
    for (const select of document.querySelectorAll(".actions select")) {
        const style = getComputedStyle(select);
        measure.font = `${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
        const room = select.clientWidth - parseFloat(style.paddingLeft)
            - parseFloat(style.paddingRight) - arrow;
        for (const option of select.options) {
            const needs = measure.measureText(option.textContent).width;
            if (needs > room) {
                const words = `${select.id} "${option.textContent}"`;
                cut.push(`${words}: ${Math.ceil(needs)} px in ${Math.floor(room)}`);
            }
        }
    }
    return cut;
}"""
"""Each choice of each action's select whose words are wider than the box shows."""


async def serious_violations(page: Page) -> list[str]:
    results = await Axe().run(page)
    return [
        f"{violation['id']} ({violation['impact']}): {violation['help']}"
        for violation in results.response["violations"]
        if violation["impact"] in {"serious", "critical"}
    ]


async def test_every_action_is_on_the_first_screenful_of_a_kiosk_with_a_long_order(
    run: StationRun, chromium: LocalBrowserAsync
) -> None:
    await allocate(run, lines=FIVE_LINES)
    run.scan("SO-1")
    await run.until(lambda: run.station.state.order is not None, "the order open")
    await run.press("A1")  # a press before the scan: the wrong-slot alert, the tallest state
    await run.until(lambda: run.station.state.alert is not None, "the alert")
    assert run.station.screen_url is not None
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    for width, height in KIOSK_SCREENS:
        page = await open_kiosk(chromium, run.station.screen_url, width, height)
        await expect(page.get_by_test_id("line")).to_have_count(5)
        await expect(page.get_by_test_id("alert")).not_to_have_attribute("data-kind", "none")
        await page.screenshot(path=str(SCREENSHOTS / f"screen-kiosk-{width}x{height}.png"))

        for action in ACTIONS:
            button = page.get_by_test_id(f"action-{action}")
            box = await button.bounding_box()
            assert box is not None, f"{action} is not shown at {width}x{height}"
            where = f"{action} at {width}x{height}: {box}"
            assert box["x"] >= 0, where
            assert box["y"] >= 0, where
            assert box["x"] + box["width"] <= width, where
            assert box["y"] + box["height"] <= height, where
            assert box["width"] >= TOUCH_TARGET_PX, where
            assert box["height"] >= TOUCH_TARGET_PX, where
            touched = await reached_by_touch(page, f'[data-testid="action-{action}"]')
            assert touched, f"{where} is covered"
        for field in ("shortage-reason", "reprint-reason", "void-reason", "abort-reason"):
            choice = await page.locator(f"#{field}").bounding_box()
            assert choice is not None, field
            assert choice["y"] + choice["height"] <= height, f"{field} at {width}x{height}"
            assert choice["height"] >= TOUCH_TARGET_PX, f"{field} at {width}x{height}"
        cut_off = await page.evaluate(CUT_OFF_CHOICES_JS, ARROW_ROOM_PX)
        assert cut_off == [], f"choices cut off at {width}x{height}"

        assert await serious_violations(page) == [], f"axe at {width}x{height}"
        assert await csp_violations(page) == [], f"CSP at {width}x{height}"
        await page.context.close()


async def test_the_last_line_and_the_shift_counts_scroll_clear_of_the_action_bar(
    run: StationRun, chromium: LocalBrowserAsync
) -> None:
    await allocate(run, lines=FIVE_LINES)
    run.scan("SO-1")
    await run.until(lambda: run.station.state.order is not None, "the order open")
    assert run.station.screen_url is not None
    width, height = KIOSK_SCREENS[-1]
    page = await open_kiosk(chromium, run.station.screen_url, width, height)
    await expect(page.get_by_test_id("line")).to_have_count(5)

    for target in (
        '[data-testid="line"][data-slot="B2"] [data-field="remaining"]',
        '[data-testid="counts"] [data-count="aborts"] dd',
    ):
        shown = await reached_by_touch(page, target, centre_first=True)
        assert shown, f"{target} stays under the action bar at {width}x{height}"
    await page.context.close()
