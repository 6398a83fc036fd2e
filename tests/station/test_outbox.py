"""Outbox: seq-ordered, bounded, pruned only by the bridge's ack, and never reusing a seq."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError
from tinydb import TinyDB
from tinydb.table import Document

from edge.contract import LinePicked, OrderCompleted, OrderScanned
from edge.errors import EdgeError
from edge.station.outbox import AckAboveHighWaterError, Outbox, OutboxFull
from edge.station.storage import JournalStorage, journal_storage_of

PICK: dict[str, object] = {
    "order_id": "SO-1",
    "line_id": "L1",
    "sku": "SKU-1",
    "gtin": "4006381333931",
    "slot": "A-01-01",
    "quantity": 1,
}


class SteppingClock:
    """A clock that moves one second per reading, so each event has its own `at`."""

    def __init__(self) -> None:
        self.now = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "station.json"


@pytest.fixture
def db(path: Path) -> Iterator[TinyDB]:
    database = TinyDB(path, storage=JournalStorage)
    yield database
    database.close()


def reopen(db: TinyDB, path: Path, segment_size: int = 256) -> tuple[TinyDB, Outbox]:
    db.close()
    again = TinyDB(path, storage=JournalStorage)
    return again, Outbox(again, segment_size=segment_size)


def test_appends_get_seqs_from_one_and_pending_returns_them_in_order(db: TinyDB) -> None:
    outbox = Outbox(db, segment_size=4)
    scanned = outbox.append(OrderScanned, order_id="SO-1", order_version=1)
    picks = [outbox.append(LinePicked, **PICK) for _ in range(9)]

    pending = list(outbox.pending())

    assert [event.seq for event in pending] == list(range(1, 11))
    assert pending == [scanned, *picks]
    assert isinstance(pending[0], OrderScanned)
    assert [event.seq for event in outbox.pending(after_seq=7)] == [8, 9, 10]


def test_appended_events_are_stamped_with_id_and_utc_time(db: TinyDB) -> None:
    clock = SteppingClock()
    event = Outbox(db, clock=clock).append(LinePicked, **PICK)

    assert event.at == clock.now
    assert event.event_id.version == 4


def test_pending_events_survive_a_reopen(path: Path, db: TinyDB) -> None:
    outbox = Outbox(db, segment_size=4)
    written = [outbox.append(LinePicked, **PICK) for _ in range(6)]

    db, outbox = reopen(db, path, segment_size=4)

    assert list(outbox.pending()) == written
    db.close()


def test_acknowledge_prunes_up_to_the_seq_and_drops_whole_segments(db: TinyDB) -> None:
    outbox = Outbox(db, segment_size=4)
    for _ in range(10):
        outbox.append(LinePicked, **PICK)

    assert outbox.acknowledge(6) == 6

    assert [event.seq for event in outbox.pending()] == [7, 8, 9, 10]
    assert "outbox.000000" not in db.tables()
    assert "outbox.000001" in db.tables()
    stats = outbox.stats()
    assert (stats.depth, stats.acknowledged_seq, stats.highest_seq) == (4, 6, 10)


def test_an_ack_at_or_below_the_current_one_is_a_no_op(db: TinyDB) -> None:
    outbox = Outbox(db)
    for _ in range(5):
        outbox.append(LinePicked, **PICK)
    outbox.acknowledge(3)

    assert outbox.acknowledge(2) == 0
    assert outbox.acknowledge(3) == 0
    assert [event.seq for event in outbox.pending()] == [4, 5]


def test_an_ack_above_the_highest_seq_handed_out_is_refused(db: TinyDB) -> None:
    outbox = Outbox(db)
    outbox.append(LinePicked, **PICK)

    with pytest.raises(AckAboveHighWaterError, match=r"ack of seq 2 is above .* \(1\)") as caught:
        outbox.acknowledge(2)
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, EdgeError)
    assert outbox.stats().depth == 1


def test_a_seq_is_never_reused_after_pruning_everything_and_reopening(
    path: Path, db: TinyDB
) -> None:
    outbox = Outbox(db, segment_size=4)
    for _ in range(7):
        outbox.append(LinePicked, **PICK)
    outbox.acknowledge(7)
    assert db.tables() == {"outbox.meta"}

    db, outbox = reopen(db, path, segment_size=4)

    assert outbox.append(LinePicked, **PICK).seq == 8
    assert outbox.stats().acknowledged_seq == 7
    db.close()


def test_full_by_count_records_nothing_and_uses_no_seq(db: TinyDB) -> None:
    outbox = Outbox(db, max_events=3)
    for _ in range(3):
        outbox.append(LinePicked, **PICK)

    with pytest.raises(OutboxFull, match="depth 3 of max_events 3") as caught:
        outbox.append(LinePicked, **PICK)
    assert isinstance(caught.value, RuntimeError)
    assert [event.seq for event in outbox.pending()] == [1, 2, 3]

    outbox.acknowledge(1)
    assert outbox.append(LinePicked, **PICK).seq == 4


def test_full_by_bytes_records_nothing(db: TinyDB) -> None:
    probe = Outbox(TinyDB(storage=_memory())).append(LinePicked, **PICK)
    size = len(probe.model_dump_json())
    outbox = Outbox(db, max_bytes=size * 2 + size // 2)
    outbox.append(LinePicked, **PICK)
    outbox.append(LinePicked, **PICK)

    with pytest.raises(OutboxFull, match=f"max_bytes {size * 2 + size // 2}"):
        outbox.append(LinePicked, **PICK)
    assert outbox.stats().depth == 2
    assert outbox.stats().bytes == size * 2


def _memory() -> type:
    from tinydb.storages import MemoryStorage

    return MemoryStorage


def test_invalid_fields_are_refused_before_anything_is_recorded(db: TinyDB) -> None:
    outbox = Outbox(db)
    with pytest.raises(ValidationError, match="quantity"):
        outbox.append(LinePicked, **(PICK | {"quantity": 0}))
    with pytest.raises(TypeError, match="stamped by the outbox"):
        outbox.append(LinePicked, **(PICK | {"seq": 7}))

    assert outbox.stats().highest_seq == 0
    assert outbox.append(LinePicked, **PICK).seq == 1


def test_the_alarm_turns_on_at_80_percent_and_clears_below(
    db: TinyDB, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="packline.station.outbox")
    outbox = Outbox(db, max_events=10)
    for _ in range(7):
        outbox.append(LinePicked, **PICK)
    assert not outbox.stats().alarm
    assert not caplog.records

    outbox.append(LinePicked, **PICK)
    assert outbox.stats().alarm
    assert outbox.stats().fill == pytest.approx(0.8)
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    assert "outbox alarm: 80% full" in caplog.records[0].getMessage()

    outbox.acknowledge(1)
    assert not outbox.stats().alarm
    assert [r.levelname for r in caplog.records] == ["WARNING", "INFO"]


def test_oldest_at_is_the_oldest_pending_event_time(db: TinyDB) -> None:
    outbox = Outbox(db, clock=SteppingClock(), segment_size=2)
    assert outbox.stats().oldest_at is None
    events = [outbox.append(LinePicked, **PICK) for _ in range(5)]

    assert outbox.stats().oldest_at == events[0].at
    outbox.acknowledge(3)
    assert outbox.stats().oldest_at == events[3].at
    outbox.acknowledge(5)
    assert outbox.stats().oldest_at is None


def test_other_tables_in_the_same_db_are_left_alone(path: Path, db: TinyDB) -> None:
    db.table("workflow").insert({"phase": "idle"})
    outbox = Outbox(db, segment_size=2)
    for _ in range(5):
        outbox.append(LinePicked, **PICK)
    outbox.acknowledge(5)

    db, outbox = reopen(db, path, segment_size=2)

    assert db.table("workflow").all() == [{"phase": "idle"}]
    assert all(name == "workflow" or name.startswith("outbox") for name in db.tables())
    db.close()


def test_an_append_inside_a_transaction_is_durable_with_the_state_at_exit(
    path: Path, db: TinyDB
) -> None:
    outbox = Outbox(db)
    with journal_storage_of(db).transaction():
        db.table("workflow").insert({"phase": "picking"})
        outbox.append(OrderCompleted, **_completed())

    db, outbox = reopen(db, path)

    assert [type(event) for event in outbox.pending()] == [OrderCompleted]
    assert db.table("workflow").all() == [{"phase": "picking"}]
    db.close()


def test_a_rolled_back_transaction_undoes_its_appends_and_frees_their_seqs(db: TinyDB) -> None:
    outbox = Outbox(db)
    outbox.append(LinePicked, **PICK)

    def record_state_and_event_then_fail() -> None:
        with journal_storage_of(db).transaction():
            db.table("workflow").insert({"phase": "picking"})
            outbox.append(LinePicked, **PICK)
            raise OutboxFull("the station gave up part-way")

    with pytest.raises(OutboxFull):
        record_state_and_event_then_fail()

    assert [event.seq for event in outbox.pending()] == [1]
    assert outbox.stats().depth == 1
    assert db.table("workflow").all() == []
    assert outbox.append(LinePicked, **PICK).seq == 2


def _completed() -> dict[str, object]:
    return {
        "order_id": "SO-1",
        "order_version": 1,
        "label_id": "LBL-1",
        "carrier": "dpd",
        "tracking_number": "00340434161094000014",
    }


def test_a_prune_interrupted_after_the_meta_write_is_finished_on_load() -> None:
    db = TinyDB(storage=_memory())
    first = Outbox(db, segment_size=4)
    for _ in range(5):
        first.append(LinePicked, **PICK)
    db.table("outbox.meta").upsert(Document({"highest_seq": 5, "acknowledged_seq": 3}, doc_id=1))

    outbox = Outbox(db, segment_size=4)

    assert [event.seq for event in outbox.pending()] == [4, 5]
    assert outbox.stats().depth == 2
    assert sorted(doc.doc_id for doc in db.table("outbox.000000").all()) == []
    assert outbox.append(LinePicked, **PICK).seq == 6
