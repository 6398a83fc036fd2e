"""What every request and response body shares: titled fields, strict requests, error bodies.

Requests are closed: an unknown field is refused by name, so a misspelt ``credit_limit`` cannot
pass as a request that changes nothing. Their numbers, strings and booleans are strict types (a
JSON ``"5"`` is not a quantity); enums and dates are read from their JSON strings.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

__all__ = ["ApiModel", "ErrorBody", "ErrorDetail", "RequestModel", "unique"]


def _titled(schema: dict[str, Any], _model: type[Any]) -> None:
    """Give every property a title; pydantic leaves it off those that refer to another model."""
    for name, prop in schema.get("properties", {}).items():
        prop.setdefault("title", name.replace("_", " ").capitalize())


class ApiModel(BaseModel):
    """Base of the response bodies."""

    model_config = ConfigDict(json_schema_extra=_titled)


class RequestModel(ApiModel):
    """Base of the request bodies: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_titled)


def unique(values: list[str], what: str) -> list[str]:
    """``values`` unchanged, or a validation error naming the first one given twice."""
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise PydanticCustomError(
                "unique",
                "{what} {value} is given twice; expected each once",
                {"what": what, "value": repr(value), "rule": f"each {what} at most once"},
            )
        seen.add(value)
    return values


# --- errors -----------------------------------------------------------------------------------


class ErrorDetail(ApiModel):
    """One thing wrong with a request."""

    field: str = Field(
        description="Dotted path to the offending input: a body field such as `lines.0.quantity`, "
        "a query or path parameter, or a header such as `Authorization`."
    )
    rule: str = Field(description="What the value must be to be accepted.")
    message: str = Field(description="What was wrong, in a sentence.")


class ErrorBody(ApiModel):
    """Every error response: the first problem in `error`, and all of them in `errors`."""

    error: ErrorDetail = Field(description="The first (often the only) problem found.")
    errors: list[ErrorDetail] = Field(
        description="Every problem found; a validation error lists each invalid field."
    )
