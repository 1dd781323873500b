"""Shapes shared by every router: the page envelope and the error envelope (for OpenAPI)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import AfterValidator, BaseModel, Field, PlainSerializer, WithJsonSchema

from loyalty.clock import as_utc
from loyalty.errors import ErrorCode
from loyalty.models.base import MAX_ID
from loyalty.services.pages import DEFAULT_LIMIT, MAX_LIMIT, Page

T = TypeVar("T")

# An instant as API.md writes it: ISO 8601 with a numeric offset (`2026-11-21T09:15:00+00:00`),
# where Pydantic would write `Z`. Every datetime of every answer uses this type.
Instant = Annotated[
    datetime,
    PlainSerializer(lambda moment: moment.isoformat(), return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}, mode="serialization"),
]


def _utc_instant(moment: datetime) -> datetime:
    try:
        return as_utc(moment)
    except OverflowError:  # 0001-01-01T00:00:00+14:00 lies before the first instant Python can hold in UTC
        raise ValueError("the instant is out of range") from None


# An instant a client sends (a query's `since`, say): any ISO 8601 form, held in UTC; one that UTC
# cannot hold is a 422, not an overflow further down.
InstantIn = Annotated[datetime, AfterValidator(_utc_instant)]


class PageOut(BaseModel, Generic[T]):
    items: list[T] = Field(description="This page's items.")
    total: int = Field(description="How many items the whole list holds.")
    limit: int = Field(description="The most items a page holds (as asked, default 50, at most 200).")
    offset: int = Field(description="How many items come before this page.")

    @classmethod
    def of(cls, page: Page[Any], items: Sequence[T]) -> PageOut[T]:
        """The envelope of a service's page, its rows mapped to `items`."""
        return cls(items=list(items), total=page.total, limit=page.limit, offset=page.offset)


class PageParams(BaseModel):
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    offset: int = Query(0, ge=0, le=MAX_ID)


class ErrorOut(BaseModel):
    """The body of every error (docs/api.md, "Errors"); each route lists the codes it answers."""

    error_code: ErrorCode = Field(description="What went wrong, for a program: one of a closed set, never translated")
    message: str = Field(description="What went wrong, for a person, in the request's language (Accept-Language)")
    details: dict[str, Any] = Field(description="The values the error is about (ids, limits, instants), by code")
