"""The request's unit of work, around the whole route handler.

Every API route runs inside one unit of work (`db.Database.unit_of_work`): FastAPI's handler (the
dependencies, the endpoint and the answer's serialisation) runs inside it, so the unit commits, or
rolls back, before the response is sent: a client never sees 201 for a write that failed to commit.

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

from loyalty.db import Database


class UnitOfWorkRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def in_unit_of_work(request: Request) -> Response:
            database: Database = request.app.state.database
            async with database.unit_of_work() as session:
                request.state.session = session
                return await handler(request)

        return in_unit_of_work


def request_session(request: Request) -> AsyncSession:
    """The session of the request's unit of work."""
    session = getattr(request.state, "session", None)
    if session is None:
        raise RuntimeError(f"{request.url.path}: its router must use route_class=UnitOfWorkRoute")
    return session
