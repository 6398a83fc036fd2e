"""The real code each fuzz example runs through, and the rule it must keep.

Every target takes one example and returns an `Outcome` (accepted, or rejected with its reason);
a broken rule raises `FuzzFailure`, and any other exception escaping is a failure too. The
handler targets are the real station and bridge objects, fed in-process through the entry points
their MQTT loops call, on temporary state (TinyDB, SQLite); each one also has a ``sentinel``
check: a valid message after the garbage must still be applied.
"""

from __future__ import annotations

import asyncio
import re
import tempfile
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import tomli_w

from edge.contract import (
    ContractError,
    OrderAllocated,
    OrderLine,
    OrderScanned,
    StationBirth,
    StationEvent,
    StationId,
    TopicKind,
    decode,
    decode_for,
    encode,
    station_topic,
)
from edge.contract.fields import gtin_check_digit
from edge.drivers.printer.errors import LabelDataError
from edge.drivers.printer.label_config import LabelSettings
from edge.drivers.printer.labels import (
    Address,
    ShippingLabel,
    format_definition,
    printable_text,
    render_label,
)
from edge.drivers.scanner.assembler import DiscardedScan, Scan, ScanAssembler
from edge.drivers.scanner.hid import ReportDecoder
from edge.drivers.scanner.keymaps import keymap_for
from edge.station.scans import classify_scan
from edge.station.workflow import (
    BadScan,
    ItemScan,
    OrderScan,
    WorkflowState,
    step,
)
from firmware_sim.fuzz.strategies import AT, GTINS, FuzzPayload
from firmware_sim.usb.keyboard import KeyStroke, reports_for
from firmware_sim.zebra.zpl import ParsedLabel, StoredFormat, ZplStreamReader

__all__ = [
    "FUZZ_STATION",
    "BridgeTarget",
    "FuzzFailure",
    "IngestTarget",
    "LabelFields",
    "Outcome",
    "StationTarget",
    "check_decode",
    "check_hid_stream",
    "check_label",
    "check_scan",
    "reason_of",
    "valid_allocation",
]

FUZZ_STATION = StationId(site="fuzz", station="st01")
"""The station every fuzzed message is addressed to."""
SLOTS = ("A1", "A2", "A3", "B1", "B2")
"""The simulated station's slots (firmware_sim.sim_station)."""


class FuzzFailure(AssertionError):
    """A target broke its rule; the message says which rule and what happened instead."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a target did with one example: accepted it, or rejected it with ``reason``."""

    accepted: bool
    reason: str | None = None


def reason_of(error: BaseException) -> str:
    """A rejection's reason, short and with numbers folded, so like reasons count together."""
    first = str(error).split(";")[0]
    folded = re.sub(r"\d+", "N", first)
    folded = re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", folded)
    return folded[:80]


def _check_rejection(example: FuzzPayload, error: ContractError, where: str) -> Outcome:
    text = str(error)
    if example.must_accept:
        raise FuzzFailure(f"{where}: a valid {example.kind.value} message was rejected: {text}")
    if not text:
        raise FuzzFailure(f"{where}: rejected without a reason")
    if example.field is not None:
        wanted = "payload" if example.field == "payload" else example.field
        if wanted not in text:
            raise FuzzFailure(f"{where}: the rejection {text!r} does not name {wanted!r}")
    elif not (text.startswith("payload") or ":" in text):
        raise FuzzFailure(f"{where}: the rejection {text!r} names no field and no payload fault")
    return Outcome(False, reason_of(error))


def check_decode(example: FuzzPayload) -> Outcome:
    """Both ends' decode path: the bridge's ``decode`` by topic, the station's ``decode_for``."""
    topic = station_topic(FUZZ_STATION, example.kind)
    outcomes = []
    for where, run in (
        ("decode", lambda: decode(topic, example.payload)),
        ("decode_for", lambda: decode_for(example.kind, example.payload)),
    ):
        try:
            run()
        except ContractError as error:
            outcomes.append(_check_rejection(example, error, where))
            continue
        if example.must_reject:
            raise FuzzFailure(f"{where} accepted a payload it must reject: {example!r}")
        outcomes.append(Outcome(True))
    if outcomes[0].accepted != outcomes[1].accepted:
        raise FuzzFailure(f"decode and decode_for disagree on {example!r}: {outcomes}")
    return outcomes[0]


def _decodes(kind: TopicKind, payload: bytes) -> ContractError | None:
    try:
        decode_for(kind, payload)
    except ContractError as error:
        return error
    return None


# --- the station --------------------------------------------------------------------------------


