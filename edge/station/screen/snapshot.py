"""What the packer's screen shows, read from the station as one JSON-ready snapshot.

The snapshot holds no state of its own: it is built fresh from the station (workflow state, the
lights as last shown, the printer, the uplink and the outbox) each time, so the screen can never
disagree with what the station holds. Every value that a colour stands for on the page also
comes with words here (`status`, `headline`), so the page never has to show colour alone.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict

from edge.station.workflow import (
    Abort,
    BadScan,
    ConfirmPress,
    Finalise,
    Input,
    ItemScan,
    OrderScan,
    PickLine,
    RequestReprint,
    ShortageCommand,
    Void,
)

if TYPE_CHECKING:
    from edge.station.runtime import LastScan, Station

__all__ = [
    "IDENTIFY_PATTERN",
    "REFUSAL_KINDS",
    "AlertView",
    "LabelView",
    "LightView",
    "LineView",
    "LinkView",
    "OrderView",
    "PrinterView",
    "ScanOutcome",
    "ScanView",
    "Snapshot",
    "build_snapshot",
]


REFUSAL_KINDS = frozenset(
    {
        "wrong_slot",
        "wrong_item",
        "unknown_barcode",
        "over_pick",
        "scan_first",
        "busy",
        "not_allowed",
    }
)
"""Alert kinds the workflow raises when it refuses an input (`workflow._refuse`)."""


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


LineStatus = Literal["to_pick", "picked", "short", "return"]


class LineView(_View):
    line_id: str
    sku: str
    slot: str
    required: int
    picked: int
    remaining: int
    scanned: int
    short: bool
    to_return: int
    status: LineStatus


class OrderView(_View):
    order_id: str
    tote: str | None
    partial: bool
    phase: str
    shortage_armed: str | None
    units_picked: int
    lines: tuple[LineView, ...]


class LightView(_View):
    slot: str
    pattern: str
    """A light pattern name (pick, wrong_slot, done, error, shortage...), "identify" while the
    slot flashes only so someone can find the station, or "off"."""
    quantity: int | None


class AlertView(_View):
    kind: str
    message: str
    slot: str | None


class PrinterView(_View):
    state: str
    """ok, fault, offline or unknown."""
    detail: str | None
    faults: tuple[str, ...]
    """Each fault in words ("Paper out", "Head open"), read from the printer's detail."""
    headline: str


class LinkView(_View):
    connected: bool
    online: bool
    outbox_depth: int
    outbox_oldest_at: datetime | None
    outbox_oldest_age_s: float | None
    outbox_alarm: bool


ScanOutcome = Literal["checking", "accepted", "refused", "not_recorded"]
"""What the station made of a scan: not yet taken (another input holds the workflow), taken,
refused with an alert (`refusal` says which), or lost to a full outbox."""


class ScanView(_View):
    text: str
    read_as: str
    """order, item, command or bad: what the barcode is, not whether it was the right one."""
    outcome: ScanOutcome
    refusal: str | None
    """The refusing alert's kind (``wrong_item``, ``unknown_barcode``...) when refused."""
    detail: str
    at: datetime
    scan_seq: int


class LabelView(_View):
    order_id: str
    label_id: str
    voided: bool


class Snapshot(_View):
    station_id: str
    version: str
    revision: int
    at: datetime
    phase: str
    order: OrderView | None
    lights: tuple[LightView, ...]
    alert: AlertView | None
    printer: PrinterView
    link: LinkView
    storage_alert: str | None
    counts: dict[str, int]
    last_scan: ScanView | None
    scan_seq: int
    """The last scan's sequence (0 before the first), so a render can be matched to a scan."""
    last_label: LabelView | None


IDENTIFY_PATTERN = "identify"
"""What a slot shows while it flashes only because the station identifies itself: the lights
use their offline flash for it, but on the screen it must not read as off, nor as offline."""

_FAULT_WORDS = {
    "paper_out": "Paper out",
    "head_open": "Head open",
    "ribbon_out": "Ribbon out",
    "paused": "Paused",
    "buffer_full": "Buffer full",
}


