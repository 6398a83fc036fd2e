"""Errors of the station's fleet agent, each carrying the named reason the fleet report shows."""

from __future__ import annotations

from edge.contract import UpdateRefusal
from edge.errors import EdgeError

__all__ = ["FleetError", "UpdateRefused"]


class FleetError(EdgeError):
    """Something in the station's fleet handling (configuration push or update) went wrong."""


class UpdateRefused(FleetError):
    """An update was refused or abandoned; `refusal` names why, for counting across the fleet."""

    def __init__(self, refusal: UpdateRefusal, reason: str) -> None:
        super().__init__(f"{refusal}: {reason}")
        self.refusal: UpdateRefusal = refusal
        self.reason = reason
