"""Wallet updates leave the process only after commit: a change queues a row here, in its own
transaction, and `loyalty worker` sends it (WALLET.md, "Updates").

Rows coalesce: a card has at most one pending row per wallet (a partial unique index, migration 0009),
due `COALESCE_SECONDS` after the first change of a burst, so ten stamps in a row give one push, not
ten (devices throttle frequent pushes; Google caps notices). A change that lands while its row is
being sent finds no pending row and queues a new one, so none is lost.

Mail for people who sign in rides the same rows (provider `mail`, a user and a purpose: `queue_user_mail`),
so it too leaves only after commit and is retried like a push.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    FromClause,
    Insert,
    Select,
    String,
    Table,
    and_,
    bindparam,
    column,
    delete,
    func,
    literal,
    or_,
    select,
    text,
    true,
    update,
    values,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from loyalty.errors import OutboxRowNotFound
from loyalty.models import (
    AppleDeviceRegistration,
    GoogleWalletObject,
    LoyaltyCard,
    OutboxStatus,
    User,
    UserTokenPurpose,
    WalletOutbox,
)
from loyalty.services.context import Context
from loyalty.services.pages import Page, paginate
from loyalty.services.upserts import upsert_into_partial_index

COALESCE_SECONDS = 2
_CARD_ROW_PENDING = "status = 'pending'"  # the predicate of the partial unique index (card_id, provider)
MAIL = "mail"  # the provider of every e-mail (worker/mail.py)
_OUTBOX = cast(Table, WalletOutbox.__table__)


async def queue_wallet_updates(ctx: Context, card: LoyaltyCard) -> None:
    """One pending row per configured wallet for `card` at its current pass version, due in
    `COALESCE_SECONDS` or sooner if a row was already pending (then that row is moved, not added). Raises nothing."""
    for provider in ctx.settings.wallet_provider_list:
        await ctx.session.execute(_pending_row(ctx, card.vendor_id, card.id, card.updated_at, provider))


def card_rows_upsert(cards: FromClause, providers: tuple[str, ...]) -> Insert:
    """PostgreSQL: `queue_wallet_updates` as one statement, for each card in `cards` (a FROM with the
    columns `id`, `vendor_id` and `updated_at`, the pass version: in practice the data-modifying CTE that
    just wrote the card) and each wallet in `providers`, due at the bound `outbox_due`, made at
    `outbox_now` (`card_rows_params`). For a writer that sends it with its own statement (the ledger's
    balance change: one round trip for both). Coalesces as `_pending` does."""
    wallets = values(column("provider", String()), name="wallets").data([(provider,) for provider in providers])
    rows = select(
        cards.c.vendor_id,
        cards.c.id,
        wallets.c.provider,
        cards.c.updated_at,
        literal(OutboxStatus.PENDING.value),
        literal(0),
        bindparam("outbox_due", type_=_OUTBOX.c.due_at.type),
        bindparam("outbox_now", type_=_OUTBOX.c.created_at.type),
    ).select_from(cards.join(wallets, true()))
    statement = postgresql.insert(_OUTBOX).from_select(
        ["vendor_id", "card_id", "provider", "pass_version", "status", "attempts", "due_at", "created_at"], rows
    )
    return statement.on_conflict_do_update(
        index_elements=["card_id", "provider"],
        index_where=text(_CARD_ROW_PENDING),
        set_={
            "due_at": func.least(_OUTBOX.c.due_at, statement.excluded.due_at),
            "pass_version": statement.excluded.pass_version,
        },
    )


def card_rows_params(ctx: Context) -> dict[str, Any]:
    """The values `card_rows_upsert` binds: due in `COALESCE_SECONDS`, made now."""
    now = ctx.clock.now()
    return {"outbox_due": now + timedelta(seconds=COALESCE_SECONDS), "outbox_now": now}


async def queue_card_update(ctx: Context, card_id: int, provider: str) -> None:
    """One pending row for `card_id` in one wallet (`provider`), coalesced as `queue_wallet_updates`'s.
    Raises nothing."""
    card = (
        await ctx.session.execute(
            select(LoyaltyCard.vendor_id, LoyaltyCard.updated_at).where(LoyaltyCard.id == card_id)
        )
    ).one()
    await ctx.session.execute(_pending_row(ctx, card.vendor_id, card_id, card.updated_at, provider))


async def queue_class_update(ctx: Context, vendor_id: int, program_id: int, provider: str) -> None:
    """A pending row for the programme's class in `provider` (Google's LoyaltyClass): the worker writes
    what changed. Coalesced per programme like the cards' rows. Raises nothing."""
    await ctx.session.execute(
        _pending(ctx, {"vendor_id": vendor_id, "program_id": program_id, "provider": provider}, ctx.clock.now())
    )


