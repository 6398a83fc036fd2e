"""Ingest of station events: each applied once, in sequence order, and acknowledged.

`sequencer` decides what to do with an event (duplicate, park, apply and drain), `apply` holds
the effect of each event type on the books, and `consumer` is the MQTT side: a shared
subscription across bridge instances, and retained acks back to each station.
"""

from __future__ import annotations

from cloud_bridge.ingest.apply import apply_event
from cloud_bridge.ingest.consumer import (
    ConsumerSettings,
    ConsumerStats,
    IngestConsumer,
    shared_event_subscription,
)
from cloud_bridge.ingest.sequencer import (
    IngestArgumentError,
    IngestError,
    IngestResult,
    Outcome,
    UnreadableParkedEventError,
    describe_gaps,
    ingest,
    ingest_event,
    read_cursor,
)

__all__ = [
    "ConsumerSettings",
    "ConsumerStats",
    "IngestArgumentError",
    "IngestConsumer",
    "IngestError",
    "IngestResult",
    "Outcome",
    "UnreadableParkedEventError",
    "apply_event",
    "describe_gaps",
    "ingest",
    "ingest_event",
    "read_cursor",
    "shared_event_subscription",
]
