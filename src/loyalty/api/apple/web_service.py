"""Apple's PassKit web service, the `webServiceURL` of every pass: `/api/v1/loyalty/apple/v1/...`.

Apple, "Adding a Web Service to Update Passes" and WALLET.md ("Routes", "Rules"):
- register: 201 new, 200 already registered (the push token replaced if it changed);
- list a device's changed passes: 200 `{"serialNumbers", "lastUpdated"}` (a string), 204 when none;
- fetch a pass: 200, or 304 when not modified since `If-Modified-Since`; HEAD answered too;
- unregister: 200, also when already gone;
- device logs: 200, bounded in size and rate.
An unknown serial, an unknown pass type and a wrong token get the same 401, so nothing tells which
serials exist. 200 and 201 bodies are `{}`.
"""

from __future__ import annotations

import json
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from loyalty.api.apple_wallet import AppleWallet, AuthenticationToken, pass_response
from loyalty.api.deps import PublicContext, client_ip, clock_of, public_context, settings_of
from loyalty.api.error_responses import error_responses
from loyalty.api.unit_of_work import UnitOfWorkRoute, request_unit
from loyalty.errors import DeviceLogTooLarge, PushTokenMissing, RateLimited, Unauthenticated, WalletNotConfigured
from loyalty.services import apple_devices, rate_limits, wallet_passes
from loyalty.services.context import Context
from loyalty.wallet.apple.package import MEDIA_TYPE

router = APIRouter(route_class=UnitOfWorkRoute)
log = logging.getLogger("loyalty.apple_wallet")

# Identifiers Apple makes (device library identifiers) or we made (serials): printable ASCII, bounded.
_IDENTIFIER = r"^[\x21-\x7e]+$"
DeviceId = Annotated[
    str, Path(min_length=1, max_length=200, pattern=_IDENTIFIER, description="The device library identifier.")
]
PassTypeId = Annotated[str, Path(min_length=1, max_length=200, pattern=_IDENTIFIER, description="The pass type id.")]
SerialNumber = Annotated[
    str, Path(min_length=1, max_length=64, pattern=_IDENTIFIER, description="The pass's serial number.")
]

MOST_LOG_ENTRIES = 100
MOST_LOG_ENTRY_BYTES = 1_024
LOG_RATE_LIMIT = 30  # requests per client address per minute: a device logs after failures only
LOG_RATE_WINDOW_SECONDS = 60

EMPTY: dict[str, Any] = {"content": {"application/json": {"example": {}}}}


def _require_pass_type(passes: AppleWallet, pass_type_identifier: str) -> None:
    if pass_type_identifier != passes.pass_type_identifier:
        raise Unauthenticated()


@router.post(
    "/v1/devices/{device_library_identifier}/registrations/{pass_type_identifier}/{serial_number}",
    summary="Register a device for a pass's updates (Apple Wallet)",
    responses={
        200: {"description": "Already registered.", **EMPTY},
        201: {"description": "Registered.", **EMPTY},
        **error_responses(PushTokenMissing, Unauthenticated, WalletNotConfigured),
    },
)
async def register_device(
    request: Request,
    ctx: PublicContext,
    passes: AppleWallet,
    token: AuthenticationToken,
    device_library_identifier: DeviceId,
    pass_type_identifier: PassTypeId,
    serial_number: SerialNumber,
) -> JSONResponse:
    _require_pass_type(passes, pass_type_identifier)
    created = await apple_devices.register(
        ctx,
        device_library_identifier=device_library_identifier,
        pass_type_identifier=pass_type_identifier,
        serial_number=serial_number,
        authentication_token=token,
        push_token=_push_token(await request.body()),
    )
    return JSONResponse({}, status_code=201 if created else 200)


def _push_token(body: bytes) -> str:
    """The `pushToken` of the registration body. Raises PushTokenMissing (400) when there is none."""
    try:
        document: Any = json.loads(body) if body else None
    except ValueError:
        document = None
    token = document.get("pushToken") if isinstance(document, dict) else None
    if not isinstance(token, str) or not token.strip():
        raise PushTokenMissing()
    return token


