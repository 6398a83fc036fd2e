"""The screen's audit table: bounded, newest first, and pruned in the action's own transaction.

The table lives in the station's crash-safe TinyDB (the real `JournalStorage` on disk here), so
these tests also reopen the store to see what a restart would find.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tinydb import TinyDB

from edge.station.outbox import OutboxFull
from edge.station.screen.audit import AUDIT_ROWS_KEPT, AUDIT_TABLE, ScreenAudit
from edge.station.storage import JournalStorage, journal_storage_of

START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "station.json"


def append(audit: ScreenAudit, n: int) -> None:
    audit.append(
        at=START + timedelta(seconds=n),
        action="reprint",
        reason=f"reason {n}",
        order_id=f"SO-{n}",
        outcome="done",
        detail=f"label L-{n} of order SO-{n} sent to the printer again",
    )


def order_ids(audit: ScreenAudit, limit: int) -> list[str | None]:
    return [row["order_id"] for row in audit.recent(limit)]


def test_recent_gives_the_newest_rows_first(store: Path) -> None:
    with TinyDB(store, storage=JournalStorage) as db:
        audit = ScreenAudit(db)
        for n in range(1, 5):
            append(audit, n)
        assert order_ids(audit, 2) == ["SO-4", "SO-3"]
        assert order_ids(audit, 50) == ["SO-4", "SO-3", "SO-2", "SO-1"]
        [newest] = audit.recent(1)
        assert newest == {
            "at": (START + timedelta(seconds=4)).isoformat(),
            "action": "reprint",
            "reason": "reason 4",
            "order_id": "SO-4",
            "outcome": "done",
            "detail": "label L-4 of order SO-4 sent to the printer again",
        }


def test_the_oldest_rows_go_once_the_table_holds_its_cap_and_stay_gone_after_a_restart(
    store: Path,
) -> None:
    with TinyDB(store, storage=JournalStorage) as db:
        audit = ScreenAudit(db, keep=5)
        for n in range(1, 9):
            append(audit, n)
        assert len(audit) == 5
        assert order_ids(audit, 10) == ["SO-8", "SO-7", "SO-6", "SO-5", "SO-4"]

    with TinyDB(store, storage=JournalStorage) as reopened:
        audit = ScreenAudit(reopened, keep=5)
        assert order_ids(audit, 10) == ["SO-8", "SO-7", "SO-6", "SO-5", "SO-4"]
        append(audit, 9)
        assert order_ids(audit, 10) == ["SO-9", "SO-8", "SO-7", "SO-6", "SO-5"]


def test_the_station_keeps_the_newest_thousand_rows(store: Path) -> None:
    with TinyDB(store, storage=JournalStorage) as db:
        audit = ScreenAudit(db)
        with journal_storage_of(db).transaction():  # one fsync for the lot
            for n in range(1, AUDIT_ROWS_KEPT + 6):
                append(audit, n)
        assert AUDIT_ROWS_KEPT == 1000
        assert len(audit) == 1000
        assert order_ids(audit, 1) == ["SO-1005"]
        assert audit.recent(1000)[-1]["order_id"] == "SO-6"


def test_an_append_rolled_back_with_its_action_leaves_the_oldest_row_in_place(
    store: Path,
) -> None:
    with TinyDB(store, storage=JournalStorage) as db:
        audit = ScreenAudit(db, keep=3)
        for n in range(1, 4):
            append(audit, n)

        def audited_action_that_cannot_be_recorded() -> None:
            with journal_storage_of(db).transaction():
                append(audit, 4)  # inserts SO-4 and prunes SO-1 ...
                raise OutboxFull("depth 10 of max_events 10")  # ... then the effect fails

        with pytest.raises(OutboxFull):
            audited_action_that_cannot_be_recorded()
        assert order_ids(audit, 10) == ["SO-3", "SO-2", "SO-1"]

    with TinyDB(store, storage=JournalStorage) as reopened:
        assert order_ids(ScreenAudit(reopened, keep=3), 10) == ["SO-3", "SO-2", "SO-1"]


def test_a_table_grown_past_the_cap_by_an_older_version_is_cut_back_on_the_next_append(
    store: Path,
) -> None:
    with TinyDB(store, storage=JournalStorage) as db:
        table = db.table(AUDIT_TABLE)
        audit = ScreenAudit(db, keep=3)
        for n in range(1, 8):
            append(ScreenAudit(db, keep=100), n)
        assert len(table) == 7
        append(audit, 8)
        assert order_ids(audit, 10) == ["SO-8", "SO-7", "SO-6"]


def test_keeping_no_rows_is_refused(store: Path) -> None:
    with (
        TinyDB(store, storage=JournalStorage) as db,
        pytest.raises(ValueError, match="keep=0"),
    ):
        ScreenAudit(db, keep=0)
