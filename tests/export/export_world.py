"""A bridge with a day's trade in its books, made through the bridge's own services.

Account A owns the stock and borrows from linked account B; its MUG stock is short, so MUG is
partly borrowed. Orders are created and allocated by the services, packed by station events
applied through ingest (scan, picks, label printed, completed, then a reprint and a void), cancelled
through the order service, corrected through the correction service, and posted to the Sage
sandbox over HTTP by the posting service.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sage_world import SageWorld
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud_bridge.db.models import (
    Account,
    AccountLink,
    Shipment,
    StockItem,
)
from cloud_bridge.ingest import Outcome, ingest_event
from cloud_bridge.posting.corrections import correct_shipment
from cloud_bridge.services.allocate import allocate
from cloud_bridge.services.orders import NewLine, NewOrder, cancel_order, create_order
from cloud_bridge.services.settings import BridgeSettings
from edge.contract import (
    LabelPrinted,
    LabelReprinted,
    LabelVoided,
    LinePicked,
    OrderCompleted,
    OrderScanned,
    StationEvent,
)
from edge.station.sscc import compose_sscc

STATION = "w1.st01"
PRICE = Decimal("19.99")
TAX = Decimal("0.20")
GTINS = {"MUG": "05012345678900", "TEA": "04006381333931", "PEN": "09501101530003"}
_SETTINGS = BridgeSettings(check_credit_line=False)
COMPANY_PREFIX = "5012345"


def sscc_of(order_no: str) -> str:
    """The SSCC the station gives the parcel of ``SO-<n>``: serial reference n."""
    return compose_sscc(0, COMPANY_PREFIX, int(order_no.removeprefix("SO-")))


def label_of(order_no: str) -> str:
    """The label id the station prints for the order's parcel: ``L`` and its SSCC."""
    return f"L{sscc_of(order_no)}"


