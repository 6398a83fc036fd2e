"""Errors raised when an allocation snapshot cannot be planned.

They all mean the snapshot handed to the planner is inconsistent, which is a bug in whoever
built it rather than a stock shortage: a shortage is a normal outcome and is reported in the
plan, never raised.
"""

from __future__ import annotations

from cloud_bridge.errors import BridgeError

__all__ = ["AllocationError", "AllocationInputError", "UnknownAccountError"]


class AllocationError(BridgeError):
    """Base of the errors raised by the allocation planner."""


class AllocationInputError(AllocationError, ValueError):
    """A value in the snapshot is out of range or contradicts another value."""


class UnknownAccountError(AllocationError, LookupError):
    """An order line names an account for which the snapshot holds no rules."""
