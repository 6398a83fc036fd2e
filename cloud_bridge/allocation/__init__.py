"""Stock allocation: which account's stock each open order line gets, decided purely.

The planner works on a snapshot and returns a plan; loading the snapshot and writing the plan
as allocation ledger rows belong to the persistence layer.
"""

from __future__ import annotations

from cloud_bridge.allocation.errors import (
    AllocationError,
    AllocationInputError,
    UnknownAccountError,
)
from cloud_bridge.allocation.model import (
    POLICIES,
    AccountRules,
    AllocationPlan,
    Grant,
    LineDemand,
    LineKey,
    Policy,
    StockKey,
)
from cloud_bridge.allocation.planner import plan
from cloud_bridge.allocation.priority import PriorityKey, priority_key

__all__ = [
    "POLICIES",
    "AccountRules",
    "AllocationError",
    "AllocationInputError",
    "AllocationPlan",
    "Grant",
    "LineDemand",
    "LineKey",
    "Policy",
    "PriorityKey",
    "StockKey",
    "UnknownAccountError",
    "plan",
    "priority_key",
]
