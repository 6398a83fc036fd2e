"""The station's one link to the broker: presence, outbox replay, and what the bridge sends.

Delivery is at-least-once end to end, and the outbox, not the broker, is the source of truth:

- Every event stays in the outbox until the bridge acknowledges its sequence on the ``ack``
  topic. Each connection replays every unacknowledged event in sequence order, then follows new
  appends. A replay therefore repeats events the bridge already applied but has not yet
  acknowledged, and QoS 1 adds duplicates of its own (paho re-sends an unacknowledged PUBLISH
  with DUP set within a session, and the broker may deliver twice). That is by design: the bridge
  applies each ``(station, seq)`` once, so a duplicate is a harmless no-op, while a message the
  broker lost is simply replayed.
- The sender never skips an event: it remembers the highest sequence handed to THIS connection
  and always reads the rest from ``outbox.pending(after_seq=...)``, so an event appended while a
  batch was in flight is picked up by the next read rather than by a notification it might miss.
- Each connection attempt uses a fresh `aiomqtt.Client` because the MQTT Will (the death with a
  new bd_seq, see `edge.station.presence`) is fixed at CONNECT. The client id is fixed and the
  session persistent (clean start off, a session expiry), so allocations and commands sent while
  the station was away are queued by the broker and delivered when it returns.
- A reader task runs for as long as the link is up, even when nothing is being published, so a
  dead link is noticed by the keepalive and ends the connection; the outer loop then reconnects
  with jittered exponential backoff. Nothing a peer sends can stop the station: a bad message is
  logged with its reason and counted, and so is an exception from the station's handler.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import socket
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal, Self
from urllib.parse import urlsplit

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from pydantic import Field, model_validator

from edge.config import StrictConfig
from edge.contract import (
    Ack,
    ContractError,
    DeviceStatus,
    Publication,
    StationBirth,
    StationId,
    StationStatus,
    TopicKind,
    UpdateState,
    WireMessage,
    decode_for,
    parse_topic,
    prepare,
    station_topic,
)
from edge.errors import EdgeError
from edge.mqtt_client import MqttRefusalError, ReasonCheckedClient, check_subscriptions
from edge.station.backoff import Backoff
from edge.station.counters import DurableCounter
from edge.station.outbox import Outbox, OutboxStats
from edge.station.presence import ConnectionPresence, begin_connection

__all__ = [
    "SUBSCRIBED_KINDS",
    "BirthInfo",
    "BrokerSettings",
    "Uplink",
    "UplinkError",
]

NO_DELAY: Final = ((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),)
"""Socket options for every MQTT client: Nagle off. MQTT sends small packets that each wait
for an answer, and with Nagle on each one can sit ~40 ms waiting for a delayed ACK."""

log = logging.getLogger("packline.station.uplink")

SUBSCRIBED_KINDS: Final = (
    TopicKind.ACK,
    TopicKind.ALLOCATION,
    TopicKind.COMMAND,
    TopicKind.CONFIG,
    TopicKind.UPDATE,
    TopicKind.BLOB,
)
"""The topics in its own subtree a station reads (the broker ACL allows exactly these)."""

_DEFAULT_PORTS: Final = {"mqtt": 1883, "mqtts": 8883}
_STABLE_AFTER_S: Final = 10.0
"""A connection that stayed up this long resets the backoff; a shorter one keeps it growing."""
_DEATH_TIMEOUT_S: Final = 5.0
_READ_BATCH: Final = 1000


class UplinkError(EdgeError, RuntimeError):
    """The uplink was used in a way it does not support (for example run twice at once)."""


class BrokerSettings(StrictConfig):
    """`[broker]`: where the broker is, how to authenticate, and how hard to retry.

    ``mqtts://`` turns TLS on; with ``cert_file`` and ``key_file`` the station presents its
    client certificate (mutual TLS, the certificate's name being the station id). Relative
    paths are used as given; the station config resolves them first.
    """

    url: str
    keepalive_s: int = Field(default=15, ge=1, le=65535)
    session_expiry_s: int = Field(default=24 * 3600, ge=0, le=2**32 - 1)
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    backoff_initial_s: float = Field(default=0.5, gt=0)
    backoff_max_s: float = Field(default=30.0, gt=0)
    publish_window: int = Field(default=100, ge=1, le=65535)
    """QoS 1 publishes awaiting their PUBACK at once while the outbox is replayed."""
    ack_stall_s: float = Field(default=60.0, gt=0)
    """With events pending and no ack progress for this long, replay without reconnecting."""

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        _split_url(self.url)
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together (a client certificate and key)")
        if self.scheme != "mqtts" and any(
            path is not None for path in (self.ca_file, self.cert_file, self.key_file)
        ):
            raise ValueError("ca_file, cert_file and key_file need an mqtts:// url")
        if self.backoff_max_s < self.backoff_initial_s:
            raise ValueError(
                f"backoff_max_s {self.backoff_max_s} must be at least "
                f"backoff_initial_s {self.backoff_initial_s}"
            )
        return self

    @property
    def scheme(self) -> Literal["mqtt", "mqtts"]:
        return _split_url(self.url)[0]

    @property
    def host(self) -> str:
        return _split_url(self.url)[1]

    @property
    def port(self) -> int:
        return _split_url(self.url)[2]

    def tls_parameters(self) -> aiomqtt.TLSParameters | None:
        """TLS for ``mqtts://`` (system CAs unless ``ca_file``), or None for plain ``mqtt://``."""
        if self.scheme != "mqtts":
            return None
        return aiomqtt.TLSParameters(
            ca_certs=_optional_str(self.ca_file),
            certfile=_optional_str(self.cert_file),
            keyfile=_optional_str(self.key_file),
        )


def _optional_str(path: Path | None) -> str | None:
    return None if path is None else str(path)


def _split_url(url: str) -> tuple[Literal["mqtt", "mqtts"], str, int]:
    parts = urlsplit(url)
    if parts.scheme == "mqtt":
        scheme: Literal["mqtt", "mqtts"] = "mqtt"
    elif parts.scheme == "mqtts":
        scheme = "mqtts"
    else:
        raise ValueError(f"url {url!r} must start with mqtt:// or mqtts://")
    if not parts.hostname:
        raise ValueError(f"url {url!r} has no host; expected mqtt://host:port")
    if parts.username or parts.password or parts.path not in ("", "/") or parts.query:
        raise ValueError(f"url {url!r} may hold only a scheme, host and port")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"url {url!r} has an invalid port; expected 1 to 65535") from None
    return scheme, parts.hostname, port if port is not None else _DEFAULT_PORTS[scheme]


