"""The site's dashboard settings on an app, and the dependency that hands them to a route.

The composition root calls `use_settings` with the validated `[dashboard]` section; an app
built without it presents the site in UTC, the section's own default.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, FastAPI, Request

from cloud_bridge.dashboard.settings import DashboardSettings

__all__ = ["SettingsDep", "use_settings"]


def use_settings(app: FastAPI, settings: DashboardSettings) -> None:
    """Make ``app``'s dashboard present the site as ``settings`` say (UTC until called)."""
    app.state.dashboard_settings = settings


def _settings(request: Request) -> DashboardSettings:
    settings = getattr(request.app.state, "dashboard_settings", None)
    return settings if isinstance(settings, DashboardSettings) else _UTC_SITE


_UTC_SITE = DashboardSettings()

SettingsDep = Annotated[DashboardSettings, Depends(_settings)]
