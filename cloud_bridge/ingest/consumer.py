"""The bridge's MQTT end of ingest: receive station events, apply them, publish acks.

Several bridge instances share the work through one MQTT 5 shared subscription,
``$share/<group>/packline/v1/station/+/event``: the broker hands each event to one member of
the group, round-robin, so a station's events may reach two instances at once and in any
order. The sequencer makes that safe; this module only moves bytes.

- Every payload is decoded against the contract. A malformed one is logged with the reason and
  counted, never raised: one bad publisher must not stop ingest for every station.
- Messages are read off the connection as fast as they come, decoded, and queued per station;
  an applier takes them round robin across stations, each station paced by a token bucket
  (`fairness`). One station flooding the bridge therefore delays another station's event by at
  most one event of its own, and what overflows its queue is dropped unacknowledged for its
  outbox to replay.
- Database work runs in a worker thread, one event at a time per instance, so the event loop
  stays free for MQTT keepalives while a transaction waits on a lock.
- After a commit that moved a station's cursor, or a duplicate, the station's ack is published,
  retained and QoS 1. Acks are coalesced per station by a task of their own, so a burst of
  events costs one ack, not one each. Two instances can publish a station's ack in the wrong
  order (the older value last), so after each PUBACK the publisher reads the cursor again and
  publishes once more if it has moved: whichever ack reaches the broker last was followed by such
  a read, so the retained ack ends equal to the cursor.
- The session is clean. A persistent session in a share group would, while its instance is
  down, keep taking its turn of the events and hoard them in the broker; the station's outbox
  replay (on reconnect, or when its ack stalls) already recovers anything no instance received.
- One outer loop owns reconnection, with exponential backoff; a lost link surfaces inside the
  message iterator and ends the connection's tasks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import aiomqtt
from paho.mqtt.reasoncodes import ReasonCode
from sqlalchemy.orm import Session, sessionmaker

from cloud_bridge.ingest.fairness import Admission, FairnessSettings, FairQueue
from cloud_bridge.ingest.sequencer import (
    IngestArgumentError,
    IngestError,
    IngestResult,
    Outcome,
    ingest,
    read_cursor,
)
from edge.contract import (
    Ack,
    ContractError,
    StationEvent,
    StationId,
    TopicKind,
    decode,
    prepare,
    subscription_for_all_stations,
)
from edge.mqtt_client import ReasonCheckedClient, SubscribeRefusedError, check_subscriptions
from edge.station.uplink import NO_DELAY

__all__ = ["ConsumerSettings", "ConsumerStats", "IngestConsumer", "shared_event_subscription"]

log = logging.getLogger("packline.bridge.ingest")

_STABLE_AFTER_S = 10.0
_ACK_RETRY_S = 1.0
_FORBIDDEN_IN_GROUP = ("/", "+", "#")
_YIELD_EVERY = 64
"""Messages the reader handles before letting the applier run, when the broker sends a backlog."""
_HOLD_CHECK_S = 1.0


def shared_event_subscription(group: str) -> str:
    """The filter every instance of a bridge group subscribes with to share station events."""
    if not group or any(char in group for char in _FORBIDDEN_IN_GROUP):
        raise IngestArgumentError(
            f"share group {group!r} is not usable; expected a non-empty name without '/', '+', '#'"
        )
    return f"$share/{group}/{subscription_for_all_stations(TopicKind.EVENT)}"


@dataclass(frozen=True, slots=True)
class ConsumerSettings:
    """Where the broker is and who this instance is to it.

    ``client_id`` must differ per instance; instances with the same ``share_group`` split the
    events between them.
    """

    host: str
    port: int
    client_id: str
    share_group: str = "bridge"
    keepalive_s: int = 15
    tls: aiomqtt.TLSParameters | None = None
    reconnect_initial_s: float = 0.5
    reconnect_max_s: float = 30.0
    fairness: FairnessSettings = field(default_factory=FairnessSettings)
    """Per-station queue bound and rate, so one station cannot starve the others."""

    def __post_init__(self) -> None:
        shared_event_subscription(self.share_group)
        if not self.client_id:
            raise IngestArgumentError("client_id is empty; expected one per bridge instance")
        if not 0 < self.reconnect_initial_s <= self.reconnect_max_s:
            raise IngestArgumentError(
                f"reconnect delays {self.reconnect_initial_s}..{self.reconnect_max_s} s; "
                "expected 0 < initial <= max"
            )


@dataclass
class ConsumerStats:
    """What one instance has done since it started; counters only go up."""

    received: int = 0
    """Messages taken from the broker and dealt with, whatever their outcome (dropped included)."""
    applied: int = 0
    """Events whose effect this instance applied, including parked ones it drained."""
    duplicates: int = 0
    parked: int = 0
    rejected: int = 0
    """Payloads refused by the contract (logged with the reason)."""
    failed: int = 0
    """Valid events whose transaction failed; the station's replay brings them back."""
    acks_published: int = 0
    throttled: int = 0
    """Valid events dropped before being applied because their station was over its limit."""
    throttled_by_station: dict[str, int] = field(default_factory=dict)
    """`throttled`, per station id."""


