"""Request dependencies: the unit of work, the caller (API key → Context), language, client IP.

The session dependency uses `scope="function"`, so the unit of work commits (or rolls back) before
the response is sent: a client never sees 201 for a write that failed to commit.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from loyalty.clock import Clock
from loyalty.config import Settings
from loyalty.db import Database
from loyalty.errors import Forbidden, Unauthenticated
from loyalty.i18n import negotiate
from loyalty.models import ApiKey, Vendor
from loyalty.services.api_keys import hash_key
from loyalty.services.context import Actor, Context

bearer = HTTPBearer(auto_error=False, description="An admin or vendor API key.")


def settings_of(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def database_of(request: Request) -> Database:
    return request.app.state.database  # type: ignore[no-any-return]


def clock_of(request: Request) -> Clock:
    return request.app.state.clock  # type: ignore[no-any-return]


async def _unit_of_work(request: Request) -> AsyncIterator[AsyncSession]:
    async with database_of(request).unit_of_work() as session:
        yield session


Session = Annotated[AsyncSession, Depends(_unit_of_work, scope="function")]


def client_ip(request: Request) -> str | None:
    if settings_of(request).trust_forwarded_for:
        forwarded = request.headers.get("x-forwarded-for")
        if forwarded:
            return forwarded.split(",")[0].strip()[:64]
    return request.client.host if request.client else None


def request_locale(request: Request) -> str:
    """Accept-Language, else the vendor's default language (once known), else English."""
    fallback = getattr(request.state, "vendor_locale", None)
    return negotiate(request.headers.get("accept-language"), fallback)


async def _api_key(
    request: Request, session: AsyncSession, credentials: HTTPAuthorizationCredentials | None
) -> tuple[ApiKey, str | None]:
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise Unauthenticated()
    row = (
        await session.execute(
            select(ApiKey, Vendor.default_locale)
            .outerjoin(Vendor, Vendor.id == ApiKey.vendor_id)
            .where(ApiKey.key_hash == hash_key(credentials.credentials), ApiKey.revoked_at.is_(None))
        )
    ).first()
    if row is None:
        raise Unauthenticated()
    key, vendor_locale = row
    request.state.vendor_id = key.vendor_id
    request.state.vendor_locale = vendor_locale
    return key, vendor_locale


Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


async def admin_context(request: Request, session: Session, credentials: Credentials) -> Context:
    key, _ = await _api_key(request, session, credentials)
    if not key.is_admin:
        raise Forbidden()
    return Context(session, settings_of(request), clock_of(request))


async def vendor_context(request: Request, session: Session, credentials: Credentials) -> Context:
    key, _ = await _api_key(request, session, credentials)
    if key.is_admin or key.vendor_id is None:
        raise Forbidden()
    actor = Actor(
        vendor_id=key.vendor_id,
        api_key_id=key.id,
        client_ip=client_ip(request),
        user_agent=request.headers.get("user-agent"),
    )
    return Context(session, settings_of(request), clock_of(request), actor)


async def public_context(request: Request, session: Session) -> Context:
    return Context(session, settings_of(request), clock_of(request))


AdminContext = Annotated[Context, Depends(admin_context)]
VendorContext = Annotated[Context, Depends(vendor_context)]
PublicContext = Annotated[Context, Depends(public_context)]
Locale = Annotated[str, Depends(request_locale)]
