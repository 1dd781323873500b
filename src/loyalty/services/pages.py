"""Offset pagination for every list: one query for the page, one for the total."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


@dataclass(frozen=True)
class Page(Generic[T]):
    items: Sequence[T]
    total: int
    limit: int
    offset: int


async def paginate(
    session: AsyncSession,
    query: Select[*tuple[Any, ...]],
    *,
    order_by: Sequence[Any],
    limit: int,
    offset: int,
    scalars: bool = True,
) -> Page[Any]:
    """One page of `query`, in `order_by` order: at most `limit` rows after skipping `offset`, with the
    total count of rows the query matches (a second query). `scalars`: the rows' first entities (an ORM
    object per row) rather than whole rows. Raises nothing of its own."""
    total = await session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    result = await session.execute(query.order_by(*order_by).limit(limit).offset(offset))
    items = result.scalars().all() if scalars else result.all()
    return Page(items=items, total=total, limit=limit, offset=offset)
