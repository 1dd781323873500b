"""API keys: 256-bit random bearer tokens, shown once, stored as SHA-256, revocable at once."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Literal

from pydantic import Field
from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from loyalty.errors import ApiKeyNotFound, LastAdminKey, Unauthenticated, VendorSwitchedOff
from loyalty.models import ApiKey, LoyaltyProgram, Vendor
from loyalty.models.api_key import ADMIN_SCOPE, OWNER_SCOPE
from loyalty.services.bodies import RequestBody
from loyalty.services.compiled_queries import CompiledQuery
from loyalty.services.context import Context
from loyalty.services.pages import Page, paginate
from loyalty.services.programs import labelled_program_columns, program_from_row
from loyalty.services.vendors import get_vendor

ADMIN_PREFIX = "lyk_admin_"
VENDOR_PREFIX = "lyk_live_"


# The scopes a vendor key can have (models/api_key.py: OWNER_SCOPE, COUNTER_SCOPE).
KeyScope = Literal["owner", "counter"]


class ApiKeyCreate(RequestBody):
    name: str = Field(min_length=1, max_length=200, description="What the key is for, e.g. the counter terminal.")
    scope: KeyScope = Field(
        "owner",
        description="`owner`: the vendor's whole API. `counter`: a terminal's operations only (look up, enrol, "
        "stamp, redeem, earn, void); it cannot manage PINs, unlock them, change the programme or read "
        "customers' data.",
    )


@dataclass(frozen=True)
class KeyHolder:
    """Whoever holds a valid key: the key, its vendor (none for admin keys), the vendor's language and
    timezone, and its programme — found together, in the one query every authenticated request makes."""

    key_id: int
    vendor_id: int | None
    scope: str
    locale: str | None
    timezone: str | None
    program: LoyaltyProgram | None

    @property
    def is_admin(self) -> bool:
        return self.vendor_id is None

    @property
    def is_owner(self) -> bool:
        return self.scope == OWNER_SCOPE


@dataclass(frozen=True)
class IssuedKey:
    record: ApiKey
    secret: str  # the only time the key is ever readable


def hash_key(secret: str) -> str:
    """SHA-256 of the key, as 64 hex digits: what is stored and looked up (a key is never stored itself)."""
    return hashlib.sha256(secret.encode()).hexdigest()


async def _issue(ctx: Context, name: str, vendor_id: int | None, scope: str) -> IssuedKey:
    secret = (ADMIN_PREFIX if vendor_id is None else VENDOR_PREFIX) + secrets.token_urlsafe(32)
    record = ApiKey(
        vendor_id=vendor_id,
        scope=scope,
        name=name,
        key_prefix=secret[:14],
        key_hash=hash_key(secret),
        created_at=ctx.clock.now(),
    )
    ctx.session.add(record)
    await ctx.session.flush()
    return IssuedKey(record=record, secret=secret)


async def create_admin_key(ctx: Context, name: str) -> IssuedKey:
    """A new platform admin key (`lyk_admin_` + 256 random bits); its secret is readable only in the
    returned IssuedKey. Raises nothing."""
    return await _issue(ctx, name, None, ADMIN_SCOPE)


async def create_vendor_key(ctx: Context, vendor_id: int, name: str, scope: str = OWNER_SCOPE) -> IssuedKey:
    """A new key of the vendor (`lyk_live_` + 256 random bits) for `scope`: `owner` (the vendor's whole
    API) or `counter` (a terminal's operations only; docs/rules.md, "Staff PINs"). Its secret is readable
    only in the returned IssuedKey. Raises VendorNotFound (404)."""
    await get_vendor(ctx, vendor_id)
    return await _issue(ctx, name, vendor_id, scope)


# Every authenticated request runs this: compiled once (see compiled_queries.CompiledQuery).
_IDENTIFY = CompiledQuery(
    select(
        ApiKey.id.label("key_id"),
        ApiKey.vendor_id,
        ApiKey.scope,
        Vendor.default_locale,
        Vendor.timezone,
        Vendor.is_active.label("vendor_is_active"),
        *labelled_program_columns(),
    )
    .select_from(ApiKey)
    .outerjoin(Vendor, Vendor.id == ApiKey.vendor_id)
    .outerjoin(LoyaltyProgram, LoyaltyProgram.vendor_id == ApiKey.vendor_id)
    .where(ApiKey.key_hash == bindparam("key_hash"), ApiKey.revoked_at.is_(None))
)


async def identify(session: AsyncSession, secret: str | None) -> KeyHolder:
    """The key's holder; Unauthenticated (401) for a missing, unknown or revoked key, VendorSwitchedOff (403,
    `reason` `vendor_inactive`) for a key of a vendor the admin switched off.

    The latter is a 403, not a 401: the key is genuine, so it is not counted as a wrong key against the
    client's address (a shop's other terminals, or other shops behind the same proxy, would soon be
    refused with 429), and the answer tells the terminal that a new key would not help: the vendor's
    account is off, which only the platform's admin can change."""
    if not secret:
        raise Unauthenticated()
    return await identify_by_hash(session, hash_key(secret))


