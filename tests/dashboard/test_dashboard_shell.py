"""The dashboard's page: served without a token, holding no data, and needing nothing off-site."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from dashboard_world import Dashboard, running_dashboard

from cloud_bridge.dashboard import STATIC_DIR

PANELS = (
    "stations",
    "orders-by-state",
    "despatches",
    "chart-orders-per-hour",
    "chart-picks-per-station",
    "credit-errors",
    "auto-queue",
    "inventory",
    "sage",
    "fleet",
)
LOADS_FROM_A_URL = re.compile(
    r"""(?:src|href|action)\s*=\s*["']?\s*(?:https?:)?//"""
    r"""|url\(\s*["']?\s*(?:https?:)?//"""
    r"""|@import\s+["']?(?:https?:)?//"""
    r"""|(?:fetch|import|importScripts)\s*\(\s*["'`](?:https?:)?//""",
    re.IGNORECASE,
)


@pytest.fixture
async def dashboard(tmp_path: Path) -> AsyncIterator[Dashboard]:
    async with running_dashboard(tmp_path) as dashboard:
        yield dashboard


async def test_the_page_is_served_without_a_token_and_has_every_panel(
    dashboard: Dashboard,
) -> None:
    response = await dashboard.client.get("/dashboard/")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert '<html lang="en">' in page
    assert "<title>" in page
    for panel in PANELS:
        assert f'data-testid="{panel}"' in page


async def test_the_page_without_a_trailing_slash_redirects_to_it(dashboard: Dashboard) -> None:
    response = await dashboard.client.get("/dashboard")

    assert response.status_code in {301, 307, 308}
    assert response.headers["location"].endswith("/dashboard/")


@pytest.mark.parametrize(
    ("path", "content_type", "marker"),
    [
        ("/dashboard/dashboard.js", "text/javascript", "sessionStorage"),
        ("/dashboard/dashboard.css", "text/css", "--vermillion"),
        ("/dashboard/vendor/chart.umd.js", "text/javascript", "Chart.js v4."),
        ("/dashboard/vendor/LICENSE.md", "text/markdown", "The MIT License"),
    ],
)
async def test_the_scripts_styles_and_charting_library_are_served_from_the_package(
    dashboard: Dashboard, path: str, content_type: str, marker: str
) -> None:
    response = await dashboard.client.get(path)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith(content_type)
    assert marker in response.text


def test_the_page_sends_the_token_as_a_bearer_header_and_keeps_it_for_the_tab_only() -> None:
    script = (STATIC_DIR / "dashboard.js").read_text(encoding="utf-8")

    assert "Authorization: `Bearer ${token}`" in script
    assert "sessionStorage" in script
    assert "localStorage" not in script
    assert "document.cookie" not in script


def test_no_page_file_loads_anything_from_another_site() -> None:
    files = [path for path in STATIC_DIR.rglob("*") if path.suffix in {".html", ".js", ".css"}]
    assert {path.name for path in files} >= {
        "index.html",
        "dashboard.js",
        "dashboard.css",
        "chart.umd.js",
    }

    offenders = {
        str(path.relative_to(STATIC_DIR)): LOADS_FROM_A_URL.findall(
            path.read_text(encoding="utf-8")
        )
        for path in files
    }

    assert {name: found for name, found in offenders.items() if found} == {}


def test_the_url_check_would_catch_a_script_from_a_cdn() -> None:
    assert LOADS_FROM_A_URL.search('<script src="https://cdn.example/chart.js"></script>')
    assert LOADS_FROM_A_URL.search("background: url(//cdn.example/a.png)")
    assert not LOADS_FROM_A_URL.search("/*! https://www.chartjs.org */")


def test_the_vendored_library_names_its_version_and_origin() -> None:
    readme = (STATIC_DIR / "vendor" / "README.md").read_text(encoding="utf-8")

    assert "Chart.js 4.6.1" in readme
    assert "npm" in readme
    assert "MIT" in readme