def valid_allocation(order_id: str) -> OrderAllocated:
    """An allocation the simulated station can pack (every line in one of its slots)."""
    return OrderAllocated(
        order_id=order_id,
        version=1,
        at=datetime.now(UTC),
        lines=tuple(
            OrderLine(line_id=str(n), sku=f"SKU{n}", gtin=gtin, quantity=1, slot=SLOTS[n])
            for n, gtin in enumerate(GTINS)
        ),
    )


class _InProcess:
    """A private event loop and temporary directory for one target; use it with ``with``."""

    def __init__(self) -> None:
        self._runner = asyncio.Runner()
        self._directory = tempfile.TemporaryDirectory(prefix="packline-fuzz-")
        self.directory = Path(self._directory.name)

    def run(self, coroutine: Any) -> Any:
        return self._runner.run(coroutine)

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def open(self) -> None:
        """Build the target (subclasses)."""

    def close(self) -> None:
        self._runner.close()
        self._directory.cleanup()


class StationTarget(_InProcess):
    """The real `Station` (with its fleet agent) and its `Uplink`, not connected to a broker.

    Payloads go through the uplink's message dispatch, exactly as its MQTT reader hands them on;
    the station's hardware is not opened, so commands that need it are no-ops.
    """

    def open(self) -> None:
        from edge.fleet.config_push import ConfigPush
        from edge.station.config import parse_station_config
        from edge.station.fleet_agent import FleetAgent
        from edge.station.runtime import Station
        from firmware_sim.sim_station import sim_station_document

        state_dir = self.directory / "state"
        document = sim_station_document(
            FUZZ_STATION,
            broker_url="mqtt://127.0.0.1:1",
            printer_port=1,
            state_dir=state_dir,
        )
        toml = self.directory / "station.toml"
        toml.write_text(tomli_w.dumps(document))
        config = parse_station_config(document)
        state_dir.mkdir(parents=True, exist_ok=True)
        agent = FleetAgent(
            config_push=ConfigPush(toml, state_dir), home=None, software_version="0.0.0"
        )
        self.station = Station(config, fleet=agent)
        self.uplink = self.run(self._attach())
        self._orders = 0

    async def _attach(self) -> Any:
        return self.station.attach_uplink()

    def close(self) -> None:
        self.station.close()
        super().close()

    def feed(self, example: FuzzPayload) -> Outcome:
        """Deliver one payload; a payload the contract refuses must be counted as rejected."""
        before = self.station.rejected_messages
        topic = station_topic(FUZZ_STATION, example.kind)
        self.run(self.uplink.dispatch(topic, example.payload))
        counted = self.station.rejected_messages - before
        error = _decodes(example.kind, example.payload)
        if error is not None:
            if counted != 1:
                raise FuzzFailure(f"station: rejection counted {counted} times, not once: {error}")
            return Outcome(False, reason_of(error))
        if counted:
            return Outcome(False, f"refused by the station ({example.kind.value})")
        return Outcome(True)

    def sentinel(self) -> None:
        """A valid allocation after the garbage is still cached."""
        self._orders += 1
        order_id = f"FUZZ-{self._orders}-{uuid.uuid4().hex[:6]}"
        payload = encode(valid_allocation(order_id))
        topic = station_topic(FUZZ_STATION, TopicKind.ALLOCATION)
        self.run(self.uplink.dispatch(topic, payload))
        if self.station.allocations.get(order_id) is None:
            raise FuzzFailure("station: a valid allocation after the fuzzed ones was not cached")


# --- the bridge ---------------------------------------------------------------------------------


def _bridge_document(directory: Path) -> dict[str, Any]:
    return {
        "bridge": {"instance": "fuzz", "database_url": f"sqlite:///{directory / 'bridge.db'}"},
        "broker": {"url": "mqtt://127.0.0.1:1"},
        "http": {},
        "routing": {"stations": [FUZZ_STATION.client_id]},
        "stations": {FUZZ_STATION.client_id: {"slots": {"SKU0": "A1"}}},
        "fleet": {},
    }


