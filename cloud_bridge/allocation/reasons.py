"""Plain words for why a line was left with an open balance.

Warehouse staff read these on the allocation report, so each names the account, the product
and the rule that stopped the line, rather than a code.
"""

from __future__ import annotations

from collections.abc import Mapping

from cloud_bridge.allocation.model import AccountRules, LineDemand, StockKey

__all__ = ["explain_unfilled"]

_ORDER_FLAG = "Order from Linked Accounts"
_PICK_FLAG = "Pick from Linked Accounts if Stock is Unavailable"


def explain_unfilled(line: LineDemand, rules: AccountRules, free: Mapping[StockKey, int]) -> str:
    """Why `line` cannot be fully served from `free`, the stock left before it was served."""
    own = free.get((line.account_id, line.sku), 0)
    parts: list[str] = []
    if own < line.outstanding:
        parts.append(_own_stock(line, own))
        parts.append(_linked_stock(line, rules, free))
    if line.policy == "all_or_nothing":
        parts.append(
            f"all-or-nothing line needs {line.outstanding} at once, so nothing was reserved"
        )
    elif line.policy == "full_packs":
        parts.append(f"whole packs of {line.pack_size} only")
    return "; ".join(parts)


def _own_stock(line: LineDemand, own: int) -> str:
    if own == 0:
        return f"no stock of {line.sku} at {line.account_id}"
    return f"only {own} of {line.sku} free at {line.account_id}"


def _linked_stock(line: LineDemand, rules: AccountRules, free: Mapping[StockKey, int]) -> str:
    if not rules.links:
        return "no linked accounts"
    if not rules.may_borrow:
        off = [
            name
            for name, on in (
                (_ORDER_FLAG, rules.order_from_linked),
                (_PICK_FLAG, rules.pick_from_linked_if_unavailable),
            )
            if not on
        ]
        return f"linked accounts not allowed ({' and '.join(off)} off)"
    held = ", ".join(f"{link} has {free.get((link, line.sku), 0)}" for link in rules.links)
    return f"linked accounts short ({held})"