@dataclass
class ExportWorld:
    """The Sage world's bridge, with a lender account and a station that packs orders."""

    sage: SageWorld
    seq: dict[str, int] = field(default_factory=dict)
    orders: int = 0

    def lend_mugs(self) -> None:
        """A keeps 2 MUG; linked account B holds 50 and lends when A runs short."""
        with self.sage.sessions.begin() as session:
            session.add(Account(id="B", name="Account B"))
            session.flush()
            session.add(StockItem(account_id="B", sku="MUG", location_id="L1", on_hand=50))
            session.add(AccountLink(account_id="A", linked_account_id="B", position=0))
            lender = session.get_one(Account, "A")
            lender.order_from_linked = True
            lender.pick_from_linked_if_unavailable = True
            mugs = session.scalars(
                select(StockItem).where(StockItem.account_id == "A", StockItem.sku == "MUG")
            ).one()
            mugs.on_hand = 2

    def order(self, lines: list[tuple[str, int]], *, session: Session | None = None) -> str:
        """A new order of A, priced 19.99 a unit with 20 % tax, allocated at once.

        In ``session`` (left uncommitted) when one is given, else in a transaction of its own.
        """
        self.orders += 1
        order_no = f"SO-{self.orders}"
        if session is not None:
            self._create(session, order_no, lines)
            return order_no
        with self.sage.sessions.begin() as own:
            self._create(own, order_no, lines)
        return order_no

    def _create(self, session: Session, order_no: str, lines: list[tuple[str, int]]) -> None:
        now = datetime.now(UTC)
        create_order(
            session,
            NewOrder(
                order_no=order_no,
                account_id="A",
                invoice_debtor_no="D1",
                lines=tuple(
                    NewLine(
                        line_id=str(number), sku=sku, quantity=units, unit_price=PRICE, tax_rate=TAX
                    )
                    for number, (sku, units) in enumerate(lines, start=1)
                ),
                deliver_to_name="Harbour Cafe Ltd",
                deliver_to_line1="12 Quay Street",
                deliver_to_city="Bristol",
                deliver_to_postal_code="BS1 4DJ",
                deliver_to_country="GB",
                carrier="DPD",
            ),
            now=now,
        )
        session.flush()
        allocate(session, _SETTINGS, now=now, order_nos=[order_no])

    def cancel(self, order_no: str) -> None:
        with self.sage.sessions.begin() as session:
            cancel_order(session, order_no, "customer changed their mind")

    def send(
        self,
        event_type: type[StationEvent],
        order_no: str,
        *,
        station: str = STATION,
        session: Session | None = None,
        **fields: Any,
    ) -> None:
        """One station event, applied through ingest as the bridge applies what arrives.

        In ``session`` (left uncommitted) when one is given, else in a transaction of its own.
        """
        self.seq[station] = self.seq.get(station, 0) + 1
        event = event_type(
            event_id=uuid.uuid4(),
            seq=self.seq[station],
            at=datetime.now(UTC),
            order_id=order_no,
            **fields,
        )
        if session is not None:
            result = ingest_event(session, station, event)
            session.flush()
        else:
            with self.sage.sessions.begin() as own:
                result = ingest_event(own, station, event)
        assert result.outcome is Outcome.APPLIED

    @property
    def events(self) -> int:
        """How many events every station has sent."""
        return sum(self.seq.values())

    def start_packing(
        self, order_no: str, picks: list[tuple[str, str, int]], *, station: str = STATION
    ) -> None:
        """Scan the order, pick every (line, sku, units) and print its label."""
        self.send(OrderScanned, order_no, station=station, order_version=1)
        for line_id, sku, units in picks:
            self.send(
                LinePicked,
                order_no,
                station=station,
                line_id=line_id,
                sku=sku,
                gtin=GTINS[sku],
                slot="A1",
                quantity=units,
            )
        self.send(
            LabelPrinted,
            order_no,
            station=station,
            label_id=label_of(order_no),
            carrier="DPD",
            tracking_number=f"TRK-{order_no}",
        )

    def complete(
        self, order_no: str, *, station: str = STATION, session: Session | None = None
    ) -> int:
        """Complete the order at the station: the id of the shipment it made."""
        self.send(
            OrderCompleted,
            order_no,
            station=station,
            session=session,
            order_version=1,
            label_id=label_of(order_no),
            carrier="DPD",
            tracking_number=f"TRK-{order_no}",
        )
        reader = session or self.sage.sessions()
        shipment = reader.scalars(
            select(Shipment.id).where(Shipment.order_no == order_no).order_by(Shipment.id.desc())
        ).first()
        if session is None:
            reader.close()
        assert shipment is not None
        return shipment

    def pack(self, order_no: str, picks: list[tuple[str, str, int]]) -> int:
        """Scan, pick, print and complete: the id of the shipment."""
        self.start_packing(order_no, picks)
        return self.complete(order_no)

    def reprint_and_void(self, order_no: str) -> None:
        label = label_of(order_no)
        self.send(LabelReprinted, order_no, label_id=label, reason="smudged")
        self.send(LabelVoided, order_no, label_id=label, reason="parcel re-packed")

    def correct(self, shipment_id: int, quantities: dict[str, int]) -> None:
        with self.sage.sessions.begin() as session:
            correct_shipment(
                session,
                shipment_id,
                quantities,
                reason="one mug came back broken",
                now=datetime.now(UTC),
            )

    async def post(self) -> None:
        """One pass of the posting service against the Sage sandbox."""
        async with self.sage.service() as service:
            await service.run_pass()


async def trade(world: ExportWorld) -> dict[str, Any]:
    """SO-1 ships (MUG partly borrowed from B), is relabelled and posted; SO-2 is cancelled;
    SO-3 stays allocated; SO-4 ships, is posted, then corrected down (so it is open again) and
    credited. SO-3 and SO-4 are not settled, so neither they nor SO-3's allocation export yet."""
    shipped = world.order([("MUG", 5), ("TEA", 2)])
    cancelled = world.order([("TEA", 1)])
    open_order = world.order([("TEA", 3)])
    corrected = world.order([("PEN", 2)])
    shipment = world.pack(shipped, [("1", "MUG", 5), ("2", "TEA", 2)])
    world.reprint_and_void(shipped)
    corrected_shipment = world.pack(corrected, [("1", "PEN", 2)])
    await world.post()
    world.correct(corrected_shipment, {"1": 1})
    await world.post()
    world.cancel(cancelled)
    return {
        "shipped": shipped,
        "cancelled": cancelled,
        "open": open_order,
        "corrected": corrected,
        "shipment": shipment,
        "corrected_shipment": corrected_shipment,
    }
