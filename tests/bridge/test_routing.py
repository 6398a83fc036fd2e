"""Routing sends each order to an online station: by zone, by account, or round robin."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from cloud_bridge.routing import RoutingSettings, StationRouter

STATIONS = ["w1.st01", "w1.st02", "w1.st03"]


def test_round_robin_rotates_over_the_online_stations_only() -> None:
    router = StationRouter(RoutingSettings(stations=STATIONS))
    online = {"w1.st01", "w1.st03"}

    chosen = [router.choose(account_id="A", zone=None, online=online) for _ in range(4)]

    assert chosen == ["w1.st01", "w1.st03", "w1.st01", "w1.st03"]


def test_with_no_eligible_station_online_the_order_waits() -> None:
    router = StationRouter(
        RoutingSettings(mode="by_account", stations=STATIONS, by_account={"A": ["w1.st02"]})
    )

    assert router.choose(account_id="A", zone=None, online={"w1.st01"}) is None


def test_by_account_uses_the_accounts_stations_and_others_share_the_rest() -> None:
    settings = RoutingSettings(mode="by_account", stations=STATIONS, by_account={"A": ["w1.st02"]})
    router = StationRouter(settings)

    assert router.choose(account_id="A", zone=None, online=STATIONS) == "w1.st02"
    assert router.choose(account_id="B", zone=None, online=STATIONS) in STATIONS


def test_by_zone_routes_by_the_orders_zone() -> None:
    settings = RoutingSettings(mode="by_zone", stations=STATIONS, by_zone={"cold": ["w1.st03"]})

    assert StationRouter(settings).choose(account_id="A", zone="cold", online=STATIONS) == (
        "w1.st03"
    )


def test_a_route_to_an_unknown_station_is_refused_naming_it() -> None:
    with pytest.raises(ValidationError, match=r"w1\.st09"):
        RoutingSettings(mode="by_zone", stations=STATIONS, by_zone={"cold": ["w1.st09"]})


def test_an_orders_zone_is_the_one_zone_of_all_its_skus() -> None:
    settings = RoutingSettings(
        mode="by_zone",
        stations=STATIONS,
        by_zone={"cold": ["w1.st03"]},
        sku_zones={"MILK": "cold", "CREAM": "cold"},
    )

    assert settings.zone_of({"MILK", "CREAM"}) == "cold"
    assert settings.zone_of({"MILK", "MUG"}) is None


def test_a_sku_zone_without_stations_is_refused() -> None:
    with pytest.raises(ValidationError, match="zone 'frozen'"):
        RoutingSettings(mode="by_zone", stations=STATIONS, sku_zones={"ICE": "frozen"})
