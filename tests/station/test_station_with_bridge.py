"""The real bridge and the real station through a real Mosquitto: order in, parcel out, once."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

from sqlalchemy import func, select
from station_harness import MUG, TEA, StationRun, bridge_stand_in, running_station, wait_for

from cloud_bridge.broker_settings import DEFAULT_INSTANCE, control_client_id
from cloud_bridge.config import parse_bridge_config
from cloud_bridge.db.models import (
    Account,
    Debtor,
    Location,
    OrderState,
    Product,
    SalesOrder,
    Shipment,
    StockItem,
)
from cloud_bridge.runtime import Bridge
from cloud_bridge.services.orders import NewLine, NewOrder, create_order
from edge.contract import StationId
from firmware_sim.broker import MosquittoBroker
from firmware_sim.gpio import GpioRig
from firmware_sim.secure_site import SiteCredentials
from firmware_sim.sim_station import SCANNER_PRODUCT_ID, SCANNER_VENDOR_ID, sim_station_config
from firmware_sim.usb import SimulatedHidScanner, SimulatedUsbBackend
from firmware_sim.zebra.server import ZebraTcpServer


def bridge_for(
    station_id: StationId,
    broker: MosquittoBroker,
    credentials: SiteCredentials,
    directory: Path,
) -> Bridge:
    """The real bridge (default instance, ``main``) on the broker's TLS listener."""
    config = parse_bridge_config(
        {
            "bridge": {
                "database_url": f"sqlite:///{directory / 'bridge.db'}",
                "cycle_seconds": 0.5,
            },
            "broker": {
                **credentials.bridge_link(DEFAULT_INSTANCE, broker.tls_url),
                "backoff_max_s": 1.0,
            },
            "http": {},
            "routing": {"stations": [station_id.client_id]},
            "stations": {station_id.client_id: {"slots": {"MUG": "A1", "TEA": "A2"}}},
        }
    )
    return Bridge(config)


def seed(bridge: Bridge) -> None:
    with bridge.sessions() as session, session.begin():
        session.add(Location(id="L1"))
        session.add(Account(id="ACME", name="Acme"))
        session.add(Debtor(debtor_no="D1", name="Acme Ltd", credit_line=Decimal("1000")))
        session.add(Product(sku="MUG", gtin=MUG, unit_price=Decimal("8")))
        session.add(Product(sku="TEA", gtin=TEA, unit_price=Decimal("4")))
        session.flush()
        session.add(StockItem(account_id="ACME", sku="MUG", location_id="L1", on_hand=10))
        session.add(StockItem(account_id="ACME", sku="TEA", location_id="L1", on_hand=10))
        create_order(
            session,
            NewOrder(
                order_no="SO-42",
                account_id="ACME",
                invoice_debtor_no="D1",
                lines=(
                    NewLine("1", "MUG", 2, Decimal("8")),
                    NewLine("2", "TEA", 1, Decimal("4")),
                ),
                deliver_to_name="Harbour Cafe Ltd",
                deliver_to_line1="12 Quay Street",
                deliver_to_city="Bristol",
                deliver_to_postal_code="BS1 4DJ",
                deliver_to_country="GB",
                carrier="DPD",
            ),
        )


@contextlib.asynccontextmanager
async def running_bridge(bridge: Bridge) -> AsyncIterator[Bridge]:
    ready = asyncio.Event()
    task = asyncio.create_task(bridge.run(ready=ready.set))
    try:
        await asyncio.wait_for(ready.wait(), 15)
        yield bridge
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        bridge.engine.dispose()


async def test_an_order_flows_from_the_bridge_to_the_packer_and_ships_once(
    mosquitto: MosquittoBroker,
    site_credentials: SiteCredentials,
    station_id: StationId,
    tmp_path: Path,
) -> None:
    bridge = bridge_for(station_id, mosquitto, site_credentials, tmp_path)
    watcher = site_credentials.credentials(control_client_id("test"), "bridge")
    seed(bridge)
    gpio = GpioRig()
    backend = SimulatedUsbBackend()
    scanner = SimulatedHidScanner(vendor_id=SCANNER_VENDOR_ID, product_id=SCANNER_PRODUCT_ID)
    backend.plug(scanner)
    async with (
        running_bridge(bridge),
        ZebraTcpServer(port=0) as zebra,
        bridge_stand_in(station_id, mosquitto.tls_port, watcher.tls_context()) as observer,
    ):
        observer.acking = False  # only watching: the real bridge acknowledges
        config = sim_station_config(
            station_id,
            broker_url=mosquitto.tls_url,
            broker_link=site_credentials.station_link(station_id, mosquitto.tls_url),
            printer_port=zebra.port,
            state_dir=tmp_path / "station",
        )
        async with running_station(config, gpio, backend) as (station, task):
            run = StationRun(station, gpio, scanner, zebra, observer, task)
            await wait_for(
                lambda: station.allocations.get("SO-42") is not None, "the bridge's allocation"
            )
            run.scan("SO-42")
            for slot, gtin in (("A1", MUG), ("A2", TEA)):
                await run.until_glows(slot)
                run.scan(gtin[1:], "]E0")
                await asyncio.sleep(0.15)
                await run.press(slot)
                await run.until_glows(slot, expected=False)
            await wait_for(lambda: len(zebra.model.printed) == 1, "the label")
            await wait_for(lambda: station.outbox.stats().depth == 0, "the bridge's ack", 20)

    with bridge.sessions() as session:
        order = session.get(SalesOrder, "SO-42")
        assert order is not None
        assert order.state is OrderState.SHIPPED
        assert [line.shipped_quantity for line in order.lines] == [2, 1]
        assert session.scalar(select(func.count()).select_from(Shipment)) == 1
        stock = dict(session.execute(select(StockItem.sku, StockItem.on_hand)).all())
        assert stock == {"MUG": 8, "TEA": 9}
    gpio.reset()
