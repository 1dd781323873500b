"""Customers' personal data on request (GDPR): export it all, or erase it while the ledger stays."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from loyalty.api.deps import OwnerContext
from loyalty.api.error_responses import error_responses
from loyalty.api.schemas.cards import CustomerExportOut
from loyalty.api.unit_of_work import UnitOfWorkRoute
from loyalty.errors import CustomerNotFound
from loyalty.models.base import MAX_ID
from loyalty.services import customers

router = APIRouter(route_class=UnitOfWorkRoute)

CustomerId = Annotated[int, Path(ge=1, le=MAX_ID, description="The customer's id (a Card's `customer.id`).")]


@router.get(
    "/customers/{customer_id}/export",
    response_model=CustomerExportOut,
    summary="Export everything held about a customer: the record, their cards and their ledger entries",
    responses=error_responses(CustomerNotFound),
)
async def export_customer(ctx: OwnerContext, customer_id: CustomerId) -> CustomerExportOut:
    return CustomerExportOut(**await customers.export_customer(ctx, customer_id))


@router.post(
    "/customers/{customer_id}/erase",
    status_code=204,
    summary="Erase a customer's personal data: pseudonymised, cards deactivated, the ledger kept",
    responses=error_responses(CustomerNotFound),
)
async def erase_customer(ctx: OwnerContext, customer_id: CustomerId) -> Response:
    await customers.erase_customer(ctx, customer_id)
    return Response(status_code=204)
