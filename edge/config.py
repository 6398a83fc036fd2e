"""Strict configuration loading: TOML in, typed frozen objects out.

Every section is a pydantic model with `extra="forbid"`, so a key nobody reads is an error that
names the key, not a silent typo that leaves a default in force.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from edge.errors import ConfigError

__all__ = ["StrictConfig", "load_toml", "parse_section"]

ModelT = TypeVar("ModelT", bound=BaseModel)


class StrictConfig(BaseModel):
    """Base for every configuration section: unknown keys are refused, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _describe(error: ValidationError, section: str) -> str:
    problems = []
    for item in error.errors():
        where = ".".join(str(part) for part in (section, *item["loc"]) if part != "")
        if item["type"] == "extra_forbidden":
            problems.append(f"{where}: unknown key (nothing reads it; check the spelling)")
        else:
            problems.append(f"{where}: {item['msg']}")
    return "; ".join(problems)


def parse_section(model: type[ModelT], data: Mapping[str, Any], section: str) -> ModelT:
    """Validate one config section, raising `ConfigError` that names each bad key."""
    try:
        return model.model_validate(dict(data))
    except ValidationError as error:
        raise ConfigError(f"invalid configuration: {_describe(error, section)}") from error


def load_toml(path: Path) -> dict[str, Any]:
    """Read a TOML file, turning syntax errors and missing files into `ConfigError`."""
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError as error:
        raise ConfigError(f"configuration file not found: {path}") from error
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from error
