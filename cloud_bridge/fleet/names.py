"""Names an operator types for fleet control: station ids and group names, checked on entry."""

from __future__ import annotations

import re

from cloud_bridge.errors import BridgeError
from edge.contract import StationId
from edge.contract.errors import InvalidIdError

__all__ = ["GROUP_PATTERN", "FleetNameError", "check_group", "parse_station"]

GROUP_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
"""A group: up to 64 letters, digits, ``_``, ``.`` or ``-``, starting with a letter or digit."""


class FleetNameError(BridgeError, ValueError):
    """A station id or group name is not one the fleet can use."""


def check_group(group: str) -> str:
    """``group`` if it is a valid group name; otherwise an error naming it and the rule."""
    if not re.fullmatch(GROUP_PATTERN, group):
        raise FleetNameError(
            f"group {group!r} is not a valid group name; expected 1 to 64 letters, digits, "
            "'_', '.' or '-', starting with a letter or digit"
        )
    return group


def parse_station(text: str) -> StationId:
    """A station id ``<site>.<station>`` as typed, or an error naming what is wrong with it."""
    try:
        return StationId.from_client_id(text)
    except InvalidIdError as error:
        raise FleetNameError(f"station {text!r}: {error}") from None
