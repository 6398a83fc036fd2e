"""A station whose certificate names another station is refused by the broker, and says so.

The start-up check stops a misconfigured station before it connects; this is what happens when
the check is bypassed (the uplink is built directly): the broker answers each publish with 0x87,
the uplink logs an error naming the topic, and every event stays in the outbox.
"""

from __future__ import annotations

import asyncio
import logging
import random
from pathlib import Path

import pytest
from tinydb import TinyDB

from edge.contract import OrderScanned, StationId
from edge.station.counters import DurableCounter
from edge.station.outbox import Outbox
from edge.station.storage import JournalStorage
from edge.station.uplink import BirthInfo, BrokerSettings, Uplink
from firmware_sim.broker import MosquittoBroker
from firmware_sim.secure_site import SiteCredentials

pytestmark = pytest.mark.broker


async def _noop(_message: object) -> None:
    return None


async def test_a_station_publishing_under_another_name_is_refused_and_keeps_its_events(
    mosquitto: MosquittoBroker,
    site_credentials: SiteCredentials,
    station_id: StationId,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    impostor_certificate = StationId(station_id.site, "st99")
    link = site_credentials.station_link(impostor_certificate, mosquitto.tls_url)
    settings = BrokerSettings.model_validate(
        {**link, "backoff_initial_s": 0.1, "backoff_max_s": 0.2}
    )
    db = TinyDB(tmp_path / "station.json", storage=JournalStorage)
    outbox = Outbox(db)
    with DurableCounter(tmp_path / "bd_seq") as counter, caplog.at_level(logging.ERROR):
        uplink = Uplink(
            station_id,
            settings,
            outbox,
            counter,
            birth=lambda: BirthInfo(software_version="test", config_version=0),
            on_message=_noop,
            rng=random.Random(0),
        )
        outbox.append(OrderScanned, order_id="SO-1", order_version=1)
        running = asyncio.create_task(uplink.run())
        for _ in range(200):
            if "refused" in caplog.text:
                break
            await asyncio.sleep(0.1)
        await uplink.stop()
        await running
    try:
        assert "the broker refused the publish" in caplog.text
        assert f"packline/v1/station/{station_id.client_id}/" in caplog.text
        assert "0x87" in caplog.text
        assert outbox.stats().depth == 1
    finally:
        db.close()