class IngestTarget(_InProcess):
    """The bridge's ingest (contract decode, then the sequencer and `apply_event`) on SQLite.

    An event that decodes is applied as the next of the station's sequence, so its effect on the
    books runs whatever seq it carried; ``SO-1`` exists with the sample's lines. Counting by the
    consumer is checked through a real broker by the tests (`ConsumerStats.rejected`).
    """

    def open(self) -> None:
        from cloud_bridge.db import make_engine, session_factory, upgrade

        self.engine = make_engine(f"sqlite:///{self.directory / 'ingest.db'}")
        upgrade(self.engine)
        self.sessions = session_factory(self.engine)
        with self.sessions.begin() as session:
            _seed_order(session)
        self._next_seq = 1
        self._stations = 0

    def close(self) -> None:
        self.engine.dispose()
        super().close()

    def feed(self, example: FuzzPayload) -> Outcome:
        """Decode on the event topic; what decodes must apply without an exception."""
        from cloud_bridge.ingest import ingest

        topic = station_topic(FUZZ_STATION, example.kind)
        try:
            decoded = decode(topic, example.payload)
        except ContractError as error:
            return _check_rejection(example, error, "ingest decode")
        if not isinstance(decoded.message, StationEvent):
            return Outcome(False, f"not an event ({type(decoded.message).__name__})")
        event = decoded.message.model_copy(update={"seq": self._next_seq})
        result = ingest(self.sessions, FUZZ_STATION.client_id, event, now=AT)
        if result.highest_seq != self._next_seq:
            raise FuzzFailure(f"ingest: event seq {self._next_seq} left the cursor at {result}")
        self._next_seq += 1
        return Outcome(True)

    def sentinel(self) -> None:
        """A valid first event of a new station is applied and moves its cursor."""
        from cloud_bridge.ingest import ingest, read_cursor

        self._stations += 1
        station = f"fuzz.s{self._stations}"
        event = OrderScanned(event_id=uuid.uuid4(), seq=1, at=AT, order_id="SO-1", order_version=1)
        ingest(self.sessions, station, event, now=AT)
        with self.sessions.begin() as session:
            if read_cursor(session, station) != 1:
                raise FuzzFailure("ingest: a valid event after the fuzzed ones was not applied")


def _seed_order(session: Any) -> None:
    """Order SO-1 released to the fuzz station: line 1 is 2 x MUG (the samples' line)."""
    from decimal import Decimal

    from cloud_bridge.db.models import (
        Account,
        Debtor,
        Location,
        OrderState,
        Product,
        SalesOrder,
        StockItem,
    )
    from cloud_bridge.services.orders import NewLine, NewOrder, create_order

    session.add(Location(id="L1"))
    session.add(Account(id="A", name="Account A"))
    session.add(Debtor(debtor_no="D1", name="Debtor D1"))
    session.add(Product(sku="MUG", gtin=GTINS[0], pack_size=1, unit_price=Decimal(10)))
    session.flush()
    session.add(StockItem(account_id="A", sku="MUG", location_id="L1", on_hand=100))
    create_order(
        session,
        NewOrder(
            order_no="SO-1",
            account_id="A",
            invoice_debtor_no="D1",
            lines=(NewLine(line_id="1", sku="MUG", quantity=2, unit_price=Decimal(10)),),
            deliver_to_name="Harbour Cafe Ltd",
            deliver_to_line1="12 Quay Street",
            deliver_to_city="Bristol",
            deliver_to_postal_code="BS1 4DJ",
            deliver_to_country="GB",
            carrier="DPD",
        ),
        now=AT,
    )
    session.flush()
    order = session.get_one(SalesOrder, "SO-1")
    order.state = OrderState.RELEASED
    order.station_id = FUZZ_STATION.client_id


class BridgeTarget(_InProcess):
    """The bridge's state, status, fleet-report and fetch-request handling, on temporary SQLite."""

    def open(self) -> None:
        from cloud_bridge.config import parse_bridge_config
        from cloud_bridge.runtime import Bridge

        config = parse_bridge_config(_bridge_document(self.directory))
        self.bridge = Bridge(config)
        self._births = 0

    def close(self) -> None:
        self.bridge.engine.dispose()
        super().close()

    def feed(self, example: FuzzPayload) -> Outcome:
        """Deliver one payload; the handler must neither raise nor act on a refused one."""
        topic = station_topic(FUZZ_STATION, example.kind)
        before = dict(self.bridge.presence)
        self.run(self.bridge._on_message(topic, example.payload))
        error = _decodes(example.kind, example.payload)
        if error is not None:
            if self.bridge.presence != before:
                raise FuzzFailure(f"bridge: a refused message changed presence: {error}")
            return Outcome(False, reason_of(error))
        return Outcome(True)

    def sentinel(self) -> None:
        """A valid birth of a new station after the garbage marks it online."""
        self._births += 1
        station = StationId(site="fuzz", station=f"b{self._births}")
        birth = StationBirth(bd_seq=1, at=AT, software_version="0.0.0", config_version=0)
        topic = station_topic(station, TopicKind.STATE)
        self.run(self.bridge._on_message(topic, encode(birth)))
        state = self.bridge.presence.get(station.client_id)
        if state is None or not state.online:
            raise FuzzFailure("bridge: a valid birth after the fuzzed messages was not applied")


