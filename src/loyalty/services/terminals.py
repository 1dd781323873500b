"""Counter terminals (PAGES.md, "Authentication"): a vendor creates one with a name and gets a one-time
pairing code; typing it at `/terminal/pair` turns that browser into the terminal, with a session of its
own. A terminal only works the counter (look up, stamp, redeem, earn): the staff PIN proves the person on
each operation, the pairing proves the device and gives PIN lockouts a subject. Revoking it ends its
session at once and touches nothing else.

Pairing codes are 8 random digits, valid 10 minutes, used once, stored as an HMAC under
LOYALTY_SECRET_KEY. A wrong code names no terminal, so wrong codes are counted per client address
(LOYALTY_PAIRING_ATTEMPT_LIMIT per 10 minutes, `web/terminal.py`): with 5 tries per address per
10 minutes against 10⁸ codes, a guesser needs millions of addresses per live code.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import Field
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from loyalty.config import Settings
from loyalty.errors import PairingCodeInvalid, TerminalNotFound
from loyalty.models import PinGuard, Terminal
from loyalty.services.bodies import RequestBody
from loyalty.services.context import Context
from loyalty.services.pages import Page, paginate
from loyalty.services.web_sessions import IssuedSession, open_terminal_session, revoke_terminal_sessions

PAIRING_CODE_DIGITS = 8
PAIRING_CODE_MINUTES = 10
PAIRING_WINDOW_SECONDS = PAIRING_CODE_MINUTES * 60


class TerminalCreate(RequestBody):
    name: str = Field(min_length=1, max_length=100, description="Where the device stands, e.g. `Counter 1`.")


class TerminalChanges(RequestBody):
    name: str = Field(min_length=1, max_length=100, description="The terminal's new name.")


@dataclass(frozen=True)
class TerminalView:
    """A terminal with the wrong PINs counted against it (None: none in the current window)."""

    terminal: Terminal
    guard: PinGuard | None


@dataclass(frozen=True)
class PairingCode:
    terminal: Terminal
    code: str  # readable only here


def pairing_code_hash(settings: Settings, code: str) -> str:
    """HMAC-SHA256 of the code under LOYALTY_SECRET_KEY (64 hex digits): 10⁸ codes are too few for a
    plain hash, which anyone with the table could reverse by trying them all."""
    return hmac.new(settings.secret_key.encode(), b"pairing:" + code.encode(), hashlib.sha256).hexdigest()


async def create_terminal(ctx: Context, new: TerminalCreate) -> PairingCode:
    """A new terminal of the calling vendor and its first pairing code (8 digits, 10 minutes). Raises nothing."""
    terminal = Terminal(vendor_id=ctx.vendor_id, name=new.name, created_at=ctx.clock.now())
    ctx.session.add(terminal)
    await ctx.session.flush()
    return PairingCode(terminal, await _issue_code(ctx, terminal))


async def new_pairing_code(ctx: Context, terminal_id: int) -> PairingCode:
    """A fresh pairing code for the terminal (the previous one stops working), to pair a replacement
    device; pairing it ends the old device's session. Raises TerminalNotFound (404; also when revoked)."""
    terminal = await _get(ctx, terminal_id, live=True)
    return PairingCode(terminal, await _issue_code(ctx, terminal))


async def _issue_code(ctx: Context, terminal: Terminal) -> str:
    now = ctx.clock.now()
    # Used codes are cleared; expired ones are cleared here, so the unique index only holds live codes.
    await ctx.session.execute(
        update(Terminal)
        .where(Terminal.pairing_expires_at <= now, Terminal.pairing_code_hash.is_not(None))
        .values(pairing_code_hash=None, pairing_expires_at=None)
    )
    while True:  # two live codes alike: one chance in 10⁸ per live code, so this loops once
        code = f"{secrets.randbelow(10**PAIRING_CODE_DIGITS):0{PAIRING_CODE_DIGITS}d}"
        terminal.pairing_code_hash = pairing_code_hash(ctx.settings, code)
        terminal.pairing_expires_at = now + timedelta(minutes=PAIRING_CODE_MINUTES)
        try:
            async with ctx.session.begin_nested():
                await ctx.session.flush()
        except IntegrityError:
            continue
        return code


