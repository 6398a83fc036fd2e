"""The arithmetic of a staged rollout: how big each wave is, and when failures stop it.

Kept free of the database and of time so the rules can be read and tested on their own. The
shape follows AWS IoT Jobs' exponential rate (a base rate grown by an increment factor) and its
abort configuration (a failure percentage that counts only once a minimum number of things has
finished); hawkBit's canary group comes first.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from cloud_bridge.errors import BridgeError

__all__ = [
    "MAX_HEALTH_DEADLINE_S",
    "MIN_HEALTH_DEADLINE_S",
    "RolloutPolicy",
    "RolloutPolicyError",
    "assign_waves",
    "failure_percent",
    "should_abort",
    "wave_sizes",
]

MIN_HEALTH_DEADLINE_S = 5
MAX_HEALTH_DEADLINE_S = 3600
"""The bounds `UpdateOffered.health_deadline_s` accepts on the wire."""


class RolloutPolicyError(BridgeError, ValueError):
    """A rollout policy value is out of range; the message names the value and the range."""


@dataclass(frozen=True, slots=True)
class RolloutPolicy:
    """How a rollout spreads over its stations and when it gives up.

    ``canaries`` stations go first, alone. Then waves of ``base_rate``, ``base_rate *
    increment_factor``, ``base_rate * increment_factor**2``... stations (rounded, at least 1).
    The rollout aborts as soon as more than ``abort_percent`` of the finished stations failed,
    once at least ``min_sample`` have finished. A station that has not finished within
    ``station_timeout_s`` of online time after its offer has failed.
    """

    canaries: int = 1
    base_rate: int = 2
    increment_factor: float = 2.0
    abort_percent: float = 20.0
    min_sample: int = 1
    station_timeout_s: int = 600
    health_deadline_s: int = 120

    def __post_init__(self) -> None:
        _at_least("canaries", self.canaries, 0)
        _at_least("base_rate", self.base_rate, 1)
        _at_least("min_sample", self.min_sample, 1)
        _at_least("station_timeout_s", self.station_timeout_s, 1)
        if not math.isfinite(self.increment_factor) or self.increment_factor < 1.0:
            raise RolloutPolicyError(
                f"increment_factor {self.increment_factor} is out of range; expected a number "
                "of at least 1.0 (1.0 keeps every wave at base_rate)"
            )
        if not 0.0 <= self.abort_percent <= 100.0:
            raise RolloutPolicyError(
                f"abort_percent {self.abort_percent} is out of range; expected 0 to 100"
            )
        if not MIN_HEALTH_DEADLINE_S <= self.health_deadline_s <= MAX_HEALTH_DEADLINE_S:
            raise RolloutPolicyError(
                f"health_deadline_s {self.health_deadline_s} is out of range; expected "
                f"{MIN_HEALTH_DEADLINE_S} to {MAX_HEALTH_DEADLINE_S}"
            )


def _at_least(name: str, value: int, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise RolloutPolicyError(
            f"{name} {value!r} is out of range; expected an integer >= {minimum}"
        )


def wave_sizes(stations: int, policy: RolloutPolicy) -> list[int]:
    """The size of each wave for ``stations`` stations: canaries, then growing waves.

    The last wave takes whatever is left, so the sizes always add up to ``stations``.
    """
    if stations < 0:
        raise RolloutPolicyError(f"stations {stations} is negative; expected a count")
    sizes: list[int] = []
    left = stations
    canaries = min(policy.canaries, left)
    if canaries:
        sizes.append(canaries)
        left -= canaries
    step = 0
    while left > 0:
        wanted = max(1, _round_half_up(policy.base_rate * policy.increment_factor**step))
        size = min(wanted, left)
        sizes.append(size)
        left -= size
        step += 1
    return sizes


def assign_waves(stations: Sequence[str], policy: RolloutPolicy) -> list[tuple[str, int]]:
    """Each station with its wave number (0 first), in the order given."""
    assigned: list[tuple[str, int]] = []
    position = 0
    for wave, size in enumerate(wave_sizes(len(stations), policy)):
        assigned.extend((station, wave) for station in stations[position : position + size])
        position += size
    return assigned


def failure_percent(failed: int, finished: int) -> float:
    """Failures as a percentage of finished stations; 0 while none has finished."""
    if finished <= 0:
        return 0.0
    return 100.0 * failed / finished


def should_abort(failed: int, finished: int, policy: RolloutPolicy) -> bool:
    """Whether the failures so far stop the rollout.

    Strictly above ``abort_percent``, so 20 % tolerates one failure in five; and only once
    ``min_sample`` stations have finished, so one early failure in a large group does not decide.
    """
    if finished < policy.min_sample or failed == 0:
        return False
    return failure_percent(failed, finished) > policy.abort_percent


def _round_half_up(value: float) -> int:
    """Round to the nearest integer, halves upward (Python's ``round`` rounds halves to even)."""
    return math.floor(value + 0.5)
