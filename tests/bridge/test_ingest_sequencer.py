"""Each station's events are applied once, in sequence order, however they arrive.

Most tests use label events, whose only effect is the audit row, so what is pinned is the
sequencing itself; the property test uses picks, returns and shortages on one line, whose
result depends on the order they are applied in.
"""

from __future__ import annotations

import random
import tempfile
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from bridge_world import add_stock, basic_world, order
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from cloud_bridge.db import make_engine, session_factory, upgrade
from cloud_bridge.db.models import AppliedEvent, OrderLine, StationCursor
from cloud_bridge.db.parking import ParkedEvent
from cloud_bridge.ingest import (
    IngestArgumentError,
    IngestResult,
    Outcome,
    describe_gaps,
    ingest,
    ingest_event,
    read_cursor,
)
from edge.contract import LabelPrinted, LinePicked, LineReturned, ShortageRecorded, StationEvent

STATION = "w1.st01"
AT = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'bridge.db'}"
    else:
        url = request.getfixturevalue("postgres_schema_url")
    engine = make_engine(url)
    upgrade(engine)
    yield engine
    engine.dispose()


def label(seq: int, event_id: uuid.UUID | None = None) -> LabelPrinted:
    return LabelPrinted(
        event_id=event_id or uuid.uuid4(),
        seq=seq,
        at=AT,
        order_id="SO1",
        label_id=f"LBL-{seq}",
        carrier="DPD",
        tracking_number=f"TRK-{seq}",
    )


def feed(engine: Engine, event: StationEvent, station: str = STATION) -> IngestResult:
    return ingest(session_factory(engine), station, event)


def applied_seqs(engine: Engine, station: str = STATION) -> list[int]:
    with session_factory(engine)() as session:
        return list(
            session.scalars(
                select(AppliedEvent.seq)
                .where(AppliedEvent.station_id == station)
                .order_by(AppliedEvent.seq)
            )
        )


def cursor(engine: Engine, station: str = STATION) -> StationCursor:
    with session_factory(engine)() as session:
        return session.get_one(StationCursor, station)


def parked_seqs(engine: Engine) -> list[int]:
    with session_factory(engine)() as session:
        return list(session.scalars(select(ParkedEvent.seq).order_by(ParkedEvent.seq)))


def test_events_in_order_are_applied_and_the_ack_follows_each(engine: Engine) -> None:
    results = [feed(engine, label(seq)) for seq in (1, 2, 3)]

    assert [result.outcome for result in results] == [Outcome.APPLIED] * 3
    assert [result.highest_seq for result in results] == [1, 2, 3]
    assert all(result.should_ack for result in results)
    assert applied_seqs(engine) == [1, 2, 3]


def test_a_redelivered_event_is_a_duplicate_that_changes_nothing_but_is_still_acked(
    engine: Engine,
) -> None:
    first = label(1)
    feed(engine, first)
    feed(engine, label(2))

    again = feed(engine, first)

    assert again.outcome is Outcome.DUPLICATE
    assert again.highest_seq == 2
    assert again.should_ack
    assert applied_seqs(engine) == [1, 2]


def test_an_event_ahead_of_a_gap_is_parked_and_the_gap_recorded(engine: Engine) -> None:
    feed(engine, label(1))
    feed(engine, label(2))

    parked = feed(engine, label(5))

    assert parked.outcome is Outcome.PARKED
    assert parked.highest_seq == 2
    assert not parked.should_ack
    assert parked.gaps == "3-4"
    assert cursor(engine).gaps == "3-4"
    assert parked_seqs(engine) == [5]
    assert applied_seqs(engine) == [1, 2]


def test_when_the_gap_closes_the_parked_events_are_applied_in_order(engine: Engine) -> None:
    feed(engine, label(1))
    feed(engine, label(4))
    feed(engine, label(6))
    assert cursor(engine).gaps == "2-3,5"

    feed(engine, label(3))
    middle = feed(engine, label(2))

    assert middle.applied == (2, 3, 4)
    assert middle.highest_seq == 4
    assert middle.gaps == "5"
    closing = feed(engine, label(5))
    assert closing.applied == (5, 6)
    assert closing.highest_seq == 6
    assert closing.gaps == ""
    assert parked_seqs(engine) == []
    assert applied_seqs(engine) == [1, 2, 3, 4, 5, 6]


def test_a_parked_event_delivered_again_stays_parked_once(engine: Engine) -> None:
    early = label(3)
    feed(engine, early)

    again = feed(engine, early)

    assert again.outcome is Outcome.PARKED
    assert parked_seqs(engine) == [3]
    assert cursor(engine).gaps == "1-2"


