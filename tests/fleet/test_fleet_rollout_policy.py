"""The wave arithmetic of a rollout: canaries first, then waves growing by a factor, and an abort
rule that waits for a minimum sample and then trips strictly above its percentage."""

from __future__ import annotations

import pytest

from cloud_bridge.fleet.rollout_policy import (
    RolloutPolicy,
    RolloutPolicyError,
    assign_waves,
    should_abort,
    wave_sizes,
)


def test_twenty_stations_go_one_canary_then_two_four_eight_and_the_rest() -> None:
    assert wave_sizes(20, RolloutPolicy()) == [1, 2, 4, 8, 5]


@pytest.mark.parametrize(
    ("stations", "policy", "expected"),
    [
        (0, RolloutPolicy(), []),
        (1, RolloutPolicy(canaries=3), [1]),
        (5, RolloutPolicy(canaries=0, base_rate=2, increment_factor=1.0), [2, 2, 1]),
        (10, RolloutPolicy(canaries=2, base_rate=1, increment_factor=1.5), [2, 1, 2, 2, 3]),
        (7, RolloutPolicy(canaries=1, base_rate=3, increment_factor=10.0), [1, 3, 3]),
    ],
)
def test_wave_sizes_always_add_up_to_the_stations(
    stations: int, policy: RolloutPolicy, expected: list[int]
) -> None:
    sizes = wave_sizes(stations, policy)

    assert sizes == expected
    assert sum(sizes) == stations


def test_a_wave_size_is_rounded_half_up_and_never_below_one() -> None:
    # base 1 grown by 1.5: 1, 1.5 -> 2, 2.25 -> 2, 3.375 -> 3
    assert wave_sizes(8, RolloutPolicy(canaries=0, base_rate=1, increment_factor=1.5)) == [
        1,
        2,
        2,
        3,
    ]


def test_stations_are_assigned_to_waves_in_the_order_given() -> None:
    assigned = assign_waves(["a", "b", "c", "d"], RolloutPolicy(canaries=1, base_rate=2))

    assert assigned == [("a", 0), ("b", 1), ("c", 1), ("d", 2)]


@pytest.mark.parametrize(
    ("failed", "finished", "expected"),
    [
        (0, 0, False),
        (1, 1, True),  # the one canary failed: 100 % > 20 %
        (1, 5, False),  # exactly 20 % is not above 20 %
        (2, 9, True),  # 22 %
        (0, 9, False),
    ],
)
def test_the_rollout_aborts_strictly_above_the_failure_percentage(
    failed: int, finished: int, expected: bool
) -> None:
    assert should_abort(failed, finished, RolloutPolicy(abort_percent=20.0)) is expected


def test_failures_do_not_abort_before_the_minimum_sample_has_finished() -> None:
    policy = RolloutPolicy(abort_percent=20.0, min_sample=3)

    assert should_abort(2, 2, policy) is False
    assert should_abort(2, 3, policy) is True


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("canaries", -1, "canaries -1"),
        ("base_rate", 0, "base_rate 0"),
        ("increment_factor", 0.5, "increment_factor 0.5"),
        ("abort_percent", 101.0, "abort_percent 101.0"),
        ("min_sample", 0, "min_sample 0"),
        ("station_timeout_s", 0, "station_timeout_s 0"),
        ("health_deadline_s", 4, "health_deadline_s 4"),
    ],
)
def test_a_policy_value_out_of_range_is_refused_by_name(
    field: str, value: float, named: str
) -> None:
    with pytest.raises(RolloutPolicyError, match=named):
        RolloutPolicy(**{field: value})  # type: ignore[arg-type]
