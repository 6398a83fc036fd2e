"""Splitting keys into bounded batches, so an ``IN (...)`` list stays within every database's
limit on bound parameters and a batch of rows stays small in memory."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from typing import TypeVar

__all__ = ["CHUNK", "chunked"]

CHUNK = 500
"""Keys per ``IN (...)`` list and rows per batch read from the database."""

_Item = TypeVar("_Item")


def chunked(items: Iterable[_Item], size: int = CHUNK) -> Iterator[list[_Item]]:
    """``items`` in consecutive lists of at most ``size``; none for no items."""
    if size < 1:
        raise ValueError(f"chunk size {size} is not positive; expected 1 or more")
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch
