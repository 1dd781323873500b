"""A vendor's programme as customers see it, and self-enrolment (rate-limited per client IP)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response
from sqlalchemy import select

from loyalty.api.deps import PublicContext, client_ip, clock_of, public_context, settings_of
from loyalty.api.error_responses import error_responses
from loyalty.api.idempotency import IdempotencyKey, respond
from loyalty.api.schemas.public import PublicCardOut, PublicProgramOut
from loyalty.api.unit_of_work import UnitOfWorkRoute, request_unit
from loyalty.errors import CardAlreadyExists, IdempotencyKeyReused, ProgramNotFound, RateLimited
from loyalty.models import Vendor
from loyalty.services import cards, programs, rate_limits
from loyalty.services.cards import Enrolment
from loyalty.services.context import Context

router = APIRouter(route_class=UnitOfWorkRoute)

VendorSlug = Annotated[str, Path(min_length=1, max_length=100, description="The vendor's slug.")]


@router.get(
    "/programs/{vendor_slug}",
    response_model=PublicProgramOut,
    summary="A vendor's active loyalty programme (what a customer signs up for)",
    responses=error_responses(ProgramNotFound),
)
async def get_program(ctx: PublicContext, vendor_slug: VendorSlug) -> PublicProgramOut:
    program, vendor = await programs.get_public_program(ctx, vendor_slug)
    return PublicProgramOut.from_program(program, vendor)


async def enrolment_context(request: Request) -> Context:
    """Counts the attempt against the client's enrolment limit (429 past it), committed apart on the
    request's connection before the enrolment's own transaction begins: attempts that then fail (404,
    409) still count."""
    settings = settings_of(request)
    await rate_limits.hit_apart(
        request_unit(request),
        settings,
        clock_of(request),
        f"enroll:{client_ip(request) or 'unknown'}",
        limit=settings.enroll_rate_limit,
        window_seconds=settings.enroll_rate_window_seconds,
    )
    await _speak_the_vendors_language(request)
    return await public_context(request)


async def _speak_the_vendors_language(request: Request) -> None:
    """Errors (the body's validation included) fall back to the vendor's language when the request has no
    Accept-Language (`api/errors.py`, request_locale): read before the body's errors are answered."""
    slug = request.path_params.get("vendor_slug")
    query = select(Vendor.default_locale).where(Vendor.slug == slug)
    request.state.vendor_locale = await request_unit(request).read(lambda session: session.scalar(query))


@router.post(
    "/programs/{vendor_slug}/enroll",
    status_code=201,
    response_model=PublicCardOut,
    summary="Enrol in a vendor's programme with an e-mail address",
    description="One card per e-mail per programme: a second enrolment answers 409 without revealing the card.",
    responses=error_responses(ProgramNotFound, CardAlreadyExists, IdempotencyKeyReused, RateLimited),
)
async def enroll(
    request: Request,
    ctx: Annotated[Context, Depends(enrolment_context)],
    vendor_slug: VendorSlug,
    body: Enrolment,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    program, vendor = await programs.get_public_program(ctx, vendor_slug)

    async def produce() -> PublicCardOut:
        view = await cards.enrol(ctx, program, body)
        return PublicCardOut.build(view.card, program, vendor.name)

    return await respond(
        request, ctx, scope=f"program:{program.id}", key=idempotency_key, status_code=201, produce=produce
    )