def build_snapshot(station: Station) -> Snapshot:
    """Read everything the screen shows from the station, now."""
    state = station.state
    order = state.order
    last = state.last_label
    scan = station.last_scan
    return Snapshot(
        station_id=station.config.station.station_id.client_id,
        version=station.software_version,
        revision=station.revision,
        at=datetime.now(UTC),
        phase=state.phase,
        order=None
        if order is None
        else OrderView(
            order_id=order.order_id,
            tote=order.tote,
            partial=order.partial,
            phase=order.phase.value,
            shortage_armed=order.shortage_armed,
            units_picked=order.units_picked,
            lines=tuple(_line(line) for line in order.lines),
        ),
        lights=_lights(station),
        alert=None
        if state.alert is None
        else AlertView(kind=state.alert.kind, message=state.alert.message, slot=state.alert.slot),
        printer=_printer(*station.printer_state),
        link=_link(station),
        storage_alert=station.storage_alert,
        counts=state.counts.model_dump(),
        last_scan=None if scan is None else _scan(scan),
        scan_seq=0 if scan is None else scan.seq,
        last_label=None
        if last is None
        else LabelView(order_id=last.order_id, label_id=last.label_id, voided=last.voided),
    )


def _line(line: PickLine) -> LineView:
    status: LineStatus
    if line.to_return:
        status = "return"
    elif line.short:
        status = "short"
    elif line.picked >= line.quantity:
        status = "picked"
    else:
        status = "to_pick"
    return LineView(
        line_id=line.line_id,
        sku=line.sku,
        slot=line.slot,
        required=line.quantity,
        picked=line.picked,
        remaining=line.remaining,
        scanned=line.scanned,
        short=line.short,
        to_return=line.to_return,
        status=status,
    )


def _lights(station: Station) -> tuple[LightView, ...]:
    shown = station.lights_shown
    identifying = station.identifying_slots
    views = []
    for slot in station.config.lights.slots:
        pattern, quantity = shown.get(slot, (None, None))
        if pattern is not None:
            name = pattern.value
        elif slot in identifying:
            name = IDENTIFY_PATTERN
        else:
            name = "off"
        views.append(LightView(slot=slot, pattern=name, quantity=quantity))
    return tuple(views)


def _printer(state: str, detail: str | None) -> PrinterView:
    text = (detail or "").lower()
    faults = tuple(
        words
        for name, words in _FAULT_WORDS.items()
        if name in text or name.replace("_", " ") in text
    )
    if faults:
        headline = ", ".join(faults)
    elif state == "ok":
        headline = "Printer ready"
    elif state == "offline":
        headline = "Printer offline"
    elif state == "fault":
        headline = "Printer fault"
    else:
        headline = "Printer not checked yet" if detail is None else "Printer state unknown"
    return PrinterView(state=state, detail=detail, faults=faults, headline=headline)


def _link(station: Station) -> LinkView:
    uplink = station.uplink
    stats = station.outbox.stats()
    oldest = stats.oldest_at
    return LinkView(
        connected=uplink is not None and uplink.connected,
        online=uplink is not None and uplink.online,
        outbox_depth=stats.depth,
        outbox_oldest_at=oldest,
        outbox_oldest_age_s=None
        if oldest is None
        else max(0.0, (datetime.now(UTC) - oldest).total_seconds()),
        outbox_alarm=stats.alarm,
    )


def _scan(scan: LastScan) -> ScanView:
    return ScanView(
        text=scan.text,
        read_as=scan.kind,
        outcome=_scan_outcome(scan),
        refusal=scan.alert if scan.alert in REFUSAL_KINDS else None,
        detail=_scan_detail(scan.input),
        at=scan.at,
        scan_seq=scan.seq,
    )


def _scan_outcome(scan: LastScan) -> ScanOutcome:
    if scan.handled == "pending":
        return "checking"
    if scan.handled == "not_recorded":
        return "not_recorded"
    return "refused" if scan.alert in REFUSAL_KINDS else "accepted"


def _scan_detail(item: Input) -> str:
    """What the scan meant, in words for the packer."""
    match item:
        case OrderScan(allocation):
            return f"order {allocation.order_id}"
        case ItemScan(gtin, _):
            return f"item GTIN {gtin}"
        case BadScan(_, reason):
            return reason
        case ShortageCommand(reason):
            return f"shortage command ({reason})"
        case Finalise() | ConfirmPress():
            return "finalise command"
        case Abort(reason, _):
            return f"abort command ({reason})"
        case RequestReprint():
            return "reprint command"
        case Void():
            return "void command"
    return type(item).__name__