def test_an_event_id_already_applied_under_another_seq_uses_up_the_seq_without_an_effect(
    engine: Engine,
) -> None:
    reused = uuid.uuid4()
    feed(engine, label(1, event_id=reused))

    result = feed(engine, label(2, event_id=reused))

    assert result.outcome is Outcome.APPLIED
    assert result.highest_seq == 2
    assert applied_seqs(engine) == [1]


def test_each_station_has_its_own_cursor(engine: Engine) -> None:
    feed(engine, label(1), station="w1.st01")
    feed(engine, label(2), station="w1.st01")

    other = feed(engine, label(2), station="w1.st02")

    assert other.outcome is Outcome.PARKED
    with session_factory(engine)() as session:
        assert read_cursor(session, "w1.st01") == 2
        assert read_cursor(session, "w1.st02") == 0
        assert read_cursor(session, "w1.never") == 0


def test_nothing_is_kept_when_the_transaction_rolls_back(engine: Engine) -> None:
    with session_factory(engine)() as session:
        ingest_event(session, STATION, label(1))
        session.rollback()

    assert applied_seqs(engine) == []
    assert feed(engine, label(1)).outcome is Outcome.APPLIED


def test_ingest_needs_at_least_one_attempt(engine: Engine) -> None:
    with pytest.raises(IngestArgumentError, match="attempts 0"):
        ingest(session_factory(engine), STATION, label(1), attempts=0)


@pytest.mark.parametrize(
    ("highest", "parked", "gaps"),
    [
        (0, [], ""),
        (2, [5], "3-4"),
        (2, [4], "3"),
        (0, [2, 3, 5, 9], "1,4,6-8"),
        (4, [3, 6], "5"),
    ],
)
def test_gaps_name_the_missing_sequences_below_the_highest_parked(
    highest: int, parked: list[int], gaps: str
) -> None:
    assert describe_gaps(highest, parked) == gaps


# --- property: any arrival order, with duplicates, gives the in-order result -------------------

Operation = tuple[str, int]
operations = st.lists(
    st.tuples(st.sampled_from(["pick", "return", "short"]), st.integers(0, 6)),
    min_size=1,
    max_size=12,
)


def as_event(seq: int, operation: Operation) -> StationEvent:
    kind, units = operation
    fields: dict[str, Any] = {"line_id": "1", "sku": "MUG", "slot": "A1"}
    if kind == "pick":
        event_type: type[StationEvent] = LinePicked
        fields |= {"gtin": "05012345678900", "quantity": units + 1}
    elif kind == "return":
        event_type = LineReturned
        fields |= {"quantity": units + 1}
    else:
        event_type = ShortageRecorded
        fields |= {"expected_quantity": units + 1, "found_quantity": units}
    return event_type(event_id=uuid.uuid4(), seq=seq, at=AT, order_id="SO1", **fields)


def picked_in_order(ordered: int, ops: list[Operation]) -> int:
    picked = 0
    for kind, units in ops:
        if kind == "pick":
            picked = min(picked + units + 1, ordered)
        elif kind == "return":
            picked = max(picked - units - 1, 0)
        else:
            picked = min(units, ordered)
    return picked


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=operations, shuffle_seed=st.integers(0, 2**32 - 1), repeats=st.integers(0, 6))
def test_any_arrival_order_with_duplicates_applies_each_event_once_in_sequence_order(
    ops: list[Operation], shuffle_seed: int, repeats: int
) -> None:
    ordered = 8
    events = [as_event(seq, op) for seq, op in enumerate(ops, start=1)]
    rng = random.Random(shuffle_seed)
    arrivals = events + [rng.choice(events) for _ in range(repeats)]
    rng.shuffle(arrivals)
    with tempfile.TemporaryDirectory() as directory:
        engine = make_engine(f"sqlite:///{Path(directory) / 'bridge.db'}")
        try:
            upgrade(engine)
            with session_factory(engine).begin() as session:
                basic_world(session)
                add_stock(session, "A", "MUG", 20)
                order(session, "SO1", "A", [("MUG", ordered)])

            last = [feed(engine, event) for event in arrivals][-1]

            assert last.highest_seq == len(events)
            assert applied_seqs(engine) == list(range(1, len(events) + 1))
            assert parked_seqs(engine) == []
            assert cursor(engine).gaps == ""
            with session_factory(engine)() as session:
                line = session.get_one(OrderLine, ("SO1", "1"))
                assert line.picked_quantity == picked_in_order(ordered, ops)
        finally:
            engine.dispose()
