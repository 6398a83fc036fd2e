"""The order in which competing lines are served when stock is scarce.

The order must be a pure function of each line's own fields, so that the same snapshot always
gives the same plan whichever order the database returned the rows in.
"""

from __future__ import annotations

from datetime import date, datetime

from cloud_bridge.allocation.model import LineDemand

__all__ = ["PriorityKey", "priority_key"]

PriorityKey = tuple[bool, date, int, datetime, str, str]


def priority_key(line: LineDemand) -> PriorityKey:
    """Sort key: promised date (undated last), service level, oldest first, then ids.

    The ids come last only to break ties, which makes the order total: no two lines of one
    snapshot share (order_id, line_id).
    """
    undated = line.promised_date is None
    return (
        undated,
        date.min if line.promised_date is None else line.promised_date,
        line.service_level,
        line.created_at,
        line.order_id,
        line.line_id,
    )
