"""The request's unit of work, around the whole route handler.

Every API route runs inside one unit of work (`db.Database.unit`): FastAPI's handler (the
dependencies, the endpoint and the answer's serialisation) runs inside it, so the unit commits, or
rolls back, before the response is sent: a client never sees 201 for a write that failed to commit.
The unit's transaction begins when the route's context dependency asks for the session
(`begin_session`); work that must count even if the request then fails runs before that, on the same
connection (`request_unit(request).apart(...)`).

It is a route class rather than a dependency with `yield`: measured on the stamp path, FastAPI's
machinery for such a dependency (an exit stack, a shielded cancel scope and a context manager built
on every request) cost several times this one `async with`.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncSession

from loyalty.db import Database, Unit


class UnitOfWorkRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def in_unit_of_work(request: Request) -> Response:
            database: Database = request.app.state.database
            async with database.unit() as unit:
                request.state.unit = unit
                return await handler(request)

        return in_unit_of_work


def request_unit(request: Request) -> Unit:
    """The request's unit of work."""
    unit = getattr(request.state, "unit", None)
    if unit is None:
        raise RuntimeError(f"{request.url.path}: its router must use route_class=UnitOfWorkRoute")
    return unit


async def begin_session(request: Request) -> AsyncSession:
    """The session of the request's unit of work, its transaction begun."""
    return await request_unit(request).begin()
