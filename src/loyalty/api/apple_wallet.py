"""What the Apple Wallet routes share: the configured wallet, the `ApplePass` header, the pass answer.

Apple's PassKit web service reference and WALLET.md ("Routes", "Rules"): the header is exactly
`ApplePass <authenticationToken>`; the pass is answered with `Last-Modified` at one-second
resolution and 304 to an `If-Modified-Since` at or after it; an unparsable `If-Modified-Since` is
ignored.
"""

from __future__ import annotations

from datetime import datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Annotated

from fastapi import Depends, Header, Request, Response

from loyalty.errors import Unauthenticated, WalletNotConfigured
from loyalty.wallet.apple.package import MEDIA_TYPE
from loyalty.wallet.apple.passes import ApplePasses
from loyalty.wallet.card_facts import CardFacts

SCHEME = "ApplePass "


def apple_passes(request: Request) -> ApplePasses:
    """The platform's Apple Wallet, loaded at start-up. Raises WalletNotConfigured (503) without one."""
    passes: ApplePasses | None = getattr(request.app.state, "apple_passes", None)
    if passes is None:
        raise WalletNotConfigured(wallet="apple")
    return passes


AppleWallet = Annotated[ApplePasses, Depends(apple_passes)]


def pass_authentication_token(
    authorization: Annotated[str | None, Header(description="`ApplePass <authenticationToken>`")] = None,
) -> str:
    """The token of an `Authorization: ApplePass <token>` header. Raises Unauthenticated (401) otherwise."""
    if authorization is None or not authorization.startswith(SCHEME) or len(authorization) == len(SCHEME):
        raise Unauthenticated()
    return authorization[len(SCHEME) :]


AuthenticationToken = Annotated[str, Depends(pass_authentication_token)]


def http_date(moment: datetime) -> str:
    """An RFC 9110 HTTP date (one-second resolution, GMT)."""
    return format_datetime(moment.replace(microsecond=0), usegmt=True)


def not_modified_since(if_modified_since: str | None, modified_at: datetime) -> bool:
    """Whether the client's copy, dated `if_modified_since`, is the current one. Unparsable: no."""
    if not if_modified_since:
        return False
    try:
        since = parsedate_to_datetime(if_modified_since)
    except (TypeError, ValueError, IndexError):
        return False
    if since.tzinfo is None:
        return False
    return since >= modified_at.replace(microsecond=0)


def pass_response(request: Request, passes: ApplePasses, facts: CardFacts, *, filename: str | None = None) -> Response:
    """The pass (200), or 304 when the client holds this version, or its headers alone for HEAD."""
    headers = {"Last-Modified": http_date(facts.modified_at), "Cache-Control": "no-store"}
    if filename is not None:
        headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    if not_modified_since(request.headers.get("if-modified-since"), facts.modified_at):
        return Response(status_code=304, headers=headers)
    if request.method == "HEAD":  # the headers of the GET, without signing a pass nobody reads
        return Response(status_code=200, headers={**headers, "Content-Type": MEDIA_TYPE})
    return Response(content=passes.render(facts), media_type=MEDIA_TYPE, headers=headers)
