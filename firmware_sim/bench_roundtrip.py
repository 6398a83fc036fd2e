"""Event round trip: a station event from its outbox to the bridge's commit and the ack back.

The station side is the real `Uplink` over a real journalled `Outbox`; the bridge is a real
`packline bridge run` process, whose ingest consumer applies each event in one SQLite transaction
with its dedupe row and publishes the station's ack; the broker is a private Mosquitto. A round
starts just before the append (fsync included) and ends when the ack has been applied to the
outbox at the station (the event pruned durably). Rounds run one at a time, each waiting for its
ack, so every sample is a latency rather than a share of a throughput.

The baseline is raw paho on the same broker (`firmware_sim.bench_echo`): a payload of the same
size published at QoS 1 and echoed back at QoS 1 by a client in its own process, the same two
trips through the broker as the event and its ack with none of the work in between. Like the
station's and the bridge's clients, both paho clients turn Nagle's algorithm off, and the rig's
broker does too, so the two compare like for like. The baseline runs first, on the quiet
broker, so any drift between the two runs counts against the station path. A second echo, on a
broker of its own told explicitly to turn Nagle off, is the floor: the echo on the station's
broker should equal it, and a ratio well above 1 would mean a socket on the path has Nagle on
again, each hop of a request and reply then waiting for a delayed ACK.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import aiomqtt
import httpx
import tomli_w
from tinydb import TinyDB

from cloud_bridge.api.tokens import create_token
from cloud_bridge.broker_settings import bridge_cert_names
from cloud_bridge.db import make_engine, session_factory, upgrade
from cloud_bridge.ingest.bench import seed_order_at_station
from cloud_bridge.ingest.sequencer import read_cursor
from edge.contract import (
    LinePicked,
    LineReturned,
    StationEvent,
    StationId,
    TopicKind,
    prepare,
    station_topic,
)
from edge.station.counters import DurableCounter
from edge.station.outbox import Outbox
from edge.station.storage import JournalStorage
from edge.station.uplink import BirthInfo, BrokerSettings, Uplink
from firmware_sim.bench_echo import NODELAY_BROKER_CONFIG, measure_paho_echo
from firmware_sim.broker import MosquittoBroker
from firmware_sim.errors import SimError
from firmware_sim.ports import free_port
from firmware_sim.secure_site import SiteCredentials

__all__ = ["RoundTripError", "RoundTrips", "measure_round_trips", "measure_secure_round_trips"]

_STATION = StationId(site="bench", station="rt01")
_INSTANCE = "bench"
_ORDER = "SO-RT"
_SKU = "SKU-RT"
_GTIN = "05012345678900"
_WARM_UP = 3
_ROUND_TIMEOUT_S = 30.0
_START_TIMEOUT_S = 60.0
_ACK_STALL_S = 2.0
"""Replays the outbox if the first events went out before the bridge had subscribed; a round
that takes this long is far outside what is measured, so it never fires inside one."""


class RoundTripError(SimError, RuntimeError):
    """The round-trip bench was given bad arguments, or a side of it did not answer in time."""


@dataclass(frozen=True)
class RoundTrips:
    """Seconds per round trip: the station path and the paho echo baseline."""

    station: list[float]
    paho_echo: list[float]
    """Raw paho on the station's broker, Nagle off as the station and bridge have it: the
    baseline."""
    paho_echo_nodelay: list[float]
    """Raw paho on a broker of its own told to turn Nagle off, and Nagle off on both clients:
    the floor, which the baseline should equal."""


def measure_round_trips(rounds: int) -> RoundTrips:
    """Time `rounds` event round trips through a real bridge, and as many paho echoes."""
    if rounds < 1:
        raise RoundTripError(f"rounds {rounds} is below 1; expected at least 1")
    payload = _sample_payload()
    with MosquittoBroker(extra_config=NODELAY_BROKER_CONFIG) as nodelay_broker:
        floor = measure_paho_echo(nodelay_broker, payload, rounds, nodelay=True, warm_up=_WARM_UP)
    with MosquittoBroker() as broker, tempfile.TemporaryDirectory(prefix="packline-rt-") as name:
        folder = Path(name)
        echoes = measure_paho_echo(broker, payload, rounds, nodelay=True, warm_up=_WARM_UP)
        station = _round_trips_over(folder, {"url": broker.url}, {"url": broker.url}, rounds)
    return RoundTrips(station=station, paho_echo=echoes, paho_echo_nodelay=floor)


def measure_secure_round_trips(rounds: int) -> tuple[list[float], list[float]]:
    """Event round trips over mutual TLS with the ACL on, and over the plain listener.

    One broker serves both: its TLS listener has the production settings and the generated ACL,
    its plain loopback listener neither. The plain rounds run first, then the TLS ones, each with
    its own bridge process and station; returns (tls, plain) seconds per round.
    """
    if rounds < 1:
        raise RoundTripError(f"rounds {rounds} is below 1; expected at least 1")
    with tempfile.TemporaryDirectory(prefix="packline-rt-tls-") as name:
        folder = Path(name)
        credentials = SiteCredentials.create(folder / "pki")
        with MosquittoBroker(
            pki=credentials.pki, bridge_names=bridge_cert_names(_INSTANCE)
        ) as broker:
            plain_link = {"url": broker.url}
            plain = _round_trips_over(folder / "plain", plain_link, plain_link, rounds)
            # The plain run's bridge left its ack retained; the TLS run's fresh station would
            # read it as an ack from the future.
            asyncio.run(_clear_retained_ack(broker))
            tls = _round_trips_over(
                folder / "tls",
                credentials.bridge_link(_INSTANCE, broker.tls_url),
                credentials.station_link(_STATION, broker.tls_url),
                rounds,
            )
    return tls, plain


async def _clear_retained_ack(broker: MosquittoBroker) -> None:
    async with aiomqtt.Client(broker.host, broker.port) as client:
        await client.publish(station_topic(_STATION, TopicKind.ACK), b"", qos=1, retain=True)


def _round_trips_over(
    folder: Path, bridge_link: dict[str, Any], station_link: dict[str, Any], rounds: int
) -> list[float]:
    """Time `rounds` round trips with a bridge and a station on the given broker links."""
    folder.mkdir(parents=True, exist_ok=True)
    api_port = _write_bridge_files(folder, bridge_link)
    database_url = f"sqlite:///{folder / 'bridge.db'}"
    token = _seed_bridge(database_url)
    insecure = not str(bridge_link["url"]).startswith("mqtts://")
    with _bridge_process(folder, api_port, token, insecure=insecure) as bridge:
        settings = BrokerSettings.model_validate({**station_link, "ack_stall_s": _ACK_STALL_S})
        station = asyncio.run(_station_round_trips(settings, folder, bridge, rounds))
    _check_applied(database_url, _WARM_UP + rounds)
    return station


def _sample_payload() -> bytes:
    """A station event's bytes, so the echo carries a payload of the same size."""
    stamp = {"event_id": uuid4(), "seq": 1, "at": datetime.now(UTC)}
    event = LinePicked.model_validate({**_pick_fields(), **stamp})
    return prepare(_STATION, event).payload


