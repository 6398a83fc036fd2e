"""SSCC allocation: valid GS1 numbers from the station's own range, never issued twice."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from biip.sscc import Sscc
from hypothesis import given
from hypothesis import strategies as st

from edge.config import parse_section
from edge.drivers.printer.label_config import LabelSettings
from edge.errors import ConfigError
from edge.station.counters import CounterInUseError
from edge.station.sscc import (
    SsccAllocator,
    SsccRangeChanged,
    SsccRangeExhausted,
    compose_sscc,
    sscc_check_digit,
)


def settings(**overrides: Any) -> LabelSettings:
    values = {
        "company_prefix": "7613032",
        "extension_digit": 3,
        "serial_start": 1000,
        "serial_end": 1999,
    } | overrides
    return parse_section(LabelSettings, values, "labels")


def test_the_check_digit_matches_the_gs1_reference_vectors() -> None:
    assert sscc_check_digit("37613032110910342") == 0
    assert sscc_check_digit("15703538141037517") == 7


@given(
    extension=st.integers(0, 9),
    prefix=st.text("0123456789", min_size=7, max_size=10),
    data=st.data(),
)
def test_every_composed_sscc_is_one_biip_accepts_with_the_same_parts(
    extension: int, prefix: str, data: st.DataObject
) -> None:
    serial = data.draw(st.integers(0, 10 ** (16 - len(prefix)) - 1))

    sscc = compose_sscc(extension, prefix, serial)

    parsed = Sscc.parse(sscc)  # raises if the check digit is wrong
    assert len(sscc) == 18
    assert parsed.extension_digit == extension
    assert sscc[1 : 1 + len(prefix)] == prefix
    assert int(sscc[1 + len(prefix) : 17]) == serial


def test_the_allocator_issues_consecutive_serials_from_the_start_of_the_range(
    tmp_path: Path,
) -> None:
    with SsccAllocator(tmp_path / "sscc", settings()) as allocator:
        issued = [allocator.next() for _ in range(3)]

    assert issued == [compose_sscc(3, "7613032", serial) for serial in (1000, 1001, 1002)]
    assert issued[0][:17] == "3" + "7613032" + "000001000"
    for sscc in issued:
        Sscc.parse(sscc)


def test_numbers_are_not_reused_after_the_allocator_is_reopened(tmp_path: Path) -> None:
    path = tmp_path / "sscc"
    with SsccAllocator(path, settings()) as allocator:
        before = {allocator.next() for _ in range(5)}
    with SsccAllocator(path, settings()) as allocator:
        after = {allocator.next() for _ in range(5)}

    assert len(before | after) == 10


def test_a_crash_without_close_does_not_reuse_a_number(tmp_path: Path) -> None:
    path = tmp_path / "sscc"
    crashed = SsccAllocator(path, settings())
    first = crashed.next()
    crashed.close()  # what the OS does to the lock when the process dies

    with SsccAllocator(path, settings()) as allocator:
        assert allocator.next() != first


def test_an_exhausted_range_is_an_error_naming_the_range(tmp_path: Path) -> None:
    with SsccAllocator(tmp_path / "sscc", settings(serial_start=5, serial_end=6)) as allocator:
        allocator.next()
        allocator.next()
        assert allocator.remaining == 0

        with pytest.raises(SsccRangeExhausted, match=r"7613032.*5\.\.6"):
            allocator.next()
        with pytest.raises(SsccRangeExhausted):
            allocator.next()


def test_extending_the_end_of_the_range_continues_where_it_stopped(tmp_path: Path) -> None:
    path = tmp_path / "sscc"
    with SsccAllocator(path, settings(serial_start=5, serial_end=5)) as allocator:
        first = allocator.next()
    with SsccAllocator(path, settings(serial_start=5, serial_end=9)) as allocator:
        second = allocator.next()

    assert first == compose_sscc(3, "7613032", 5)
    assert second == compose_sscc(3, "7613032", 6)


@pytest.mark.parametrize(
    "changed",
    [{"serial_start": 0}, {"company_prefix": "7613033"}, {"extension_digit": 4}],
)
def test_a_counter_started_for_another_range_refuses_to_continue(
    tmp_path: Path, changed: dict[str, Any]
) -> None:
    path = tmp_path / "sscc"
    with SsccAllocator(path, settings()) as allocator:
        allocator.next()

    with pytest.raises(SsccRangeChanged, match="new counter file"):
        SsccAllocator(path, settings(**changed))


def test_a_counter_whose_range_record_is_lost_refuses_to_guess(tmp_path: Path) -> None:
    path = tmp_path / "sscc"
    with SsccAllocator(path, settings()) as allocator:
        allocator.next()
    (tmp_path / "sscc.range").unlink()

    with pytest.raises(SsccRangeChanged, match="missing"):
        SsccAllocator(path, settings())


def test_two_allocators_cannot_share_one_counter_file(tmp_path: Path) -> None:
    with SsccAllocator(tmp_path / "sscc", settings()), pytest.raises(CounterInUseError):
        SsccAllocator(tmp_path / "sscc", settings())


@pytest.mark.parametrize(
    ("overrides", "key", "reason"),
    [
        ({"company_prefix": "123456"}, "company_prefix", "7 to 10 digits"),
        ({"company_prefix": "12345678901"}, "company_prefix", "7 to 10 digits"),
        ({"company_prefix": 7613032}, "company_prefix", "quoted string"),
        ({"company_prefix": "76130AB"}, "company_prefix", "7 to 10 digits"),
        ({"extension_digit": 10}, "extension_digit", "less than or equal to 9"),
        ({"serial_start": 20, "serial_end": 10}, "serial_end", "below serial_start"),
        ({"serial_start": -1}, "serial_start", "greater than or equal to 0"),
        (
            {"company_prefix": "7613032123", "serial_end": 1_000_000},
            "serial_end",
            "leaves 6 for the serial reference",
        ),
    ],
)
def test_invalid_sscc_settings_are_refused_naming_the_key(
    overrides: dict[str, Any], key: str, reason: str
) -> None:
    with pytest.raises(ConfigError, match=rf"labels\.{key}: .*{reason}"):
        settings(**overrides)


def test_the_largest_serial_that_fits_is_accepted_and_padded() -> None:
    wide = settings(company_prefix="7613032123", serial_start=999_999, serial_end=999_999)

    assert wide.serial_digits == 6
    assert compose_sscc(3, "7613032123", 999_999)[1:17] == "7613032123999999"
