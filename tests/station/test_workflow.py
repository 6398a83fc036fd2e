"""The pack-station workflow as a pure state machine: what each input does, and what it refuses."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from edge.contract import (
    LabelPrinted,
    LabelReprinted,
    LabelVoided,
    LinePicked,
    LineReturned,
    OrderAborted,
    OrderAllocated,
    OrderCompleted,
    OrderLine,
    OrderScanned,
    ShortageRecorded,
)
from edge.drivers.lights import PatternName, SignalName
from edge.station.scans import classify_scan
from edge.station.workflow import (
    Abort,
    AllocationCancelled,
    AllocationChanged,
    BadScan,
    ConfirmPress,
    Emit,
    Flash,
    Input,
    ItemScan,
    LabelFailed,
    LabelPlan,
    LabelPlanned,
    LabelPrintedOk,
    NeedLabel,
    OrderFinished,
    OrderScan,
    Phase,
    PrintLabel,
    ReprintDone,
    ReprintLabelJob,
    RequestReprint,
    ShortageCommand,
    ShortagePress,
    SlotPress,
    Sound,
    Step,
    Verification,
    Void,
    WorkflowState,
    light_picture,
    resume,
    step,
)

AT = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
MUG = "05012345678900"
TEA = "04006381333931"
PLAN = LabelPlan(
    label_id="SO-1-L1", sscc="376130321109103420", carrier="DPD", tracking_number="TRK1234"
)


def allocation(version: int = 1, mug: int = 2, tea: int = 1) -> OrderAllocated:
    lines = [OrderLine(line_id="1", sku="MUG", gtin=MUG, quantity=mug, slot="A1")]
    if tea:
        lines.append(OrderLine(line_id="2", sku="TEA", gtin=TEA, quantity=tea, slot="A2"))
    return OrderAllocated(order_id="SO-1", version=version, at=AT, lines=tuple(lines), tote="T9")


def run(
    inputs: list[Input], state: WorkflowState | None = None, verification: Verification = "line"
) -> tuple[WorkflowState, list[object]]:
    current = state or WorkflowState()
    effects: list[object] = []
    for item in inputs:
        result: Step = step(current, item, verification=verification)
        current = result.state
        effects.extend(result.effects)
    return current, effects


def emitted(effects: list[object]) -> list[type]:
    return [effect.event_type for effect in effects if isinstance(effect, Emit)]


def scan_mug() -> ItemScan:
    return ItemScan(gtin=MUG, text=MUG[1:])


def scan_tea() -> ItemScan:
    return ItemScan(gtin=TEA, text=TEA[1:])


PICK_ALL: list[Input] = [
    OrderScan(allocation()),
    scan_mug(),
    SlotPress("A1"),
    scan_tea(),
    SlotPress("A2"),
]


def test_scanning_an_order_lights_every_slot_of_it_with_its_quantity() -> None:
    state, effects = run([OrderScan(allocation())])

    assert light_picture(state) == {"A1": (PatternName.PICK, 2), "A2": (PatternName.PICK, 1)}
    assert emitted(effects) == [OrderScanned]


def test_a_verified_item_and_its_slot_button_confirm_the_line_and_its_light_goes_off() -> None:
    state, effects = run([OrderScan(allocation()), scan_mug(), SlotPress("A1")])

    assert light_picture(state) == {"A2": (PatternName.PICK, 1)}
    picked = [e for e in effects if isinstance(e, Emit) and e.event_type is LinePicked]
    assert picked[0].fields["quantity"] == 2
    assert state.counts.picks == 1


def test_the_happy_path_prints_the_label_then_completes_with_the_done_pattern() -> None:
    state, effects = run(PICK_ALL)
    assert state.order is not None
    assert state.order.phase is Phase.LABELLING
    assert isinstance(effects[-1], NeedLabel)

    state, effects = run([LabelPlanned(PLAN)], state)
    assert effects == [PrintLabel(state.order, PLAN)]  # type: ignore[arg-type]

    state, effects = run([LabelPrintedOk(PLAN.label_id)], state)
    assert emitted(effects) == [LabelPrinted, OrderCompleted]
    assert OrderFinished("SO-1", 1, "completed") in effects
    assert Flash(("A1", "A2"), PatternName.DONE) in effects
    assert Sound(SignalName.DONE) in effects
    assert state.order is None
    assert state.counts.orders_completed == 1
    assert state.last_label is not None
    assert state.last_label.label_id == PLAN.label_id


def test_pressing_an_unlit_slot_gives_the_wrong_slot_pattern_and_a_buzz_and_changes_nothing() -> (
    None
):
    before, _ = run([OrderScan(allocation())])
    after, effects = run([SlotPress("A3")], before)

    assert after.order == before.order
    assert Sound(SignalName.WRONG_SLOT) in effects
    assert light_picture(after)["A3"] == (PatternName.WRONG_SLOT, None)
    assert after.counts.wrong_slots == 1
    assert emitted(effects) == []


def test_a_wrong_item_is_blocked_with_an_error_light_and_a_buzz() -> None:
    before, _ = run([OrderScan(allocation(tea=0))])
    after, effects = run([ItemScan(gtin=TEA, text=TEA)], before)

    assert after.order == before.order
    assert after.alert is not None
    assert after.alert.kind == "wrong_item"
    assert Sound(SignalName.ERROR) in effects
    assert light_picture(after)["A1"] == (PatternName.ERROR, 2)


def test_an_unknown_barcode_gets_a_clear_error_not_a_crash() -> None:
    state, _ = run([OrderScan(allocation())])
    for text in ["", "hello", "5012345678901", "PL:NONSENSE", "\x1d\x1d"]:
        scan = classify_scan(text, None, lambda _code: None)
        assert isinstance(scan, BadScan), text
        state, effects = run([scan], state)
        assert state.alert is not None
        assert state.alert.kind == "unknown_barcode"
        assert Sound(SignalName.ERROR) in effects


def test_a_bad_gtin_check_digit_is_named_in_the_error() -> None:
    scan = classify_scan("5012345678901", "]E0", lambda _code: None)

    assert isinstance(scan, BadScan)
    assert "check digit" in scan.reason


def test_gs1_128_item_barcodes_are_read_for_their_gtin() -> None:
    scan = classify_scan("010501234567890017250101", "]C1", lambda _code: None)

    assert scan == ItemScan(gtin=MUG, text="010501234567890017250101")


def test_a_slot_cannot_be_confirmed_before_its_item_was_scanned() -> None:
    before, _ = run([OrderScan(allocation())])
    after, effects = run([SlotPress("A1")], before)

    assert after.order == before.order
    assert after.alert is not None
    assert after.alert.kind == "scan_first"
    assert emitted(effects) == []


def test_with_verification_per_unit_every_unit_is_scanned_before_the_button_counts() -> None:
    state, _ = run([OrderScan(allocation()), scan_mug(), SlotPress("A1")], verification="each")
    assert state.alert is not None
    assert "1 of 2" in state.alert.message

    state, effects = run([scan_mug(), SlotPress("A1")], state, verification="each")
    assert emitted(effects) == [LinePicked]


def test_scanning_more_units_than_the_order_needs_is_an_over_pick() -> None:
    state, _ = run([OrderScan(allocation()), scan_mug(), SlotPress("A1")])
    state, effects = run([scan_mug()], state)

    assert state.alert is not None
    assert state.alert.kind == "over_pick"
    assert Sound(SignalName.ERROR) in effects


def test_a_long_press_on_shortage_records_a_short_pick_then_confirm_ships_a_partial() -> None:
    state, effects = run([OrderScan(allocation()), scan_mug(), SlotPress("A1"), ShortagePress()])
    short = [e for e in effects if isinstance(e, Emit) and e.event_type is ShortageRecorded]
    assert short[0].fields == {
        "order_id": "SO-1",
        "line_id": "2",
        "sku": "TEA",
        "slot": "A2",
        "expected_quantity": 1,
        "found_quantity": 0,
        "reason": "missing",
    }
    assert state.order is not None
    assert state.order.phase is Phase.FINALISING
    assert light_picture(state) == {"A2": (PatternName.SHORTAGE, None)}

    state, effects = run([ConfirmPress()], state)
    assert state.order is not None
    assert state.order.phase is Phase.LABELLING
    assert isinstance(effects[-1], NeedLabel)


def test_with_several_open_lines_the_shortage_applies_to_the_slot_pressed_next() -> None:
    state, _ = run([OrderScan(allocation()), ShortageCommand("damaged")])
    assert light_picture(state) == {
        "A1": (PatternName.SHORTAGE, 2),
        "A2": (PatternName.SHORTAGE, 1),
    }

    state, effects = run([scan_mug(), SlotPress("A1")], state)
    short = [e for e in effects if isinstance(e, Emit) and e.event_type is ShortageRecorded]
    assert short[0].fields["found_quantity"] == 1
    assert short[0].fields["reason"] == "damaged"
    assert light_picture(state) == {"A2": (PatternName.PICK, 1)}


def test_an_order_with_nothing_found_finalises_as_an_abort_not_an_empty_shipment() -> None:
    state, effects = run([OrderScan(allocation(tea=0)), ShortagePress(), ConfirmPress()])

    assert state.order is None
    assert emitted(effects)[-1] is OrderAborted
    assert OrderFinished("SO-1", 1, "aborted") in effects


def test_reprint_is_audited_and_void_stops_further_reprints() -> None:
    state, _ = run([*PICK_ALL, LabelPlanned(PLAN), LabelPrintedOk(PLAN.label_id)])

    state, effects = run([RequestReprint(reason="torn")], state)
    assert effects == [ReprintLabelJob(PLAN.label_id, "SO-1", "torn")]
    state, effects = run([ReprintDone(PLAN.label_id, "SO-1", "torn")], state)
    assert emitted(effects) == [LabelReprinted]
    assert state.counts.reprints == 1

    state, effects = run([Void(reason="wrong parcel")], state)
    assert emitted(effects) == [LabelVoided]
    state, effects = run([RequestReprint(reason="again")], state)
    assert state.alert is not None
    assert "voided" in state.alert.message
    assert not any(isinstance(e, ReprintLabelJob) for e in effects)


def test_abort_ends_the_order_and_asks_for_picked_items_back() -> None:
    state, effects = run([OrderScan(allocation()), scan_mug(), SlotPress("A1"), Abort()])

    assert state.order is None
    assert light_picture(state) == {}
    assert emitted(effects)[-1] is OrderAborted
    assert state.alert is not None
    assert "2 x MUG to A1" in state.alert.message


def test_an_order_being_labelled_cannot_be_aborted() -> None:
    state, _ = run(PICK_ALL)
    state, effects = run([Abort()], state)

    assert state.order is not None
    assert state.order.phase is Phase.LABELLING
    assert emitted(effects) == []


def test_a_higher_quantity_mid_pick_relights_the_line_with_the_balance() -> None:
    state, _ = run([OrderScan(allocation()), scan_mug(), SlotPress("A1")])
    state, effects = run([AllocationChanged(allocation(version=2, mug=5))], state)

    assert state.order is not None
    assert state.order.version == 2
    assert light_picture(state)["A1"] == (PatternName.PICK, 3)
    assert emitted(effects) == []


def test_a_lower_quantity_than_already_picked_asks_for_the_excess_back() -> None:
    state, _ = run([OrderScan(allocation()), scan_mug(), SlotPress("A1")])
    state, _ = run([AllocationChanged(allocation(version=2, mug=1))], state)
    assert light_picture(state)["A1"] == (PatternName.ERROR, 1)
    assert state.alert is not None
    assert state.alert.kind == "return_items"

    state, effects = run([SlotPress("A1")], state)
    returned = [e for e in effects if isinstance(e, Emit) and e.event_type is LineReturned]
    assert returned[0].fields["quantity"] == 1
    assert "A1" not in light_picture(state)


def test_an_older_or_equal_allocation_version_changes_nothing() -> None:
    state, _ = run([OrderScan(allocation(version=3))])
    after, effects = run([AllocationChanged(allocation(version=3, mug=9))], state)

    assert after == state
    assert effects == []


def test_a_cancelled_order_goes_dark_and_is_recorded_as_aborted_by_the_bridge() -> None:
    state, _ = run([OrderScan(allocation())])
    state, effects = run([AllocationCancelled("SO-1", 2, "customer cancelled")], state)

    assert state.order is None
    assert light_picture(state) == {}
    aborted = next(e for e in effects if isinstance(e, Emit))
    assert aborted.fields["reason"] == "cancelled_by_bridge"
    assert OrderFinished("SO-1", 1, "cancelled") in effects


def test_a_second_order_cannot_start_while_one_is_open() -> None:
    state, _ = run([OrderScan(allocation())])
    other = allocation().model_copy(update={"order_id": "SO-2"})
    after, effects = run([OrderScan(other)], state)

    assert after.order == state.order
    assert after.alert is not None
    assert after.alert.kind == "busy"
    assert emitted(effects) == []


def test_a_printer_fault_keeps_the_order_labelling_with_the_reason_shown() -> None:
    state, _ = run([*PICK_ALL, LabelPlanned(PLAN)])
    state, _ = run([LabelFailed(PLAN.label_id, "paper out")], state)

    assert state.order is not None
    assert state.order.phase is Phase.LABELLING
    assert state.alert is not None
    assert "paper out" in state.alert.message


@pytest.mark.parametrize("cut_after", range(len(PICK_ALL) + 1))
def test_after_a_restart_the_saved_state_relights_only_unconfirmed_slots(cut_after: int) -> None:
    state, _ = run(PICK_ALL[:cut_after])
    restored = WorkflowState.model_validate_json(state.model_dump_json())

    assert restored == state
    assert light_picture(restored) == light_picture(state)
    confirmed = {line.slot for line in (state.order.lines if state.order else ()) if line.closed}
    assert confirmed.isdisjoint(light_picture(restored))
    assert not any(isinstance(effect, Emit) for effect in resume(restored))


def test_a_restart_while_labelling_prints_the_same_label_again_never_a_new_one() -> None:
    state, _ = run([*PICK_ALL, LabelPlanned(PLAN)])
    restored = WorkflowState.model_validate_json(state.model_dump_json())

    assert list(resume(restored)) == [PrintLabel(restored.order, PLAN)]  # type: ignore[arg-type]
