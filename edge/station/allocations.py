"""The allocation cache: the orders the bridge gave this station, kept so packing goes on offline.

Each order is kept by version. A higher version replaces a lower one (a quantity changed before
despatch); an equal version is a duplicate (QoS 1 re-delivery, or the bridge re-sending after a
birth) and a lower one is stale. A cancellation withdraws the order as of its version, and is kept
as a tombstone so a late copy of an older allocation cannot bring the order back. Orders that left
the bench (completed, aborted) are tombstones too; a higher version reopens them, which is how the
bridge sends the balance of a partial shipment.

Open allocations live in one small table; tombstones are spread over a few bucket tables, each
capped, so no write rewrites a long history.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from tinydb import Query, TinyDB
from tinydb.table import Table

from edge.contract import OrderAllocated, OrderCancelled

__all__ = ["AllocationCache", "CacheChange", "Outcome"]

Outcome = Literal["completed", "aborted", "cancelled"]
_OPEN_TABLE = "allocations.open"
_DONE_BUCKETS = 16
_DONE_PER_BUCKET = 250


@dataclass(frozen=True)
class CacheChange:
    """What applying one message from the bridge did."""

    kind: Literal["new", "replaced", "duplicate", "stale", "cancelled", "rejected", "reopened"]
    order_id: str
    version: int
    detail: str = ""


class AllocationCache:
    """Allocations by order id, in the station's TinyDB; `known_slots` guards every line's slot."""

    def __init__(
        self,
        db: TinyDB,
        known_slots: frozenset[str],
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._db = db
        self._open: Table = db.table(_OPEN_TABLE, cache_size=0)
        self._known_slots = known_slots
        self._clock = clock

    def apply(self, message: OrderAllocated | OrderCancelled) -> CacheChange:
        """Store an allocation or cancellation; unknown slots are rejected with the reason."""
        order_id, version = message.order_id, message.version
        current = self._version_of(order_id)
        if current is not None and version < current[0]:
            return CacheChange("stale", order_id, version, f"version {current[0]} is held")
        if isinstance(message, OrderCancelled):
            if current is not None and version == current[0] and current[1] != "open":
                return CacheChange("duplicate", order_id, version)
            self._remove_open(order_id)
            self._tombstone(order_id, version, "cancelled")
            return CacheChange("cancelled", order_id, version, message.reason)
        if current is not None and version == current[0]:
            return CacheChange("duplicate", order_id, version)
        unknown = sorted({line.slot for line in message.lines} - self._known_slots)
        if unknown:
            detail = (
                f"order {order_id} v{version} names slot(s) {', '.join(unknown)} that this "
                f"station does not have (it has {', '.join(sorted(self._known_slots))})"
            )
            return CacheChange("rejected", order_id, version, detail)
        document = {
            "order_id": order_id,
            "version": version,
            "tote": message.tote,
            "allocation": message.model_dump(mode="json"),
        }
        if current is None:
            kind: Literal["new", "replaced", "reopened"] = "new"
        elif current[1] == "open":
            kind = "replaced"
        else:
            kind = "reopened"
            self._drop_tombstone(order_id)
        self._open.upsert(document, Query().order_id == order_id)
        return CacheChange(kind, order_id, version)

    def lookup(self, code: str) -> OrderAllocated | str | None:
        """The open allocation whose order id or tote is `code`; a reason if it cannot start."""
        found = self._open.get((Query().order_id == code) | (Query().tote == code))
        if isinstance(found, dict):
            return self._model(found)
        done = self._bucket(code).get(Query().order_id == code)
        if isinstance(done, dict):
            return f"order {code} was {done['outcome']} (version {done['version']})"
        return None

    def get(self, order_id: str) -> OrderAllocated | None:
        found = self._open.get(Query().order_id == order_id)
        return self._model(found) if isinstance(found, dict) else None

    def open_allocations(self) -> Iterator[OrderAllocated]:
        for document in self._open.all():
            yield self._model(document)

    def finish(self, order_id: str, version: int, outcome: Outcome) -> None:
        """The order left the bench; keep only a tombstone so a re-send cannot reopen it."""
        self._remove_open(order_id)
        self._tombstone(order_id, version, outcome)

    def _version_of(self, order_id: str) -> tuple[int, str] | None:
        found = self._open.get(Query().order_id == order_id)
        if isinstance(found, dict):
            return int(found["version"]), "open"
        done = self._bucket(order_id).get(Query().order_id == order_id)
        if isinstance(done, dict):
            return int(done["version"]), str(done["outcome"])
        return None

    def _remove_open(self, order_id: str) -> None:
        self._open.remove(Query().order_id == order_id)

    def _bucket(self, order_id: str) -> Table:
        number = zlib.crc32(order_id.encode("utf-8")) % _DONE_BUCKETS
        return self._db.table(f"allocations.done.{number:02d}", cache_size=0)

    def _drop_tombstone(self, order_id: str) -> None:
        self._bucket(order_id).remove(Query().order_id == order_id)

    def _tombstone(self, order_id: str, version: int, outcome: str) -> None:
        bucket = self._bucket(order_id)
        record: dict[str, Any] = {
            "order_id": order_id,
            "version": version,
            "outcome": outcome,
            "at": self._clock().isoformat(),
        }
        bucket.upsert(record, Query().order_id == order_id)
        if len(bucket) > _DONE_PER_BUCKET:
            oldest = sorted(bucket.all(), key=lambda doc: str(doc["at"]))
            excess = [doc.doc_id for doc in oldest[: len(oldest) - _DONE_PER_BUCKET]]
            bucket.remove(doc_ids=excess)

    @staticmethod
    def _model(document: dict[str, Any]) -> OrderAllocated:
        return OrderAllocated.model_validate_json(json.dumps(document["allocation"]))
