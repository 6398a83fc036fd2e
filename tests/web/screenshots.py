"""Screenshots of each step of the page tests, kept as test artefacts.

They stay after the run under test-artifacts/screenshots (git ignores the directory), so a step,
or a failure, can be seen as the browser saw it. A test's earlier screenshots are removed when it
starts, so the directory holds each test's latest run, never a mix of two runs.
"""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"

FAILED_STEP = "failed"
"""The step name of the screenshot taken when a test fails, as the page was at the failure."""


def _file_safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name)


class Screenshots:
    """Saves `<test>-<step>.png` under `directory` and prints each path."""

    def __init__(self, test_name: str, directory: Path = SCREENSHOTS) -> None:
        self._test = _file_safe(test_name)
        self._directory = directory

    def clear_earlier(self) -> None:
        """Remove this test's screenshots from an earlier run."""
        for old in self._directory.glob(f"{self._test}-*.png"):
            old.unlink(missing_ok=True)

    def take(self, page: Page, step: str) -> Path:
        self._directory.mkdir(parents=True, exist_ok=True)
        path = self._directory / f"{self._test}-{_file_safe(step)}.png"
        page.screenshot(path=str(path), full_page=True)
        print(f"screenshot: {path}")
        return path


def kept_since(started: float, directory: Path = SCREENSHOTS) -> list[Path]:
    """The screenshots written since `started` (a `time.time()`), oldest first."""
    if not directory.is_dir():
        return []
    fresh = [path for path in directory.glob("*.png") if path.stat().st_mtime >= started]
    return sorted(fresh, key=lambda path: path.stat().st_mtime)
