"""Persisted counters only go up: across restarts, leftover temp files and misuse."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.errors import EdgeError
from edge.station.counters import (
    CounterFileError,
    CounterInUseError,
    DurableCounter,
    StationCounters,
)


def test_a_new_counter_hands_out_1_then_2(tmp_path: Path) -> None:
    with DurableCounter(tmp_path / "seq") as counter:
        assert counter.value == 0
        assert [counter.next(), counter.next()] == [1, 2]


def test_the_value_is_on_disk_before_next_returns(tmp_path: Path) -> None:
    with DurableCounter(tmp_path / "seq") as counter:
        counter.next()
        counter.next()

        assert (tmp_path / "seq").read_text() == "2\n"


# Each run is one process lifetime: how many numbers it takes, and whether it died mid-write,
# leaving a half-written temporary file behind.
runs = st.lists(st.tuples(st.integers(min_value=0, max_value=5), st.booleans()), max_size=8)


@settings(max_examples=50, deadline=None)
@given(runs=runs)
def test_numbers_never_go_down_or_repeat_across_restarts(runs: list[tuple[int, bool]]) -> None:
    handed_out: list[int] = []
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "event_seq"
        for takes, crashed_mid_write in runs:
            with DurableCounter(path) as counter:
                assert counter.value == (handed_out[-1] if handed_out else 0)
                handed_out.extend(counter.next() for _ in range(takes))
            if crashed_mid_write:
                path.with_name("event_seq.tmp").write_text("99999999")

    assert handed_out == list(range(1, len(handed_out) + 1))


@pytest.mark.parametrize("content", ["", "12", "twelve\n", "-3\n", "1.5\n", "\x00\x00\x00\x00"])
def test_an_unreadable_counter_file_is_an_error_not_a_restart_from_zero(
    tmp_path: Path, content: str
) -> None:
    path = tmp_path / "bd_seq"
    path.write_text(content)

    with pytest.raises(CounterFileError, match="never reset it"):
        DurableCounter(path)


def test_a_second_counter_on_the_same_file_is_refused_while_the_first_is_open(
    tmp_path: Path,
) -> None:
    with DurableCounter(tmp_path / "seq"), pytest.raises(CounterInUseError, match="in use"):
        DurableCounter(tmp_path / "seq")


def test_closing_a_counter_frees_its_file_for_the_next_process(tmp_path: Path) -> None:
    first = DurableCounter(tmp_path / "seq")
    first.next()
    first.close()

    with DurableCounter(tmp_path / "seq") as second:
        assert second.next() == 2


def test_a_closed_counter_refuses_to_hand_out_numbers(tmp_path: Path) -> None:
    counter = DurableCounter(tmp_path / "seq")
    counter.close()

    with pytest.raises(EdgeError, match="closed"):
        counter.next()


def test_station_counters_keep_event_and_birth_death_sequences_apart(tmp_path: Path) -> None:
    with StationCounters(tmp_path) as counters:
        counters.event_seq.next()
        counters.event_seq.next()
        assert counters.bd_seq.next() == 1

    with StationCounters(tmp_path) as counters:
        assert (counters.event_seq.value, counters.bd_seq.value) == (2, 1)


def test_counter_errors_are_edge_errors_and_standard_exceptions() -> None:
    assert issubclass(CounterFileError, EdgeError)
    assert issubclass(CounterFileError, ValueError)
    assert issubclass(CounterInUseError, RuntimeError)
