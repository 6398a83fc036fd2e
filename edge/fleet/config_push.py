"""Pushed configuration: a versioned overlay on station.toml, validated like station.toml itself.

The bridge sends the whole desired overlay each time (``settings``, section -> key -> value).
It is merged over the station's own station.toml section by section and key by key (a key set to
null goes back to its default), and the result must pass the same validation as station.toml.
Only then is it written, atomically, as ``config-applied.json``; a refused one leaves the file
as it was. The station's identity (site, id, state directory) cannot be changed remotely.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError

from edge.config import load_toml
from edge.contract import ConfigDesired, ConfigReport
from edge.errors import ConfigError
from edge.fleet.home import write_file_atomic
from edge.fleet.state import clip_reason
from edge.station.config import LoadedConfig, StationConfig, parse_station_config

__all__ = [
    "APPLIED_FILE",
    "IDENTITY_KEYS",
    "AppliedConfig",
    "ConfigOutcome",
    "ConfigPush",
    "EffectiveConfig",
    "merge_settings",
]

log = logging.getLogger("packline.fleet.config")

APPLIED_FILE = "config-applied.json"
IDENTITY_KEYS = ("site", "id", "state_dir")
"""Keys of [station] a pushed configuration may not change: they say which station this is."""

LINK_KEYS = ("url", "ca_file", "cert_file", "key_file")
"""Keys of [broker] a pushed configuration may not change: a wrong broker address or
certificate would cut the station off from the very channel that could push the fix."""

OutcomeStatus = Literal["applied", "unchanged", "stale", "refused"]


@dataclass(frozen=True)
class ConfigOutcome:
    """What `ConfigPush.apply` did with one desired configuration."""

    status: OutcomeStatus
    version: int
    reason: str | None = None

    @property
    def applied(self) -> bool:
        """A new configuration is in force: the station should restart into it."""
        return self.status == "applied"

    def __str__(self) -> str:
        return self.status if self.reason is None else f"{self.status}: {self.reason}"


class AppliedConfig(BaseModel):
    """``config-applied.json``: the overlay in force and its version."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = Field(ge=1)
    settings: dict[str, JsonValue]


class EffectiveConfig(LoadedConfig):
    """The configuration the station runs: station.toml with the applied overlay on top."""

    config_version: int = 0
    """The applied overlay's version; 0 when station.toml runs as it is."""


def merge_settings(base: dict[str, Any], settings: dict[str, JsonValue]) -> dict[str, Any]:
    """station.toml's data with `settings` laid over it, section by section and key by key.

    A value replaces the key's value whole (a nested table such as a printer connection is not
    mixed with the old one); a null value removes the key so its default applies.
    """
    merged = {
        name: dict(section) if isinstance(section, dict) else section
        for name, section in base.items()
    }
    for name, overlay in settings.items():
        if not isinstance(overlay, dict):
            raise ConfigError(
                f"invalid configuration: settings.{name}: expected a table of keys, "
                f"got {type(overlay).__name__}"
            )
        section = merged.setdefault(name, {})
        if not isinstance(section, dict):
            raise ConfigError(f"invalid configuration: {name} in station.toml is not a table")
        for key, value in overlay.items():
            if value is None:
                section.pop(key, None)
            else:
                section[key] = value
    return merged


def _identity_changes(base: dict[str, Any], merged: dict[str, Any]) -> list[str]:
    changes = []
    for section, keys in (("station", IDENTITY_KEYS), ("broker", LINK_KEYS)):
        before = base.get(section, {})
        after = merged.get(section, {})
        changes += [
            f"{section}.{key} ({before.get(key)!r} -> {after.get(key)!r})"
            for key in keys
            if before.get(key) != after.get(key)
        ]
    return changes


class ConfigPush:
    """Applies pushed configurations for one station and says which one is in force."""

    def __init__(self, station_toml: Path, state_dir: Path) -> None:
        self._station_toml = station_toml
        self._applied_file = state_dir / APPLIED_FILE
        self._refused: tuple[int, str] | None = None

    def apply(self, desired: ConfigDesired) -> ConfigOutcome:
        """Validate and store a desired configuration, unless it is old news or invalid."""
        applied = self._read_applied()
        current = applied.version if applied is not None else 0
        if desired.version == current:
            return ConfigOutcome("unchanged", desired.version)
        newest_seen = max(current, self._refused[0] if self._refused else 0)
        if desired.version < newest_seen:
            return ConfigOutcome(
                "stale",
                desired.version,
                f"version {desired.version} is older than {newest_seen}, already seen",
            )
        try:
            self._validate(desired.settings)
        except ConfigError as error:
            reason = clip_reason(str(error)) or "invalid configuration"
            self._refused = (desired.version, reason)
            log.warning("configuration v%d refused: %s", desired.version, reason)
            return ConfigOutcome("refused", desired.version, reason)
        document = AppliedConfig(version=desired.version, settings=desired.settings)
        write_file_atomic(self._applied_file, document.model_dump_json(indent=2).encode() + b"\n")
        self._refused = None
        return ConfigOutcome("applied", desired.version)

    def effective_config(self) -> EffectiveConfig:
        """station.toml with the applied overlay on top, as the station should run it.

        An overlay that no longer validates over station.toml (edited locally since) is left
        out and reported as refused, so the station still starts on its own file.
        """
        base_bytes = self._station_toml.read_bytes()
        base = load_toml(self._station_toml)
        applied = self._read_applied()
        if applied is not None:
            try:
                config = self._validate(applied.settings)
            except ConfigError as error:
                reason = f"overlay v{applied.version} no longer valid over station.toml: {error}"
                self._refused = (applied.version, clip_reason(reason) or reason)
                log.warning("%s", reason)
            else:
                overlay = json.dumps(applied.settings, sort_keys=True).encode()
                digest = hashlib.sha256(base_bytes + b"\n" + overlay).hexdigest()
                return EffectiveConfig(config=config, sha256=digest, config_version=applied.version)
        config = parse_station_config(base, base=self._station_toml.resolve().parent)
        digest = hashlib.sha256(base_bytes).hexdigest()
        return EffectiveConfig(config=config, sha256=digest, config_version=0)

    def report(self) -> ConfigReport:
        """The applied version, and the last refused one with its reason."""
        applied = self._read_applied()
        refused_version, refused_reason = self._refused or (None, None)
        return ConfigReport(
            applied_version=applied.version if applied is not None else 0,
            refused_version=refused_version,
            refused_reason=refused_reason,
        )

    def _validate(self, settings: dict[str, JsonValue]) -> StationConfig:
        base = load_toml(self._station_toml)
        merged = merge_settings(base, settings)
        changes = _identity_changes(base, merged)
        if changes:
            raise ConfigError(
                "invalid configuration: the station's identity and broker link cannot be "
                "changed remotely: " + ", ".join(changes)
            )
        return parse_station_config(merged, base=self._station_toml.resolve().parent)

    def _read_applied(self) -> AppliedConfig | None:
        """The overlay in force; an unreadable file (a failing disk) counts as none, logged."""
        try:
            return AppliedConfig.model_validate_json(self._applied_file.read_bytes())
        except FileNotFoundError:
            return None
        except ValidationError:
            log.exception(
                "%s is not a valid applied configuration; running station.toml alone",
                self._applied_file,
            )
            return None
