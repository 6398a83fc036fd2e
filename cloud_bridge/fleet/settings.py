"""`[fleet]` in bridge.toml: where releases and keys live, how often rollouts move, and the
default rollout policy that `packline fleet rollout start` flags override.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from cloud_bridge.fleet.rollout_policy import (
    MAX_HEALTH_DEADLINE_S,
    MIN_HEALTH_DEADLINE_S,
    RolloutPolicy,
)
from edge.config import StrictConfig

__all__ = ["FleetSettings", "RolloutDefaults"]


class RolloutDefaults(StrictConfig):
    """`[fleet.rollout]`: the policy a rollout gets unless its start command says otherwise."""

    canaries: int = Field(default=1, ge=0)
    base_rate: int = Field(default=2, ge=1)
    increment_factor: float = Field(default=2.0, ge=1.0, allow_inf_nan=False)
    abort_percent: float = Field(default=20.0, ge=0.0, le=100.0)
    min_sample: int = Field(default=1, ge=1)
    station_timeout_s: int = Field(default=600, ge=1)
    health_deadline_s: int = Field(default=120, ge=MIN_HEALTH_DEADLINE_S, le=MAX_HEALTH_DEADLINE_S)

    def policy(self) -> RolloutPolicy:
        return RolloutPolicy(
            canaries=self.canaries,
            base_rate=self.base_rate,
            increment_factor=self.increment_factor,
            abort_percent=self.abort_percent,
            min_sample=self.min_sample,
            station_timeout_s=self.station_timeout_s,
            health_deadline_s=self.health_deadline_s,
        )


class FleetSettings(StrictConfig):
    """`[fleet]`: the release repository the bridge serves and the rollout defaults."""

    repository: Path | None = None
    """The TUF release repository (``metadata/`` and ``targets/``); without it no updates."""
    keys: Path | None = None
    """The signing keys (one file per key, mode 0600, in a 0700 directory)."""
    tick_seconds: float = Field(default=5.0, gt=0, le=3600)
    """How often the bridge advances rollouts and publishes pending configurations."""
    rollout: RolloutDefaults = RolloutDefaults()

    def relative_to(self, base: Path) -> FleetSettings:
        """These settings with relative directories taken from ``base`` (bridge.toml's folder)."""
        update: dict[str, Path] = {}
        for name in ("repository", "keys"):
            path: Path | None = getattr(self, name)
            if path is not None and not path.is_absolute():
                update[name] = base / path
        return self.model_copy(update=update)
