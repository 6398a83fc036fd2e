"""A minimal station that announces presence and then idles until it is killed.

Run as a separate process by the presence tests, so SIGKILL ends it the way a crash or power cut
would: the socket closes without an MQTT DISCONNECT and the broker publishes the Will.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

import aiomqtt

from edge.contract import StationId
from edge.station.counters import BD_SEQ_FILE, DurableCounter
from edge.station.presence import begin_connection, publish_birth


async def run(host: str, port: int, state_dir: Path, station_id: StationId) -> None:
    with DurableCounter(state_dir / BD_SEQ_FILE) as bd_seq:
        presence = begin_connection(station_id, bd_seq, software_version="test", config_version=1)
        async with aiomqtt.Client(
            host,
            port,
            identifier=station_id.client_id,
            will=presence.will,
            protocol=aiomqtt.ProtocolVersion.V5,
        ) as client:
            await publish_birth(client, presence)
            print(f"online {presence.bd_seq}", flush=True)
            await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--station-id", required=True)
    args = parser.parse_args()
    asyncio.run(
        run(args.host, args.port, args.state_dir, StationId.from_client_id(args.station_id))
    )


if __name__ == "__main__":
    main()