async def queue_for_registered_cards(ctx: Context, program_id: int) -> int:
    """After a programme change: a pending row per configured wallet for each card of the programme
    that a wallet holds (a device registered for it, or its Google object exists); returns how many
    cards. (Cards no wallet holds have nothing to update.) Raises nothing."""
    held = or_(
        LoyaltyCard.id.in_(select(AppleDeviceRegistration.card_id).distinct()),
        LoyaltyCard.id.in_(select(GoogleWalletObject.card_id)),
    )
    rows = (
        await ctx.session.execute(
            select(LoyaltyCard.id, LoyaltyCard.vendor_id, LoyaltyCard.updated_at)
            .where(LoyaltyCard.program_id == program_id, held)
            .order_by(LoyaltyCard.id)
        )
    ).all()
    for card_id, vendor_id, version in rows:
        for provider in ctx.settings.wallet_provider_list:
            await ctx.session.execute(_pending_row(ctx, vendor_id, card_id, version, provider))
    return len(rows)


async def queue_user_mail(ctx: Context, user: User, purpose: UserTokenPurpose) -> None:
    """A pending mail (provider `mail`) carrying a one-time link of `purpose` to `user`, due now; a request
    while one is pending for the same person and purpose adds nothing (one mail, not ten). The row holds
    no link: the worker makes it when it sends (worker/mail.py). Raises nothing."""
    now = ctx.clock.now()
    await ctx.session.execute(
        upsert_into_partial_index(
            ctx.session,
            _OUTBOX,
            {
                "vendor_id": user.vendor_id,
                "user_id": user.id,
                "purpose": purpose,
                "provider": MAIL,
                "pass_version": now,
                "status": OutboxStatus.PENDING,
                "attempts": 0,
                "due_at": now,
                "created_at": now,
            },
            index_columns=["user_id", "purpose"],
            index_predicate="status = 'pending' AND user_id IS NOT NULL",
            earliest="due_at",
            latest="pass_version",
        )
    )


def _pending_row(ctx: Context, vendor_id: int, card_id: int, version: datetime, provider: str) -> Any:
    """The card's pending row in `provider`, at pass version `version` (`_pending`)."""
    return _pending(ctx, {"vendor_id": vendor_id, "card_id": card_id, "provider": provider}, version)


def _pending(ctx: Context, target: dict[str, Any], version: datetime) -> Any:
    """INSERT … ON CONFLICT (card_id, provider) WHERE status = 'pending' (or, for a programme's row,
    (program_id, provider) WHERE … card_id IS NULL) DO UPDATE: the burst's row keeps its earliest due
    time and takes the latest pass version. `target`: vendor_id, provider, and card_id or program_id."""
    now = ctx.clock.now()
    by_card = "card_id" in target
    return upsert_into_partial_index(
        ctx.session,
        _OUTBOX,
        {
            **target,
            "pass_version": version,
            "status": OutboxStatus.PENDING,
            "attempts": 0,
            "due_at": now + timedelta(seconds=COALESCE_SECONDS),
            "created_at": now,
        },
        index_columns=["card_id" if by_card else "program_id", "provider"],
        index_predicate=_CARD_ROW_PENDING if by_card else "status = 'pending' AND card_id IS NULL",
        earliest="due_at",
        latest="pass_version",
    )


# --- the worker's side -------------------------------------------------------------------------------

LEASE_SECONDS = 60
FIRST_RETRY_SECONDS = 15
LONGEST_RETRY_SECONDS = 3600


@dataclass(frozen=True)
class Claimed:
    """An outbox row a worker holds until `claimed_until`: send it, then `sent`, `retry_later` or `park`.
    It names a card whose pass changed, or (card_id None) a programme whose Google class did, or (both None)
    a person to mail a one-time link of `purpose` to (`user_id`)."""

    id: int
    card_id: int | None
    provider: str
    attempts: int
    program_id: int | None = None
    lease: datetime | None = None  # the claimed_until this worker set: the row is its own while that holds
    user_id: int | None = None
    purpose: str | None = None