async def identify_by_hash(session: AsyncSession, key_hash: str) -> KeyHolder:
    """`identify` for a caller that has hashed the key already (the request path, which also needs
    the hash for the wrong-key throttle): the one query every authenticated request makes. Raises
    Unauthenticated (401) for an unknown or revoked key, VendorSwitchedOff (403) for a switched-off vendor's."""
    row = await _IDENTIFY.first(session, {"key_hash": key_hash})
    if row is None:
        raise Unauthenticated()
    if row["vendor_id"] is not None and not row["vendor_is_active"]:
        raise VendorSwitchedOff()
    program = program_from_row(row)
    return KeyHolder(row["key_id"], row["vendor_id"], row["scope"], row["default_locale"], row["timezone"], program)


async def revoke_key(ctx: Context, key_id: int) -> None:
    """Revokes the key at once (a second revoke is a no-op); the last active admin key cannot be
    revoked (LastAdminKey, 409), as nothing but shell access could then administer the platform again.
    Raises ApiKeyNotFound (404) for an unknown key.

    Concurrent revokes are serialised by row locks taken in one order (every active admin key, by id),
    so two admins revoking the last two keys cannot both succeed, nor deadlock each other."""
    key = await ctx.session.get(ApiKey, key_id)
    if key is None:
        raise ApiKeyNotFound(key_id)
    locked = select(ApiKey).with_for_update().execution_options(populate_existing=True)
    if key.is_admin:
        active = list(
            await ctx.session.scalars(
                locked.where(ApiKey.vendor_id.is_(None), ApiKey.revoked_at.is_(None)).order_by(ApiKey.id)
            )
        )
        if key not in active:
            return  # revoked meanwhile
        if len(active) <= 1:
            raise LastAdminKey()
    else:
        await ctx.session.scalar(locked.where(ApiKey.id == key_id))
        if key.revoked_at is not None:
            return
    key.revoked_at = ctx.clock.now()


async def list_vendor_keys(ctx: Context, vendor_id: int, *, limit: int, offset: int) -> Page[ApiKey]:
    """A vendor's keys, revoked ones included (with `revoked_at`), oldest first: what an operator needs
    to find the id of a key to revoke (VendorNotFound, 404, for an unknown vendor). Never the hash."""
    await get_vendor(ctx, vendor_id)
    query = select(ApiKey).where(ApiKey.vendor_id == vendor_id)
    return await paginate(ctx.session, query, order_by=(ApiKey.created_at, ApiKey.id), limit=limit, offset=offset)


async def rotate_key(ctx: Context) -> IssuedKey:
    """Replaces the calling key: a new key of the same vendor, name and scope (its secret is in the answer, and only
    there), and the calling key revoked in the same transaction, so from the commit on the new key works and the old
    one is a 401.

    The calling key's row is locked first: two rotations sent at once with the same key are serialised, and the
    second, finding the key revoked by the first, is Unauthenticated (401) rather than a second new key
    (Unauthenticated too for a caller without a key). Rotation takes no Idempotency-Key: a replay would have to keep
    the new secret in the database, and the retry, sent with the old key, is refused before any replay could happen."""
    key_id = ctx.actor.api_key_id if ctx.actor is not None else None
    if key_id is None:
        raise Unauthenticated()
    key = await ctx.session.scalar(
        select(ApiKey)
        .where(ApiKey.id == key_id, ApiKey.vendor_id == ctx.vendor_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if key is None or key.revoked_at is not None:
        raise Unauthenticated()  # revoked since the request was identified (a concurrent rotation)
    key.revoked_at = ctx.clock.now()
    return await _issue(ctx, key.name, key.vendor_id, key.scope)
