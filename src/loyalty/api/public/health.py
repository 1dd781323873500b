"""Health for load balancers: 200 while a database round trip succeeds, 503 while it does not."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text

from loyalty.api.deps import database_of
from loyalty.api.errors import envelope_body
from loyalty.errors import ServiceUnavailable

router = APIRouter()


class Health(BaseModel):
    status: str
    database: str


@router.get(
    "/health",
    response_model=Health,
    summary="Liveness and database check",
    responses={503: {"description": "The database is unreachable, or every connection stayed busy past the wait"}},
)
async def health(request: Request) -> Health | Response:
    """503 SERVICE_UNAVAILABLE (the error envelope, with `"status"` and `"database"`: `"unavailable"`
    beside it, and Retry-After) while the database cannot be reached; 200 again, with no restart, as
    soon as it can."""
    try:
        async with database_of(request).unit_of_work() as session:
            await session.execute(text("SELECT 1"))
    except ServiceUnavailable as exc:
        body = {**envelope_body(exc, request), "status": "unavailable", "database": "unavailable"}
        return JSONResponse(body, status_code=exc.status_code, headers={"Retry-After": str(exc.retry_after_seconds)})
    return Health(status="ok", database="ok")