async def claim_due(ctx: Context, limit: int) -> list[Claimed]:
    """Up to `limit` due rows (pending and due, or claimed by a worker whose lease ran out), oldest due
    first, marked `sending` for `LEASE_SECONDS`. PostgreSQL skips rows another worker is claiming
    (`FOR UPDATE SKIP LOCKED`), so any number of workers share the work and none sends a row another holds.
    Raises nothing."""
    now = ctx.clock.now()
    due = due_rows(now, limit)
    rows = (
        await ctx.session.execute(
            update(WalletOutbox)
            .where(WalletOutbox.id.in_(due.scalar_subquery()))
            .values(status=OutboxStatus.SENDING, claimed_until=now + timedelta(seconds=LEASE_SECONDS))
            .returning(
                WalletOutbox.id,
                WalletOutbox.card_id,
                WalletOutbox.provider,
                WalletOutbox.attempts,
                WalletOutbox.program_id,
                WalletOutbox.claimed_until,
                WalletOutbox.user_id,
                WalletOutbox.purpose,
            )
            .execution_options(synchronize_session=False)
        )
    ).all()
    claimed = (
        Claimed(
            row.id, row.card_id, row.provider, row.attempts, row.program_id, row.claimed_until, row.user_id, row.purpose
        )
        for row in rows
    )
    return sorted(claimed, key=lambda each: each.id)


