"""Which station packs an order: by zone, by account, or round robin over the online stations.

Routing is configuration, not code: a warehouse zones its stations (cold, bulky, fragile) or
dedicates them to a client account, and falls back to sharing work round robin. The router only
ever picks a station that is online (its latest presence is a birth), so work is not parked on a
station that cannot see it; with none online the order waits, released later.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Literal

from pydantic import Field, model_validator

from edge.config import StrictConfig
from edge.contract import StationId

__all__ = ["RoutingSettings", "StationRouter"]


class RoutingSettings(StrictConfig):
    """`[routing]` in bridge.toml."""

    mode: Literal["round_robin", "by_account", "by_zone"] = "round_robin"
    stations: list[str] = Field(min_length=1)
    """Every station this bridge may send work to, as ``<site>.<station>``."""
    by_account: dict[str, list[str]] = Field(default_factory=dict)
    """Account id -> the stations that pack its orders (mode ``by_account``)."""
    by_zone: dict[str, list[str]] = Field(default_factory=dict)
    """Zone -> the stations in it (mode ``by_zone``); an order's zone comes from its lines."""
    sku_zones: dict[str, str] = Field(default_factory=dict)
    """SKU -> zone (cold, bulky, fragile...). An order's zone is that of its lines' SKUs; an
    order whose SKUs span zones, or have none, goes to the stations of no zone in particular."""

    def zone_of(self, skus: Iterable[str]) -> str | None:
        """The one zone every SKU of an order is in, or None."""
        zones = {self.sku_zones.get(sku) for sku in skus}
        if len(zones) == 1:
            (zone,) = zones
            return zone
        return None

    @model_validator(mode="after")
    def _stations_known(self) -> RoutingSettings:
        for station in self.stations:
            StationId.from_client_id(station)
        known = set(self.stations)
        for zone in set(self.sku_zones.values()) - set(self.by_zone):
            raise ValueError(f"sku_zones names zone {zone!r}, which has no stations in by_zone")
        for table in (self.by_account, self.by_zone):
            for key, stations in table.items():
                unknown = sorted(set(stations) - known)
                if unknown:
                    raise ValueError(
                        f"{key!r} routes to {', '.join(unknown)}, which are not in stations"
                    )
        return self


class StationRouter:
    """Chooses stations; keeps the round-robin position between calls."""

    def __init__(self, settings: RoutingSettings) -> None:
        self.settings = settings
        self._next = 0

    def choose(self, *, account_id: str, zone: str | None, online: Iterable[str]) -> str | None:
        """The station for an order, or None when no eligible station is online."""
        up = set(online)
        candidates = self._candidates(account_id, zone)
        eligible = [station for station in candidates if station in up]
        if not eligible:
            return None
        choice = eligible[self._next % len(eligible)]
        self._next += 1
        return choice

    def _candidates(self, account_id: str, zone: str | None) -> list[str]:
        settings = self.settings
        table: Mapping[str, list[str]] = {}
        key: str | None = None
        if settings.mode == "by_account":
            table, key = settings.by_account, account_id
        elif settings.mode == "by_zone":
            table, key = settings.by_zone, zone
        if key is not None and key in table:
            return list(table[key])
        return list(settings.stations)
