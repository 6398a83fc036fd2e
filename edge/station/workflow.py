"""The pack-station workflow as a pure state machine: ``step(state, input) -> (state, effects)``.

Nothing here touches hardware, disk or network. The station runtime feeds in what happened (a
classified scan, a button press, an allocation from the bridge, a printer outcome) and carries out
what comes back: events to write to the outbox (in the same storage transaction as the new state,
so a power cut never separates them), sounds, and label jobs. The lights are not effects but a
picture derived from the state (`light_picture`), so after a restart the station shows exactly
what the saved state says: the unconfirmed slots, never a slot it already confirmed.

Rules a packer relies on:

* Scanning an order's id (or its tote) lights every slot of the order with the quantity to take.
* Each item is scanned to verify it against the order lines (GTIN with a valid check digit); the
  lit slot's button then confirms the line and its light goes off. A wrong item, an unknown
  barcode, a press on an unlit slot or an over-pick is refused with an error light and a buzz,
  and changes nothing else.
* A long press on the shortage button (or a shortage command barcode) records a short pick; the
  order is then finalised as a partial shipment with the confirm button.
* When every line is confirmed the label prints and the order completes; reprints, voids and
  aborts are recorded as events.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict

from edge.contract import (
    Delivery,
    LabelPrinted,
    LabelReprinted,
    LabelVoided,
    LinePicked,
    LineReturned,
    OrderAborted,
    OrderAllocated,
    OrderCompleted,
    OrderScanned,
    ShortageReason,
    ShortageRecorded,
    StationEvent,
)
from edge.drivers.lights import PatternName, SignalName

__all__ = [
    "Abort",
    "Alert",
    "AllocationCancelled",
    "AllocationChanged",
    "BadScan",
    "ClearAlert",
    "ConfirmPress",
    "Effect",
    "Emit",
    "Finalise",
    "Flash",
    "Input",
    "ItemScan",
    "LabelFailed",
    "LabelPlan",
    "LabelPlanned",
    "LabelPrintedOk",
    "LastLabel",
    "LightPicture",
    "NeedLabel",
    "OpenOrder",
    "OrderFinished",
    "OrderScan",
    "Phase",
    "PickLine",
    "PrintLabel",
    "ReprintDone",
    "ReprintLabelJob",
    "RequestReprint",
    "ShiftCounts",
    "ShortageCommand",
    "ShortagePress",
    "SlotPress",
    "Sound",
    "Step",
    "Verification",
    "Void",
    "WorkflowState",
    "light_picture",
    "resume",
    "step",
]

Verification = Literal["each", "line", "off"]
"""How items are verified: a scan per unit, one scan per line, or the button alone."""


class Phase(StrEnum):
    """Where the open order stands."""

    PICKING = "picking"
    FINALISING = "finalising"
    """Every line is confirmed or short, at least one short: waiting for the packer to finalise."""
    LABELLING = "labelling"


class _State(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PickLine(_State):
    """One order line and how far the packer got with it."""

    line_id: str
    sku: str
    gtin: str
    slot: str
    quantity: int
    scanned: int = 0
    """Units verified by scan since the line was last confirmed."""
    picked: int = 0
    """Units confirmed (``line_picked`` written) minus units returned."""
    short: bool = False
    to_return: int = 0
    """Units to put back because the bridge reduced the line below what was picked."""

    @property
    def remaining(self) -> int:
        return max(0, self.quantity - self.picked)

    @property
    def closed(self) -> bool:
        return self.to_return == 0 and (self.short or self.picked >= self.quantity)

    @property
    def open_for_picking(self) -> bool:
        return not self.closed and self.to_return == 0


class LabelPlan(_State):
    """The label chosen for an order: its job id, SSCC, carrier and tracking number."""

    label_id: str
    sscc: str
    carrier: str
    tracking_number: str


class OpenOrder(_State):
    """The order on the packing bench."""

    order_id: str
    version: int
    tote: str | None = None
    delivery: Delivery | None = None
    lines: tuple[PickLine, ...]
    phase: Phase = Phase.PICKING
    shortage_armed: ShortageReason | None = None
    label: LabelPlan | None = None

    @property
    def partial(self) -> bool:
        return any(line.short for line in self.lines)

    @property
    def units_picked(self) -> int:
        return sum(line.picked for line in self.lines)

    def line_at(self, slot: str) -> PickLine | None:
        for line in self.lines:
            if line.slot == slot and not line.closed:
                return line
        return None

    def replace_line(self, new: PickLine) -> OpenOrder:
        lines = tuple(new if line.line_id == new.line_id else line for line in self.lines)
        return self.model_copy(update={"lines": lines})


AlertKind = Literal[
    "wrong_slot",
    "wrong_item",
    "unknown_barcode",
    "over_pick",
    "scan_first",
    "busy",
    "not_allowed",
    "printer",
    "return_items",
    "shortage_armed",
    "finalise",
    "cancelled",
    "storage",
]


class Alert(_State):
    """What the packer must read now; the screen shows ``message``, the lights show the kind."""

    kind: AlertKind
    message: str
    slot: str | None = None


class LastLabel(_State):
    """The most recent label, which a reprint or void refers to."""

    order_id: str
    label_id: str
    voided: bool = False


class ShiftCounts(_State):
    """Counters that only go up; published in the station status."""

    orders_completed: int = 0
    picks: int = 0
    shorts: int = 0
    wrong_scans: int = 0
    wrong_slots: int = 0
    reprints: int = 0
    voids: int = 0
    aborts: int = 0

    def bump(self, name: str, by: int = 1) -> ShiftCounts:
        return self.model_copy(update={name: getattr(self, name) + by})


class WorkflowState(_State):
    """Everything the station must remember across a power cut."""

    order: OpenOrder | None = None
    alert: Alert | None = None
    last_label: LastLabel | None = None
    counts: ShiftCounts = ShiftCounts()

    @property
    def phase(self) -> Literal["idle", "picking", "finalising", "labelling"]:
        return "idle" if self.order is None else self.order.phase.value


# --- inputs -------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderScan:
    """A scan that named an order (or its tote) the station holds an allocation for."""

    allocation: OrderAllocated


@dataclass(frozen=True)
class ItemScan:
    """A scan that read as a GTIN with a valid check digit (14 digits, zero-padded)."""

    gtin: str
    text: str


@dataclass(frozen=True)
class BadScan:
    """A scan that is no order, item or command this station knows; ``reason`` says why."""

    text: str
    reason: str


@dataclass(frozen=True)
class SlotPress:
    slot: str


@dataclass(frozen=True)
class ShortagePress:
    """A long press on the shortage button."""


@dataclass(frozen=True)
class ShortageCommand:
    """A shortage command barcode, which carries the reason."""

    reason: ShortageReason


@dataclass(frozen=True)
class ConfirmPress:
    """The confirm button (or the finalise command barcode)."""


@dataclass(frozen=True)
class Finalise:
    """Finalise the order as a partial shipment (the screen's or a command barcode's action)."""


@dataclass(frozen=True)
class Abort:
    reason: Literal["packer_cancelled", "damaged", "other"] = "packer_cancelled"
    note: str | None = None


@dataclass(frozen=True)
class RequestReprint:
    reason: str
    label_id: str | None = None
    """A specific label (from a bridge command); None means the last label."""


@dataclass(frozen=True)
class ReprintDone:
    """The reprint job went to the printer."""

    label_id: str
    order_id: str
    reason: str


@dataclass(frozen=True)
class Void:
    reason: str


@dataclass(frozen=True)
class AllocationChanged:
    """A newer version of the open order arrived from the bridge."""

    allocation: OrderAllocated


@dataclass(frozen=True)
class AllocationCancelled:
    order_id: str
    version: int
    reason: str


@dataclass(frozen=True)
class LabelPlanned:
    """The runtime chose the label (SSCC taken durably) for the order being labelled."""

    plan: LabelPlan


@dataclass(frozen=True)
class LabelPrintedOk:
    label_id: str


@dataclass(frozen=True)
class LabelFailed:
    """The label could not be printed now (a printer fault); it is retried when it clears."""

    label_id: str | None
    detail: str


@dataclass(frozen=True)
class ClearAlert:
    """The alert has been shown long enough."""


Input = (
    OrderScan
    | ItemScan
    | BadScan
    | SlotPress
    | ShortagePress
    | ShortageCommand
    | ConfirmPress
    | Finalise
    | Abort
    | RequestReprint
    | ReprintDone
    | Void
    | AllocationChanged
    | AllocationCancelled
    | LabelPlanned
    | LabelPrintedOk
    | LabelFailed
    | ClearAlert
)

# --- effects ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Emit:
    """Write this fulfilment event to the outbox (stamped there with event id, seq and time)."""

    event_type: type[StationEvent]
    fields: dict[str, object]


@dataclass(frozen=True)
class Sound:
    signal: SignalName


@dataclass(frozen=True)
class NeedLabel:
    """Choose a label (take an SSCC) for the order and feed back `LabelPlanned`."""

    order: OpenOrder


@dataclass(frozen=True)
class PrintLabel:
    """Print the order's label; the job id makes a repeat after a restart a no-op."""

    order: OpenOrder
    plan: LabelPlan


