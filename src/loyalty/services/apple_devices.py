"""The devices that hold a card's pass in Apple Wallet: registrations, and which of their passes changed.

Apple's PassKit web service ("Adding a Web Service to Update Passes"; WALLET.md, "Routes"): a device
registers each pass it holds with its push token, asks which of its passes changed since the tag it
was last given, and unregisters when the pass is deleted. A registration is one row of
`apple_device_registrations` per (device, pass type, serial); the push token is the device's.

The tag is commit-ordered (migration 0008): a card's `pass_changed_xid` is set by its changing
transaction, and the list answers, as the next tag, a value no transaction still running can fall
below (PostgreSQL: the snapshot's xmin; SQLite, whose writers are serialised: the next counter).
A pass may be listed twice; the device then fetches it and gets 304.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import ColumnClause, Table, delete, func, literal_column, select, update

from loyalty.db import is_postgres
from loyalty.models import AppleDeviceRegistration, LoyaltyCard
from loyalty.services import wallet_passes
from loyalty.services.context import Context
from loyalty.services.upserts import insert_ignoring_conflict

_REGISTRATIONS = cast(Table, AppleDeviceRegistration.__table__)

# The next tag, read in the same statement as the changed passes, so both see one snapshot.
_POSTGRES_NEXT_TAG: ColumnClause[Any] = literal_column("pg_snapshot_xmin(pg_current_snapshot())::text::bigint")


@dataclass(frozen=True)
class UpdatedPasses:
    """The serial numbers of a device's passes changed since a tag, and the tag to send next time."""

    serial_numbers: list[str]
    last_updated: str


async def register(
    ctx: Context,
    *,
    device_library_identifier: str,
    pass_type_identifier: str,
    serial_number: str,
    authentication_token: str,
    push_token: str,
) -> bool:
    """Registers the device for the pass's updates; True when new (201), False when it already was (200),
    its push token then replaced if it changed.

    Raises Unauthenticated (401) for an unknown serial or a wrong token (`wallet_passes`).
    """
    card_id = await wallet_passes.authenticated_card_id(ctx, serial_number, authentication_token)
    vendor_id = await ctx.session.scalar(select(LoyaltyCard.vendor_id).where(LoyaltyCard.id == card_id))
    key = {
        "device_library_identifier": device_library_identifier,
        "pass_type_identifier": pass_type_identifier,
        "serial_number": serial_number,
    }
    inserted = await ctx.session.execute(
        insert_ignoring_conflict(
            ctx.session,
            _REGISTRATIONS,
            {
                **key,
                "vendor_id": vendor_id,
                "card_id": card_id,
                "push_token": push_token,
                "created_at": ctx.clock.now(),
            },
        )
    )
    if getattr(inserted, "rowcount", 0) == 1:
        return True
    await ctx.session.execute(
        update(AppleDeviceRegistration)
        .where(*(getattr(AppleDeviceRegistration, column) == value for column, value in key.items()))
        .where(AppleDeviceRegistration.push_token != push_token)
        .values(push_token=push_token)
    )
    return False


async def unregister(
    ctx: Context,
    *,
    device_library_identifier: str,
    pass_type_identifier: str,
    serial_number: str,
    authentication_token: str,
) -> None:
    """Removes the registration; nothing to remove is no error (Apple expects 200 either way).

    Raises Unauthenticated (401) for an unknown serial or a wrong token.
    """
    await wallet_passes.authenticated_card_id(ctx, serial_number, authentication_token)
    await ctx.session.execute(
        delete(AppleDeviceRegistration).where(
            AppleDeviceRegistration.device_library_identifier == device_library_identifier,
            AppleDeviceRegistration.pass_type_identifier == pass_type_identifier,
            AppleDeviceRegistration.serial_number == serial_number,
        )
    )


async def updated_since(
    ctx: Context, *, device_library_identifier: str, pass_type_identifier: str, tag: int | None
) -> UpdatedPasses | None:
    """The device's passes changed at or after `tag` (all of them without one), with the next tag;
    None when there are none, an unknown device included (Apple: 204). Raises nothing."""
    next_tag: Any = (
        _POSTGRES_NEXT_TAG
        if is_postgres(ctx.session)
        else select(func.coalesce(func.max(LoyaltyCard.pass_changed_xid), 0) + 1).scalar_subquery()
    )
    query = (
        select(LoyaltyCard.pass_serial_number, next_tag.label("next_tag"))
        .join(AppleDeviceRegistration, AppleDeviceRegistration.card_id == LoyaltyCard.id)
        .where(
            AppleDeviceRegistration.device_library_identifier == device_library_identifier,
            AppleDeviceRegistration.pass_type_identifier == pass_type_identifier,
        )
        .order_by(LoyaltyCard.pass_serial_number)
    )
    if tag is not None:
        query = query.where(LoyaltyCard.pass_changed_xid >= tag)
    rows = (await ctx.session.execute(query)).all()
    if not rows:
        return None
    return UpdatedPasses([row.pass_serial_number for row in rows], str(rows[0].next_tag))


async def registered_devices(ctx: Context, card_id: int) -> int:
    """How many devices hold the card's pass with updates switched on. Raises nothing."""
    count = await ctx.session.scalar(
        select(func.count()).select_from(AppleDeviceRegistration).where(AppleDeviceRegistration.card_id == card_id)
    )
    return int(count or 0)


@dataclass(frozen=True)
class Registration:
    """A device to push to for a card: the registration's id and the device's push token."""

    id: int
    push_token: str


async def registrations_of(ctx: Context, card_id: int) -> list[Registration]:
    """The devices registered for the card's pass, in registration order. Raises nothing."""
    rows = (
        await ctx.session.execute(
            select(AppleDeviceRegistration.id, AppleDeviceRegistration.push_token)
            .where(AppleDeviceRegistration.card_id == card_id)
            .order_by(AppleDeviceRegistration.id)
        )
    ).all()
    return [Registration(row.id, row.push_token) for row in rows]


async def record_push(ctx: Context, registration_id: int, summary: str) -> None:
    """Keeps the last push to a device: when, and APNs' answer (`200`, `429 TooManyRequests`)."""
    await ctx.session.execute(
        update(AppleDeviceRegistration)
        .where(AppleDeviceRegistration.id == registration_id)
        .values(last_push_at=ctx.clock.now(), last_push_status=summary)
    )


async def forget_device(ctx: Context, registration_id: int) -> None:
    """APNs says the device no longer holds the pass (410, `BadDeviceToken`): Apple asks providers to
    stop pushing to it, so its registration goes. Raises nothing."""
    await ctx.session.execute(delete(AppleDeviceRegistration).where(AppleDeviceRegistration.id == registration_id))