# --- the bridge: a real `packline bridge run` process ---------------------------------------


def _write_bridge_files(folder: Path, link: dict[str, Any]) -> int:
    """bridge.toml with `link` as its ``[broker]``; returns the API port the config names."""
    api_port = free_port()
    document = {
        "bridge": {"instance": _INSTANCE, "database_url": "sqlite:///bridge.db"},
        "broker": link,
        "http": {"port": api_port},
        "routing": {"stations": [_STATION.client_id]},
        "stations": {_STATION.client_id: {"slots": {_SKU: "A1"}}},
    }
    (folder / "bridge.toml").write_bytes(tomli_w.dumps(document).encode())
    return api_port


def _seed_bridge(url: str) -> str:
    """One order being picked at the bench station, its line open for picks and returns; and a
    viewer token to see when the API is up, which is returned."""
    engine = make_engine(url)
    try:
        upgrade(engine)
        seed_order_at_station(engine, station_id=_STATION, order_no=_ORDER, sku=_SKU, gtin=_GTIN)
        return create_token(engine, "bench-round-trip", "viewer")
    finally:
        engine.dispose()


def _check_applied(url: str, events: int) -> None:
    """The bridge's cursor for the station stands at the last event: each was committed."""
    engine = make_engine(url)
    try:
        with session_factory(engine)() as session:
            cursor = read_cursor(session, _STATION.client_id)
    finally:
        engine.dispose()
    if cursor != events:
        raise RoundTripError(
            f"the bridge's cursor for {_STATION.client_id} is {cursor}; expected {events}, "
            "one per event the station sent"
        )


@dataclass(frozen=True)
class _Bridge:
    process: subprocess.Popen[bytes]
    log: Path
    api_url: str
    token: str

    def failure(self, what: str) -> RoundTripError:
        tail = self.log.read_text(encoding="utf-8", errors="replace")[-2000:]
        return RoundTripError(f"{what}; the bridge process logged:\n{tail}")