@dataclass(frozen=True)
class ReprintLabelJob:
    label_id: str
    order_id: str
    reason: str


@dataclass(frozen=True)
class OrderFinished:
    """The order left the bench: the allocation cache records how, so a re-send does not reopen
    it."""

    order_id: str
    version: int
    outcome: Literal["completed", "aborted", "cancelled"]


@dataclass(frozen=True)
class Flash:
    """A light pattern that runs its course (the done blink) on slots no longer in the picture."""

    slots: tuple[str, ...]
    pattern: PatternName


Effect = Emit | Sound | NeedLabel | PrintLabel | ReprintLabelJob | OrderFinished | Flash


@dataclass(frozen=True)
class Step:
    state: WorkflowState
    effects: tuple[Effect, ...] = field(default=())


# --- the machine --------------------------------------------------------------------------


def _lines_from(allocation: OrderAllocated) -> tuple[PickLine, ...]:
    return tuple(
        PickLine(
            line_id=line.line_id,
            sku=line.sku,
            gtin=line.gtin.zfill(14),
            slot=line.slot,
            quantity=line.quantity,
        )
        for line in allocation.lines
    )


def _refuse(
    state: WorkflowState,
    kind: AlertKind,
    message: str,
    *,
    slot: str | None = None,
    count: str | None = None,
    signal: SignalName = SignalName.ERROR,
) -> Step:
    counts = state.counts.bump(count) if count else state.counts
    alert = Alert(kind=kind, message=message, slot=slot)
    return Step(state.model_copy(update={"alert": alert, "counts": counts}), (Sound(signal),))


