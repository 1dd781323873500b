"""What we know of the platform's Google Wallet resources: a class per programme, an object per card
whose save link was handed out (WALLET.md, "Google Wallet").

The rows record what the worker last wrote (so a change PATCHes only what differs), the notices Google
counted in the last 24 hours (3 allowed per pass) and the messages we added (Google keeps 10). A save
link creates the card's row and queues its first write; a programme change queues its class.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, select, update

from loyalty.errors import CardNotFound
from loyalty.models import GoogleWalletClass, GoogleWalletObject, LoyaltyCard
from loyalty.services import outbox, wallet_passes
from loyalty.services.context import Context
from loyalty.services.upserts import insert_ignoring_conflict
from loyalty.wallet.google import resources
from loyalty.wallet.google.issuer import GoogleIssuer

PROVIDER = "google"
NOTICES_PER_DAY = 3  # Google: notifications per pass per 24 hours, messages and field updates together
NOTICE_WINDOW = timedelta(hours=24)
MOST_MESSAGES = 10  # Google: messages an object holds
_OBJECTS = cast(Table, GoogleWalletObject.__table__)
_CLASSES = cast(Table, GoogleWalletClass.__table__)


async def save_url(ctx: Context, issuer: GoogleIssuer, card_token: str) -> str:
    """The save link of the card whose public token is `card_token`; from now on the card's object is
    kept up to date, whether or not the holder saves it (`object_handed_out`).

    Raises CardNotFound (404) for an unknown token and for a vendor switched off by the admin."""
    card = await wallet_passes.facts_by_card_token(ctx, card_token)
    await object_handed_out(ctx, card.card_id, card.vendor_id, card.program_id, card.serial_number)
    return issuer.save_url(card, ctx.clock.now())


async def object_handed_out(ctx: Context, card_id: int, vendor_id: int, program_id: int, serial_number: str) -> None:
    """The card's save link was handed out: from now on its object is kept up to date. The first time,
    the object's row is created and its first write queued (so the object Google creates from the link
    gets its picture and link soon), and the programme's class is queued if it never was. Raises nothing."""
    issuer_id = ctx.settings.google_issuer_id.strip()
    created = await ctx.session.execute(
        insert_ignoring_conflict(
            ctx.session,
            _OBJECTS,
            {
                "vendor_id": vendor_id,
                "card_id": card_id,
                "object_id": resources.object_id(issuer_id, serial_number),
                "synced_fields": {},
                "notices": [],
                "messages": [],
                "reward_ready": False,
                "created_at": ctx.clock.now(),
            },
        )
    )
    if getattr(created, "rowcount", 0):
        await outbox.queue_card_update(ctx, card_id, PROVIDER)
        await class_wanted(ctx, vendor_id, program_id, only_if_new=True)


async def class_wanted(ctx: Context, vendor_id: int, program_id: int, *, only_if_new: bool = False) -> None:
    """The programme's class should be (re)written: its row is created if missing and a class update is
    queued (`only_if_new`: only when the row was just created). Without Google Wallet: nothing. Raises nothing."""
    if not ctx.settings.google_wallet_configured:
        return
    created = await ctx.session.execute(
        insert_ignoring_conflict(
            ctx.session,
            _CLASSES,
            {
                "program_id": program_id,
                "class_id": resources.class_id(ctx.settings.google_issuer_id.strip(), program_id),
                "synced_fields": {},
                "created_at": ctx.clock.now(),
            },
        )
    )
    if getattr(created, "rowcount", 0) or not only_if_new:
        await outbox.queue_class_update(ctx, vendor_id, program_id, PROVIDER)


# The object's fields that hold the holder's data: an erased customer's are cleared at Google.
PERSONAL_FIELDS = ("accountId", "accountName", "barcode", "linksModuleData")
FORGOTTEN = "erased"  # what our record of an erased holder's field says instead


async def forget_holder(ctx: Context, card_ids: list[int]) -> None:
    """Erasure: our record of what the cards' objects hold keeps nothing of the holder (even while the
    write that clears them at Google waits or is parked); the placeholder still differs from the null the
    next write sends, so that write clears them. Raises nothing."""
    for row in await ctx.session.scalars(select(GoogleWalletObject).where(GoogleWalletObject.card_id.in_(card_ids))):
        row.synced_fields = {
            name: FORGOTTEN if name in PERSONAL_FIELDS and value is not None else value
            for name, value in (row.synced_fields or {}).items()
        }


# --- the worker's side -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ObjectState:
    """A card's object as last written: its id, fields, the notices of the last 24 h, our messages."""

    object_id: str
    synced_fields: dict[str, Any]
    notices: tuple[datetime, ...]
    messages: tuple[dict[str, Any], ...]
    reward_ready: bool

    def notices_left(self, now: datetime) -> int:
        """How many more notices Google allows this pass before `now + 24 h` (at least 0)."""
        recent = [moment for moment in self.notices if moment > now - NOTICE_WINDOW]
        return max(0, NOTICES_PER_DAY - len(recent))


