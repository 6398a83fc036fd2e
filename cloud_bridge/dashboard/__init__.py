"""The manager's dashboard, served by the bridge: read-only panels over what it already holds.

`router` is the JSON (token needed, read permission); `mount_shell` serves the page, which holds
no data; `use_settings` gives it the site's `DashboardSettings` (its time zone). The data that
benchmarks and tests fill a database with lives with the simulated rig
(``firmware_sim.dashboard_seed``), not in the product.

The public names load on first use, so reading bridge.toml (whose `[dashboard]` section is
`DashboardSettings`) does not import the web framework and the routes.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cloud_bridge.dashboard.routes import API_PREFIX, router
    from cloud_bridge.dashboard.settings import DashboardSettings
    from cloud_bridge.dashboard.shell import SHELL_PATH, STATIC_DIR, mount_shell
    from cloud_bridge.dashboard.site import use_settings

__all__ = [
    "API_PREFIX",
    "SHELL_PATH",
    "STATIC_DIR",
    "DashboardSettings",
    "mount_shell",
    "router",
    "use_settings",
]

_HOMES = {
    "API_PREFIX": "routes",
    "router": "routes",
    "DashboardSettings": "settings",
    "SHELL_PATH": "shell",
    "STATIC_DIR": "shell",
    "mount_shell": "shell",
    "use_settings": "site",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
