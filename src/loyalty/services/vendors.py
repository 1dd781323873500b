"""Vendors (tenants): created, changed, switched off and on by a platform admin."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator
from slugify import slugify as python_slugify
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError

from loyalty.clock import require_iana_zone
from loyalty.errors import VendorAlreadyExists, VendorNotFound
from loyalty.i18n import SUPPORTED_LOCALES, normalise_locale
from loyalty.models import LoyaltyProgram, Vendor, VendorTotals
from loyalty.models.vendor_totals import SLOTS
from loyalty.services import google_wallet, outbox, wallet_passes
from loyalty.services.bodies import RequestBody
from loyalty.services.context import Context
from loyalty.services.pages import Page, paginate

SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"


class _VendorBody(RequestBody):
    """What a vendor's timezone and language must be, whether it is created or changed."""

    @field_validator("timezone", check_fields=False)
    @classmethod
    def _iana_zone(cls, value: str | None) -> str | None:
        return None if value is None else require_iana_zone(value)

    @field_validator("default_locale", check_fields=False)
    @classmethod
    def _spoken_locale(cls, value: str | None) -> str | None:
        return None if value is None else spoken_locale(value)


class VendorCreate(_VendorBody):
    """A new vendor: `slug` defaults to the name made URL-safe; `timezone` is an IANA zone;
    `default_locale` en|fr|de|lb."""

    name: str = Field(min_length=1, max_length=200)
    slug: str | None = Field(None, min_length=1, max_length=100, pattern=SLUG_PATTERN)
    timezone: str | None = Field(None, description="IANA timezone; default LOYALTY_DEFAULT_TIMEZONE")
    default_locale: str = "en"


def spoken_locale(value: str) -> str:
    """`value` as one of the locales the service speaks (`lu` → `lb`), or a ValueError naming them."""
    locale = normalise_locale(value)
    if locale is None:
        raise ValueError(f"must be one of {', '.join(SUPPORTED_LOCALES)}")
    return locale


class VendorUpdate(_VendorBody):
    """The fields of a PATCH: any subset of name, slug, timezone and default_locale. A field left out is
    unchanged; none may be set to null (a vendor always has each of them). The slug, the vendor's public
    address, changes only when given, and only to one no other vendor has."""

    name: str | None = Field(None, min_length=1, max_length=200)
    slug: str | None = Field(None, min_length=1, max_length=100, pattern=SLUG_PATTERN)
    timezone: str | None = Field(None, description="IANA timezone")
    default_locale: str | None = None

    @model_validator(mode="after")
    def _nothing_cleared(self) -> VendorUpdate:
        cleared = [name for name in self.model_fields_set if getattr(self, name) is None]
        if cleared:
            raise ValueError(f"{', '.join(sorted(cleared))} cannot be null")
        return self


def slugify(name: str) -> str:
    """A readable slug for `name`, transliterated by python-slugify (東京カフェ → dong-jing-kahue,
    Кофейня Маша → kofeinia-masha), or `vendor` for a name with no letters or digits at all."""
    return python_slugify(name, max_length=SLUG_BASE_LENGTH) or "vendor"


# Room for a `-N` suffix within the column's 100 characters.
SLUG_BASE_LENGTH = 90
# A generated slug taken by a concurrent create is tried again with the next free suffix, this often.
SLUG_ATTEMPTS = 5


async def create_vendor(ctx: Context, fields: VendorCreate) -> Vendor:
    """A new active vendor (its timezone LOYALTY_DEFAULT_TIMEZONE unless given) with its running totals'
    rows. A slug the admin asked for must be free (VendorAlreadyExists, 409); without one, the vendor gets
    a readable slug made from its name, with a suffix (`-2`, `-3` …) when that one is taken (docs/rules.md,
    "Vendors")."""
    if fields.slug is not None:
        return await _insert_vendor(ctx, fields, fields.slug)
    base = slugify(fields.name)
    for _ in range(SLUG_ATTEMPTS):
        try:
            return await _insert_vendor(ctx, fields, await _free_slug(ctx, base))
        except VendorAlreadyExists:
            continue  # a concurrent create took it between the look-up and the insert
    raise VendorAlreadyExists()


async def _free_slug(ctx: Context, base: str) -> str:
    """`base`, or `base-N` with the smallest N ≥ 2 no vendor has."""
    taken = set(
        await ctx.session.scalars(
            select(Vendor.slug).where(or_(Vendor.slug == base, Vendor.slug.like(f"{base}-%", escape="\\")))
        )
    )
    if base not in taken:
        return base
    return next(f"{base}-{n}" for n in range(2, len(taken) + 3) if f"{base}-{n}" not in taken)


