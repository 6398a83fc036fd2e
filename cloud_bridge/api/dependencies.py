"""What route handlers take from the app: its transactions and the stations' slot maps.

They live on ``app.state``, set once by `create_app`, so nothing is built at import time and
two apps in one process (as in tests) never share a database.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from cloud_bridge.api.transaction import Transactions
from cloud_bridge.services.release import SlotMaps

__all__ = ["SlotMapsDep", "TransactionsDep"]


def _transactions(request: Request) -> Transactions:
    transactions: Transactions = request.app.state.transactions
    return transactions


def _slot_maps(request: Request) -> SlotMaps:
    slot_maps: SlotMaps = request.app.state.slot_maps
    return slot_maps


TransactionsDep = Annotated[Transactions, Depends(_transactions)]
SlotMapsDep = Annotated[SlotMaps, Depends(_slot_maps)]
