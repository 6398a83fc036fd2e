"""How every dashboard list is paged: ``limit`` and ``offset`` on the server, with the total.

A page never holds more than `MAX_LIMIT` rows, so the browser's work and the response's size
stay the same whether the database holds a hundred orders or a hundred thousand.
"""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from fastapi import Query
from pydantic import Field, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from cloud_bridge.api.schemas_base import ApiModel

__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "MAX_OFFSET", "Limit", "Offset", "Page", "page_of"]

DEFAULT_LIMIT = 50
MAX_LIMIT = 500

Limit = Annotated[
    int,
    Query(ge=1, le=MAX_LIMIT, description=f"Rows per page, 1 to {MAX_LIMIT}."),
]
MAX_OFFSET = 2**31 - 1
"""Far beyond any list here, and small enough for every database's integer parameters."""
Offset = Annotated[
    int,
    Query(
        ge=0,
        le=MAX_OFFSET,
        description=f"Rows to skip: 0 for the first page, at most {MAX_OFFSET}.",
    ),
]

_Item = TypeVar("_Item")


class Page(ApiModel, Generic[_Item]):
    """One page of a list, with where it starts, how long pages are, and how many rows exist."""

    items: list[_Item] = Field(description="The rows of this page, in the list's order.")
    total: int = Field(description="Rows in the whole list, with the same filter.")
    limit: int = Field(description="The page length asked for.")
    offset: int = Field(description="Rows skipped before this page.")
    next_offset: int | None = Field(description="The offset of the next page; null on the last.")

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        """Describe every parametrised page: pydantic gives ``Page[X]`` no docstring of its own."""
        schema = handler.resolve_ref_schema(handler(core_schema))
        schema.setdefault("description", _PAGE_DESCRIPTION)
        return schema


_PAGE_DESCRIPTION = "One page of a list, with where it starts and how many rows the list has."


def page_of(items: list[_Item], *, total: int, limit: int, offset: int) -> Page[_Item]:
    """A page of ``items``, knowing whether rows remain after it."""
    following = offset + len(items)
    return Page[_Item](
        items=items,
        total=total,
        limit=limit,
        offset=offset,
        next_offset=following if following < total else None,
    )
