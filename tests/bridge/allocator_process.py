"""A bridge allocator as its own process: waits for a start signal, allocates, commits.

Used by the concurrency test so two real processes with their own connections race for the same
stock on PostgreSQL.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from cloud_bridge.db import make_engine, session_factory
from cloud_bridge.services.allocate import allocate
from cloud_bridge.services.settings import BridgeSettings


def main(url: str, orders: str, go_file: str) -> None:
    engine = make_engine(url)
    sessions = session_factory(engine)
    deadline = time.monotonic() + 30
    while not Path(go_file).exists():
        if time.monotonic() > deadline:
            raise SystemExit("no start signal")
        time.sleep(0.001)
    with sessions() as session, session.begin():
        run = allocate(session, BridgeSettings(), order_nos=orders.split(",") if orders else None)
    print(json.dumps({"units": run.units, "grants": run.grants}))
    engine.dispose()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3])