async def _insert_vendor(ctx: Context, fields: VendorCreate, slug: str) -> Vendor:
    if await ctx.session.scalar(select(Vendor.id).where(Vendor.slug == slug)) is not None:
        raise VendorAlreadyExists()
    vendor = Vendor(
        name=fields.name,
        slug=slug,
        timezone=fields.timezone or ctx.settings.default_timezone,
        default_locale=fields.default_locale,
        created_at=ctx.clock.now(),
    )
    ctx.session.add(vendor)
    try:
        async with ctx.session.begin_nested():
            await ctx.session.flush()
            ctx.session.add_all([VendorTotals(vendor_id=vendor.id, slot=slot) for slot in range(SLOTS)])
            await ctx.session.flush()
    except IntegrityError as exc:  # a concurrent request took the slug between our check and insert
        ctx.session.expunge(vendor)
        raise VendorAlreadyExists() from exc
    return vendor


async def get_vendor(ctx: Context, vendor_id: int) -> Vendor:
    """The vendor `vendor_id`, active or not. Raises VendorNotFound (404)."""
    vendor = await ctx.session.get(Vendor, vendor_id)
    if vendor is None:
        raise VendorNotFound(vendor_id)
    return vendor


async def update_vendor(ctx: Context, vendor_id: int, changes: VendorUpdate) -> Vendor:
    """Applies the fields given (VendorNotFound, 404, for an unknown vendor). A new slug taken by another
    vendor is VendorAlreadyExists (409), checked first and, against a concurrent change, by the unique
    index; the vendor's own slug given again changes nothing. A new name, slug or language moves every
    pass of the vendor's programme and queues the wallets' updates (the passes show them)."""
    vendor = await get_vendor(ctx, vendor_id)
    values = changes.model_dump(include=changes.model_fields_set)
    slug = values.get("slug")
    if slug is not None and slug != vendor.slug:
        taken = await ctx.session.scalar(select(Vendor.id).where(Vendor.slug == slug, Vendor.id != vendor.id))
        if taken is not None:
            raise VendorAlreadyExists()
    shown_before = _shown_on_the_passes(vendor)
    for name, value in values.items():
        setattr(vendor, name, value)
    try:
        async with ctx.session.begin_nested():
            await ctx.session.flush()
    except IntegrityError as exc:  # a concurrent request took the slug between our check and the update
        raise VendorAlreadyExists() from exc
    if _shown_on_the_passes(vendor) != shown_before:
        await _passes_changed(ctx, vendor.id)
    return vendor


def _shown_on_the_passes(vendor: Vendor) -> tuple[str, str, str]:
    """What the wallets show of a vendor: the name (Apple's organizationName, Google's issuerName), the slug
    (the pass's file name) and the language (Google's default texts)."""
    return vendor.name, vendor.slug, vendor.default_locale


async def _passes_changed(ctx: Context, vendor_id: int) -> None:
    """Every pass of the vendor's programme moves and the wallets are told, as after a programme change."""
    program_id = await ctx.session.scalar(select(LoyaltyProgram.id).where(LoyaltyProgram.vendor_id == vendor_id))
    if program_id is None:
        return
    await wallet_passes.move_program_passes(ctx, program_id)
    await outbox.queue_for_registered_cards(ctx, program_id)
    await google_wallet.class_wanted(ctx, vendor_id, program_id)


async def set_vendor_active(ctx: Context, vendor_id: int, active: bool) -> Vendor:
    """Switches a vendor off or on (VendorNotFound, 404, for an unknown one); doing it twice is a no-op.
    Switched off, its keys are refused from the next request on (`api_keys.identify`) and its public
    programme is not found; its data, keys and programme are left as they are, so switching it on
    again restores everything."""
    vendor = await get_vendor(ctx, vendor_id)
    if vendor.is_active != active:
        vendor.is_active = active
        await ctx.session.flush()
    return vendor


async def list_vendors(
    ctx: Context, *, search: str | None, limit: int, offset: int, is_active: bool | None = None
) -> Page[Vendor]:
    """Every vendor, active or not unless `is_active` asks for one kind, by id, one page (`limit` after
    `offset`); `search` matches part of the name or slug. Raises nothing."""
    query = select(Vendor)
    if is_active is not None:
        query = query.where(Vendor.is_active.is_(is_active))
    if search:
        term = search.lower()  # autoescape: a "%" or "_" typed by the admin is a character, not a wildcard
        query = query.where(
            or_(func.lower(Vendor.name).contains(term, autoescape=True), Vendor.slug.contains(term, autoescape=True))
        )
    return await paginate(ctx.session, query, order_by=(Vendor.id,), limit=limit, offset=offset)
