"""The manager's dashboard, served by the bridge: read-only panels over what it already holds.

`router` is the JSON (token needed, read permission); `mount_shell` serves the page, which holds
no data. `seed_orders` fills a database for benchmarks and tests.
"""

from __future__ import annotations

from cloud_bridge.dashboard.routes import API_PREFIX, router
from cloud_bridge.dashboard.shell import SHELL_PATH, STATIC_DIR, mount_shell

__all__ = ["API_PREFIX", "SHELL_PATH", "STATIC_DIR", "mount_shell", "router"]
