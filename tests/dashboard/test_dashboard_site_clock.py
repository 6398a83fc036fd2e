""" "Despatches today" and the hourly chart run on the site's clock, set in bridge.toml.

A UK site in summer starts its day at 23:00 UTC the evening before; counting from midnight UTC
would file its first hour of despatches under yesterday.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from dashboard_world import Dashboard, add_accounts_products_debtor, order_body, running_dashboard

from cloud_bridge.config import parse_bridge_config
from cloud_bridge.dashboard import DashboardSettings, use_settings
from cloud_bridge.dashboard.orders import HOURS, hour_starts, midnight
from cloud_bridge.db.models import Shipment, ShipmentLine
from edge.errors import ConfigError

LONDON = ZoneInfo("Europe/London")
KOLKATA = ZoneInfo("Asia/Kolkata")
FAR_EAST = "Pacific/Kiritimati"
"""UTC+14: its midnight is never UTC's, whatever the time the test runs."""


def test_a_uk_summer_day_starts_at_2300_utc_the_evening_before() -> None:
    half_past_midnight_utc = datetime(2026, 7, 1, 0, 30, tzinfo=UTC)

    assert midnight(half_past_midnight_utc, LONDON) == datetime(2026, 6, 30, 23, 0, tzinfo=UTC)
    assert midnight(half_past_midnight_utc, UTC) == datetime(2026, 7, 1, 0, 0, tzinfo=UTC)


def test_a_uk_winter_day_starts_at_midnight_utc() -> None:
    assert midnight(datetime(2026, 1, 15, 9, 0, tzinfo=UTC), LONDON) == datetime(
        2026, 1, 15, 0, 0, tzinfo=UTC
    )


def test_the_hours_of_a_half_hour_zone_start_on_its_own_clock() -> None:
    starts = hour_starts(datetime(2026, 3, 10, 12, 10, tzinfo=UTC), KOLKATA)

    assert len(starts) == HOURS
    assert starts[-1] == datetime(2026, 3, 10, 11, 30, tzinfo=UTC)
    assert [start.astimezone(KOLKATA).minute for start in starts] == [0] * HOURS
    assert starts[-1].astimezone(KOLKATA).hour == 17


def test_the_day_summer_time_ends_still_has_24_hourly_points_one_label_twice() -> None:
    starts = hour_starts(datetime(2026, 10, 25, 12, 0, tzinfo=UTC), LONDON)
    labels = [start.astimezone(LONDON).strftime("%H:%M") for start in starts]

    assert len(labels) == HOURS
    assert labels.count("01:00") == 2


@pytest.fixture
async def far_east_site(tmp_path: Path) -> AsyncIterator[Dashboard]:
    async with running_dashboard(tmp_path) as dashboard:
        await add_accounts_products_debtor(dashboard)
        use_settings(dashboard.app, DashboardSettings(timezone=FAR_EAST))
        yield dashboard


async def test_despatches_today_count_from_the_sites_midnight_and_name_its_zone(
    far_east_site: Dashboard,
) -> None:
    dashboard = far_east_site
    zone = ZoneInfo(FAR_EAST)
    local_midnight = midnight(datetime.now(UTC), zone)
    await dashboard.admin("POST", "/orders", order_body("SO-1", "A", [("MUG", 3)]), expect=201)
    with dashboard.sessions.begin() as session:
        for number, at in enumerate((local_midnight, local_midnight - timedelta(minutes=1))):
            session.add(
                Shipment(
                    order_no="SO-1",
                    station_id="w1.st01",
                    label_id=f"L{number}",
                    carrier="DPD",
                    shipped_at=at,
                    lines=[ShipmentLine(line_id="1", sku="MUG", quantity=1)],
                )
            )

    today = await dashboard.read("despatches/today")
    chart = await dashboard.read("charts/orders-per-hour")

    assert (today["shipments"], today["units"]) == (1, 1)
    assert datetime.fromisoformat(today["since"]) == local_midnight
    assert today["timezone"] == FAR_EAST
    assert today["since_local"].endswith(" 00:00")
    assert FAR_EAST in chart["title"]
    assert chart["labels"][-1] == datetime.now(zone).strftime("%H:00")


def test_an_app_built_without_settings_presents_the_site_in_utc() -> None:
    assert DashboardSettings().timezone == "UTC"
    assert DashboardSettings().zone is UTC


BRIDGE_TOML: dict[str, Any] = {
    "bridge": {"database_url": "sqlite:///bridge.db"},
    "broker": {"url": "mqtt://127.0.0.1:1883"},
    "http": {},
    "routing": {"stations": ["w1.st01"]},
    "stations": {"w1.st01": {"slots": {"MUG": "A1"}}},
}


def test_bridge_toml_sets_the_dashboards_zone_and_defaults_to_utc() -> None:
    configured = parse_bridge_config({**BRIDGE_TOML, "dashboard": {"timezone": "Europe/London"}})

    assert configured.dashboard.zone == LONDON
    assert parse_bridge_config(BRIDGE_TOML).dashboard.timezone == "UTC"


@pytest.mark.parametrize(
    ("section", "named"),
    [
        ({"timezone": "Europe/Lundon"}, "dashboard.timezone: Value error, 'Europe/Lundon' is not"),
        ({"timezone": "../../etc/passwd"}, "dashboard.timezone"),
        ({"time_zone": "UTC"}, "dashboard.time_zone: unknown key"),
    ],
)
def test_a_bad_dashboard_section_is_refused_naming_the_key(
    section: dict[str, str], named: str
) -> None:
    with pytest.raises(ConfigError, match=named.replace(".", r"\.").replace("(", r"\(")):
        parse_bridge_config({**BRIDGE_TOML, "dashboard": section})