def step(state: WorkflowState, event: Input, *, verification: Verification = "line") -> Step:
    """Apply one input to the state and return the new state and what to do."""
    cleared = state.model_copy(update={"alert": None}) if state.alert else state
    match event:
        case ClearAlert():
            return Step(_keep_standing_alert(state))
        case OrderScan(allocation):
            return _start(cleared, allocation)
        case BadScan(text, reason):
            return _refuse(cleared, "unknown_barcode", f"{text!r}: {reason}", count="wrong_scans")
        case ItemScan():
            return _item(cleared, event, verification)
        case SlotPress(slot):
            return _press(cleared, slot, verification)
        case ShortagePress():
            return _arm_shortage(cleared, "missing")
        case ShortageCommand(reason):
            return _arm_shortage(cleared, reason)
        case ConfirmPress() | Finalise():
            return _finalise(cleared)
        case Abort():
            return _abort(cleared, event)
        case RequestReprint():
            return _reprint(cleared, event)
        case ReprintDone(label_id, order_id, reason):
            emit = Emit(
                LabelReprinted, {"order_id": order_id, "label_id": label_id, "reason": reason}
            )
            counts = cleared.counts.bump("reprints")
            return Step(cleared.model_copy(update={"counts": counts}), (emit,))
        case Void(reason):
            return _void(cleared, reason)
        case AllocationChanged(allocation):
            return _changed(cleared, allocation)
        case AllocationCancelled():
            return _cancelled(cleared, event)
        case LabelPlanned(plan):
            return _planned(cleared, plan)
        case LabelPrintedOk(label_id):
            return _printed(cleared, label_id)
        case LabelFailed(_, detail):
            if state.order is None or state.order.phase is not Phase.LABELLING:
                return Step(state)
            return _refuse(cleared, "printer", f"label not printed: {detail}")
    raise TypeError(f"unknown workflow input {event!r}")  # pragma: no cover - exhaustive


