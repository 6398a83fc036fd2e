"""How a line's reservation policy limits what it takes.

- "partial": any quantity; the balance stays open to be reserved later.
- "all_or_nothing": the whole outstanding quantity now, or nothing. The planner checks this
  once it knows what every allowed account can give.
- "full_packs": whole multiples of the pack size only, and each account gives whole packs:
  a pack is one physical unit that belongs to one owner, so it is never assembled from two
  accounts' stock. The part of the outstanding quantity that does not fill a pack stays open.
"""

from __future__ import annotations

from cloud_bridge.allocation.model import LineDemand

__all__ = ["grant_unit"]


def grant_unit(line: LineDemand) -> int:
    """The step every grant to the line must be a multiple of: the pack size, or one unit."""
    return line.pack_size if line.policy == "full_packs" else 1
