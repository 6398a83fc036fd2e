"""Station presence the Sparkplug way: a retained birth, a retained Will for death, and bd_seq.

Each connection takes a fresh birth/death sequence (bd_seq) from a persisted counter BEFORE it
connects, so no two connections of a station ever share one, even across restarts. The MQTT Will
is the death of that connection (retained, QoS 1) and the birth repeats its bd_seq once the
connection is up. The broker publishes the Will when the link dies uncleanly; on a clean shutdown
the station publishes the death itself, since a normal DISCONNECT discards the Will.

Deaths and births can arrive out of order (the Will comes from the broker, the birth from the
station, and clustered brokers reorder across publishers), so the bridge orders them by
``(bd_seq, death after birth)`` instead of by arrival: see `supersedes` and `is_stale_death`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import aiomqtt

from edge.contract import (
    DeviceStatus,
    Publication,
    StationBirth,
    StationDeath,
    StationId,
    prepare,
)
from edge.station.counters import DurableCounter

__all__ = [
    "ConnectionPresence",
    "StationState",
    "begin_connection",
    "is_stale_death",
    "publish_birth",
    "publish_death",
    "supersedes",
]

StationState = StationBirth | StationDeath


@dataclass(frozen=True, slots=True)
class ConnectionPresence:
    """The presence messages of ONE connection: pass `will` to the client, publish `birth` once up.

    A new connection needs a new `ConnectionPresence` (and so a new `aiomqtt.Client`), because
    the Will is fixed when the client is built.
    """

    station_id: StationId
    bd_seq: int
    will: aiomqtt.Will
    birth: Publication
    death: Publication


def begin_connection(
    station_id: StationId,
    bd_seq_counter: DurableCounter,
    *,
    software_version: str,
    config_version: int,
    hardware: Iterable[DeviceStatus] = (),
    now: datetime | None = None,
) -> ConnectionPresence:
    """Take the next bd_seq (durably) and build this connection's Will, birth and death."""
    at = now if now is not None else datetime.now(UTC)
    bd_seq = bd_seq_counter.next()
    birth = prepare(
        station_id,
        StationBirth(
            bd_seq=bd_seq,
            at=at,
            software_version=software_version,
            config_version=config_version,
            hardware=tuple(hardware),
        ),
    )
    death = prepare(station_id, StationDeath(bd_seq=bd_seq, at=at))
    will = aiomqtt.Will(
        topic=death.topic, payload=death.payload, qos=death.qos, retain=death.retain
    )
    return ConnectionPresence(
        station_id=station_id, bd_seq=bd_seq, will=will, birth=birth, death=death
    )


async def publish_birth(client: aiomqtt.Client, presence: ConnectionPresence) -> None:
    """Announce the station online; call after subscribing to its command and allocation topics."""
    await _publish(client, presence.birth)


async def publish_death(client: aiomqtt.Client, presence: ConnectionPresence) -> None:
    """Announce the station offline before a clean DISCONNECT, which suppresses the Will."""
    await _publish(client, presence.death)


async def _publish(client: aiomqtt.Client, publication: Publication) -> None:
    await client.publish(
        publication.topic, publication.payload, qos=publication.qos, retain=publication.retain
    )


def _order_key(state: StationState) -> tuple[int, int]:
    # Within one bd_seq the birth comes first and the death second; a higher bd_seq is later.
    return (state.bd_seq, 0 if isinstance(state, StationBirth) else 1)


def supersedes(incoming: StationState, current: StationState | None) -> bool:
    """Whether the bridge should take `incoming` as the station's state over `current`.

    Equal keys supersede, so a rebirth with the same bd_seq refreshes the hardware status and a
    QoS 1 duplicate is harmless.
    """
    return current is None or _order_key(incoming) >= _order_key(current)


def is_stale_death(death: StationDeath, current: StationState | None) -> bool:
    """A death is stale when a later connection's birth (or death) is already known; ignore it."""
    return current is not None and death.bd_seq < current.bd_seq