class IngestConsumer:
    """One bridge instance's ingest: ``await consumer.run()`` until cancelled.

    ``ready`` is set while the shared subscription is in place. Events already queued are
    applied across reconnects: the applier does not need the link, only the ack does.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        settings: ConsumerSettings,
        *,
        on_applied: Callable[[StationEvent, IngestResult], None] | None = None,
        on_apply_seconds: Callable[[float], None] | None = None,
    ) -> None:
        self._sessions = sessions
        self._settings = settings
        self._on_applied = on_applied
        self._on_apply_seconds = on_apply_seconds
        """Called with how long each event's transaction took, failed ones included (metrics)."""
        self.stats = ConsumerStats()
        self.ready = asyncio.Event()
        self._acks = _AckPublisher(sessions, self.stats)
        self._queue: FairQueue[tuple[StationId, StationEvent]] = FairQueue(settings.fairness)
        self._work = asyncio.Event()

    @property
    def acks_settled(self) -> bool:
        """No ack waiting to be published or being published (for shutdown and tests)."""
        return self._acks.settled

    @property
    def queued(self) -> int:
        """Events received and waiting to be applied, over every station."""
        return len(self._queue)

    async def run(self) -> None:
        """Consume and apply until cancelled; a bug in the applier ends it with the error."""
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._apply_forever(), name="ingest-applier")
            tasks.create_task(self._watch_holds(), name="ingest-holds")
            await self._connect_forever()

    async def _connect_forever(self) -> None:
        """Connect, consume, and reconnect with backoff after every loss, until cancelled."""
        loop = asyncio.get_running_loop()
        delay = self._settings.reconnect_initial_s
        while True:
            started = loop.time()
            try:
                await self._connect_and_serve()
            except (aiomqtt.MqttError, IngestError) as error:
                log.warning(
                    "ingest link lost client=%s: %s; reconnecting in %.1f s",
                    self._settings.client_id,
                    error,
                    delay,
                )
            finally:
                self.ready.clear()
            if loop.time() - started >= _STABLE_AFTER_S:
                delay = self._settings.reconnect_initial_s
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._settings.reconnect_max_s)

    async def _connect_and_serve(self) -> None:
        settings = self._settings
        async with ReasonCheckedClient(
            settings.host,
            settings.port,
            identifier=settings.client_id,
            protocol=aiomqtt.ProtocolVersion.V5,
            clean_start=True,
            keepalive=settings.keepalive_s,
            tls_params=settings.tls,
            socket_options=NO_DELAY,
        ) as client:
            await self._subscribe(client)
            tasks = [
                asyncio.create_task(self._read(client), name="ingest-reader"),
                asyncio.create_task(self._acks.run(client), name="ingest-acks"),
            ]
            self.ready.set()
            try:
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in tasks:
                    task.cancel()
                for task in tasks:
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            for task in done:
                task.result()
            raise IngestError(f"ingest client {settings.client_id}: a task ended on its own")

    async def _subscribe(self, client: aiomqtt.Client) -> None:
        topic = shared_event_subscription(self._settings.share_group)
        reasons: Sequence[int | ReasonCode] = await client.subscribe(topic, qos=1)
        try:
            check_subscriptions([topic], reasons)
        except SubscribeRefusedError as refused:
            raise IngestError(str(refused)) from refused
        log.info("ingest subscribed client=%s topic=%s", self._settings.client_id, topic)

    async def _read(self, client: aiomqtt.Client) -> None:
        handled = 0
        async for message in client.messages:
            self._admit(str(message.topic), message.payload)
            handled += 1
            if handled % _YIELD_EVERY == 0:
                # A backlog is handed over without suspending; let the applier take its turn.
                await asyncio.sleep(0)
        raise aiomqtt.MqttError("the message iterator ended without a disconnect")

    def _admit(self, topic: str, payload: object) -> None:
        """Decode one message and queue it for its station, or count why it was not."""
        try:
            station_id, event = _decode_event(topic, payload)
        except ContractError as error:
            self.stats.received += 1
            self.stats.rejected += 1
            log.warning(
                "ingest rejected topic=%s reason=%s",
                topic,
                error,
                extra={"topic": topic, "reason": str(error)},
            )
            return
        station = station_id.client_id
        admission = self._queue.offer(station, event.seq, (station_id, event))
        if admission is Admission.QUEUED:
            self._work.set()
            return
        self.stats.received += 1
        self.stats.throttled += 1
        by_station = self.stats.throttled_by_station
        by_station[station] = by_station.get(station, 0) + 1

    async def _apply_forever(self) -> None:
        """Apply queued events one at a time, taking them round robin across stations."""
        while True:
            taken = self._queue.take()
            if taken is None:
                self._work.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._work.wait(), self._queue.wait_s())
                continue
            _, (station_id, event) = taken
            try:
                await self._ingest(station_id, event)
            finally:
                self.stats.received += 1

    async def _watch_holds(self) -> None:
        """Report drops, and end holds whose missing event another instance applied."""
        while True:
            await asyncio.sleep(_HOLD_CHECK_S)
            self._queue.tick()
            for station in self._queue.held_stations:
                try:
                    cursor = await asyncio.to_thread(self._acks.cursor, station)
                except Exception:
                    log.exception("ingest could not read the cursor of held station=%s", station)
                    continue
                self._queue.cursor_seen(station, cursor)

    async def _ingest(self, station_id: StationId, event: StationEvent) -> None:
        station = station_id.client_id
        started = time.perf_counter()
        try:
            result = await asyncio.to_thread(ingest, self._sessions, station, event)
        except Exception:
            self.stats.failed += 1
            log.exception(
                "ingest failed station=%s seq=%d order=%s; left for the station's replay",
                station,
                event.seq,
                event.order_id,
            )
            return
        finally:
            if self._on_apply_seconds is not None:
                self._on_apply_seconds(time.perf_counter() - started)
        self._count(result)
        self._queue.cursor_seen(station, result.highest_seq)
        if result.applied and self._on_applied is not None:
            self._on_applied(event, result)
        if result.should_ack:
            self._acks.request(station_id, result.highest_seq)

    def _count(self, result: IngestResult) -> None:
        if result.outcome is Outcome.APPLIED:
            self.stats.applied += len(result.applied)
        elif result.outcome is Outcome.DUPLICATE:
            self.stats.duplicates += 1
        else:
            self.stats.parked += 1


