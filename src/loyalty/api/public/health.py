from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import text

from loyalty.api.deps import Session
from loyalty.api.unit_of_work import UnitOfWorkRoute

router = APIRouter(route_class=UnitOfWorkRoute)


class Health(BaseModel):
    status: str
    database: str


@router.get("/health", response_model=Health, summary="Liveness and database check")
async def health(session: Session) -> Health:
    await session.execute(text("SELECT 1"))
    return Health(status="ok", database="ok")