@router.get(
    "/v1/devices/{device_library_identifier}/registrations/{pass_type_identifier}",
    summary="The serial numbers of a device's passes changed since a tag (Apple Wallet)",
    responses={
        200: {
            "content": {
                "application/json": {"example": {"serialNumbers": ["3f1c…"], "lastUpdated": "48213"}},
            },
            "description": "The passes changed since `passesUpdatedSince`, and the tag to send next time.",
        },
        204: {"description": "No pass of this device changed (or the device is unknown)."},
        **error_responses(WalletNotConfigured),
    },
)
async def list_updated_passes(
    ctx: PublicContext,
    passes: AppleWallet,
    device_library_identifier: DeviceId,
    pass_type_identifier: PassTypeId,
    passes_updated_since: Annotated[
        str | None,
        Query(alias="passesUpdatedSince", max_length=40, description="The `lastUpdated` of the previous answer."),
    ] = None,
) -> Response:
    if pass_type_identifier != passes.pass_type_identifier:
        return Response(status_code=204)
    updated = await apple_devices.updated_since(
        ctx,
        device_library_identifier=device_library_identifier,
        pass_type_identifier=pass_type_identifier,
        tag=_tag(passes_updated_since),
    )
    if updated is None:
        return Response(status_code=204)
    return JSONResponse({"serialNumbers": updated.serial_numbers, "lastUpdated": updated.last_updated})


def _tag(given: str | None) -> int | None:
    """A tag we gave out; anything else counts as none, so the device gets all its passes (then 304s)."""
    if given is None or not given.isdigit():
        return None
    return int(given)


FETCH: dict[str, Any] = {
    "summary": "The latest version of a pass (Apple Wallet)",
    "response_class": Response,
    "responses": {
        200: {"content": {MEDIA_TYPE: {}}, "description": "The signed pass."},
        304: {"description": "Not modified since If-Modified-Since."},
        **error_responses(Unauthenticated, WalletNotConfigured),
    },
}


@router.get("/v1/passes/{pass_type_identifier}/{serial_number}", **FETCH)
@router.head("/v1/passes/{pass_type_identifier}/{serial_number}", **FETCH)
async def fetch_pass(
    request: Request,
    ctx: PublicContext,
    passes: AppleWallet,
    token: AuthenticationToken,
    pass_type_identifier: PassTypeId,
    serial_number: SerialNumber,
) -> Response:
    _require_pass_type(passes, pass_type_identifier)
    facts = await wallet_passes.facts_for_device(ctx, serial_number, token)
    return pass_response(request, passes, facts)


@router.delete(
    "/v1/devices/{device_library_identifier}/registrations/{pass_type_identifier}/{serial_number}",
    summary="Unregister a device from a pass's updates (Apple Wallet)",
    responses={
        200: {"description": "Unregistered, or was not registered.", **EMPTY},
        **error_responses(Unauthenticated, WalletNotConfigured),
    },
)
async def unregister_device(
    ctx: PublicContext,
    passes: AppleWallet,
    token: AuthenticationToken,
    device_library_identifier: DeviceId,
    pass_type_identifier: PassTypeId,
    serial_number: SerialNumber,
) -> JSONResponse:
    _require_pass_type(passes, pass_type_identifier)
    await apple_devices.unregister(
        ctx,
        device_library_identifier=device_library_identifier,
        pass_type_identifier=pass_type_identifier,
        serial_number=serial_number,
        authentication_token=token,
    )
    return JSONResponse({})


async def device_log_context(request: Request) -> Context:
    """Counts the request against its address's log allowance (429 past it), committed apart."""
    await rate_limits.hit_apart(
        request_unit(request),
        settings_of(request),
        clock_of(request),
        f"apple-log:{client_ip(request) or 'unknown'}",
        limit=LOG_RATE_LIMIT,
        window_seconds=LOG_RATE_WINDOW_SECONDS,
    )
    return await public_context(request)


@router.post(
    "/v1/log",
    summary="Error messages from a device's Wallet about our passes (Apple Wallet)",
    responses={200: {"description": "Logged.", **EMPTY}, **error_responses(DeviceLogTooLarge, RateLimited)},
)
async def device_log(request: Request, ctx: Annotated[Context, Depends(device_log_context)]) -> JSONResponse:
    address = client_ip(request)
    for entry in _log_entries(await request.body()):
        log.warning(json.dumps({"event": "apple_wallet_device_log", "client_ip": address, "message": entry}))
    return JSONResponse({})


def _log_entries(body: bytes) -> list[str]:
    """The `logs` strings of the body: at most 100, each at most 1 KiB (DeviceLogTooLarge, 413)."""
    try:
        document: Any = json.loads(body) if body else None
    except ValueError:
        document = None
    logs = document.get("logs") if isinstance(document, dict) else None
    if not isinstance(logs, list):
        return []
    entries = [entry for entry in logs if isinstance(entry, str)]
    if len(logs) > MOST_LOG_ENTRIES or any(len(entry.encode()) > MOST_LOG_ENTRY_BYTES for entry in entries):
        raise DeviceLogTooLarge(MOST_LOG_ENTRIES, MOST_LOG_ENTRY_BYTES)
    return entries