def _decode_event(topic: str, payload: object) -> tuple[StationId, StationEvent]:
    if not isinstance(payload, bytes | bytearray):
        raise ContractError(f"payload is {type(payload).__name__}; expected bytes")
    decoded = decode(topic, bytes(payload))
    if decoded.address.kind is not TopicKind.EVENT or not isinstance(decoded.message, StationEvent):
        raise ContractError(f"topic {topic!r} is not a station event topic")
    return decoded.address.station_id, decoded.message


class _AckPublisher:
    """Publishes each station's current cursor as its retained ack, coalescing requests."""

    def __init__(self, sessions: sessionmaker[Session], stats: ConsumerStats) -> None:
        self._sessions = sessions
        self._stats = stats
        self._pending: dict[str, tuple[StationId, int]] = {}
        self._wakeup = asyncio.Event()
        self._publishing = False

    @property
    def settled(self) -> bool:
        return not self._pending and not self._publishing

    def request(self, station_id: StationId, highest_seq: int) -> None:
        """Ask for an ack of at least ``highest_seq``; kept across reconnects until sent."""
        key = station_id.client_id
        known = self._pending.get(key)
        self._pending[key] = (station_id, max(highest_seq, known[1] if known else 0))
        self._wakeup.set()

    async def run(self, client: aiomqtt.Client) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._pending:
                key = next(iter(self._pending))
                station_id, highest = self._pending.pop(key)
                self._publishing = True
                try:
                    await self._publish_until_current(client, station_id, highest)
                except aiomqtt.MqttError:
                    self.request(station_id, highest)
                    raise
                except Exception:
                    self.request(station_id, highest)
                    log.exception("ack failed station=%s; retrying", key)
                    await asyncio.sleep(_ACK_RETRY_S)
                finally:
                    self._publishing = False

    async def _publish_until_current(
        self, client: aiomqtt.Client, station_id: StationId, highest: int
    ) -> None:
        while True:
            publication = prepare(station_id, Ack(highest_seq=highest, at=datetime.now(UTC)))
            await client.publish(
                publication.topic,
                publication.payload,
                qos=publication.qos,
                retain=publication.retain,
            )
            self._stats.acks_published += 1
            current = await asyncio.to_thread(self.cursor, station_id.client_id)
            if current <= highest:
                return
            highest = current

    def cursor(self, station: str) -> int:
        """The station's cursor as committed now (blocking: call it in a worker thread)."""
        with self._sessions.begin() as session:
            return read_cursor(session, station)