async def object_state(ctx: Context, card_id: int) -> ObjectState | None:
    """The card's object as last written; None when its save link was never handed out. Raises nothing."""
    row = await ctx.session.scalar(select(GoogleWalletObject).where(GoogleWalletObject.card_id == card_id))
    if row is None:
        return None
    return ObjectState(
        object_id=row.object_id,
        synced_fields=dict(row.synced_fields or {}),
        notices=tuple(datetime.fromisoformat(moment) for moment in row.notices or []),
        messages=tuple(row.messages or []),
        reward_ready=row.reward_ready,
    )


@dataclass(frozen=True)
class ObjectWrite:
    """What the worker wrote to a card's object: the fields now there, whether it notified the holder,
    the messages we hold there, whether the card could be redeemed, and Google's last answer."""

    fields: dict[str, Any]
    notified: bool
    messages: tuple[dict[str, Any], ...]
    reward_ready: bool
    status: str
    quota_exceeded: bool = False  # Google answered QuotaExceeded to a notice: the day's budget is spent


async def record_object_write(ctx: Context, card_id: int, state: ObjectState, write: ObjectWrite) -> None:
    """Keeps what was written, the notices of the last 24 h (plus this one) and the messages. Raises nothing."""
    now = ctx.clock.now()
    notices = [moment for moment in state.notices if moment > now - NOTICE_WINDOW]
    if write.notified:
        notices.append(now)
    if write.quota_exceeded:  # Google counts notices we did not see (another sender): none until a day passes
        notices += [now] * max(0, NOTICES_PER_DAY - len(notices))
    await ctx.session.execute(
        update(GoogleWalletObject)
        .where(GoogleWalletObject.card_id == card_id)
        .values(
            synced_fields=write.fields,
            notices=[moment.isoformat() for moment in notices],
            messages=list(write.messages),
            reward_ready=write.reward_ready,
            state=write.fields.get("state"),
            last_sync_at=now,
            last_sync_status=write.status[:64],
        )
    )


async def record_object_failure(ctx: Context, card_id: int, status: str) -> None:
    """Google refused or did not answer: its answer is kept for the vendor's view. Raises nothing."""
    await ctx.session.execute(
        update(GoogleWalletObject)
        .where(GoogleWalletObject.card_id == card_id)
        .values(last_sync_at=ctx.clock.now(), last_sync_status=status[:64])
    )


async def class_fields(ctx: Context, program_id: int) -> dict[str, Any] | None:
    """The programme's class as last written ({} never); None when no class is wanted. Raises nothing."""
    row = await ctx.session.scalar(
        select(GoogleWalletClass.synced_fields).where(GoogleWalletClass.program_id == program_id)
    )
    return None if row is None else dict(row)


async def record_class_write(
    ctx: Context, program_id: int, fields: dict[str, Any], review_status: str | None, error: str | None = None
) -> None:
    """Keeps the class as written and Google's review status, or the error that stopped it. Raises nothing."""
    values: dict[str, Any] = {"synced_at": ctx.clock.now(), "last_error": error}
    if error is None:
        values |= {"synced_fields": fields, "review_status": review_status}
    await ctx.session.execute(
        update(GoogleWalletClass).where(GoogleWalletClass.program_id == program_id).values(**values)
    )


# --- what the vendor sees ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CardGoogleObject:
    """A card's Google Wallet object: its id, state (ACTIVE, INACTIVE; None before the first write),
    the last write (when; None before it) and the notices Google counted in the last 24 hours."""

    object_id: str
    state: str | None
    last_sync_at: datetime | None
    notifications_24h: int


async def card_google_object(ctx: Context, card_id: int) -> CardGoogleObject | None:
    """The calling vendor's card's Google object; None when its save link was never handed out.

    Raises CardNotFound (404) for another vendor's card."""
    row = (
        await ctx.session.execute(
            select(GoogleWalletObject, LoyaltyCard.vendor_id)
            .join(LoyaltyCard, LoyaltyCard.id == GoogleWalletObject.card_id)
            .where(GoogleWalletObject.card_id == card_id)
        )
    ).first()
    if row is None:
        return None
    found, vendor_id = row
    if vendor_id != ctx.vendor_id:
        raise CardNotFound(card_id)
    since = ctx.clock.now() - NOTICE_WINDOW
    recent = [moment for moment in found.notices or [] if datetime.fromisoformat(moment) > since]
    return CardGoogleObject(found.object_id, found.state, found.last_sync_at, len(recent))
