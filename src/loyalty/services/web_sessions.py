"""Browser sessions (PAGES.md, "Sessions"): a 256-bit random token in an HttpOnly cookie, its SHA-256 in
`web_sessions`, a CSRF token derived from it, and revocation that takes effect on the next request.

Only counter terminals hold sessions so far (`kind` `terminal`, 90 days sliding: each use moves the end;
LOYALTY_TERMINAL_SESSION_DAYS). The token is random and long, so a plain SHA-256 is the right hash, as
for API keys: it cannot be brute-forced and finds the row with one indexed look-up.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from loyalty.config import Settings
from loyalty.errors import TerminalNotPaired, Unauthenticated, VendorSwitchedOff
from loyalty.models import LoyaltyProgram, Terminal, User, Vendor, WebSession
from loyalty.models.web_session import TERMINAL_SESSION, USER_SESSION
from loyalty.services.compiled_queries import CompiledQuery
from loyalty.services.context import Context
from loyalty.services.programs import labelled_program_columns, program_from_row

# A session's last use is written at most this often: a busy counter does not write on every request.
TOUCH_EVERY = timedelta(minutes=1)
# A person's session (PAGES.md, "Authentication"): it ends after 30 minutes unused, and 12 hours after sign-in.
USER_IDLE = timedelta(minutes=30)
USER_LONGEST = timedelta(hours=12)


@dataclass(frozen=True)
class IssuedSession:
    token: str  # the cookie's value: readable only here, stored as its hash
    record: WebSession


@dataclass(frozen=True)
class TerminalHolder:
    """A live terminal session with what a counter request needs: the terminal, its vendor's language and
    time zone and its programme (None: none yet), found in one query."""

    session_id: int
    token_hash: str
    terminal_id: int
    terminal_name: str
    vendor_id: int
    locale: str
    timezone: str
    program: LoyaltyProgram | None
    last_seen_at: datetime


@dataclass(frozen=True)
class UserHolder:
    """A live session of a person signed in, with what a dashboard page needs: the user, the vendor's
    language and time zone (owners and managers) and its programme, found in one query."""

    session_id: int
    token_hash: str
    user_id: int
    email: str
    role: str
    vendor_id: int | None
    vendor_name: str | None
    locale: str | None
    timezone: str
    program: LoyaltyProgram | None
    last_seen_at: datetime


def hash_token(token: str) -> str:
    """SHA-256 of a session token, 64 hex digits: what `web_sessions.token_hash` holds."""
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_token(settings: Settings, token_hash: str) -> str:
    """The session's CSRF token: HMAC-SHA256 of its hash under LOYALTY_SECRET_KEY (64 hex digits). It is
    derived rather than stored: a page can only know it by being served to the session's holder."""
    return hmac.new(settings.secret_key.encode(), b"csrf:" + token_hash.encode(), hashlib.sha256).hexdigest()


def is_csrf_token(settings: Settings, token_hash: str, given: str | None) -> bool:
    """Whether `given` is the session's CSRF token (compared in constant time)."""
    return given is not None and hmac.compare_digest(csrf_token(settings, token_hash).encode(), given.encode())


async def open_terminal_session(
    ctx: Context, terminal: Terminal, client_ip: str | None, user_agent: str | None
) -> IssuedSession:
    """A new session for `terminal` from this browser; the cookie's token is only in the answer. Raises nothing."""
    token = secrets.token_urlsafe(32)
    now = ctx.clock.now()
    record = WebSession(
        token_hash=hash_token(token),
        kind=TERMINAL_SESSION,
        vendor_id=terminal.vendor_id,
        terminal_id=terminal.id,
        created_at=now,
        last_seen_at=now,
        client_ip=client_ip,
        user_agent=(user_agent or "")[:500] or None,
    )
    ctx.session.add(record)
    await ctx.session.flush()
    return IssuedSession(token, record)


async def open_user_session(ctx: Context, user: User, client_ip: str | None, user_agent: str | None) -> IssuedSession:
    """A new session for `user` signed in from this browser; the cookie's token is only in the answer.
    Raises nothing."""
    token = secrets.token_urlsafe(32)
    now = ctx.clock.now()
    record = WebSession(
        token_hash=hash_token(token), kind=USER_SESSION, vendor_id=user.vendor_id, user_id=user.id, created_at=now,
        last_seen_at=now, client_ip=client_ip, user_agent=(user_agent or "")[:500] or None,
    )  # fmt: skip
    ctx.session.add(record)
    await ctx.session.flush()
    return IssuedSession(token, record)


async def revoke_user_sessions(ctx: Context, user_id: int, *, keep: int | None = None) -> None:
    """Ends the user's live sessions (sign-out everywhere, a password change, removal), but `keep`'s.
    Raises nothing."""
    query = update(WebSession).where(WebSession.user_id == user_id, WebSession.revoked_at.is_(None))
    if keep is not None:
        query = query.where(WebSession.id != keep)
    await ctx.session.execute(query.values(revoked_at=ctx.clock.now()))


async def revoke_terminal_sessions(ctx: Context, terminal_id: int) -> None:
    """Ends every live session of the terminal at once (its next request is sent back to pairing).
    Raises nothing."""
    await ctx.session.execute(
        update(WebSession)
        .where(WebSession.terminal_id == terminal_id, WebSession.revoked_at.is_(None))
        .values(revoked_at=ctx.clock.now())
    )


async def revoke_session(ctx: Context, token_hash: str) -> None:
    """Ends the session `token_hash` (a browser paired again leaves no session behind). Raises nothing."""
    await ctx.session.execute(
        update(WebSession)
        .where(WebSession.token_hash == token_hash, WebSession.revoked_at.is_(None))
        .values(revoked_at=ctx.clock.now())
    )


