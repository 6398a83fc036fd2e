"""The outbox measured: append latency with a backlog pending, and survival of `kill -9`.

Append latency is taken with `pending` events already waiting (fsync included), beside stock
TinyDB `JSONStorage` doing the same appends into a table already that large: the baseline
rewrites the whole file on every insert, which is what the journal avoids.

The crash harness forks a child that appends (and sometimes acknowledges or compacts) and
reports each seq through a pipe only AFTER `append` returned; the parent SIGKILLs it at a random
moment, reopens the store and checks that nothing the child was told is durable went missing.
The test suite and the bench share it.
"""

from __future__ import annotations

import itertools
import os
import random
import select
import signal
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

from tinydb import TinyDB
from tinydb.storages import JSONStorage

from edge.contract import LinePicked
from edge.station.outbox import Outbox
from edge.station.storage import JournalStorage, journal_storage_of
from firmware_sim.errors import SimError

__all__ = [
    "CrashCheckError",
    "CrashReport",
    "measure_crash_survival",
    "measure_outbox_append",
    "run_crash_trials",
    "verify_store",
]

_EVENT_FIELDS: dict[str, object] = {
    "order_id": "SO-100234",
    "line_id": "L-0001",
    "sku": "SKU-BLUE-MUG",
    "gtin": "4006381333931",
    "slot": "A-01-03",
    "quantity": 2,
}
_STORE_NAME = "station.json"
_KILL_AFTER_READY = 0.75
"""Share of kills timed from the child's store being open; the rest from the fork (so some
land while the store is still loading)."""
_READY_TIMEOUT_S = 30.0


class CrashCheckError(SimError, AssertionError):
    """After a kill the reopened store broke a durability rule; the message has the seed."""


# --- latency ---------------------------------------------------------------------------------


def measure_outbox_append(rounds: int, pending: int = 10_000) -> tuple[list[float], list[float]]:
    """(outbox append latencies, stock JSONStorage baseline latencies) in seconds."""
    with tempfile.TemporaryDirectory() as directory:
        db = TinyDB(Path(directory) / _STORE_NAME, storage=JournalStorage)
        outbox = Outbox(db, max_events=2 * (pending + rounds) + 10)
        with journal_storage_of(db).transaction():
            for _ in range(pending):
                outbox.append(LinePicked, **_EVENT_FIELDS)
        driver = []
        for _ in range(rounds):
            start = time.perf_counter()
            outbox.append(LinePicked, **_EVENT_FIELDS)
            driver.append(time.perf_counter() - start)
        db.close()

        baseline_db = TinyDB(Path(directory) / "baseline.json", storage=JSONStorage)
        table = baseline_db.table("outbox")
        payload = _stored_event_document()
        table.insert_multiple(dict(payload) for _ in range(pending))
        baseline = []
        for _ in range(min(rounds, 50)):
            start = time.perf_counter()
            table.insert(dict(payload))
            baseline.append(time.perf_counter() - start)
        baseline_db.close()
    return driver, baseline


def _stored_event_document() -> dict[str, object]:
    """A document like the one the outbox stores per event, for the baseline's table."""
    stamp = {"event_id": uuid4(), "seq": 1, "at": datetime.now(UTC)}
    event = LinePicked.model_validate({**_EVENT_FIELDS, **stamp})
    return {"payload": event.model_dump_json()}


# --- crash survival --------------------------------------------------------------------------


@dataclass
class CrashReport:
    """What a run of kills did and proved."""

    seed: int
    kills: int = 0
    verified_events: int = 0
    """Distinct seqs reported durable, each checked present or acknowledged after a kill."""
    kills_after_appends: int = 0
    """Kills that landed after the child had reported at least one append."""
    compactions_seen: int = 0
    reported: set[int] = field(default_factory=set)
    highest_ack: int = 0


def run_crash_trials(
    directory: Path,
    kills: int,
    seed: int,
    *,
    segment_size: int = 16,
    compact_after_bytes: int = 24 * 1024,
    max_delay_s: float = 0.03,
) -> CrashReport:
    """SIGKILL `kills` children appending to one store; verify the store after every kill."""
    rng = random.Random(seed)
    report = CrashReport(seed=seed)
    path = directory / _STORE_NAME
    for trial in range(kills):
        lines = _run_and_kill(path, rng, segment_size, compact_after_bytes, max_delay_s)
        appended = [int(line[2:]) for line in lines if line.startswith("A ")]
        acked = [int(line[2:]) for line in lines if line.startswith("K ")]
        report.compactions_seen += sum(1 for line in lines if line == "C")
        report.kills += 1
        report.kills_after_appends += bool(appended)
        report.reported.update(appended)
        report.highest_ack = max([report.highest_ack, *acked])
        verify_store(directory, report, segment_size=segment_size, trial=trial)
    report.verified_events = len(report.reported)
    return report