def due_rows(now: datetime, limit: int) -> Select[int]:
    """The ids `claim_due` takes: pending and due, or `sending` past their lease; it reads the partial
    index `ix_wallet_outbox_due`, which holds only those two statuses, so sent rows never slow it.

    A pending row waits while another row of the same card (or programme) and wallet is being sent: two
    workers writing one pass at once could land the older write last (a stale pass, an erasure undone)."""
    sending = aliased(WalletOutbox)
    in_flight = (
        select(sending.id)
        .where(
            sending.status == OutboxStatus.SENDING,
            sending.claimed_until >= now,
            sending.provider == WalletOutbox.provider,
            or_(
                sending.card_id == WalletOutbox.card_id,
                and_(sending.card_id.is_(None), sending.program_id == WalletOutbox.program_id),
            ),
        )
        .exists()
    )
    return (
        select(WalletOutbox.id)
        .where(
            or_(
                and_(WalletOutbox.status == OutboxStatus.PENDING, WalletOutbox.due_at <= now, ~in_flight),
                and_(WalletOutbox.status == OutboxStatus.SENDING, WalletOutbox.claimed_until < now),
            )
        )
        .order_by(WalletOutbox.due_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )


async def renew_lease(ctx: Context, row: Claimed) -> bool:
    """Extends the worker's hold on `row` for another `LEASE_SECONDS`, just before it is sent (a batch's
    lease started when the batch was claimed); False when the row is no longer this worker's to send (its
    lease ran out and another worker took it). Raises nothing."""
    now = ctx.clock.now()
    renewed = await ctx.session.execute(
        update(WalletOutbox)
        .where(
            WalletOutbox.id == row.id,
            WalletOutbox.status == OutboxStatus.SENDING,
            WalletOutbox.claimed_until == row.lease,  # no other worker claimed it since
            WalletOutbox.claimed_until >= now,
        )
        .values(claimed_until=now + timedelta(seconds=LEASE_SECONDS))
        .returning(WalletOutbox.id)
    )
    return renewed.first() is not None


async def sent(ctx: Context, row: Claimed, apns_id: str | None) -> None:
    """The row's update reached every device (or there was none): kept as `sent` for the statistics. Raises nothing."""
    now = ctx.clock.now()
    await ctx.session.execute(
        update(WalletOutbox)
        .where(WalletOutbox.id == row.id)
        .values(status=OutboxStatus.SENT, sent_at=now, last_attempt_at=now, last_error=None, apns_id=apns_id)
    )


async def park(ctx: Context, row: Claimed, error: str) -> None:
    """Given up until an admin retries it (a configuration error, or too many failures). Raises nothing."""
    await ctx.session.execute(
        update(WalletOutbox)
        .where(WalletOutbox.id == row.id)
        .values(
            status=OutboxStatus.PARKED,
            attempts=row.attempts + 1,
            last_attempt_at=ctx.clock.now(),
            last_error=error[:2000],
            claimed_until=None,
        )
    )


async def retry_later(ctx: Context, row: Claimed, error: str, jitter: float) -> None:
    """Due again after an exponential back-off (15 s, 30 s, … at most an hour) times `jitter` (0.5–1.5,
    so workers that failed together do not retry together). When a newer change already queued a
    pending row for the card, that row carries the update: this one goes. Raises nothing."""
    now = ctx.clock.now()
    delay = min(FIRST_RETRY_SECONDS * 2**row.attempts, LONGEST_RETRY_SECONDS) * jitter
    newer = await ctx.session.scalar(
        select(WalletOutbox.id).where(*_same_target(row), WalletOutbox.status == OutboxStatus.PENDING)
    )
    if newer is None:
        try:
            async with ctx.session.begin_nested():  # a change may queue its row meanwhile: then it wins
                await ctx.session.execute(
                    update(WalletOutbox)
                    .where(WalletOutbox.id == row.id)
                    .values(
                        status=OutboxStatus.PENDING,
                        attempts=row.attempts + 1,
                        due_at=now + timedelta(seconds=delay),
                        last_attempt_at=now,
                        last_error=error[:2000],
                        claimed_until=None,
                    )
                )
            return
        except IntegrityError:
            pass
    await ctx.session.execute(delete(WalletOutbox).where(WalletOutbox.id == row.id))


def _same_target(row: Claimed | WalletOutbox) -> tuple[Any, ...]:
    """The rows that carry the same update as `row`: one card's (or one programme class's) in one wallet, or
    one person's mail of one purpose. (`== None` compiles to IS NULL.)"""
    return (
        WalletOutbox.card_id == row.card_id,
        WalletOutbox.program_id == row.program_id,
        WalletOutbox.user_id == row.user_id,
        WalletOutbox.purpose == row.purpose,
        WalletOutbox.provider == row.provider,
    )


async def purge_sent(ctx: Context, older_than: timedelta) -> int:
    """Deletes the rows sent before `older_than` ago; returns how many. Raises nothing."""
    result = await ctx.session.execute(
        delete(WalletOutbox).where(
            WalletOutbox.status == OutboxStatus.SENT, WalletOutbox.sent_at < ctx.clock.now() - older_than
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


# --- what people see -----------------------------------------------------------------------------------


async def list_rows(ctx: Context, status: OutboxStatus, *, limit: int, offset: int) -> Page[WalletOutbox]:
    """The platform's outbox rows of one status, the longest waiting first (the admin's view). Raises nothing."""
    query = select(WalletOutbox).where(WalletOutbox.status == status)
    return await paginate(
        ctx.session, query, order_by=(WalletOutbox.due_at, WalletOutbox.id), limit=limit, offset=offset
    )


async def retry_now(ctx: Context, row_id: int) -> WalletOutbox:
    """A parked (or waiting) row due now, its failures forgotten; when a newer pending row already
    carries the card's update, that one is made due now instead and returned.

    Raises OutboxRowNotFound (404) for an unknown row, or one already sent.
    """
    row = await ctx.session.get(WalletOutbox, row_id)
    if row is None or row.status == OutboxStatus.SENT:
        raise OutboxRowNotFound(row_id)
    now = ctx.clock.now()
    newer = await ctx.session.scalar(
        select(WalletOutbox).where(
            *_same_target(row),
            WalletOutbox.status == OutboxStatus.PENDING,
            WalletOutbox.id != row.id,
        )
    )
    if newer is not None:
        await ctx.session.delete(row)
        row = newer
    row.status, row.due_at, row.attempts, row.claimed_until = OutboxStatus.PENDING, now, 0, None
    await ctx.session.flush()
    return row


@dataclass(frozen=True)
class WalletStats:
    """A vendor's wallet adoption and push health over the last 24 hours."""

    apple_installed_cards: int
    pushes_24h: int
    failures_24h: int
    oldest_pending_seconds: int | None
    google_objects: int | None = None


async def vendor_stats(ctx: Context) -> WalletStats:
    """Cards some device holds in Apple Wallet; Google Wallet objects (None when Google Wallet is not
    configured); wallet updates sent and failed attempts in the last 24 h;
    how long the oldest pending update has been due (None: none is). Raises nothing."""
    vendor_id, now = ctx.vendor_id, ctx.clock.now()
    since = now - timedelta(hours=24)
    installed = await ctx.session.scalar(
        select(func.count(func.distinct(AppleDeviceRegistration.card_id))).where(
            AppleDeviceRegistration.vendor_id == vendor_id
        )
    )
    mine = and_(WalletOutbox.vendor_id == vendor_id, WalletOutbox.user_id.is_(None))  # wallets and cards only
    pushes = await ctx.session.scalar(
        select(func.count()).where(mine, WalletOutbox.status == OutboxStatus.SENT, WalletOutbox.sent_at >= since)
    )
    failures = await ctx.session.scalar(
        select(func.count()).where(
            mine,
            WalletOutbox.last_error.is_not(None),
            WalletOutbox.last_attempt_at >= since,
            WalletOutbox.status != OutboxStatus.SENT,
        )
    )
    oldest = await ctx.session.scalar(
        select(func.min(WalletOutbox.due_at)).where(mine, WalletOutbox.status == OutboxStatus.PENDING)
    )
    waiting = None if oldest is None else max(0, int((now - oldest).total_seconds()))
    google = None
    if ctx.settings.google_wallet_configured:
        google = int(
            await ctx.session.scalar(
                select(func.count()).select_from(GoogleWalletObject).where(GoogleWalletObject.vendor_id == vendor_id)
            )
            or 0
        )
    return WalletStats(int(installed or 0), int(pushes or 0), int(failures or 0), waiting, google)
