"""The bridge process: the allocation and release cycle, station presence, ingest, the HTTP API.

Work flows to stations as desired state: an order's allocation is published with its version
after the transaction that made it commits, and whenever a station is born (a fresh connection,
a restart, or the bridge itself reconnecting and receiving the retained births) the bridge sends it
every order it holds there again, so nothing depends on a message surviving a dropped link.
Presence is ordered by the birth/death sequence, not by arrival, so a stale Will never marks a
reconnected station offline.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiomqtt
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from cloud_bridge.broker_settings import control_client_id, ingest_client_id
from cloud_bridge.config import BridgeConfig
from cloud_bridge.db import make_engine, session_factory, upgrade
from cloud_bridge.db.models import OrderState, SalesOrder
from cloud_bridge.fleet.inventory import record_message
from cloud_bridge.ingest.consumer import ConsumerSettings, IngestConsumer
from cloud_bridge.ingest.sequencer import IngestResult
from cloud_bridge.metrics import BridgeMetrics
from cloud_bridge.routing import StationRouter
from cloud_bridge.services.allocate import allocate
from cloud_bridge.services.autopack import autopack_check
from cloud_bridge.services.orders import load_order
from cloud_bridge.services.release import Dispatch, allocation_message, release
from cloud_bridge.services.settings import load_settings
from edge.contract import (
    ContractError,
    Decoded,
    FetchRequest,
    FleetReport,
    OrderAborted,
    OrderCompleted,
    StationBirth,
    StationDeath,
    StationEvent,
    StationId,
    StationStatus,
    TopicKind,
    decode,
    prepare,
    subscription_for_all_stations,
)
from edge.mqtt_client import MqttRefusalError, ReasonCheckedClient, check_subscriptions
from edge.station.backoff import Backoff
from edge.station.presence import StationState, is_stale_death, supersedes
from edge.station.uplink import NO_DELAY

if TYPE_CHECKING:
    from cloud_bridge.fleet.service import FleetService

__all__ = ["Bridge"]

log = logging.getLogger("packline.bridge")

_AT_STATION = (OrderState.RELEASED, OrderState.PICKING)


class Bridge:
    """One bridge instance; `await bridge.run()` until cancelled."""

    def __init__(self, config: BridgeConfig, *, serve_api: bool = False) -> None:
        self.config = config
        self.engine = make_engine(config.bridge.database_url)
        upgrade(self.engine)
        self.sessions = session_factory(self.engine)
        self.router = StationRouter(config.routing)
        self.presence: dict[str, StationState] = {}
        self._serve_api = serve_api
        self._client: aiomqtt.Client | None = None
        self.refused_publishes = 0
        """Publishes the broker refused (0x87): each is logged with its topic."""
        self.rejected_messages = 0
        """Messages from stations that were malformed or whose handling failed."""
        self._wake = asyncio.Event()
        self._post_wake = asyncio.Event()
        self.ingest: IngestConsumer | None = None
        self.fleet: FleetService | None = None
        self.metrics = BridgeMetrics(self.sessions, bridge=self)
        """This bridge's Prometheus registry, served at ``GET /metrics`` on the HTTP API."""
        if config.fleet is not None:
            from cloud_bridge.fleet.service import FleetService

            self.fleet = FleetService(self.sessions, config.fleet, lambda: self._client)

    def _after_event(self, event: StationEvent, _result: IngestResult) -> None:
        """Only completions and aborts change what can be allocated or released; picks do not,
        so a busy floor does not turn the event stream into back-to-back allocation runs."""
        if isinstance(event, OrderCompleted | OrderAborted):
            self.wake()
        if isinstance(event, OrderCompleted):
            self.wake_posting()

    @property
    def online(self) -> set[str]:
        return {station for station, state in self.presence.items() if state.online}

    def wake(self) -> None:
        """Run the allocation and release cycle now (after an API change or a station event)."""
        self._wake.set()

    def wake_posting(self) -> None:
        """Plan and post to Sage now (after a shipment or a correction)."""
        self._post_wake.set()

    def wake_poster_if_posting(self) -> None:
        """Wake the posting loop after a correction, when this bridge posts to Sage."""
        if self.config.sage is not None:
            self.wake_posting()

    async def _posting_loop(self) -> None:
        from cloud_bridge.posting.service import PostingService

        assert self.config.sage is not None
        async with PostingService(
            self.sessions, self.config.sage, observer=self.metrics.sage
        ) as service:
            await service.run(self._post_wake)

    async def run(self, *, ready: Callable[[], None] | None = None) -> None:
        broker = self.config.broker
        self.ingest = IngestConsumer(
            self.sessions,
            ConsumerSettings(
                host=broker.host,
                port=broker.port,
                client_id=ingest_client_id(self.config.bridge.instance),
                keepalive_s=broker.keepalive_s,
                tls=broker.ingest_tls_parameters(),
                fairness=self.config.ingest,
                reconnect_initial_s=broker.backoff_initial_s,
                reconnect_max_s=broker.backoff_max_s,
            ),
            on_applied=self._after_event,
            on_apply_seconds=self.metrics.observe_apply,
        )
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self.ingest.run(), name="ingest")
            tasks.create_task(self._mqtt_loop(), name="mqtt")
            tasks.create_task(self._cycle_loop(), name="cycle")
            if self.fleet is not None:
                tasks.create_task(self.fleet.run(), name="fleet")
            if self.config.sage is not None:
                tasks.create_task(self._posting_loop(), name="sage-posting")
            if self._serve_api:
                tasks.create_task(self._serve_http(), name="http")
            if ready is not None:
                ready()

    # --- publishing --------------------------------------------------------------------------

    async def publish(self, dispatch: Dispatch) -> None:
        """Publish one station message; while offline it is dropped, and resent on the birth."""
        client = self._client
        if client is None:
            log.warning(
                "offline: %s for %s waits for its birth", dispatch.message.type, dispatch.station_id
            )
            return
        publication = prepare(StationId.from_client_id(dispatch.station_id), dispatch.message)
        try:
            await client.publish(
                publication.topic,
                publication.payload,
                qos=publication.qos,
                retain=publication.retain,
            )
        except MqttRefusalError as error:
            # The broker's ACL does not let this bridge write there: a deployment fault, named
            # in the log; the message is desired state and goes again with the station's birth.
            self.refused_publishes += 1
            log.error("publish refused: %s", error)  # noqa: TRY400

    # --- the cycle ---------------------------------------------------------------------------

    def run_cycle(self) -> list[Dispatch]:
        """Allocate, then release to online stations; return what to publish (committed)."""
        now = datetime.now(UTC)
        with self.metrics.allocation_cycle(), self.sessions() as session, session.begin():
            settings = load_settings(session)
            run = allocate(session, settings, now=now)
            grown = self._grown(session, run.grown, now)
            withdrawn = autopack_check(session, settings, now=now)
            released = release(
                session, settings, self.router, self.config.slot_maps, self.online, now=now
            )
        return grown + withdrawn + released.dispatches

    def _grown(self, session: Session, order_nos: list[str], now: datetime) -> list[Dispatch]:
        """Orders at a station that got more stock: their new version, to send again."""
        dispatches = []
        for order_no in order_nos:
            order = load_order(session, order_no)
            if order.station_id is None:
                continue
            order.version += 1
            slots = self.config.slot_maps.get(order.station_id, {})
            dispatch = allocation_message(session, order, order.station_id, now, slots)
            if dispatch is not None:
                dispatches.append(dispatch)
        return dispatches

    async def _cycle_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.config.bridge.cycle_seconds)
            self._wake.clear()
            try:
                dispatches = await asyncio.to_thread(self.run_cycle)
            except Exception:
                log.exception("allocation cycle failed; retrying next cycle")
                continue
            for dispatch in dispatches:
                await self.publish(dispatch)

    def current_allocations(self, station_id: str) -> list[Dispatch]:
        """Every order the bridge holds at a station, as its current `order_allocated`."""
        now = datetime.now(UTC)
        slots = self.config.slot_maps.get(station_id, {})
        with self.sessions() as session, session.begin():
            orders = session.scalars(
                select(SalesOrder)
                .options(selectinload(SalesOrder.lines))
                .where(SalesOrder.station_id == station_id, SalesOrder.state.in_(_AT_STATION))
            )
            dispatches = [
                allocation_message(session, order, station_id, now, slots) for order in orders
            ]
        return [dispatch for dispatch in dispatches if dispatch is not None]

    # --- MQTT --------------------------------------------------------------------------------

    async def _mqtt_loop(self) -> None:
        settings = self.config.broker
        backoff = Backoff(settings.backoff_initial_s, settings.backoff_max_s)
        while True:
            try:
                async with ReasonCheckedClient(
                    settings.host,
                    settings.port,
                    identifier=control_client_id(self.config.bridge.instance),
                    protocol=aiomqtt.ProtocolVersion.V5,
                    keepalive=settings.keepalive_s,
                    tls_params=settings.tls_parameters(),
                    socket_options=NO_DELAY,
                ) as client:
                    topics = [
                        subscription_for_all_stations(TopicKind.STATE),
                        subscription_for_all_stations(TopicKind.STATUS),
                    ]
                    if self.fleet is not None:
                        # FETCH is shared: with several bridge instances, one answers each.
                        topics += [
                            subscription_for_all_stations(TopicKind.FLEET),
                            f"$share/packline-fleet/{subscription_for_all_stations(TopicKind.FETCH)}",
                        ]
                    for topic in topics:
                        check_subscriptions([topic], await client.subscribe(topic, qos=1))
                    self._client = client
                    log.info("bridge %s connected to %s", self.config.bridge.instance, settings.url)
                    backoff.reset()
                    async for message in client.messages:
                        await self._on_message(str(message.topic), message.payload)
            except (aiomqtt.MqttError, MqttRefusalError) as error:
                self._client = None
                delay = backoff.next_delay()
                log.warning("broker link lost (%s); reconnecting in %.1f s", error, delay)
                await asyncio.sleep(delay)

    async def _on_message(self, topic: str, payload: Any) -> None:
        """Handle one state, status, fleet or fetch message; nothing a station sends stops it.

        A message the contract rejects is counted and logged with its reason; so is one whose
        handling fails, so a bad station cannot end the bridge's MQTT loop.
        """
        if not isinstance(payload, bytes):
            self.rejected_messages += 1
            log.warning("rejected message on %s: the payload is not bytes", topic)
            return
        try:
            decoded = decode(topic, payload)
        except ContractError as error:
            self.rejected_messages += 1
            log.warning("rejected message on %s: %s", topic, error)
            return
        try:
            await self._handle(decoded)
        except Exception:
            self.rejected_messages += 1
            log.exception("handling the message on %s failed", topic)

    async def _handle(self, decoded: Decoded) -> None:
        state = decoded.message
        station = decoded.address.station_id.client_id
        if isinstance(state, StationBirth | StationDeath | StationStatus):
            await asyncio.to_thread(self._record_fleet, decoded.address.station_id, state)
        if isinstance(state, StationBirth | StationDeath):
            await self._on_presence(station, state)
        if self.fleet is not None:
            if isinstance(state, FleetReport):
                await self.fleet.on_report(decoded.address.station_id, state)
            elif isinstance(state, FetchRequest):
                self.fleet.on_fetch(decoded.address.station_id, state)
            elif isinstance(state, StationBirth):
                self.fleet.wake()

    def _record_fleet(
        self, station_id: StationId, message: StationBirth | StationDeath | StationStatus
    ) -> None:
        """Keep the fleet inventory; a database hiccup here must not stop presence or work."""
        try:
            with self.sessions.begin() as session:
                record_message(session, station_id, message)
        except Exception:
            log.exception("fleet inventory: %s from %s not recorded", message.type, station_id)

    async def _on_presence(self, station: str, state: StationState) -> None:
        current = self.presence.get(station)
        if isinstance(state, StationDeath) and is_stale_death(state, current):
            return
        if not supersedes(state, current):
            return
        self.presence[station] = state
        if isinstance(state, StationBirth):
            log.info("station %s online (bd_seq %d); resending its work", station, state.bd_seq)
            for dispatch in await asyncio.to_thread(self.current_allocations, station):
                await self.publish(dispatch)
            self.wake()
        else:
            log.info("station %s offline (bd_seq %d)", station, state.bd_seq)

    # --- HTTP --------------------------------------------------------------------------------

    async def _serve_http(self) -> None:
        import uvicorn

        from cloud_bridge.api import create_app
        from cloud_bridge.api.tokens import has_active_tokens

        if not await asyncio.to_thread(has_active_tokens, self.sessions):
            log.warning(
                "the HTTP API has no unrevoked token, so it refuses every request; make one "
                "with `packline bridge token create --config <bridge.toml> --name N --role R`"
            )
        app = create_app(
            sessions=self.sessions,
            slot_maps=self.config.slot_maps,
            publish=self._publish_and_wake,
            wake_poster=self.wake_poster_if_posting,
            metrics=self.metrics.registry,
            dashboard_settings=self.config.dashboard,
        )
        server = uvicorn.Server(
            uvicorn.Config(
                app,
                host=self.config.http.host,
                port=self.config.http.port,
                ssl_certfile=_optional_path(self.config.http.tls_cert_file),
                ssl_keyfile=_optional_path(self.config.http.tls_key_file),
                log_level="warning",
                lifespan="off",
            )
        )
        await server.serve()

    async def _publish_and_wake(self, dispatch: Dispatch) -> None:
        await self.publish(dispatch)
        self.wake()


def _optional_path(path: Path | None) -> str | None:
    return None if path is None else str(path)