def measure_crash_survival(kills: int) -> tuple[int, int]:
    """(kills done, events verified) for `kills` SIGKILLs of an appending child."""
    with tempfile.TemporaryDirectory() as directory:
        report = run_crash_trials(Path(directory), kills, random.randrange(2**32))
    return report.kills, report.verified_events


def _run_and_kill(
    path: Path, rng: random.Random, segment_size: int, compact_after_bytes: int, delay: float
) -> list[str]:
    child_seed = rng.randrange(2**32)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        status = 1
        try:
            _child(path, write_end, random.Random(child_seed), segment_size, compact_after_bytes)
            status = 0
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(status)
    os.close(write_end)
    received = bytearray()
    if rng.random() < _KILL_AFTER_READY:
        received += _read_until_ready(read_end)
    time.sleep(rng.uniform(0, delay))
    os.kill(pid, signal.SIGKILL)
    _, wait_status = os.waitpid(pid, 0)
    if os.WIFEXITED(wait_status) and os.WEXITSTATUS(wait_status) != 0:
        raise CrashCheckError(f"child failed on its own (exit {os.WEXITSTATUS(wait_status)})")
    while chunk := os.read(read_end, 65536):
        received += chunk
    os.close(read_end)
    return bytes(received).decode("ascii").splitlines()


def _read_until_ready(read_end: int) -> bytes:
    """What the child wrote up to its "store open" line (or its death, or a long wait)."""
    received = bytearray()
    deadline = time.monotonic() + _READY_TIMEOUT_S
    while b"R\n" not in received and time.monotonic() < deadline:
        readable, _, _ = select.select([read_end], [], [], _READY_TIMEOUT_S)
        if not readable:
            break
        chunk = os.read(read_end, 65536)
        if not chunk:
            break
        received += chunk
    return bytes(received)


def _child(
    path: Path, pipe: int, rng: random.Random, segment_size: int, compact_after_bytes: int
) -> None:
    """Append, sometimes ack or compact, and report each step only once it has returned."""
    db = TinyDB(path, storage=JournalStorage, compact_after_bytes=compact_after_bytes)
    outbox = Outbox(db, segment_size=segment_size)
    os.write(pipe, b"R\n")
    for _ in range(5_000):
        roll = rng.random()
        stats = outbox.stats()
        if roll < 0.12 and stats.highest_seq > stats.acknowledged_seq:
            seq = rng.randint(stats.acknowledged_seq + 1, stats.highest_seq)
            outbox.acknowledge(seq)
            os.write(pipe, b"K %d\n" % seq)
        elif roll < 0.15:
            journal_storage_of(db).compact()
            os.write(pipe, b"C\n")
        else:
            event = outbox.append(LinePicked, **_EVENT_FIELDS)
            os.write(pipe, b"A %d\n" % event.seq)


def verify_store(directory: Path, report: CrashReport, *, segment_size: int, trial: int) -> None:
    """Reopen the store after a kill and check every durability rule against the report.

    Raises `CrashCheckError` naming the seed and the rule broken. Appends one event to check
    that a new seq is above every seq reported so far.
    """
    path = directory / _STORE_NAME

    def fail(rule: str) -> CrashCheckError:
        return CrashCheckError(f"seed {report.seed}, kill {trial + 1}: {rule}")

    try:
        db = TinyDB(path, storage=JournalStorage)
    except Exception as error:
        raise fail(f"store does not load: {error}") from error
    try:
        outbox = Outbox(db, segment_size=segment_size)
        stats = outbox.stats()
        seqs = [event.seq for event in outbox.pending()]
        if any(later <= earlier for earlier, later in itertools.pairwise(seqs)):
            raise fail(f"pending seqs are not strictly increasing: {seqs}")
        if stats.acknowledged_seq < report.highest_ack:
            raise fail(
                f"acknowledged seq went back to {stats.acknowledged_seq}; "
                f"a child was told {report.highest_ack} was acknowledged"
            )
        present = set(seqs)
        lost = sorted(s for s in report.reported if s > stats.acknowledged_seq and s not in present)
        if lost:
            raise fail(f"seqs reported durable are neither pending nor acknowledged: {lost[:10]}")
        highest_reported = max(report.reported, default=0)
        new = outbox.append(LinePicked, **_EVENT_FIELDS)
        if new.seq <= max(highest_reported, report.highest_ack):
            raise fail(f"new append got seq {new.seq}; expected > {highest_reported}")
        report.reported.add(new.seq)
    finally:
        db.close()