async def list_terminals(ctx: Context, *, limit: int, offset: int) -> Page[TerminalView]:
    """The calling vendor's terminals, revoked ones included, oldest first, one page. Raises nothing."""
    query = select(Terminal).where(Terminal.vendor_id == ctx.vendor_id)
    page = await paginate(ctx.session, query, order_by=(Terminal.id,), limit=limit, offset=offset)
    guards = await _guards(ctx, [terminal.id for terminal in page.items])
    views = [TerminalView(terminal, guards.get(terminal.id)) for terminal in page.items]
    return Page(views, page.total, page.limit, page.offset)


async def get_terminal(ctx: Context, terminal_id: int) -> TerminalView:
    """One of the calling vendor's terminals. Raises TerminalNotFound (404)."""
    terminal = await _get(ctx, terminal_id)
    return TerminalView(terminal, (await _guards(ctx, [terminal.id])).get(terminal.id))


async def rename_terminal(ctx: Context, terminal_id: int, changes: TerminalChanges) -> TerminalView:
    """Raises TerminalNotFound (404)."""
    terminal = await _get(ctx, terminal_id)
    terminal.name = changes.name
    await ctx.session.flush()
    return await get_terminal(ctx, terminal_id)


async def revoke_terminal(ctx: Context, terminal_id: int) -> None:
    """Revokes the terminal: its session ends at once and its pairing code stops working; its ledger
    entries keep naming it. A second revoke changes nothing. Raises TerminalNotFound (404)."""
    terminal = await _get(ctx, terminal_id)
    if terminal.revoked_at is None:
        terminal.revoked_at = ctx.clock.now()
    terminal.pairing_code_hash = terminal.pairing_expires_at = None
    await revoke_terminal_sessions(ctx, terminal.id)
    await ctx.session.flush()


async def unlock_terminal(ctx: Context, terminal_id: int) -> TerminalView:
    """The vendor vouches for the device: the wrong PINs counted against it and its lock are cleared
    (the PINs' own counts stay: `POST /pins/{id}/unlock`). Raises TerminalNotFound (404)."""
    terminal = await _get(ctx, terminal_id)
    await ctx.session.execute(delete(PinGuard).where(PinGuard.terminal == PinGuard.paired_terminal(terminal.id)))
    return TerminalView(terminal, None)


async def pair(ctx: Context, code: str, client_ip: str | None, user_agent: str | None) -> IssuedSession:
    """Pairs this browser as the terminal waiting for `code`: the code is used up, the terminal's
    earlier sessions end (one device per terminal) and a new session begins. Raises PairingCodeInvalid
    (400) for a code that is wrong, used, expired or whose terminal was revoked, all alike."""
    if not (len(code) == PAIRING_CODE_DIGITS and code.isascii() and code.isdigit()):
        raise PairingCodeInvalid()
    now = ctx.clock.now()
    terminal = await ctx.session.scalar(
        select(Terminal)
        .where(
            Terminal.pairing_code_hash == pairing_code_hash(ctx.settings, code),
            Terminal.pairing_expires_at > now,
            Terminal.revoked_at.is_(None),
        )
        .with_for_update()
    )
    if terminal is None:
        raise PairingCodeInvalid()
    terminal.pairing_code_hash = terminal.pairing_expires_at = None
    terminal.paired_at = terminal.last_seen_at = now
    await revoke_terminal_sessions(ctx, terminal.id)
    return await open_terminal_session(ctx, terminal, client_ip, user_agent)


async def _get(ctx: Context, terminal_id: int, *, live: bool = False) -> Terminal:
    terminal = await ctx.session.scalar(
        select(Terminal).where(Terminal.id == terminal_id, Terminal.vendor_id == ctx.vendor_id)
    )
    if terminal is None or (live and terminal.revoked_at is not None):
        raise TerminalNotFound(terminal_id)
    return terminal


async def _guards(ctx: Context, terminal_ids: list[int]) -> dict[int, PinGuard]:
    """The PIN counts of these terminals (any programme of the vendor: it has one)."""
    if not terminal_ids:
        return {}
    subjects = {PinGuard.paired_terminal(terminal_id): terminal_id for terminal_id in terminal_ids}
    guards = await ctx.session.scalars(
        select(PinGuard).where(PinGuard.vendor_id == ctx.vendor_id, PinGuard.terminal.in_(subjects))
    )
    return {subjects[guard.terminal]: guard for guard in guards if guard.failed_attempts > 0}


def is_pending(terminal: Terminal, now: datetime) -> bool:
    """Whether the terminal has a pairing code still usable."""
    return terminal.pairing_expires_at is not None and terminal.pairing_expires_at > now