# --- the scanner and the station's scan handling ------------------------------------------------

_IDLE_RESET_S = 0.5


def _assembler(layout: str, *, symbology: bool, stand_in: str | None) -> ScanAssembler:
    return ScanAssembler(
        ReportDecoder(keymap_for(layout)),  # type: ignore[arg-type]
        terminator="\r",
        gs1_stand_in=stand_in,
        expect_symbology=symbology,
        idle_reset_s=_IDLE_RESET_S,
    )


def check_hid_stream(reports: list[bytes], *, layout: str = "us") -> Outcome:
    """Random reports never raise out of the assembler, and a scan after them still reads."""
    assembler = _assembler(layout, symbology=True, stand_in=None)
    now = 0.0
    discarded = 0
    for report in reports:
        now += 0.001
        for outcome in assembler.feed(report, now):
            if not isinstance(outcome, Scan | DiscardedScan):
                raise FuzzFailure(f"scanner: unexpected outcome {outcome!r}")
            discarded += isinstance(outcome, DiscardedScan)
    now += _IDLE_RESET_S * 2
    text = "5012345678900"
    after: list[Scan | DiscardedScan] = []
    for report in [bytes(8), *_aim_prefixed(text)]:
        after += assembler.feed(report, now)
    scans = [outcome for outcome in after if isinstance(outcome, Scan)]
    if [scan.text for scan in scans] != [text]:
        raise FuzzFailure(f"scanner: after the fuzzed reports a clean scan read as {after!r}")
    return Outcome(discarded == 0, f"{discarded} scan(s) discarded" if discarded else None)


def _aim_prefixed(text: str) -> list[bytes]:
    bracket = KeyStroke(0, 0x30)  # "]" on the US layout
    shift_e = KeyStroke(0x02, 0x08)  # "E"
    zero = KeyStroke(0, 0x27)
    digits = [KeyStroke(0, 0x27 if c == "0" else 0x1E + int(c) - 1) for c in text]
    return reports_for([bracket, shift_e, zero, *digits, KeyStroke(0, 0x28)])


_OPEN = valid_allocation("SO-OPEN")


def _lookup(code: str) -> OrderAllocated | str | None:
    if code in {"SO-OPEN", "T-OPEN"}:
        return _OPEN
    if code == "SO-DONE":
        return "order SO-DONE was completed (version 1)"
    return None


def _valid_gtin(text: str) -> bool:
    return len(text) == 14 and text.isdigit() and gtin_check_digit(text[:-1]) == int(text[-1])


def check_scan(text: str, symbology: str | None = None) -> Outcome:
    """A scan never raises; a malformed or unknown one is the wrong-scan alert, counted."""
    item = classify_scan(text, symbology, _lookup)
    for state in (WorkflowState(), step(WorkflowState(), OrderScan(_OPEN)).state):
        result = step(state, item)
        counts_before, counts_after = state.counts.wrong_scans, result.state.counts.wrong_scans
        if isinstance(item, BadScan):
            alert = result.state.alert
            if alert is None or alert.kind != "unknown_barcode":
                raise FuzzFailure(f"scan {text!r}: refused without the unknown-barcode alert")
            if counts_after != counts_before + 1:
                raise FuzzFailure(f"scan {text!r}: refused but not counted as a wrong scan")
        if isinstance(item, ItemScan) and not _valid_gtin(item.gtin):
            raise FuzzFailure(f"scan {text!r}: read as item {item.gtin!r}, not a valid GTIN-14")
    if isinstance(item, BadScan):
        return Outcome(False, reason_of(ValueError(item.reason)))
    return Outcome(True)


# --- ZPL ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LabelFields:
    """The free text of one label, as a customer or an upstream system could write it."""

    name: str
    lines: tuple[str, ...]
    city: str
    postal_code: str
    country: str
    order_reference: str
    shipment_reference: str
    carrier: str


_SETTINGS = {
    stored: LabelSettings(
        company_prefix="7613032",
        extension_digit=3,
        serial_start=1,
        serial_end=999,
        stored_formats=stored,
    )
    for stored in (False, True)
}
_SSCC_BODY = "37613032000000001"
_SSCC = _SSCC_BODY + str(gtin_check_digit(_SSCC_BODY))
Command = tuple[str, str, bytes]
"""One ZPL command as the simulated printer parses it: prefix, name, parameters."""
_PLAIN = LabelFields("N", ("L1", "L2", "L3", "L4"), "C", "P", "GB", "O", "S", "K")


