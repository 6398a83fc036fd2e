"""Fleet benchmarks: release transfer over MQTT, rollout time by fleet size, rollback time.

* Transfer: a release file fetched by the station's TUF fetcher (`MqttFetcher`) from the
  bridge's `BlobServer`, both through a real Mosquitto, beside a raw transfer of the same bytes
  in chunks of the same size, QoS 1, between two plain clients on the same broker, same run. The
  fetcher pays for base64 and JSON, a request per window and its bookkeeping.
* Rollout time: the fleet drill (real bridge and supervised station processes) with a good
  release at two fleet sizes, from `rollout start` to every station settled on the new version.
  The ratio large/small says how the time grows with the fleet (waves grow exponentially).
* Rollback: the drill with a bad release; from the canary's rollback being seen to its previous
  version online again, beside one plain restart of a settled station (power cut to online) in
  the same run.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiomqtt

from cloud_bridge.fleet.release.blobs import BlobServer
from edge.contract import (
    MAX_CHUNK_BYTES,
    FetchRequest,
    StationId,
    TopicKind,
    decode,
    prepare,
    station_topic,
)
from edge.fleet.tuf_fetch import TARGETS_URL, MqttFetcher
from edge.station.uplink import NO_DELAY
from firmware_sim.bench_results import ThroughputResult
from firmware_sim.broker import MosquittoBroker

__all__ = [
    "RollbackFigures",
    "RolloutFigures",
    "measure_rollback",
    "measure_rollouts",
    "measure_transfer",
]

_UNBOUNDED_QUEUES = "max_queued_messages 0\n"
_STATION = StationId("bench", "fleet01")
_BLOB_PATH = "bench/release.bin"


# --- transfer -------------------------------------------------------------------------------


def measure_transfer(size_bytes: int) -> ThroughputResult:
    """MiB/s of a release file through the TUF fetcher over MQTT, against a raw transfer."""
    with (
        MosquittoBroker(extra_config=_UNBOUNDED_QUEUES) as broker,
        tempfile.TemporaryDirectory(prefix="packline-transfer-") as name,
    ):
        repository = Path(name)
        blob = repository / "targets" / _BLOB_PATH
        blob.parent.mkdir(parents=True)
        payload = os.urandom(size_bytes)
        blob.write_bytes(payload)
        fetched_s = asyncio.run(_fetch_over_mqtt(broker, repository, payload))
        raw_s = asyncio.run(_raw_transfer(broker, payload))
    mib = size_bytes / 2**20
    return ThroughputResult(
        name=f"release transfer: MiB/s of a {mib:.0f} MiB file via TUF fetcher over MQTT "
        "(baseline: raw QoS 1 publishes of the same bytes, same chunk size)",
        samples=size_bytes,
        driver_per_second=mib / fetched_s,
        baseline_per_second=mib / raw_s,
    )


async def _fetch_over_mqtt(broker: MosquittoBroker, repository: Path, payload: bytes) -> float:
    server = BlobServer(repository)
    fetch_topic = station_topic(_STATION, TopicKind.FETCH)
    blob_topic = station_topic(_STATION, TopicKind.BLOB)
    loop = asyncio.get_running_loop()
    async with (
        aiomqtt.Client(
            broker.host, broker.port, identifier="bench-bridge",
            protocol=aiomqtt.ProtocolVersion.V5, socket_options=NO_DELAY,
        ) as bridge,
        aiomqtt.Client(
            broker.host, broker.port, identifier=_STATION.client_id,
            protocol=aiomqtt.ProtocolVersion.V5, socket_options=NO_DELAY,
        ) as station,
    ):  # fmt: skip
        await bridge.subscribe(fetch_topic, qos=1)
        await station.subscribe(blob_topic, qos=1)

        class Transport:
            def send(self, request: FetchRequest) -> None:
                publication = prepare(_STATION, request)
                asyncio.run_coroutine_threadsafe(
                    station.publish(publication.topic, publication.payload, qos=1), loop
                ).result(15)

        fetcher = MqttFetcher(Transport())

        async def serve() -> None:
            async for message in bridge.messages:
                request = decode(str(message.topic), bytes(message.payload)).message
                assert isinstance(request, FetchRequest)
                for answer in server.answer(request):
                    publication = prepare(_STATION, answer)
                    await bridge.publish(publication.topic, publication.payload, qos=1)

        async def receive() -> None:
            async for message in station.messages:
                fetcher.deliver(decode(str(message.topic), bytes(message.payload)).message)  # type: ignore[arg-type]

        tasks = [asyncio.create_task(serve()), asyncio.create_task(receive())]
        try:
            started = time.perf_counter()
            received = await asyncio.to_thread(
                lambda: b"".join(fetcher.fetch(f"{TARGETS_URL}{_BLOB_PATH}"))
            )
            elapsed = time.perf_counter() - started
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    if received != payload:
        raise RuntimeError("the fetched release differs from the file served")
    return elapsed


async def _raw_transfer(broker: MosquittoBroker, payload: bytes) -> float:
    topic = "bench/raw/blob"
    done = asyncio.Event()
    got = bytearray()
    async with (
        aiomqtt.Client(
            broker.host, broker.port, identifier="bench-raw-sender",
            protocol=aiomqtt.ProtocolVersion.V5, socket_options=NO_DELAY,
            max_inflight_messages=64,
        ) as sender,
        aiomqtt.Client(
            broker.host, broker.port, identifier="bench-raw-receiver",
            protocol=aiomqtt.ProtocolVersion.V5, socket_options=NO_DELAY,
        ) as receiver,
    ):  # fmt: skip
        await receiver.subscribe(topic, qos=1)
        sender.pending_calls_threshold = len(payload) // MAX_CHUNK_BYTES + 10  # all at once

        async def receive() -> None:
            async for message in receiver.messages:
                got.extend(bytes(message.payload))
                if len(got) >= len(payload):
                    done.set()
                    return

        task = asyncio.create_task(receive())
        started = time.perf_counter()
        await asyncio.gather(
            *(
                sender.publish(topic, payload[offset : offset + MAX_CHUNK_BYTES], qos=1)
                for offset in range(0, len(payload), MAX_CHUNK_BYTES)
            )
        )
        await asyncio.wait_for(done.wait(), 120)
        elapsed = time.perf_counter() - started
        task.cancel()
    if bytes(got) != payload:
        raise RuntimeError("the raw transfer delivered different bytes")
    return elapsed


# --- rollouts -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RolloutFigures:
    """Rollout time at two fleet sizes, from the drill."""

    small_stations: int
    small_seconds: float
    small_waves: int
    large_stations: int
    large_seconds: float
    large_waves: int

    @property
    def growth(self) -> float:
        """How many times longer the large fleet took than the small one."""
        return self.large_seconds / self.small_seconds


def measure_rollouts(small: int, large: int) -> RolloutFigures:
    """Run the drill (good release, no power cuts) with `small`, then `large` stations."""
    from firmware_sim.drill.run import DrillOptions, run_drill

    results = []
    for stations in (small, large):
        result = run_drill(DrillOptions(stations=stations, station_timeout_s=600))
        if not result.ok:
            raise RuntimeError(
                f"rollout drill with {stations} stations failed: {result.violations}"
            )
        results.append(result)
    first, second = results
    return RolloutFigures(
        small_stations=small,
        small_seconds=first.rollout_seconds,
        small_waves=first.waves,
        large_stations=large,
        large_seconds=second.rollout_seconds,
        large_waves=second.waves,
    )


@dataclass(frozen=True)
class RollbackFigures:
    """A failed release's rollback to the previous version, beside a plain restart."""

    rollback_seconds: float
    restart_seconds: float

    @property
    def ratio(self) -> float:
        return self.rollback_seconds / self.restart_seconds


def measure_rollback() -> RollbackFigures:
    """The drill with a bad release on 2 stations: the canary's rollback, and one restart."""
    from firmware_sim.drill.run import DrillOptions, run_drill

    result = run_drill(DrillOptions(stations=2, bad_release=True, measure_restart=True))
    if not result.ok or not result.rollback_seconds or result.restart_seconds is None:
        raise RuntimeError(
            f"rollback drill did not measure: violations {result.violations}, rollbacks "
            f"{result.rollback_seconds}, restart {result.restart_seconds}"
        )
    return RollbackFigures(
        rollback_seconds=statistics.median(result.rollback_seconds),
        restart_seconds=result.restart_seconds,
    )