@contextlib.contextmanager
def _bridge_process(
    folder: Path, api_port: int, token: str, *, insecure: bool
) -> Iterator[_Bridge]:
    config = folder / "bridge.toml"
    log = folder / "bridge.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "edge.cli", "bridge", "run", "--config", str(config)]
            + (["--insecure"] if insecure else []),
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )
    bridge = _Bridge(process, log, f"http://127.0.0.1:{api_port}", token)
    try:
        _wait_for_api(bridge)
        yield bridge
    finally:
        _end(process)


def _wait_for_api(bridge: _Bridge) -> None:
    """Until the bridge answers its API: it has migrated and started its tasks.

    The ingest consumer starts in the same task group and may subscribe a moment later; an
    event sent before that is replayed by the station after `_ACK_STALL_S`, in the warm-up.
    """
    deadline = time.monotonic() + _START_TIMEOUT_S
    headers = {"Authorization": f"Bearer {bridge.token}"}
    while time.monotonic() < deadline:
        if bridge.process.poll() is not None:
            raise bridge.failure(f"the bridge exited with {bridge.process.returncode}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{bridge.api_url}/orders", headers=headers, timeout=2).is_success:
                return
        time.sleep(0.1)
    raise bridge.failure(f"the bridge did not serve its API within {_START_TIMEOUT_S:.0f} s")


def _end(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- the station: real outbox and uplink ----------------------------------------------------


class _AckWatchedOutbox(Outbox):
    """The station's outbox, noting when each ack that moved it forward had been applied."""

    def __init__(self, db: TinyDB) -> None:
        super().__init__(db)
        self.moved = asyncio.Event()
        self.acked_at: list[tuple[int, float]] = []

    def acknowledge(self, highest_seq: int) -> int:
        before = self.stats().acknowledged_seq
        pruned = super().acknowledge(highest_seq)
        if highest_seq > before:
            self.acked_at.append((highest_seq, time.perf_counter()))
            self.moved.set()
        return pruned

    async def until_acknowledged(self, seq: int) -> float:
        """When the first ack covering `seq` had been applied here (perf_counter seconds)."""
        async with asyncio.timeout(_ROUND_TIMEOUT_S):
            while True:
                self.moved.clear()
                for acked, at in self.acked_at:
                    if acked >= seq:
                        return at
                await self.moved.wait()


def _pick_fields() -> dict[str, object]:
    return {
        "order_id": _ORDER,
        "line_id": "1",
        "sku": _SKU,
        "gtin": _GTIN,
        "slot": "A1",
        "quantity": 1,
    }


def _return_fields() -> dict[str, object]:
    fields = _pick_fields()
    del fields["gtin"]
    return fields


async def _noop(_message: object) -> None:
    return None


@contextlib.asynccontextmanager
async def _station(
    settings: BrokerSettings, folder: Path
) -> AsyncIterator[tuple[Uplink, _AckWatchedOutbox]]:
    db = TinyDB(folder / "station.json", storage=JournalStorage)
    outbox = _AckWatchedOutbox(db)
    try:
        with DurableCounter(folder / "bd_seq") as counter:
            uplink = Uplink(
                _STATION,
                settings,
                outbox,
                counter,
                birth=lambda: BirthInfo(software_version="bench", config_version=0),
                on_message=_noop,
                rng=random.Random(0),
            )
            running = asyncio.create_task(uplink.run())
            try:
                yield uplink, outbox
            finally:
                await uplink.stop()
                await running
    finally:
        db.close()


async def _station_round_trips(
    settings: BrokerSettings, folder: Path, bridge: _Bridge, rounds: int
) -> list[float]:
    async with _station(settings, folder) as (uplink, outbox):
        samples: list[float] = []
        for number in range(_WARM_UP + rounds):
            if bridge.process.poll() is not None:
                raise bridge.failure(f"the bridge exited with {bridge.process.returncode}")
            started = time.perf_counter()
            event: StationEvent
            if number % 2:
                event = outbox.append(LineReturned, **_return_fields())
            else:
                event = outbox.append(LinePicked, **_pick_fields())
            uplink.notify_appended()
            try:
                acked = await outbox.until_acknowledged(event.seq)
            except TimeoutError:
                raise bridge.failure(
                    f"seq {event.seq} was not acknowledged within {_ROUND_TIMEOUT_S:.0f} s"
                ) from None
            samples.append(acked - started)
    return samples[_WARM_UP:]