def _label(fields: LabelFields) -> ShippingLabel:
    return ShippingLabel(
        ship_to=Address(
            name=fields.name,
            lines=fields.lines,
            city=fields.city,
            postal_code=fields.postal_code,
            country=fields.country,
        ),
        order_reference=fields.order_reference,
        shipment_reference=fields.shipment_reference,
        carrier=fields.carrier,
        tracking_number="TRK12345",
        sscc=_SSCC,
    )


def _commands(zpl: str) -> list[Command]:
    """The command sequence the printer's parser sees in one format (read through ``^DF``)."""
    probe = zpl.replace("^XA", "^XA^DFR:PROBE.ZPL^FS", 1)
    events = ZplStreamReader().feed(probe.encode("utf-8"))
    stored = [event for event in events if isinstance(event, StoredFormat)]
    if len(events) != 1 or len(stored) != 1 or stored[0].errors:
        raise FuzzFailure(f"zpl: the format does not parse as one clean format: {events!r}")
    return [(c.prefix, c.name, c.parameters) for c in stored[0].commands]


def _groups(commands: list[Command]) -> tuple[list[Command], list[list[Command]], list[Command]]:
    """Header, one group per field (from its ``^FO`` or ``^FN``), and trailer; data left out."""
    blanked = [(p, n, b"" if n in {"FD", "FV"} else params) for p, n, params in commands]
    header: list[Command] = []
    groups: list[list[Command]] = []
    for command in blanked:
        if command[1] in {"FO", "FN"}:
            groups.append([command])
        elif groups:
            groups[-1].append(command)
        else:
            header.append(command)
    trailer: list[Command] = []
    while groups and groups[-1] and groups[-1][-1][1] != "FS":
        trailer.insert(0, groups[-1].pop())
    return header, groups, trailer


def _same_template(zpl: str, template: str) -> bool:
    """Whether ``zpl`` is ``template`` with some fields left out: same header and trailer, and
    each field's commands exactly those of one template field, in the template's order."""
    header, groups, trailer = _groups(_commands(zpl))
    t_header, t_groups, t_trailer = _groups(_commands(template))
    if header != t_header or trailer != t_trailer:
        return False
    positions = [t_groups.index(group) if group in t_groups else -1 for group in groups]
    return -1 not in positions and positions == sorted(set(positions))


def _printed(zpl: str, definition: str | None) -> ParsedLabel:
    stored: dict[str, StoredFormat] = {}
    reader = ZplStreamReader(recall=stored.get)
    events = []
    if definition is not None:
        for event in reader.feed(definition.encode("utf-8")):
            if not isinstance(event, StoredFormat):
                raise FuzzFailure(f"zpl: the format definition parses as {event!r}")
            stored[event.name] = event
    events = reader.feed(zpl.encode("utf-8"))
    labels = [event for event in events if isinstance(event, ParsedLabel)]
    if len(events) != 1 or len(labels) != 1 or labels[0].errors:
        raise FuzzFailure(f"zpl: the label does not print as one clean label: {events!r}")
    return labels[0]


def check_label(fields: LabelFields) -> Outcome:
    """The label's commands are the template's whatever the text, and the text reads back."""
    for stored, settings in _SETTINGS.items():
        try:
            zpl = render_label(settings, _label(fields))
        except LabelDataError as error:
            return Outcome(False, reason_of(error))
        template = render_label(settings, _label(_PLAIN))
        if not _same_template(zpl, template):
            raise FuzzFailure(f"zpl: the text changed the label's commands:\n{zpl}")
        definition = format_definition(settings) if stored else None
        label = _printed(zpl, definition)
        expected = _expected_texts(fields)
        texts = [field.data for field in label.fields]
        missing = [text for text in expected if text not in texts]
        if missing:
            raise FuzzFailure(f"zpl: printed texts {texts!r} lack {missing!r}")
        if "^CI28" not in zpl:
            raise FuzzFailure("zpl: the label does not select UTF-8 (^CI28)")
    return Outcome(True)


def _expected_texts(fields: LabelFields) -> list[str]:
    printed: list[str] = []
    address = [
        fields.name,
        *fields.lines,
        f"{fields.postal_code} {fields.city}".strip(),
        fields.country,
    ]
    printed += [printable_text(line) for line in address if line]
    printed += [
        printable_text(f"Order: {fields.order_reference}"),
        printable_text(f"Shipment: {fields.shipment_reference}"),
        printable_text(f"Carrier: {fields.carrier}"),
    ]
    return printed