def _keep_standing_alert(state: WorkflowState) -> WorkflowState:
    """Transient alerts time out; those that ask the packer to act stay until acted on."""
    if state.alert is not None and state.alert.kind in {
        "return_items",
        "shortage_armed",
        "finalise",
        "printer",
    }:
        return state
    return state.model_copy(update={"alert": None})


def _start(state: WorkflowState, allocation: OrderAllocated) -> Step:
    if state.order is not None:
        if state.order.order_id == allocation.order_id:
            return Step(state)  # scanning the open order again changes nothing
        return _refuse(
            state,
            "busy",
            f"order {state.order.order_id} is open: finish or abort it before "
            f"starting {allocation.order_id}",
        )
    order = OpenOrder(
        order_id=allocation.order_id,
        version=allocation.version,
        tote=allocation.tote,
        delivery=allocation.delivery,
        lines=_lines_from(allocation),
    )
    emit = Emit(
        OrderScanned, {"order_id": allocation.order_id, "order_version": allocation.version}
    )
    return Step(state.model_copy(update={"order": order}), (emit,))


def _item(state: WorkflowState, scan: ItemScan, verification: Verification) -> Step:
    order = state.order
    if order is None or order.phase is not Phase.PICKING:
        return _refuse(
            state,
            "not_allowed",
            f"item {scan.text} scanned with no order being picked: scan the order first",
            count="wrong_scans",
        )
    matching = [line for line in order.lines if line.gtin == scan.gtin]
    if not matching:
        return _refuse(
            state,
            "wrong_item",
            f"item {scan.text} is not on order {order.order_id}: put it back",
            count="wrong_scans",
        )
    open_lines = [line for line in matching if line.open_for_picking]
    ceiling = (lambda line: line.remaining) if verification == "each" else (lambda _: 1)
    for line in open_lines:
        if line.scanned < ceiling(line):
            updated = line.model_copy(update={"scanned": line.scanned + 1})
            return Step(state.model_copy(update={"order": order.replace_line(updated)}))
    if open_lines and verification != "each":
        return Step(state)  # the line is already verified; scanning it again changes nothing
    line = matching[0]
    return _refuse(
        state,
        "over_pick",
        f"{line.sku}: all {sum(c.quantity for c in matching)} already taken; put this one back",
        slot=line.slot,
        count="wrong_scans",
    )


def _press(state: WorkflowState, slot: str, verification: Verification) -> Step:
    order = state.order
    line = None if order is None else order.line_at(slot)
    if order is None or line is None or order.phase is not Phase.PICKING:
        return _refuse(
            state,
            "wrong_slot",
            f"slot {slot} is not lit: nothing to take from it",
            slot=slot,
            count="wrong_slots",
            signal=SignalName.WRONG_SLOT,
        )
    if line.to_return:
        return _returned(state, order, line)
    if order.shortage_armed is not None:
        return _short(state, order, line, order.shortage_armed)
    needed = {"each": line.remaining, "line": 1, "off": 0}[verification]
    if line.scanned < needed:
        return _refuse(
            state,
            "scan_first",
            f"slot {slot}: scan the item first ({line.sku}, {line.scanned} of {needed} scanned)",
            slot=slot,
        )
    quantity = line.remaining
    updated = line.model_copy(update={"picked": line.quantity, "scanned": 0})
    emit = Emit(
        LinePicked,
        {
            "order_id": order.order_id,
            "line_id": line.line_id,
            "sku": line.sku,
            "gtin": line.gtin,
            "slot": line.slot,
            "quantity": quantity,
        },
    )
    counts = state.counts.bump("picks")
    return _after_line_closed(
        state.model_copy(update={"order": order.replace_line(updated), "counts": counts}),
        (emit,),
    )


