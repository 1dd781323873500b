"""Every router of the API, mounted under its audience's prefix (one router file per resource)."""

from __future__ import annotations

from fastapi import FastAPI

from loyalty.api.admin import api_keys as admin_api_keys
from loyalty.api.admin import programs as admin_programs
from loyalty.api.admin import stats as admin_stats
from loyalty.api.admin import users as admin_users
from loyalty.api.admin import vendors as admin_vendors
from loyalty.api.admin import wallet as admin_wallet
from loyalty.api.apple import web_service as apple_web_service
from loyalty.api.error_responses import document_common_errors, install_error_schemas
from loyalty.api.public import apple_passes, google_wallet, health, logo_images, wallet_images
from loyalty.api.public import cards as public_cards
from loyalty.api.public import programs as public_programs
from loyalty.api.vendor import (
    api_keys,
    cards,
    customers,
    pins,
    points,
    program,
    stamps,
    stats,
    terminals,
    transactions,
    wallet,
)

ADMIN_PREFIX = "/api/v1/admin/loyalty"
VENDOR_PREFIX = "/api/v1/vendor/loyalty"
PUBLIC_PREFIX = "/api/v1/loyalty"
APPLE_PREFIX = "/api/v1/loyalty/apple"  # the passes' webServiceURL (wallet/apple/passes.py)

ADMIN_ROUTERS = (admin_vendors, admin_users, admin_api_keys, admin_programs, admin_stats, admin_wallet)
# The counter's routes come first: FastAPI tries the routers in order, and a stamp should not pay for
# matching every admin route before its own (no two routers share a path, so order decides nothing else).
VENDOR_ROUTERS = (stamps, points, cards, program, stats, pins, terminals, transactions, customers, api_keys, wallet)
PUBLIC_ROUTERS = (health, public_programs, public_cards, apple_passes, google_wallet)
ASSET_ROUTERS = (wallet_images, logo_images)  # at the root: the URLs the wallets fetch pictures from
APPLE_ROUTERS = (apple_web_service,)


def include_routers(app: FastAPI) -> None:
    """Each route's OpenAPI gains the errors any route of its audience answers (`api/error_responses.py`);
    documenting 422 also replaces FastAPI's own validation-error schema with our envelope."""
    for routers, prefix, tag, keyed in (
        (VENDOR_ROUTERS, VENDOR_PREFIX, "vendor", True),
        (ADMIN_ROUTERS, ADMIN_PREFIX, "admin", True),
        (PUBLIC_ROUTERS, PUBLIC_PREFIX, "public", False),
        (APPLE_ROUTERS, APPLE_PREFIX, "apple wallet", False),
        (ASSET_ROUTERS, "", "wallet pictures", False),
    ):
        for module in routers:
            document_common_errors(module.router, keyed=keyed)
            app.include_router(module.router, prefix=prefix, tags=[tag])
    install_error_schemas(app)
