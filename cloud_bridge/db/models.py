"""Every mapped class of the bridge's database, imported together so the schema is complete.

Importing this module registers all tables on ``Base.metadata``; migrations and anything that
compares or creates the schema import it rather than picking individual modules.
"""

from __future__ import annotations

from cloud_bridge.db.accounts import Account, AccountLink
from cloud_bridge.db.audit import AuditEntry
from cloud_bridge.db.base import Base
from cloud_bridge.db.credit import Debtor, Payment
from cloud_bridge.db.fleet import FleetStation
from cloud_bridge.db.fleet_control import (  # noqa: F401  (registers the fleet control tables)
    FleetConfig,
    FleetRollout,
    FleetRolloutStation,
    FleetStationReport,
)
from cloud_bridge.db.ingest import AppliedEvent, StationCursor
from cloud_bridge.db.ledger import ACTIVE_ALLOCATIONS_INDEX, Allocation, AllocationState
from cloud_bridge.db.orders import LinePolicy, OrderLine, OrderState, OrderType, SalesOrder
from cloud_bridge.db.parking import ParkedEvent  # noqa: F401  (registers parked_events)
from cloud_bridge.db.posting import (
    Posting,
    PostingKind,
    PostingLine,
    PostingState,
    SageItemKind,
    SageRecord,
    SageSyncMark,
    ShipmentCorrection,
)
from cloud_bridge.db.release import AutoQueueEntry, ErrorReport, ReleaseStep
from cloud_bridge.db.settings import Setting
from cloud_bridge.db.shipping import Shipment, ShipmentLine
from cloud_bridge.db.stock import Location, Product, StockItem
from cloud_bridge.db.tokens import ApiToken

__all__ = [
    "ACTIVE_ALLOCATIONS_INDEX",
    "Account",
    "AccountLink",
    "Allocation",
    "AllocationState",
    "ApiToken",
    "AppliedEvent",
    "AuditEntry",
    "AutoQueueEntry",
    "Base",
    "Debtor",
    "ErrorReport",
    "FleetStation",
    "LinePolicy",
    "Location",
    "OrderLine",
    "OrderState",
    "OrderType",
    "Payment",
    "Posting",
    "PostingKind",
    "PostingLine",
    "PostingState",
    "Product",
    "ReleaseStep",
    "SageItemKind",
    "SageRecord",
    "SageSyncMark",
    "SalesOrder",
    "Setting",
    "Shipment",
    "ShipmentCorrection",
    "ShipmentLine",
    "StationCursor",
    "StockItem",
]
