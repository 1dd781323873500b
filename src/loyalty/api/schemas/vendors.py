"""Vendors and their API keys, as the platform admin creates and sees them."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from loyalty.api.schemas.common import Instant
from loyalty.services.bodies import RequestBody
from loyalty.services.vendors import VendorChanges, VendorFields


class VendorCreate(VendorFields):
    """`slug` defaults to the name made URL-safe; `timezone` is an IANA zone; `default_locale` en|fr|de|lb."""


class VendorUpdate(VendorChanges):
    """Any subset of `name`, `slug`, `timezone` (IANA), `default_locale` (en|fr|de|lb); none may be null.
    The slug is the vendor's public address: it changes only when given, and only to a free one (409)."""


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


KeyScope = Literal["owner", "counter"]


class ApiKeyCreate(RequestBody):
    name: str = Field(min_length=1, max_length=200, description="What the key is for, e.g. the counter terminal.")
    scope: KeyScope = Field(
        "owner",
        description="`owner`: the vendor's whole API. `counter`: a terminal's operations only (look up, enrol, "
        "stamp, redeem, earn, void); it cannot manage PINs, unlock them, change the programme or read "
        "customers' data.",
    )


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