def _returned(state: WorkflowState, order: OpenOrder, line: PickLine) -> Step:
    emit = Emit(
        LineReturned,
        {
            "order_id": order.order_id,
            "line_id": line.line_id,
            "sku": line.sku,
            "slot": line.slot,
            "quantity": line.to_return,
        },
    )
    updated = line.model_copy(update={"picked": line.picked - line.to_return, "to_return": 0})
    new_order = order.replace_line(updated)
    if updated.quantity == 0:
        new_order = new_order.model_copy(
            update={"lines": tuple(x for x in new_order.lines if x.line_id != line.line_id)}
        )
    return _after_line_closed(state.model_copy(update={"order": new_order}), (emit,))


def _short(state: WorkflowState, order: OpenOrder, line: PickLine, reason: ShortageReason) -> Step:
    found = min(line.picked + line.scanned, line.quantity - 1)
    emit = Emit(
        ShortageRecorded,
        {
            "order_id": order.order_id,
            "line_id": line.line_id,
            "sku": line.sku,
            "slot": line.slot,
            "expected_quantity": line.quantity,
            "found_quantity": found,
            "reason": reason,
        },
    )
    updated = line.model_copy(update={"short": True, "picked": found, "scanned": 0})
    new_order = order.replace_line(updated).model_copy(update={"shortage_armed": None})
    counts = state.counts.bump("shorts")
    return _after_line_closed(
        state.model_copy(update={"order": new_order, "counts": counts}), (emit,)
    )


def _after_line_closed(state: WorkflowState, effects: tuple[Effect, ...]) -> Step:
    order = state.order
    assert order is not None
    if not all(line.closed for line in order.lines) or order.phase is not Phase.PICKING:
        return Step(state, effects)
    if order.partial:
        finalising = order.model_copy(update={"phase": Phase.FINALISING})
        alert = Alert(
            kind="finalise",
            message=(
                f"order {order.order_id} is short: press confirm to ship "
                f"{order.units_picked} unit(s) as a partial shipment, or abort"
            ),
        )
        return Step(state.model_copy(update={"order": finalising, "alert": alert}), effects)
    return _to_labelling(state, effects)


def _to_labelling(state: WorkflowState, effects: tuple[Effect, ...]) -> Step:
    order = state.order
    assert order is not None
    labelling = order.model_copy(update={"phase": Phase.LABELLING})
    new_state = state.model_copy(update={"order": labelling})
    return Step(new_state, (*effects, NeedLabel(labelling)))


def _arm_shortage(state: WorkflowState, reason: ShortageReason) -> Step:
    order = state.order
    if order is None or order.phase is not Phase.PICKING:
        return _refuse(state, "not_allowed", "no order is being picked: nothing can be short")
    open_lines = [line for line in order.lines if line.open_for_picking]
    if len(open_lines) == 1:
        return _short(state, order, open_lines[0], reason)
    armed = order.model_copy(update={"shortage_armed": reason})
    alert = Alert(
        kind="shortage_armed",
        message=f"shortage ({reason}): press the button of the slot that is short",
    )
    return Step(state.model_copy(update={"order": armed, "alert": alert}))


def _finalise(state: WorkflowState) -> Step:
    order = state.order
    if order is None:
        return _refuse(state, "not_allowed", "no order is open: nothing to finalise")
    if order.phase is Phase.PICKING and order.shortage_armed is not None:
        disarmed = order.model_copy(update={"shortage_armed": None})
        return Step(state.model_copy(update={"order": disarmed}))
    if order.phase is not Phase.FINALISING:
        if order.phase is Phase.PICKING:
            still_open = sum(1 for line in order.lines if not line.closed)
            return _refuse(
                state,
                "not_allowed",
                f"{still_open} line(s) still open: pick them or record them short first",
            )
        return Step(state)
    if order.units_picked == 0:
        return _end_order(
            state,
            Emit(
                OrderAborted,
                {"order_id": order.order_id, "reason": "shortage", "note": "nothing was found"},
            ),
            outcome="aborted",
            count="aborts",
        )
    return _to_labelling(state, ())


def _end_order(
    state: WorkflowState,
    emit: Emit,
    *,
    outcome: Literal["aborted", "cancelled"],
    count: str | None,
    alert: Alert | None = None,
) -> Step:
    order = state.order
    assert order is not None
    counts = state.counts.bump(count) if count else state.counts
    finished = OrderFinished(order.order_id, order.version, outcome)
    new_state = state.model_copy(update={"order": None, "alert": alert, "counts": counts})
    return Step(new_state, (emit, finished))


