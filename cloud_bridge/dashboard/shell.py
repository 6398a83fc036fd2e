"""The dashboard's page: static HTML, CSS and JavaScript, served without a token.

A browser cannot put a bearer header on a page navigation, so the page itself must load without
one. It is safe to: the files hold no data, only the code that asks for a token, keeps it in
the tab's ``sessionStorage`` and fetches the JSON under ``/dashboard/api`` with it, where every
request is checked like the rest of the API. The files are mounted (not routed), so they sit
outside the permission table, which lists every route that can answer with data.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

__all__ = ["SHELL_PATH", "STATIC_DIR", "mount_shell"]

STATIC_DIR = Path(__file__).with_name("static")
"""The page's files, shipped inside the package (the charting library included)."""

SHELL_PATH = "/dashboard"


def mount_shell(app: FastAPI) -> None:
    """Serve the page's files at ``/dashboard/`` (``index.html`` there).

    Mount it after the JSON routes: those under ``/dashboard/api`` are matched first.
    """
    app.mount(SHELL_PATH, StaticFiles(directory=STATIC_DIR, html=True), name="dashboard")
