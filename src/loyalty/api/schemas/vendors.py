"""Vendors and their API keys as the platform admin sees them (the bodies that create and change them:
services/vendors.py, services/api_keys.py)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from loyalty.api.schemas.common import Instant
from loyalty.services.api_keys import KeyScope


class VendorOut(BaseModel):
    """`is_active` false: switched off by the admin (its keys are refused, its public programme is not
    found); the admin still sees it and can switch it on again."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    slug: str
    timezone: str
    default_locale: str
    is_active: bool
    created_at: Instant


class ApiKeyCreated(BaseModel):
    """The only answer that ever carries the key itself: it is stored hashed."""

    id: int
    name: str
    key: str
    key_prefix: str
    vendor_id: int
    scope: KeyScope
    created_at: Instant


class ApiKeyOut(BaseModel):
    """A key as the admin lists it: enough to recognise it (`name`, `key_prefix`, the first characters
    of the key) and revoke it by `id`. Never the key nor its hash. `revoked_at` null: the key works."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    key_prefix: str
    scope: KeyScope
    created_at: Instant
    revoked_at: Instant | None
