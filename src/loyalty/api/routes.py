"""Every router of the API, mounted under its audience's prefix."""

from __future__ import annotations

from fastapi import FastAPI

from loyalty.api.public import health

ADMIN_PREFIX = "/api/v1/admin/loyalty"
VENDOR_PREFIX = "/api/v1/vendor/loyalty"
PUBLIC_PREFIX = "/api/v1/loyalty"


def include_routers(app: FastAPI) -> None:
    app.include_router(health.router, prefix=PUBLIC_PREFIX, tags=["public"])
