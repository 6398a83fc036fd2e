"""How much of each measurement `packline bench` takes: the full plan, the quick one, overrides.

The full plan is sized so each figure means what its name says (10,000 events replayed, 100,000
order lines allocated) and takes several minutes. The quick plan keeps the two figures whose
size is their meaning, the outbox append with 10,000 events pending and the replay scaled to
10,000 events, and shrinks the rest so the whole run ends within about two minutes on two cores.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

__all__ = [
    "COUNT_HELP",
    "FULL_PLAN",
    "QUICK_PLAN",
    "BenchPlan",
    "BenchPlanError",
    "plan_from_options",
]


class BenchPlanError(ValueError):
    """A count in the bench plan is below its minimum; the message names the option."""


_MINIMUM = {"rounds": 10, "screen_scans": 10}
"""Below 10 samples a p99 is just the maximum; every other count needs at least one."""


@dataclass(frozen=True)
class BenchPlan:
    """How much of each measurement to take."""

    rounds: int = 300
    """Samples per latency: scan, lights, scan to light, outbox append, event round trip."""
    orders: int = 1000
    """Complete orders run through the station before its memory is read."""
    kills: int = 500
    """`kill -9`s of a process appending to the outbox."""
    replay_events: int = 10_000
    """Events queued at the station, then replayed to the broker."""
    bridge_lines: int = 100_000
    """Order lines in the allocation figure."""
    bridge_skus: int = 10_000
    """SKUs those lines spread over."""
    ingest_events: int = 2_000
    """Station events ingested by one bridge instance."""
    sage_postings: int = 300
    """Shipments posted to the Sage sandbox."""
    fleet_small: int = 10
    """Stations in the smaller rollout drill."""
    fleet_large: int = 100
    """Stations in the larger rollout drill (the growth figure compares the two)."""
    transfer_mib: int = 16
    """MiB of release file fetched over MQTT in the transfer figure."""
    flood_events: int = 20_000
    """Events one station floods the bridge with while three others pick at a packer's pace."""
    screen_scans: int = 200
    """Scans (order, item and abort barcodes in turn) timed to the packer's screen and the light."""
    dashboard_orders: int = 100_000
    """Orders in the bridge's database for the dashboard's first load (beside 100)."""
    dashboard_loads: int = 5
    """First loads of the dashboard timed at each size; the median is reported."""
    quick: bool = False
    """Whether this plan started from the quick one (reported with the figures)."""

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool):
                continue
            minimum = _MINIMUM.get(field.name, 1)
            if value < minimum:
                option = "--" + field.name.replace("_", "-")
                raise BenchPlanError(f"{option} is {value}; expected at least {minimum}")


FULL_PLAN = BenchPlan()
QUICK_PLAN = BenchPlan(
    rounds=50,
    orders=20,
    kills=20,
    replay_events=2_000,
    bridge_lines=10_000,
    bridge_skus=1_000,
    ingest_events=500,
    sage_postings=20,
    fleet_small=2,
    fleet_large=4,
    transfer_mib=2,
    flood_events=2_000,
    screen_scans=30,
    dashboard_orders=5_000,
    dashboard_loads=3,
    quick=True,
)

COUNT_HELP = {
    "rounds": "samples per latency (scan, lights, scan to light, outbox, round trip)",
    "orders": "orders run before reading the station's memory",
    "kills": "kill -9s of a process appending to the outbox",
    "replay_events": "events queued for the replay figure (reported scaled to 10,000)",
    "bridge_lines": "order lines in the allocation figure",
    "bridge_skus": "SKUs they spread over",
    "ingest_events": "station events in the ingest figure",
    "sage_postings": "shipments posted to the Sage sandbox in the posting figure",
    "fleet_small": "stations in the smaller rollout drill",
    "fleet_large": "stations in the larger rollout drill",
    "transfer_mib": "MiB of release file fetched over MQTT",
    "flood_events": "events one station floods the bridge with in the throttling figure",
    "screen_scans": "scans timed to the packer's screen in the browser and to the light",
    "dashboard_orders": "orders in the database for the dashboard's first load (beside 100)",
    "dashboard_loads": "first loads of the dashboard timed at each size (median reported)",
}
"""One line per count for the command's help, keyed by the plan's field names."""


def plan_from_options(*, quick: bool, overrides: Mapping[str, int | None]) -> BenchPlan:
    """The quick or the full plan, with every count given on the command line put in its place.

    `overrides` maps plan field names to the option's value, None where it was not given.
    """
    known = {field.name for field in fields(BenchPlan)} - {"quick"}
    unknown = sorted(set(overrides) - known)
    if unknown:
        expected = ", ".join(sorted(known))
        raise BenchPlanError(f"unknown bench count(s) {', '.join(unknown)}; expected {expected}")
    given: dict[str, Any] = {name: value for name, value in overrides.items() if value is not None}
    return replace(QUICK_PLAN if quick else FULL_PLAN, **given)
