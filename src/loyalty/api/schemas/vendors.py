"""Vendors and their API keys as the platform admin sees them (the bodies that create and change them:
services/vendors.py, services/api_keys.py)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from loyalty.api.schemas.common import Instant
from loyalty.services.api_keys import KeyScope


class VendorOut(BaseModel):
    """`is_active` false: switched off by the admin (its keys are refused, its public programme is not
    found); the admin still sees it and can switch it on again."""

    model_config = ConfigDict(from_attributes=True)

    id: int = Field(description="The vendor's id.")
    name: str = Field(description="The shop's name.")
    slug: str = Field(description="Its public address: `/api/v1/loyalty/programs/{slug}`.")
    timezone: str = Field(
        description="IANA timezone: its local days decide the daily stamp limit and the statistics' days.",
    )
    default_locale: str = Field(
        description="The language of its messages when a request asks for none (en, fr, de, lb).",
    )
    is_active: bool = Field(description="False: switched off by the admin.")
    created_at: Instant = Field(description="When the vendor was created (UTC).")


class ApiKeyCreated(BaseModel):
    """The only answer that ever carries the key itself: it is stored hashed."""

    id: int = Field(description="The key's id (to revoke it).")
    name: str = Field(description="What the key is for.")
    key: str = Field(description="The key itself, shown only in this answer: it is stored hashed.")
    key_prefix: str = Field(description="The key's first characters, to recognise it later.")
    vendor_id: int = Field(description="The key's vendor.")
    scope: KeyScope = Field(description="`owner`: the vendor's whole API; `counter`: a terminal's operations only.")
    created_at: Instant = Field(description="When the key was issued (UTC).")


class ApiKeyOut(BaseModel):
    """A key as the admin lists it: enough to recognise it (`name`, `key_prefix`, the first characters
    of the key) and revoke it by `id`. Never the key nor its hash. `revoked_at` null: the key works."""

    model_config = ConfigDict(from_attributes=True)

    id: int = Field(description="The key's id (to revoke it).")
    name: str = Field(description="What the key is for.")
    key_prefix: str = Field(description="The key's first characters.")
    scope: KeyScope = Field(description="`owner`: the vendor's whole API; `counter`: a terminal's operations only.")
    created_at: Instant = Field(description="When the key was issued (UTC).")
    revoked_at: Instant | None = Field(description="When the key was revoked (UTC); null: it works.")