def _return_alert(order: OpenOrder, why: str) -> Alert | None:
    picked = [line for line in order.lines if line.picked]
    if not picked:
        return None
    items = ", ".join(f"{line.picked} x {line.sku} to {line.slot}" for line in picked)
    return Alert(kind="return_items", message=f"{why}: put back {items}")


def _abort(state: WorkflowState, abort: Abort) -> Step:
    order = state.order
    if order is None:
        return _refuse(state, "not_allowed", "no order is open: nothing to abort")
    if order.phase is Phase.LABELLING:
        return _refuse(
            state,
            "not_allowed",
            f"order {order.order_id} is being labelled: void the label instead of aborting",
        )
    emit = Emit(
        OrderAborted, {"order_id": order.order_id, "reason": abort.reason, "note": abort.note}
    )
    alert = _return_alert(order, f"order {order.order_id} aborted")
    return _end_order(state, emit, outcome="aborted", count="aborts", alert=alert)


def _cancelled(state: WorkflowState, cancel: AllocationCancelled) -> Step:
    order = state.order
    if order is None or order.order_id != cancel.order_id or cancel.version < order.version:
        return Step(state)
    if order.phase is Phase.LABELLING:
        return Step(state)  # packed and labelling: the bridge sees the completion and decides
    emit = Emit(
        OrderAborted,
        {"order_id": order.order_id, "reason": "cancelled_by_bridge", "note": cancel.reason},
    )
    alert = _return_alert(order, f"order {order.order_id} was cancelled ({cancel.reason})")
    if alert is None:
        alert = Alert(kind="cancelled", message=f"order {order.order_id} was cancelled")
    return _end_order(state, emit, outcome="cancelled", count=None, alert=alert)


def _changed(state: WorkflowState, allocation: OrderAllocated) -> Step:
    order = state.order
    if (
        order is None
        or order.order_id != allocation.order_id
        or allocation.version <= order.version
        or order.phase is Phase.LABELLING
    ):
        return Step(state)
    old = {line.line_id: line for line in order.lines}
    lines: list[PickLine] = []
    for fresh in _lines_from(allocation):
        before = old.pop(fresh.line_id, None)
        if before is None:
            lines.append(fresh)
            continue
        to_return = max(0, before.picked - fresh.quantity) + before.to_return
        short = before.short and fresh.quantity > before.picked
        lines.append(
            before.model_copy(
                update={
                    "sku": fresh.sku,
                    "gtin": fresh.gtin,
                    "slot": fresh.slot,
                    "quantity": fresh.quantity,
                    "to_return": to_return,
                    "short": short,
                    "scanned": min(before.scanned, fresh.quantity),
                }
            )
        )
    for dropped in old.values():
        if dropped.picked or dropped.to_return:
            lines.append(
                dropped.model_copy(
                    update={"quantity": 0, "to_return": dropped.picked, "short": False}
                )
            )
    changed = order.model_copy(
        update={
            "version": allocation.version,
            "tote": allocation.tote,
            "delivery": allocation.delivery,
            "lines": tuple(lines),
            "phase": Phase.PICKING,
            "shortage_armed": None,
        }
    )
    new_state = state.model_copy(update={"order": changed})
    returns = [line for line in lines if line.to_return]
    if returns:
        items = ", ".join(f"{line.to_return} x {line.sku} to {line.slot}" for line in returns)
        alert = Alert(
            kind="return_items",
            message=f"order {order.order_id} changed: put back {items}, then press the slot",
        )
        new_state = new_state.model_copy(update={"alert": alert})
    if all(line.closed for line in lines):
        return _after_line_closed(new_state, ())
    return Step(new_state)


def _planned(state: WorkflowState, plan: LabelPlan) -> Step:
    order = state.order
    if order is None or order.phase is not Phase.LABELLING:
        return Step(state)
    if order.label is not None:
        return Step(state, (PrintLabel(order, order.label),))
    labelled = order.model_copy(update={"label": plan})
    return Step(state.model_copy(update={"order": labelled}), (PrintLabel(labelled, plan),))


