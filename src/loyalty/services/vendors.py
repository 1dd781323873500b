"""Vendors (tenants): created by a platform admin."""

from __future__ import annotations

import re
import unicodedata

from pydantic import BaseModel, Field, field_validator
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError

from loyalty.clock import require_iana_zone
from loyalty.errors import VendorAlreadyExists, VendorNotFound
from loyalty.i18n import SUPPORTED_LOCALES, normalise_locale
from loyalty.models import Vendor, VendorTotals
from loyalty.models.vendor_totals import SLOTS
from loyalty.services.context import Context
from loyalty.services.pages import Page, paginate

SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"


class VendorFields(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    slug: str | None = Field(None, min_length=1, max_length=100, pattern=SLUG_PATTERN)
    timezone: str | None = Field(None, description="IANA timezone; default LOYALTY_DEFAULT_TIMEZONE")
    default_locale: str = "en"

    @field_validator("timezone")
    @classmethod
    def _iana_zone(cls, value: str | None) -> str | None:
        return None if value is None else require_iana_zone(value)

    @field_validator("default_locale")
    @classmethod
    def _spoken_locale(cls, value: str) -> str:
        locale = normalise_locale(value)
        if locale is None:
            raise ValueError(f"must be one of {', '.join(SUPPORTED_LOCALES)}")
        return locale


def slugify(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    # Cut, then trim again: a cut may end on a hyphen, which SLUG_PATTERN forbids.
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:100].rstrip("-") or "vendor"


async def create_vendor(ctx: Context, fields: VendorFields) -> Vendor:
    slug = fields.slug or slugify(fields.name)
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
        raise VendorAlreadyExists() from exc
    return vendor


async def get_vendor(ctx: Context, vendor_id: int) -> Vendor:
    vendor = await ctx.session.get(Vendor, vendor_id)
    if vendor is None:
        raise VendorNotFound(vendor_id)
    return vendor


async def list_vendors(ctx: Context, *, search: str | None, limit: int, offset: int) -> Page[Vendor]:
    query = select(Vendor)
    if search:
        term = search.lower()  # autoescape: a "%" or "_" typed by the admin is a character, not a wildcard
        query = query.where(
            or_(func.lower(Vendor.name).contains(term, autoescape=True), Vendor.slug.contains(term, autoescape=True))
        )
    return await paginate(ctx.session, query, order_by=(Vendor.id,), limit=limit, offset=offset)
