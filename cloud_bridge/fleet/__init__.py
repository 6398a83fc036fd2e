"""The fleet inventory: what every station last reported, kept in the bridge's database.

`inventory` folds births, deaths and statuses into one row per station; `status` lists and
renders the rows for `packline fleet status`.
"""

from __future__ import annotations

from cloud_bridge.fleet.inventory import (
    record_birth,
    record_death,
    record_message,
    record_status,
)
from cloud_bridge.fleet.status import (
    FleetFilter,
    FleetRow,
    HardwareStatus,
    fleet_json,
    fleet_table,
    list_fleet,
)

__all__ = [
    "FleetFilter",
    "FleetRow",
    "HardwareStatus",
    "fleet_json",
    "fleet_table",
    "list_fleet",
    "record_birth",
    "record_death",
    "record_message",
    "record_status",
]