@dataclass(frozen=True, slots=True)
class BirthInfo:
    """What the station reports about itself in each birth (asked for anew every time)."""

    software_version: str
    config_version: int
    config_hash: str | None = None
    hardware: tuple[DeviceStatus, ...] = ()
    update_state: UpdateState | None = None


MessageHandler = Callable[[WireMessage], Awaitable[None]]


class Uplink:
    """Keeps one station connected, born, replayed and listening, until stopped or cancelled.

    ``run()`` reconnects forever; ``stop()`` (or cancelling ``run()``) publishes the death and
    disconnects cleanly. Everything the bridge sends except acks goes to ``on_message``, in
    arrival order, one at a time.
    """

    def __init__(
        self,
        station_id: StationId,
        settings: BrokerSettings,
        outbox: Outbox,
        bd_seq_counter: DurableCounter,
        *,
        birth: Callable[[], BirthInfo],
        on_message: MessageHandler,
        rng: random.Random | None = None,
        on_round_trip: Callable[[float], None] | None = None,
    ) -> None:
        self._station_id = station_id
        self._settings = settings
        self._outbox = outbox
        self._bd_seq_counter = bd_seq_counter
        self._birth_info = birth
        self._on_message = on_message
        self._backoff = Backoff(settings.backoff_initial_s, settings.backoff_max_s, rng=rng)
        self._topics = {kind: station_topic(station_id, kind) for kind in SUBSCRIBED_KINDS}
        self._appended = asyncio.Event()
        self._status_changed = asyncio.Event()
        self._stop_requested = asyncio.Event()
        self._finished = asyncio.Event()
        self._latest: dict[str, Publication] = {}
        """The newest retained state per topic (status, fleet report): only the latest matters."""
        self._latest_sent: dict[str, Publication] = {}
        self._link: tuple[aiomqtt.Client, ConnectionPresence] | None = None
        self._running = False
        self._online = False
        self._connections = 0
        self._rejected = 0
        self.on_round_trip = on_round_trip
        """Called with each event's seconds from its append to the bridge's ack of it (metrics)."""
        self._awaiting_ack: dict[int, datetime] = {}
        """Append time of each event published and not yet acked, in seq order (round trip)."""

    # --- what the station reads --------------------------------------------------------------

    @property
    def online(self) -> bool:
        """Connected and born; false from the moment the link is known to be down."""
        return self._online

    @property
    def connected(self) -> bool:
        """Connected and subscribed (the birth may still be on its way)."""
        return self._link is not None

    @property
    def reconnects(self) -> int:
        """Connections established after the first one (each one followed a lost link)."""
        return max(0, self._connections - 1)

    @property
    def rejected_messages(self) -> int:
        """Inbound messages refused (bad topic, payload or ack) or whose handler raised."""
        return self._rejected

    # --- what the station calls --------------------------------------------------------------

    def notify_appended(self) -> None:
        """Wake the sender after ``outbox.append``; cheap, and harmless when offline."""
        self._appended.set()

    async def publish_status(self, status: StationStatus) -> None:
        """Make `status` the one to publish (retained); returns at once, never waits on the link.

        Only the latest status matters, so while offline or busy an older one is replaced, and
        every new connection publishes the latest right after its birth.
        """
        self.publish_latest(status)

    def publish_latest(self, message: WireMessage) -> None:
        """Make `message` the latest retained state of its topic (status, fleet report).

        Returns at once; while offline or busy an older one of the same topic is replaced, and
        every new connection publishes the latest of each right after its birth.
        """
        publication = prepare(self._station_id, message)
        self._latest[publication.topic] = publication
        self._status_changed.set()

    async def publish_now(self, message: WireMessage) -> None:
        """Publish one message on the current connection and wait for its PUBACK.

        For requests that are only worth sending while connected (the TUF fetcher's requests,
        which it repeats itself); offline it raises `UplinkError` at once instead of queueing.
        """
        link = self._link
        if link is None or not self._online:
            raise UplinkError(
                f"station {self._station_id} is offline; {type(message).__name__} not sent"
            )
        try:
            await _publish(link[0], prepare(self._station_id, message))
        except (aiomqtt.MqttError, MqttRefusalError) as error:
            raise UplinkError(
                f"{type(message).__name__} not sent by station {self._station_id}: "
                f"{_describe(error)}"
            ) from error

    async def rebirth(self) -> None:
        """Publish the birth again with this connection's bd_seq (on the bridge's request).

        Offline it does nothing: the next connection is born anyway.
        """
        link = self._link
        if link is None or not self._online:
            log.info("rebirth skipped station=%s: offline", self._station_id)
            return
        client, presence = link
        try:
            await self._publish_birth(client, presence)
        except aiomqtt.MqttError as error:
            log.warning(
                "rebirth failed station=%s bd_seq=%d reason=%s",
                self._station_id,
                presence.bd_seq,
                _describe(error),
            )

    async def run(self) -> None:
        """Connect, serve, and reconnect with backoff after every loss, until stopped."""
        if self._running:
            raise UplinkError(f"uplink of station {self._station_id} is already running")
        self._running = True
        self._finished.clear()
        try:
            while not self._stop_requested.is_set():
                await self._one_connection()
                if self._stop_requested.is_set():
                    break
                delay = self._backoff.next_delay()
                log.info(
                    "reconnecting station=%s in_s=%.2f failures=%d",
                    self._station_id,
                    delay,
                    self._backoff.failures,
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop_requested.wait(), delay)
        finally:
            self._online = False
            self._link = None
            self._running = False
            self._finished.set()

    async def stop(self) -> None:
        """Publish the death, DISCONNECT cleanly and end ``run()``; an Uplink runs only once."""
        self._stop_requested.set()
        if self._running:
            await self._finished.wait()

    # --- one connection ----------------------------------------------------------------------

    async def _one_connection(self) -> None:
        connected_at: float | None = None
        try:
            presence = self._begin_presence()
            client = self._new_client(presence)
            log.info(
                "connecting station=%s url=%s bd_seq=%d",
                self._station_id,
                self._settings.url,
                presence.bd_seq,
            )
            async with client:
                connected_at = time.monotonic()
                self._connections += 1
                log.info(
                    "connected station=%s bd_seq=%d reconnects=%d",
                    self._station_id,
                    presence.bd_seq,
                    self.reconnects,
                )
                try:
                    await self._serve(client, presence)
                finally:
                    self._online = False
                    self._link = None
            log.info("disconnected station=%s reason=stopped", self._station_id)
        except aiomqtt.MqttError as error:
            log.warning(
                "disconnected station=%s reason=%s",
                self._station_id,
                _describe(error),
            )
        except MqttRefusalError as error:
            # Not a network fault: the broker's ACL says no. Reconnecting with backoff keeps the
            # events in the outbox until the certificate or the ACL is fixed.
            log.error("refused station=%s: %s", self._station_id, error)  # noqa: TRY400
        except Exception:
            log.exception("uplink connection failed station=%s", self._station_id)
        if connected_at is not None and time.monotonic() - connected_at >= _STABLE_AFTER_S:
            self._backoff.reset()

    def _begin_presence(self) -> ConnectionPresence:
        info = self._birth_info()
        return begin_connection(
            self._station_id,
            self._bd_seq_counter,
            software_version=info.software_version,
            config_version=info.config_version,
            hardware=info.hardware,
        )

    def _new_client(self, presence: ConnectionPresence) -> aiomqtt.Client:
        settings = self._settings
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = settings.session_expiry_s
        client = ReasonCheckedClient(
            settings.host,
            settings.port,
            identifier=self._station_id.client_id,
            protocol=aiomqtt.ProtocolVersion.V5,
            will=presence.will,
            clean_start=False,
            properties=properties,
            keepalive=settings.keepalive_s,
            tls_params=settings.tls_parameters(),
            max_inflight_messages=settings.publish_window,
            socket_options=NO_DELAY,
        )
        # A full replay window is normal here, not the leak aiomqtt's warning is meant to catch.
        client.pending_calls_threshold = settings.publish_window + len(SUBSCRIBED_KINDS) + 2
        return client

    async def _serve(self, client: aiomqtt.Client, presence: ConnectionPresence) -> None:
        """Run the connection's tasks until one fails (the link is lost) or a stop is asked."""
        born = asyncio.Event()
        tasks = [
            asyncio.create_task(self._read(client), name="uplink-reader"),
            asyncio.create_task(self._send(client, presence, born), name="uplink-sender"),
            asyncio.create_task(self._send_status(client, born), name="uplink-status"),
        ]
        stop = asyncio.create_task(self._stop_requested.wait())
        try:
            done, _ = await asyncio.wait([*tasks, stop], return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            await _cancel([*tasks, stop])
            await self._publish_death(client, presence)
            raise
        await _cancel([*tasks, stop])
        for task in tasks:
            if task in done:
                task.result()
                raise UplinkError(f"{task.get_name()} of {self._station_id} ended on its own")
        await self._publish_death(client, presence)

    # --- sending -----------------------------------------------------------------------------

    async def _send(
        self, client: aiomqtt.Client, presence: ConnectionPresence, born: asyncio.Event
    ) -> None:
        await self._subscribe(client)
        self._link = (client, presence)
        depth = await self._publish_birth(client, presence)
        self._online = True
        self._status_changed.clear()
        self._latest_sent = {}
        await self._publish_latest(client)
        born.set()
        log.info("replaying station=%s pending=%d", self._station_id, depth)
        await self._replay_and_follow(client)

    async def _subscribe(self, client: aiomqtt.Client) -> None:
        """Subscribe to the station's own topics; a refused one ends the connection by name."""
        topics = list(self._topics.values())
        reasons = await client.subscribe([(topic, 1) for topic in topics])
        codes: Sequence[int | ReasonCode] = reasons
        check_subscriptions(topics, codes)

    async def _publish_birth(self, client: aiomqtt.Client, presence: ConnectionPresence) -> int:
        """Publish the birth with the connection's bd_seq; returns the outbox depth it reported."""
        info = self._birth_info()
        depth = self._outbox.stats().depth
        birth = StationBirth(
            bd_seq=presence.bd_seq,
            at=datetime.now(UTC),
            software_version=info.software_version,
            config_version=info.config_version,
            hardware=info.hardware,
            config_hash=info.config_hash,
            outbox_depth=depth,
            update_state=info.update_state,
        )
        await _publish(client, prepare(self._station_id, birth))
        log.info(
            "born station=%s bd_seq=%d outbox_depth=%d",
            self._station_id,
            presence.bd_seq,
            depth,
        )
        return depth

    async def _publish_death(self, client: aiomqtt.Client, presence: ConnectionPresence) -> None:
        try:
            await _publish(client, presence.death, puback_within_s=_DEATH_TIMEOUT_S)
        except aiomqtt.MqttError as error:
            log.warning(
                "death not published station=%s bd_seq=%d reason=%s",
                self._station_id,
                presence.bd_seq,
                _describe(error),
            )
        else:
            log.info("died station=%s bd_seq=%d", self._station_id, presence.bd_seq)

    async def _send_status(self, client: aiomqtt.Client, born: asyncio.Event) -> None:
        await born.wait()
        while True:
            await self._status_changed.wait()
            self._status_changed.clear()
            await self._publish_latest(client)

    async def _publish_latest(self, client: aiomqtt.Client) -> None:
        for topic, publication in list(self._latest.items()):
            if self._latest_sent.get(topic) is not publication:
                await _publish(client, publication)
                self._latest_sent[topic] = publication

    async def _replay_and_follow(self, client: aiomqtt.Client) -> None:
        """Publish every pending event in seq order, at most `publish_window` awaiting a PUBACK.

        When the bridge's ack stops advancing while events are pending (a broker that dropped
        messages, for instance Mosquitto past ``max_queued_messages``), the pass starts again
        from the acknowledged seq without waiting for a reconnect.
        """
        window = asyncio.Semaphore(self._settings.publish_window)
        stall = _AckStallWatch(self._settings.ack_stall_s)
        try:
            async with asyncio.TaskGroup() as in_flight:
                while True:
                    await self._one_pass(client, window, in_flight, stall)
                    stats = self._outbox.stats()
                    log.warning(
                        "ack stalled station=%s acknowledged_seq=%d pending=%d; replaying",
                        self._station_id,
                        stats.acknowledged_seq,
                        stats.depth,
                    )
        except BaseExceptionGroup as group:
            raise _first_leaf(group) from group

    async def _one_pass(
        self,
        client: aiomqtt.Client,
        window: asyncio.Semaphore,
        in_flight: asyncio.TaskGroup,
        stall: _AckStallWatch,
    ) -> None:
        """Publish from the acknowledged seq on and follow appends; return if the ack stalls."""
        stall.start_pass()
        last_seq = 0
        published = 0
        caught_up = False
        while True:
            self._appended.clear()
            if stall.stalled(self._outbox.stats()):
                return
            batch = list(itertools.islice(self._outbox.pending(after_seq=last_seq), _READ_BATCH))
            for event in batch:
                await window.acquire()
                if self.on_round_trip is not None:
                    self._awaiting_ack.setdefault(event.seq, event.at)
                in_flight.create_task(
                    _publish_released(client, prepare(self._station_id, event), window)
                )
                last_seq = event.seq
                published += 1
            if batch:
                continue
            if not caught_up:
                caught_up = True
                log.info(
                    "replay sent station=%s published=%d last_seq=%d",
                    self._station_id,
                    published,
                    last_seq,
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._appended.wait(), stall.remaining())

    # --- reading -----------------------------------------------------------------------------

    async def _read(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            await self.dispatch(str(message.topic), message.payload)
        raise aiomqtt.MqttError("the message iterator ended without a disconnect")

    async def dispatch(self, topic: str, payload: object) -> None:
        """Decode one message from the broker and hand it to the station; never raises.

        The reader's entry point, public so the fuzzer can feed it without a broker.
        """
        try:
            message = decode_for(self._kind_of(topic), _payload_bytes(payload))
        except ContractError as error:
            self._reject(topic, str(error))
            return
        if isinstance(message, Ack):
            self._acknowledge(topic, message.highest_seq)
            return
        try:
            await self._on_message(message)
        except Exception:
            self._rejected += 1
            log.exception(
                "message handler failed station=%s topic=%s type=%s",
                self._station_id,
                topic,
                getattr(message, "type", type(message).__name__),
            )

    def _kind_of(self, topic: str) -> TopicKind:
        address = parse_topic(topic)
        if address.station_id != self._station_id or address.kind not in self._topics:
            readable = ", ".join(kind.value for kind in SUBSCRIBED_KINDS)
            raise ContractError(
                f"topic {topic!r} is not one this station reads; expected its own {readable}"
            )
        return address.kind

    def _acknowledge(self, topic: str, highest_seq: int) -> None:
        try:
            pruned = self._outbox.acknowledge(highest_seq)
        except EdgeError as error:
            self._reject(topic, f"ack highest_seq={highest_seq} refused: {error}")
            return
        log.debug(
            "acknowledged station=%s highest_seq=%d pruned=%d",
            self._station_id,
            highest_seq,
            pruned,
        )
        self._report_round_trips(highest_seq)

    def _report_round_trips(self, highest_seq: int) -> None:
        """Time each event the ack covers from its append (its `at`), so a replayed event
        reports how long it really waited, outage included."""
        waiting = self._awaiting_ack
        now = datetime.now(UTC)
        while waiting:
            seq = next(iter(waiting))
            if seq > highest_seq:
                break
            appended_at = waiting.pop(seq)
            if self.on_round_trip is not None:
                self.on_round_trip(max(0.0, (now - appended_at).total_seconds()))

    def _reject(self, topic: str, reason: str) -> None:
        self._rejected += 1
        log.warning(
            "rejected message station=%s topic=%s reason=%s",
            self._station_id,
            topic,
            reason,
            extra={"station": str(self._station_id), "topic": topic, "reason": reason},
        )


async def _publish(
    client: aiomqtt.Client, publication: Publication, *, puback_within_s: float | None = None
) -> None:
    await client.publish(
        publication.topic,
        publication.payload,
        qos=publication.qos,
        retain=publication.retain,
        timeout=puback_within_s,
    )


class _AckStallWatch:
    """Notices a bridge ack that stops advancing while events are pending.

    The clock starts when events become pending, a pass starts, or the ack advances. Each stall
    in a row doubles the wait (up to 8 times the base), so a bridge that is down is not flooded.
    """

    def __init__(self, base_s: float) -> None:
        self._base_s = base_s
        self._stalls = 0
        self._since = time.monotonic()
        self._acknowledged: int | None = None
        self._idle = True

    def _interval(self) -> float:
        return self._base_s * 2.0 ** min(self._stalls, 3)

    def start_pass(self) -> None:
        self._since = time.monotonic()

    def stalled(self, stats: OutboxStats) -> bool:
        now = time.monotonic()
        if stats.acknowledged_seq != self._acknowledged:
            if self._acknowledged is not None:
                self._stalls = 0
            self._acknowledged = stats.acknowledged_seq
            self._since = now
        if stats.depth == 0:
            self._idle = True
            return False
        if self._idle:
            self._idle = False
            self._since = now
        if now - self._since < self._interval():
            return False
        self._stalls += 1
        return True

    def remaining(self) -> float | None:
        """How long to wait for an append before checking again (None: nothing is pending)."""
        if self._idle:
            return None
        return max(0.01, self._since + self._interval() - time.monotonic())


async def _publish_released(
    client: aiomqtt.Client, publication: Publication, window: asyncio.Semaphore
) -> None:
    try:
        await _publish(client, publication)
    finally:
        window.release()


async def _cancel(tasks: Iterable[asyncio.Task[Any]]) -> None:
    pending = list(tasks)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)


def _payload_bytes(payload: object) -> bytes:
    if not isinstance(payload, bytes | bytearray):
        raise ContractError(f"payload is {type(payload).__name__}; expected bytes")
    return bytes(payload)


def _first_leaf(group: BaseExceptionGroup[BaseException]) -> BaseException:
    first = group.exceptions[0]
    return _first_leaf(first) if isinstance(first, BaseExceptionGroup) else first


def _describe(error: BaseException) -> str:
    """The error and what caused it: aiomqtt wraps the real reason of a lost link."""
    causes: Sequence[BaseException] = [error]
    cause = error.__cause__
    while cause is not None and len(causes) < 4:
        causes = [*causes, cause]
        cause = cause.__cause__
    return ": ".join(str(item) or type(item).__name__ for item in causes)
