"""JournalStorage: durable on return, a torn last write is forgotten, real damage is reported."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tinydb import TinyDB, where
from tinydb.storages import JSONStorage
from tinydb.table import Document

from edge.errors import EdgeError
from edge.station.storage import (
    JournalCorruptError,
    JournalStorage,
    StorageError,
    StoreLockedError,
    journal_storage_of,
)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "station.json"


@pytest.fixture
def db(path: Path) -> Iterator[TinyDB]:
    database = TinyDB(path, storage=JournalStorage)
    yield database
    database.close()


def journal(path: Path) -> Path:
    return path.with_name(path.name + ".journal")


def record_count(path: Path) -> int:
    return journal(path).read_bytes().count(b"\n")


def reopened(path: Path, **options: object) -> dict[str, list[Document]]:
    """Every table's documents as a fresh open of the store sees them."""
    database = TinyDB(path, storage=JournalStorage, **options)
    try:
        return {name: database.table(name).all() for name in sorted(database.tables())}
    finally:
        database.close()


def test_inserts_updates_and_removes_read_back_in_the_same_process(db: TinyDB) -> None:
    orders = db.table("orders")
    first = orders.insert({"order_id": "SO-1", "phase": "idle"})
    orders.insert({"order_id": "SO-2", "phase": "idle"})
    orders.update({"phase": "picking"}, doc_ids=[first])
    orders.remove(where("order_id") == "SO-2")

    assert orders.all() == [{"order_id": "SO-1", "phase": "picking"}]


def test_a_reopened_store_sees_every_returned_write(path: Path, db: TinyDB) -> None:
    db.table("orders").insert({"order_id": "SO-1"})
    db.table("orders").update({"phase": "done"})
    db.table("counters").insert({"picks": 3})
    db.drop_table("scratch")
    db.table("scratch").insert({"x": 1})
    db.drop_table("scratch")
    db.close()

    assert reopened(path) == {
        "counters": [{"picks": 3}],
        "orders": [{"order_id": "SO-1", "phase": "done"}],
    }


def test_each_write_appends_one_record_holding_only_the_changed_table(
    path: Path, db: TinyDB
) -> None:
    db.table("big").insert_multiple({"n": n} for n in range(100))
    size_before = journal(path).stat().st_size

    db.table("small").insert({"n": 1})

    assert record_count(path) == 2
    added = journal(path).read_bytes()[size_before:]
    assert b'"small"' in added
    assert b'"big"' not in added


@pytest.mark.parametrize("keep", ["all_but_one_byte", "header_only", "half"])
def test_a_torn_last_record_is_discarded_and_cut_off(path: Path, db: TinyDB, keep: str) -> None:
    db.table("orders").insert({"order_id": "SO-1"})
    intact = journal(path).stat().st_size
    db.table("orders").insert({"order_id": "SO-2"})
    db.close()
    data = journal(path).read_bytes()
    cut = {
        "all_but_one_byte": len(data) - 1,
        "header_only": intact + 4,
        "half": (intact + len(data)) // 2,
    }
    journal(path).write_bytes(data[: cut[keep]])

    assert reopened(path) == {"orders": [{"order_id": "SO-1"}]}
    assert journal(path).stat().st_size == intact


def test_every_truncation_point_of_the_last_record_loads_the_state_before_it(
    path: Path, db: TinyDB
) -> None:
    db.table("t").insert({"v": "first"})
    intact = journal(path).stat().st_size
    db.table("t").insert({"v": "second"})
    db.close()
    data = journal(path).read_bytes()

    for cut in range(intact, len(data)):
        journal(path).write_bytes(data[:cut])
        assert reopened(path) == {"t": [{"v": "first"}]}, f"cut at byte {cut}"


def test_a_tail_of_zeros_after_the_last_record_is_discarded(path: Path, db: TinyDB) -> None:
    db.table("t").insert({"v": 1})
    db.close()
    with journal(path).open("ab") as file:
        file.write(b"\0" * 4096)

    assert reopened(path) == {"t": [{"v": 1}]}


def test_writes_after_a_discarded_tail_load_cleanly_next_time(path: Path, db: TinyDB) -> None:
    db.table("t").insert({"v": 1})
    db.close()
    with journal(path).open("ab") as file:
        file.write(b'123 deadbeef\t{"set')
    again = TinyDB(path, storage=JournalStorage)
    again.table("t").insert({"v": 2})
    again.close()

    assert reopened(path) == {"t": [{"v": 1}, {"v": 2}]}


def test_a_damaged_record_before_a_good_one_raises_naming_file_and_offset(
    path: Path, db: TinyDB
) -> None:
    db.table("t").insert({"v": "aaaa"})
    db.table("t").insert({"v": "bbbb"})
    db.close()
    data = bytearray(journal(path).read_bytes())
    data[data.index(b"aaaa")] = ord("X")
    journal(path).write_bytes(bytes(data))

    with pytest.raises(JournalCorruptError, match=r"station\.json\.journal.*byte 0") as caught:
        TinyDB(path, storage=JournalStorage)
    assert isinstance(caught.value, EdgeError)
    assert isinstance(caught.value, ValueError)


