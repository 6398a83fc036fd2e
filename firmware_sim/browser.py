"""Headless Chromium for the page tests and benchmarks: Debian's browser, never a downloaded one.

Playwright would normally fetch its own browser build; a warehouse machine and CI have none and
may have no internet, so the pages are driven in the distribution's ``chromium`` through
Playwright's ``executable_path``. The pages must work with no internet too, so every request
that leaves loopback is aborted and recorded (`OffsiteRequests`): a test asserts the record is
empty and that local requests were seen, which proves the page loaded nothing from a CDN.
`LocalBrowser.isolated` gives each test a context (and a record) of its own, so what one test's
pages did can never make another test pass or fail.

The sync form (`local_browser`) serves the tests; the async form (`local_browser_async`) shares
an event loop with an in-process station in the screen benchmark.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit

from firmware_sim.errors import SimError

if TYPE_CHECKING:
    from playwright.async_api import Browser as AsyncBrowser
    from playwright.async_api import BrowserContext as AsyncBrowserContext
    from playwright.async_api import Route as AsyncRoute
    from playwright.sync_api import Browser, BrowserContext, Route

__all__ = [
    "CHROMIUM_PACKAGE",
    "LAUNCH_ARGS",
    "LOCAL_HOSTS",
    "BrowserError",
    "ChromiumNotInstalledError",
    "GuardedContext",
    "LocalBrowser",
    "LocalBrowserAsync",
    "OffsiteRequests",
    "find_chromium",
    "is_local",
    "local_browser",
    "local_browser_async",
]

CHROMIUM_PACKAGE: Final = "chromium"
"""The Debian package that provides the browser."""

DEFAULT_CHROMIUM: Final = Path("/usr/bin/chromium")

CHROMIUM_VARIABLE: Final = "PACKLINE_CHROMIUM"
"""Names another Chromium binary (a distribution that installs it elsewhere)."""

LAUNCH_ARGS: Final = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
"""No sandbox (containers and root have no user namespaces), and none of the browser's own
background traffic: updates, sync and field trials would be requests off this machine."""

LOCAL_HOSTS: Final = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


class BrowserError(SimError, RuntimeError):
    """The browser could not be found or started."""


class ChromiumNotInstalledError(BrowserError, FileNotFoundError):
    """No Chromium binary; the message names the Debian package to install."""


def find_chromium(default: Path = DEFAULT_CHROMIUM) -> Path:
    """Debian's Chromium: ``$PACKLINE_CHROMIUM``, then `default`, then ``chromium`` on PATH."""
    named = os.environ.get(CHROMIUM_VARIABLE)
    candidates = [Path(named)] if named else []
    candidates.append(default)
    on_path = shutil.which("chromium") or shutil.which("chromium-browser")
    if on_path:
        candidates.append(Path(on_path))
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    looked = ", ".join(str(path) for path in candidates) or str(default)
    raise ChromiumNotInstalledError(
        f"no Chromium found (looked at {looked} and PATH); install Debian's package with: "
        f"sudo apt-get install {CHROMIUM_PACKAGE}  (or run scripts/ensure-servers.sh)"
    )


def is_local(url: str) -> bool:
    """Whether `url` stays on this machine: loopback hosts, or a scheme with no host at all."""
    parts = urlsplit(url)
    if parts.scheme in {"data", "blob", "about", "javascript"}:
        return True
    host = (parts.hostname or "").lower()
    return host in LOCAL_HOSTS


@dataclass
class OffsiteRequests:
    """Requests a page tried to make off loopback; each was aborted before it left."""

    attempted: list[str] = field(default_factory=list)
    local: int = 0
    """Requests that stayed on loopback and went ahead (so a check of none refused means
    something only when this is above zero)."""

    def refuse(self, url: str) -> bool:
        """Record `url` if it leaves loopback; True when it must be aborted."""
        if is_local(url):
            self.local += 1
            return False
        self.attempted.append(url)
        return True

    def assert_none(self) -> None:
        """Raise, naming them, if any page tried to reach the internet."""
        if self.attempted:
            raise BrowserError(
                f"{len(self.attempted)} request(s) left loopback (the pages must work with no "
                f"internet): {', '.join(sorted(set(self.attempted))[:10])}"
            )

    def assert_stayed_local(self) -> None:
        """`assert_none`, and at least one local request seen: an empty record proves nothing
        when no page loaded at all (or the guard never saw its requests)."""
        self.assert_none()
        if self.local == 0:
            raise BrowserError(
                "no request to loopback was seen: no page loaded, so nothing shows the pages "
                "work without the internet"
            )


@dataclass
class GuardedContext:
    """A browser context whose offsite requests are refused, and its own record of them."""

    context: BrowserContext
    offsite: OffsiteRequests


@dataclass
class LocalBrowser:
    """A running headless Chromium and one context whose offsite requests are refused."""

    browser: Browser
    context: BrowserContext
    offsite: OffsiteRequests

    @contextlib.contextmanager
    def isolated(self) -> Iterator[GuardedContext]:
        """A fresh context (own storage, own record of requests), closed on the way out."""
        guarded = _guarded_context(self.browser)
        try:
            yield guarded
        finally:
            guarded.context.close()


@dataclass
class LocalBrowserAsync:
    """The async form of `LocalBrowser`."""

    browser: AsyncBrowser
    context: AsyncBrowserContext
    offsite: OffsiteRequests


_VIEWPORT: Final = {"width": 1280, "height": 800}
"""About a station's touch screen, and wide enough for the dashboard's panels side by side."""


def _guarded_context(browser: Browser) -> GuardedContext:
    """A new context in `browser` that aborts and records every request off loopback."""
    offsite = OffsiteRequests()

    def guard(route: Route) -> None:
        if offsite.refuse(route.request.url):
            route.abort("blockedbyclient")
        else:
            route.fallback()

    context = browser.new_context(viewport=_VIEWPORT)  # type: ignore[arg-type]
    context.route("**/*", guard)
    return GuardedContext(context, offsite)


@contextlib.contextmanager
def local_browser(executable: Path | None = None) -> Iterator[LocalBrowser]:
    """Headless Debian Chromium with one context that refuses every request off loopback."""
    from playwright.sync_api import Error, sync_playwright

    path = executable or find_chromium()
    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(
                executable_path=str(path), headless=True, args=list(LAUNCH_ARGS)
            )
        except Error as error:
            raise BrowserError(f"Chromium at {path} did not start: {error}") from None
        try:
            guarded = _guarded_context(browser)
            try:
                yield LocalBrowser(browser, guarded.context, guarded.offsite)
            finally:
                guarded.context.close()
        finally:
            browser.close()


@contextlib.asynccontextmanager
async def local_browser_async(executable: Path | None = None) -> AsyncIterator[LocalBrowserAsync]:
    """`local_browser` on the running event loop."""
    from playwright.async_api import Error, async_playwright

    path = executable or find_chromium()
    offsite = OffsiteRequests()

    async def guard(route: AsyncRoute) -> None:
        if offsite.refuse(route.request.url):
            await route.abort("blockedbyclient")
        else:
            await route.fallback()

    async with async_playwright() as playwright:
        try:
            browser = await playwright.chromium.launch(
                executable_path=str(path), headless=True, args=list(LAUNCH_ARGS)
            )
        except Error as error:
            raise BrowserError(f"Chromium at {path} did not start: {error}") from None
        try:
            context = await browser.new_context(viewport=_VIEWPORT)  # type: ignore[arg-type]
            await context.route("**/*", guard)
            yield LocalBrowserAsync(browser, context, offsite)
            await context.close()
        finally:
            await browser.close()
