"""The bridge's fleet loop: reports in, configurations and rollout messages out, releases served.

The database is the queue between the operator's commands and the stations: `packline fleet
config set` and `packline fleet rollout ...` only write rows, and this loop (in the running bridge)
turns them into retained messages on each station's `config` and `update` topics, every
`tick_seconds` or at once when a report arrives. Release files are served to stations' TUF
fetchers from the release repository through `BlobServer`, by a few workers so one station's large
download does not hold up another's metadata.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from uuid import UUID

import aiomqtt
from sqlalchemy.orm import Session, sessionmaker

from cloud_bridge.fleet.configs import mark_config_published, pending_configs
from cloud_bridge.fleet.release.blobs import BlobServer
from cloud_bridge.fleet.reports import record_fleet_report
from cloud_bridge.fleet.rollout import rollout_tick
from cloud_bridge.fleet.settings import FleetSettings
from cloud_bridge.fleet.standing import rollout_states, standing_update_messages
from edge.contract import ConfigDesired, FetchRequest, FleetReport, StationId, WireMessage, prepare

__all__ = ["FleetService"]

log = logging.getLogger("packline.bridge.fleet")

_FETCH_WORKERS = 4
_REFRESH_WHEN_LEFT = timedelta(hours=12)
_REFRESH_CHECK = timedelta(hours=1)
_REFRESH_RETRY = timedelta(minutes=1)
_FETCH_QUEUE = 1000


class FleetService:
    """Runs inside the bridge; `client()` returns the live MQTT client or None while offline."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        settings: FleetSettings,
        client: Callable[[], aiomqtt.Client | None],
    ) -> None:
        self._sessions = sessions
        self._settings = settings
        self._client = client
        self._blobs = BlobServer(settings.repository) if settings.repository is not None else None
        self._fetches: asyncio.Queue[tuple[StationId, FetchRequest]] = asyncio.Queue(_FETCH_QUEUE)
        self._wake = asyncio.Event()
        self._next_refresh: datetime | None = None
        self._known_rollouts: dict[int, str] | None = None
        """Each rollout's state at the last standing-message sync; None: sync everything."""
        self._latest_fetch: dict[str, UUID] = {}
        """Each station's newest request: an older one still queued was re-asked, so skip it."""
        self.fetch_requests = 0
        self.fetch_superseded = 0
        self.fetch_refused_busy = 0

    def wake(self) -> None:
        self._wake.set()

    async def on_report(self, station_id: StationId, report: FleetReport) -> None:
        """Fold a station's fleet report into the inventory and its rollout, then tick."""
        try:
            await asyncio.to_thread(self._record, station_id, report)
        except Exception:
            log.exception("fleet report from %s not recorded", station_id)
            return
        self.wake()

    def _record(self, station_id: StationId, report: FleetReport) -> None:
        with self._sessions.begin() as session:
            record_fleet_report(session, station_id, report)

    def on_fetch(self, station_id: StationId, request: FetchRequest) -> None:
        """Queue a fetch request; when the queue is full the station's fetcher simply asks again."""
        self.fetch_requests += 1
        self._latest_fetch[station_id.client_id] = request.request_id
        try:
            self._fetches.put_nowait((station_id, request))
        except asyncio.QueueFull:
            self.fetch_refused_busy += 1
            log.warning("fetch queue full; %s from %s dropped", request.path, station_id)

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._tick_loop(), name="fleet-tick")
            for number in range(_FETCH_WORKERS):
                tasks.create_task(self._fetch_worker(), name=f"fleet-fetch-{number}")

    # --- configurations and rollouts ---------------------------------------------------------

    async def _tick_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._settings.tick_seconds)
            self._wake.clear()
            if self._client() is None:
                self._known_rollouts = None  # after reconnecting, every station's message again
                continue
            try:
                await self.tick()
            except aiomqtt.MqttError as error:
                self._known_rollouts = None
                log.warning("fleet tick interrupted by the broker link: %s", error)
            except Exception:
                log.exception("fleet tick failed; retrying next tick")

    async def tick(self) -> None:
        """Keep the metadata fresh, publish pending configurations and the rollouts' messages."""
        now = datetime.now(UTC)
        await asyncio.to_thread(self._keep_timestamp_fresh, now)
        configs = await asyncio.to_thread(self._pending_configs)
        for station_id, desired in configs:
            await self._publish(station_id, desired)
            await asyncio.to_thread(self._mark_config, station_id, desired.version)
        for station_id, message in await asyncio.to_thread(self._rollout_tick, now):
            await self._publish(station_id, message)
        standing, states = await asyncio.to_thread(self._standing, now)
        for station_id, message in standing:
            await self._publish(station_id, message)
        self._known_rollouts = states

    def _standing(
        self, now: datetime
    ) -> tuple[list[tuple[StationId, WireMessage]], dict[int, str]]:
        """What every station of a changed rollout should hold (all of them after a reconnect)."""
        with self._sessions() as session:
            states = rollout_states(session)
            known = self._known_rollouts
            if known is None:
                return standing_update_messages(session, now), states
            changed = {rollout for rollout, state in states.items() if known.get(rollout) != state}
            if not changed:
                return [], states
            return standing_update_messages(session, now, rollout_ids=changed), states

    def _keep_timestamp_fresh(self, now: datetime) -> None:
        """Re-sign the timestamp when less than half its life is left (needs the keys).

        Stations refuse expired metadata (``freeze``), so a bridge that serves releases must
        keep signing; one without keys only serves what the release process signed.
        """
        settings = self._settings
        if settings.repository is None or settings.keys is None:
            return
        if self._next_refresh is not None and now < self._next_refresh:
            return
        from cloud_bridge.fleet.release.keys import KeyStore
        from cloud_bridge.fleet.release.repository import ReleaseRepository

        try:
            repository = ReleaseRepository(settings.repository, KeyStore(settings.keys))
            expires = repository.expires("timestamp")
            if expires - now < _REFRESH_WHEN_LEFT:
                repository.refresh_timestamp()
                expires = repository.expires("timestamp")
                log.info("release timestamp re-signed; expires %s", expires.isoformat())
        except Exception:
            log.exception("release timestamp not refreshed; stations will refuse it when stale")
            self._next_refresh = now + _REFRESH_RETRY
            return
        self._next_refresh = now + min(_REFRESH_CHECK, max(_REFRESH_RETRY, (expires - now) / 4))

    def _pending_configs(self) -> list[tuple[StationId, ConfigDesired]]:
        with self._sessions() as session:
            return list(pending_configs(session))

    def _mark_config(self, station_id: StationId, version: int) -> None:
        with self._sessions.begin() as session:
            mark_config_published(session, station_id, version)

    def _rollout_tick(self, now: datetime) -> list[tuple[StationId, WireMessage]]:
        with self._sessions.begin() as session:
            return list(rollout_tick(session, now))

    async def _publish(self, station_id: StationId, message: WireMessage) -> None:
        client = self._client()
        if client is None:
            raise aiomqtt.MqttError("offline")
        publication = prepare(station_id, message)
        await client.publish(
            publication.topic, publication.payload, qos=publication.qos, retain=publication.retain
        )

    # --- release files -----------------------------------------------------------------------

    async def _fetch_worker(self) -> None:
        while True:
            station_id, request = await self._fetches.get()
            if self._latest_fetch.get(station_id.client_id) != request.request_id:
                # The station's fetcher asked again since (it waited too long for this one):
                # answering the old request would only be thrown away at the station.
                self.fetch_superseded += 1
                continue
            try:
                await self._answer(station_id, request)
            except aiomqtt.MqttError as error:
                log.warning("answer to %s for %s lost: %s", station_id, request.path, error)
            except Exception:
                log.exception("answer to %s for %s failed", station_id, request.path)

    async def _answer(self, station_id: StationId, request: FetchRequest) -> None:
        blobs = self._blobs
        if blobs is None:
            from edge.contract import FetchRefused

            await self._publish(
                station_id,
                FetchRefused(
                    request_id=request.request_id,
                    path=request.path,
                    status=404,
                    reason="this bridge has no release repository ([fleet] repository)",
                ),
            )
            return
        for answer in await asyncio.to_thread(lambda: list(blobs.answer(request))):
            await self._publish(station_id, answer)
