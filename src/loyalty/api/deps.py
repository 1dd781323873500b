"""Request dependencies: the caller (API key → Context), language, client IP.

Each context dependency identifies the caller on the request's connection before the transaction
begins (`api/unit_of_work.py`, which wraps every route, says the order), then begins it and returns
the Context: one dependency per route rather than a chain, as each level of FastAPI's dependency
solving costs CPU on every request (measured on the stamp path).
"""

from __future__ import annotations

import ipaddress
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from loyalty.api.auth_failures import RefusedAddresses, count_failure
from loyalty.api.key_holders import KeyHolders
from loyalty.api.unit_of_work import begin_session, request_unit
from loyalty.clock import Clock
from loyalty.config import Settings
from loyalty.db import Database
from loyalty.errors import Forbidden, Unauthenticated
from loyalty.services import api_keys
from loyalty.services.api_keys import KeyHolder
from loyalty.services.context import Actor, Context, VendorState

bearer = HTTPBearer(auto_error=False, description="An admin or vendor API key.")


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def database_of(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


def clock_of(request: Request) -> Clock:
    clock: Clock = request.app.state.clock
    return clock


def client_ip(request: Request) -> str | None:
    """The client's address; behind trusted proxies, the one they saw (`app.py`, ProxyHeadersMiddleware)."""
    return request.client.host if request.client else None


def client_block(request: Request) -> str:
    """What a rate limit counts a client by: its IPv4 address, or the /64 network of its IPv6 address (one
    subscriber's, who may use any address in it)."""
    address = client_ip(request)
    try:
        parsed = ipaddress.ip_address(address or "")
    except ValueError:
        return address or "unknown"
    if parsed.version == 6:
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed)


async def _caller(request: Request, credentials: HTTPAuthorizationCredentials | None) -> KeyHolder:
    """The key's holder: kept by this worker (`api/key_holders.py`), or identified on the request's
    connection before its transaction begins. A wrong key is counted against the client's address
    (`api/auth_failures.py`)."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthenticated()
    settings, clock = settings_of(request), clock_of(request)
    address = client_ip(request) or "unknown"
    refused: RefusedAddresses = request.app.state.refused_addresses
    unit, secret = request_unit(request), credentials.credentials
    key_hash = api_keys.hash_key(secret)
    refused.check(address, key_hash, clock.now())
    key_holders: KeyHolders = request.app.state.key_holders
    caller = key_holders.get(key_hash)
    if caller is None:
        generation = key_holders.generation
        try:
            caller = await unit.read(lambda session: api_keys.identify_by_hash(session, key_hash))
        except Unauthenticated:
            await count_failure(unit, refused, address, settings, clock)
            raise
        key_holders.keep(key_hash, caller, generation)
    refused.seen_valid(key_hash)
    request.state.vendor_id = caller.vendor_id  # for the request log and the error messages' language
    request.state.vendor_locale = caller.locale
    return caller


Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


async def admin_context(request: Request, credentials: Credentials) -> Context:
    caller = await _caller(request, credentials)
    if not caller.is_admin:
        raise Forbidden()
    return Context(await begin_session(request), settings_of(request), clock_of(request))


async def vendor_context(request: Request, credentials: Credentials) -> Context:
    """A vendor key of either scope: the counter's operations."""
    return await _vendor_context(request, await _caller(request, credentials))


async def owner_context(request: Request, credentials: Credentials) -> Context:
    """A vendor key of the `owner` scope: managing PINs, the programme, cards' state and customers'
    data. A `counter` key is FORBIDDEN here, so a terminal cannot lift its own PIN lockout."""
    caller = await _caller(request, credentials)
    if not caller.is_owner:
        raise Forbidden()
    return await _vendor_context(request, caller)


async def _vendor_context(request: Request, caller: KeyHolder) -> Context:
    if caller.vendor_id is None:
        raise Forbidden()
    session = await begin_session(request)
    actor = Actor(
        vendor_id=caller.vendor_id,
        api_key_id=caller.key_id,
        client_ip=client_ip(request),
        user_agent=request.headers.get("user-agent"),
    )
    state = VendorState(timezone=caller.timezone or settings_of(request).default_timezone, program=caller.program)
    return Context(session, settings_of(request), clock_of(request), actor, state)


async def public_context(request: Request) -> Context:
    return Context(await begin_session(request), settings_of(request), clock_of(request))


AdminContext = Annotated[Context, Depends(admin_context)]
VendorContext = Annotated[Context, Depends(vendor_context)]
OwnerContext = Annotated[Context, Depends(owner_context)]
PublicContext = Annotated[Context, Depends(public_context)]