_IDENTIFY_TERMINAL = CompiledQuery(
    select(
        WebSession.id.label("session_id"),
        WebSession.last_seen_at,
        Terminal.id.label("terminal_id"),
        Terminal.name.label("terminal_name"),
        Vendor.id.label("vendor_id"),
        Vendor.default_locale,
        Vendor.timezone,
        Vendor.is_active.label("vendor_is_active"),
        *labelled_program_columns(),
    )
    .select_from(WebSession)
    .join(Terminal, Terminal.id == WebSession.terminal_id)
    .join(Vendor, Vendor.id == Terminal.vendor_id)
    .outerjoin(LoyaltyProgram, LoyaltyProgram.vendor_id == Vendor.id)
    .where(
        WebSession.token_hash == bindparam("token_hash"),
        WebSession.kind == TERMINAL_SESSION,
        WebSession.revoked_at.is_(None),
        Terminal.revoked_at.is_(None),
        WebSession.last_seen_at > bindparam("alive_since"),
    )
)


async def identify_terminal(
    session: AsyncSession, settings: Settings, token_hash: str, now: datetime
) -> TerminalHolder:
    """The terminal holding the session `token_hash`. Raises TerminalNotPaired (401) for an unknown,
    revoked or expired session (unused for LOYALTY_TERMINAL_SESSION_DAYS) or a revoked terminal, and
    VendorSwitchedOff (403, `reason` `vendor_inactive`) for a vendor the platform's admin switched off."""
    alive_since = now - timedelta(days=settings.terminal_session_days)
    row = await _IDENTIFY_TERMINAL.first(session, {"token_hash": token_hash, "alive_since": alive_since})
    if row is None:
        raise TerminalNotPaired()
    if not row["vendor_is_active"]:
        raise VendorSwitchedOff()
    program = program_from_row(row)
    return TerminalHolder(
        session_id=row["session_id"],
        token_hash=token_hash,
        terminal_id=row["terminal_id"],
        terminal_name=row["terminal_name"],
        vendor_id=row["vendor_id"],
        locale=row["default_locale"],
        timezone=row["timezone"] or settings.default_timezone,
        program=program,
        last_seen_at=row["last_seen_at"],
    )


_IDENTIFY_USER = CompiledQuery(
    select(
        WebSession.id.label("session_id"),
        WebSession.last_seen_at,
        User.id.label("user_id"),
        User.email,
        User.role,
        Vendor.id.label("vendor_id"),
        Vendor.name.label("vendor_name"),
        Vendor.default_locale,
        Vendor.timezone,
        Vendor.is_active.label("vendor_is_active"),
        *labelled_program_columns(),
    )
    .select_from(WebSession)
    .join(User, User.id == WebSession.user_id)
    .outerjoin(Vendor, Vendor.id == User.vendor_id)
    .outerjoin(LoyaltyProgram, LoyaltyProgram.vendor_id == Vendor.id)
    .where(
        WebSession.token_hash == bindparam("token_hash"),
        WebSession.kind == USER_SESSION,
        WebSession.revoked_at.is_(None),
        User.removed_at.is_(None),
        WebSession.last_seen_at > bindparam("idle_since"),
        WebSession.created_at > bindparam("signed_in_since"),
    )
)


async def identify_user(session: AsyncSession, settings: Settings, token_hash: str, now: datetime) -> UserHolder:
    """The person holding the session `token_hash`. Raises Unauthenticated (401) for an unknown, revoked or
    ended session (30 minutes unused, or 12 hours old) or a removed user, VendorSwitchedOff (403, `reason`
    `vendor_inactive`) for a user of a vendor the platform's admin switched off."""
    params = {"token_hash": token_hash, "idle_since": now - USER_IDLE, "signed_in_since": now - USER_LONGEST}
    row = await _IDENTIFY_USER.first(session, params)
    if row is None:
        raise Unauthenticated()
    if row["vendor_id"] is not None and not row["vendor_is_active"]:
        raise VendorSwitchedOff()
    return UserHolder(
        session_id=row["session_id"], token_hash=token_hash, user_id=row["user_id"], email=row["email"],
        role=row["role"], vendor_id=row["vendor_id"], vendor_name=row["vendor_name"], locale=row["default_locale"],
        timezone=row["timezone"] or settings.default_timezone, program=program_from_row(row),
        last_seen_at=row["last_seen_at"],
    )  # fmt: skip


async def touch_user(ctx: Context, holder: UserHolder) -> None:
    """Moves the session's idle end to now, at most once a minute. Raises nothing."""
    now = ctx.clock.now()
    if now - holder.last_seen_at >= TOUCH_EVERY:
        await ctx.session.execute(update(WebSession).where(WebSession.id == holder.session_id).values(last_seen_at=now))


async def touch(ctx: Context, holder: TerminalHolder) -> None:
    """Moves the session's sliding end (and the terminal's "last seen") to now, at most once a minute.
    Raises nothing."""
    now = ctx.clock.now()
    if now - holder.last_seen_at < TOUCH_EVERY:
        return
    await ctx.session.execute(update(WebSession).where(WebSession.id == holder.session_id).values(last_seen_at=now))
    await ctx.session.execute(update(Terminal).where(Terminal.id == holder.terminal_id).values(last_seen_at=now))


async def purge_ended(ctx: Context) -> int:
    """Deletes the sessions that ended: revoked, or unused for LOYALTY_TERMINAL_SESSION_DAYS (housekeeping).
    Returns how many. Raises nothing."""
    ended_before = ctx.clock.now() - timedelta(days=ctx.settings.terminal_session_days)
    result = await ctx.session.execute(
        delete(WebSession).where(or_(WebSession.revoked_at.is_not(None), WebSession.last_seen_at <= ended_before))
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
