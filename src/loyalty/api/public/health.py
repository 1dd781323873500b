"""Health for load balancers: 200 while the database answers and its schema is the code's, 503 otherwise."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from loyalty import migrate
from loyalty.api.deps import database_of
from loyalty.api.error_responses import error_responses
from loyalty.api.errors import envelope_body
from loyalty.errors import ServiceUnavailable

router = APIRouter()

# A schema that is not the code's does not mend itself in a second: the balancer may look less often.
SCHEMA_RETRY_AFTER_SECONDS = 30


class Health(BaseModel):
    status: str = Field(description='"ok"')
    database: str = Field(description='"ok": a round trip to the database succeeded')
    schema_: str = Field(
        alias="schema",
        serialization_alias="schema",
        description='"ok": the database is at the code\'s migration head',
    )


def _revision(session: Session) -> str | None:
    return migrate.current_revision(session.connection())


@router.get(
    "/health",
    response_model=Health,
    response_model_by_alias=True,
    summary="Liveness, database and schema check",
    responses=error_responses(ServiceUnavailable),  # its body has `status`, `database` and `schema` too
)
async def health(request: Request) -> Health | Response:
    """Each call is one round trip on one pooled connection: Alembic's look-up of the database's
    revision (`alembic_version`), which proves the database answers, compared with the code's head
    (read from the migration files once per process). So a database migrated, or rolled back, while
    the service runs shows here at the next call.

    503 SERVICE_UNAVAILABLE, the error envelope with `"status": "unavailable"` beside it:
    - `"database": "unavailable", "schema": "unknown"` and Retry-After while the database cannot be
      reached (200 again, with no restart, as soon as it can);
    - `"database": "ok", "schema": "missing" | "behind" | "ahead"` while the database's revision is not
      the code's head; `details` has `schema_revision` (None when never migrated), `code_revision` and
      `action` (what to run)."""
    try:
        async with database_of(request).unit_of_work() as session:
            revision = await session.run_sync(_revision)
    except ServiceUnavailable as exc:
        body = {**envelope_body(exc, request), "status": "unavailable", "database": "unavailable", "schema": "unknown"}
        return JSONResponse(body, status_code=exc.status_code, headers={"Retry-After": str(exc.retry_after_seconds)})
    state = migrate.state_of(revision)
    if not state.ok:
        error = ServiceUnavailable(
            {"schema_revision": state.revision, "code_revision": state.head, "action": state.advice()}
        )
        body = {**envelope_body(error, request), "status": "unavailable", "database": "ok", "schema": state.state}
        return JSONResponse(
            body, status_code=error.status_code, headers={"Retry-After": str(SCHEMA_RETRY_AFTER_SECONDS)}
        )
    return Health(status="ok", database="ok", schema="ok")