def _printed(state: WorkflowState, label_id: str) -> Step:
    order = state.order
    if order is None or order.label is None or order.label.label_id != label_id:
        return Step(state)
    plan = order.label
    label_fields = {"label_id": plan.label_id, "carrier": plan.carrier}
    effects: tuple[Effect, ...] = (
        Emit(
            LabelPrinted,
            {"order_id": order.order_id, **label_fields, "tracking_number": plan.tracking_number},
        ),
        Emit(
            OrderCompleted,
            {
                "order_id": order.order_id,
                "order_version": order.version,
                **label_fields,
                "tracking_number": plan.tracking_number,
            },
        ),
        OrderFinished(order.order_id, order.version, "completed"),
        Flash(tuple(line.slot for line in order.lines), PatternName.DONE),
        Sound(SignalName.DONE),
    )
    new_state = state.model_copy(
        update={
            "order": None,
            "last_label": LastLabel(order_id=order.order_id, label_id=plan.label_id),
            "counts": state.counts.bump("orders_completed"),
        }
    )
    return Step(new_state, effects)


def _reprint(state: WorkflowState, request: RequestReprint) -> Step:
    if not request.reason.strip():
        return _refuse(state, "not_allowed", "a reprint needs a reason (it is recorded)")
    printing = state.order.label if state.order is not None else None
    if printing is not None and request.label_id in {None, printing.label_id}:
        # The label of the order being labelled, e.g. after its outcome was lost with the link:
        # only a person who looked at the printer asks for this.
        assert state.order is not None
        return Step(
            state, (ReprintLabelJob(printing.label_id, state.order.order_id, request.reason),)
        )
    last = state.last_label
    if last is None or (request.label_id is not None and last.label_id != request.label_id):
        wanted = request.label_id or "the last label"
        return _refuse(
            state, "not_allowed", f"{wanted} is not a label this station can reprint now"
        )
    if last.voided:
        return _refuse(state, "not_allowed", f"label {last.label_id} was voided: it cannot print")
    return Step(state, (ReprintLabelJob(last.label_id, last.order_id, request.reason),))


def _void(state: WorkflowState, reason: str) -> Step:
    last = state.last_label
    if not reason.strip():
        return _refuse(state, "not_allowed", "voiding a label needs a reason (it is recorded)")
    if last is None or last.voided:
        return _refuse(state, "not_allowed", "there is no printed label to void")
    emit = Emit(
        LabelVoided, {"order_id": last.order_id, "label_id": last.label_id, "reason": reason}
    )
    new_state = state.model_copy(
        update={
            "last_label": last.model_copy(update={"voided": True}),
            "counts": state.counts.bump("voids"),
        }
    )
    return Step(new_state, (emit,))


# --- lights and restart ---------------------------------------------------------------------

LightPicture = dict[str, tuple[PatternName, int | None]]


def light_picture(state: WorkflowState) -> LightPicture:
    """What every slot should show for this state; a slot not in it is dark."""
    picture: LightPicture = {}
    order = state.order
    alert = state.alert
    if order is not None and order.phase is Phase.PICKING:
        error = alert is not None and alert.kind in {"wrong_item", "over_pick", "scan_first"}
        for line in order.lines:
            if line.to_return:
                picture[line.slot] = (PatternName.ERROR, line.to_return)
            elif line.open_for_picking:
                if order.shortage_armed is not None:
                    pattern = PatternName.SHORTAGE
                elif error and (alert is None or alert.slot in {None, line.slot}):
                    pattern = PatternName.ERROR
                else:
                    pattern = PatternName.PICK
                picture[line.slot] = (pattern, line.remaining)
    if order is not None and order.phase is Phase.FINALISING:
        for line in order.lines:
            if line.short:
                picture[line.slot] = (PatternName.SHORTAGE, None)
    if alert is not None and alert.kind == "wrong_slot" and alert.slot is not None:
        picture.setdefault(alert.slot, (PatternName.WRONG_SLOT, None))
    return picture


def resume(state: WorkflowState) -> Sequence[Effect]:
    """What to redo after a restart: an interrupted label. Lights come from `light_picture`.

    Never confirms anything: a slot the saved state has not confirmed stays lit and waits for
    its button.
    """
    order = state.order
    if order is None or order.phase is not Phase.LABELLING:
        return ()
    if order.label is None:
        return (NeedLabel(order),)
    return (PrintLabel(order, order.label),)
