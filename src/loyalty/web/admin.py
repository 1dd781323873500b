"""The platform admin's overview (PAGES.md, "Platform admin"), for admins signed in at `/admin/login`: the
platform's totals and its vendors with their programme, state, cards and ledger entries."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from loyalty.api.unit_of_work import UnitOfWorkRoute
from loyalty.errors import Forbidden, Unauthenticated
from loyalty.models import UserRole
from loyalty.services import stats
from loyalty.services.web_sessions import csrf_token
from loyalty.web.accounts import ADMIN_LOGIN_PAGE
from loyalty.web.languages import page_locale
from loyalty.web.rendering import render
from loyalty.web.sessions import user_caller, user_context

router = APIRouter(route_class=UnitOfWorkRoute, include_in_schema=False)

MAX_VENDORS = 500  # on one page; the admin API pages through more


@router.get("/admin")
async def overview(request: Request) -> Response:
    try:
        holder = await user_caller(request)
    except (Unauthenticated, Forbidden):
        return RedirectResponse(ADMIN_LOGIN_PAGE, status_code=303)
    if holder.role != UserRole.ADMIN:
        return RedirectResponse(ADMIN_LOGIN_PAGE, status_code=303)
    ctx = await user_context(request, holder)
    return render(
        request, "admin_overview.html", page_locale(request), no_store=True, holder=holder,
        csrf=csrf_token(ctx.settings, holder.token_hash), totals=await stats.platform_stats(ctx),
        vendors=await stats.vendor_summaries(ctx, limit=MAX_VENDORS),
    )  # fmt: skip