def test_a_damaged_snapshot_raises_instead_of_loading_empty(path: Path, db: TinyDB) -> None:
    db.table("t").insert({"v": 1})
    journal_storage_of(db).compact()
    db.close()
    path.write_bytes(path.read_bytes()[:-3])

    with pytest.raises(JournalCorruptError, match=r"station\.json: snapshot"):
        TinyDB(path, storage=JournalStorage)


def test_compaction_empties_the_journal_and_keeps_the_state(path: Path) -> None:
    db = TinyDB(path, storage=JournalStorage, compact_after_bytes=2048)
    for n in range(200):
        db.table(f"t{n % 3}").insert({"n": n})
    db.close()

    assert journal(path).stat().st_size < 2048
    state = reopened(path)
    assert [doc["n"] for doc in state["t0"]] == list(range(0, 200, 3))
    assert sum(len(docs) for docs in state.values()) == 200


def test_a_crash_after_replacing_the_snapshot_but_before_emptying_the_journal_loads_right(
    path: Path, db: TinyDB
) -> None:
    db.table("a").insert({"v": 1})
    db.table("b").insert({"v": 1})
    db.table("a").update({"v": 2})
    db.drop_table("b")
    db.table("c").insert({"v": 3})
    expected = reopened_while_open(db)
    old_journal = journal(path).read_bytes()
    journal_storage_of(db).compact()
    db.close()
    journal(path).write_bytes(old_journal)

    assert reopened(path) == expected


def test_a_crash_while_writing_the_new_snapshot_leaves_the_old_state(
    path: Path, db: TinyDB
) -> None:
    db.table("a").insert({"v": 1})
    db.close()
    path.with_name(path.name + ".compacting").write_bytes(b'{"a": {"1": {"v"')

    assert reopened(path) == {"a": [{"v": 1}]}


def reopened_while_open(db: TinyDB) -> dict[str, list[Document]]:
    return {name: db.table(name).all() for name in sorted(db.tables())}


def test_a_transaction_commits_as_one_record(path: Path, db: TinyDB) -> None:
    db.table("state").insert({"phase": "idle"})
    before = record_count(path)

    with journal_storage_of(db).transaction():
        db.table("state").update({"phase": "picking"})
        db.table("outbox.000000").insert({"seq": 1})
        db.table("outbox.000000").insert({"seq": 2})
        db.drop_table("gone")
        assert record_count(path) == before

    assert record_count(path) == before + 1
    db.close()
    assert reopened(path) == {
        "outbox.000000": [{"seq": 1}, {"seq": 2}],
        "state": [{"phase": "picking"}],
    }


def test_a_failed_transaction_writes_nothing_and_restores_in_place_updates(
    path: Path, db: TinyDB
) -> None:
    db.table("state").insert({"phase": "idle", "lines": {"L1": 0}})
    db.table("other").insert({"v": 1})
    before = journal(path).read_bytes()
    storage = journal_storage_of(db)

    def change_everything_then_fail() -> None:
        with storage.transaction():
            db.table("state").update({"phase": "picking"})
            db.table("new").insert({"v": 1})
            db.drop_table("other")
            raise RuntimeError("packer cancelled")

    with pytest.raises(RuntimeError, match="packer cancelled"):
        change_everything_then_fail()

    assert journal(path).read_bytes() == before
    assert storage.rollbacks == 1
    assert reopened_while_open(db) == {
        "other": [{"v": 1}],
        "state": [{"phase": "idle", "lines": {"L1": 0}}],
    }


def test_a_nested_transaction_joins_the_outer_one(path: Path, db: TinyDB) -> None:
    storage = journal_storage_of(db)
    with storage.transaction():
        db.table("a").insert({"v": 1})
        with storage.transaction():
            db.table("b").insert({"v": 2})
        db.table("c").insert({"v": 3})

    assert record_count(path) == 1


def test_compacting_inside_a_transaction_is_refused(db: TinyDB) -> None:
    storage = journal_storage_of(db)
    with storage.transaction(), pytest.raises(StorageError, match="inside a transaction"):
        storage.compact()


def test_a_second_open_of_the_same_store_is_refused_naming_it(path: Path, db: TinyDB) -> None:
    with pytest.raises(StoreLockedError, match=r"station\.json is already open") as caught:
        TinyDB(path, storage=JournalStorage)
    assert isinstance(caught.value, RuntimeError)

    db.close()
    TinyDB(path, storage=JournalStorage).close()


def test_the_snapshot_is_plain_tinydb_json(path: Path, db: TinyDB) -> None:
    db.table("orders").insert({"order_id": "SO-1"})
    journal_storage_of(db).compact()
    db.close()

    plain = TinyDB(path, storage=JSONStorage, access_mode="r")
    try:
        assert plain.table("orders").all() == [{"order_id": "SO-1"}]
    finally:
        plain.close()


def test_journal_storage_of_refuses_another_storage(tmp_path: Path) -> None:
    plain = TinyDB(tmp_path / "plain.json")
    try:
        with pytest.raises(StorageError, match="storage=JournalStorage"):
            journal_storage_of(plain)
    finally:
        plain.close()


def test_a_document_json_cannot_hold_is_refused_and_leaves_the_state_as_it_was(
    path: Path, db: TinyDB
) -> None:
    db.table("t").insert({"v": 1})

    with pytest.raises(TypeError, match="not JSON serializable"):
        db.table("t").insert({"v": {1, 2}})

    assert db.table("t").all() == [{"v": 1}]
    assert record_count(path) == 1
