"""Long ``IN (...)`` lists cut to a size every supported database accepts."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

#: SQLite before 3.32 allows 999 bound parameters per statement; PostgreSQL 65,535.
IN_LIST_SIZE = 500


def chunks(items: Iterable[T], size: int = IN_LIST_SIZE) -> Iterator[list[T]]:
    """``items`` in lists of at most ``size``, for one ``IN (...)`` query each."""
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
