"""`[dashboard]` in bridge.toml: the site's time zone, in which the dashboard's days and hours run.

"Despatches today" and the orders-per-hour chart are a site's working day and its clock hours,
not UTC's: a UK site in summer starts its day an hour before midnight UTC. The zone is an IANA
name, checked against the system's zone database when the bridge starts.
"""

from __future__ import annotations

from datetime import UTC, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator

from edge.config import StrictConfig

__all__ = ["DashboardSettings"]

_UTC_NAME = "UTC"


class DashboardSettings(StrictConfig):
    """`[dashboard]`: how the manager's dashboard presents the site."""

    timezone: str = Field(default=_UTC_NAME, min_length=1, max_length=64)
    """The site's IANA time zone, such as ``Europe/London``; "today" and the hours run in it."""

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        if name == _UTC_NAME:
            return name
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"{name!r} is not a time zone this system knows; expected an IANA name such "
                "as 'Europe/London' or 'UTC'"
            ) from None
        return name

    @property
    def zone(self) -> tzinfo:
        """The zone itself (zoneinfo caches it, so this costs nothing per request).

        UTC needs no zone database, so a host without one still runs with the default.
        """
        return UTC if self.timezone == _UTC_NAME else ZoneInfo(self.timezone)
