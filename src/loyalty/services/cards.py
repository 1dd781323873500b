"""Cards: enrolment by e-mail, look-ups by any reference, locking for balance changes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import EmailStr, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError
from sqlalchemy import Select, bindparam, func, or_, select
from sqlalchemy.exc import IntegrityError

from loyalty.errors import CardAlreadyExists, CardInactive, CardNotFound, CustomerErased
from loyalty.i18n import SUPPORTED_LOCALES, normalise_locale
from loyalty.models import Customer, LoyaltyCard, LoyaltyProgram
from loyalty.models.base import MAX_ID
from loyalty.services import outbox, totals
from loyalty.services.bodies import RequestBody
from loyalty.services.card_numbers import (
    CARD_NUMBER_DIGITS,
    CHECK_DIGIT_ERROR,
    is_valid_card_number,
    new_authentication_token,
    new_card_number,
    new_pass_serial_number,
    new_token,
    normalise_card_number,
)
from loyalty.services.compiled_queries import CompiledQuery
from loyalty.services.context import Context
from loyalty.services.pages import Page, paginate
from loyalty.sqlalchemy_internals import loaded


class CardRef(RequestBody):
    """Exactly one way to name a card: its id, the scanned QR payload, or the typed number."""

    card_id: int | None = Field(None, ge=1, le=MAX_ID)
    qr_code: str | None = Field(None, min_length=1, max_length=64)
    card_number: str | None = Field(None, min_length=1, max_length=40)

    @field_validator("card_number")
    @classmethod
    def _check_digit(cls, value: str | None) -> str | None:
        """A typed number of the right length whose Luhn digit fails is a typo, not an unknown card."""
        digits = normalise_card_number(value or "")
        if len(digits) == CARD_NUMBER_DIGITS and not is_valid_card_number(digits):
            raise PydanticCustomError(CHECK_DIGIT_ERROR, "The check digit does not match: a typo?")
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> CardRef:
        given = [name for name in ("card_id", "qr_code", "card_number") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of card_id, qr_code, card_number")
        return self

    @property
    def identifier(self) -> object:
        return self.card_id or self.qr_code or self.card_number


class Enrolment(RequestBody):
    email: EmailStr = Field(max_length=320)
    name: str | None = Field(None, max_length=200)
    phone: str | None = Field(None, max_length=40)
    locale: str | None = None
    marketing_consent: bool = False

    @field_validator("locale")
    @classmethod
    def _spoken_locale(cls, value: str | None) -> str | None:
        if value is None:
            return None
        locale = normalise_locale(value)
        if locale is None:
            raise ValueError(f"must be one of {', '.join(SUPPORTED_LOCALES)}")
        return locale


@dataclass(frozen=True)
class CardView:
    """A card with its customer, as the vendor's API shows it."""

    card: LoyaltyCard
    customer: Customer


def bump_pass_version(card: LoyaltyCard, now: datetime) -> None:
    """Moves the card's pass version (`updated_at`, the pass's Last-Modified); the database then tags
    the change for the PassKit list call (migration 0008's trigger)."""
    card.updated_at = pass_version_after(card.updated_at, now)


async def pass_changed(ctx: Context, card: LoyaltyCard) -> None:
    """A change the card's wallet passes show, other than a balance (the ledger does those): moves the
    pass version and queues the wallets' updates, in the caller's transaction. Raises nothing.

    The card's row is written (and so locked) before the outbox's: every writer takes the two in that
    order (the ledger, a programme change), or two of them could deadlock."""
    bump_pass_version(card, ctx.clock.now())
    await ctx.session.flush()
    await outbox.queue_wallet_updates(ctx, card)


def pass_version_after(previous: datetime | None, now: datetime) -> datetime:
    """`now` rounded up to the second, and at least one second after `previous` (WALLET.md): HTTP dates
    have one-second resolution, so two changes within a second must still give two Last-Modified
    values, or the device answers its second fetch with 304 and keeps the first."""
    rounded = now if now.microsecond == 0 else now.replace(microsecond=0) + timedelta(seconds=1)
    return rounded if previous is None else max(rounded, previous + timedelta(seconds=1))


def normalise_email(email: str) -> str:
    """The e-mail as customers are identified by it: trimmed, lower-case (docs/rules.md, "Enrolment and
    customers")."""
    return email.strip().lower()


def _where_ref(query: Select[*tuple[Any, ...]], ref: CardRef) -> Select[*tuple[Any, ...]]:
    if ref.card_id is not None:
        return query.where(LoyaltyCard.id == ref.card_id)
    if ref.qr_code is not None:
        return query.where(LoyaltyCard.qr_code == ref.qr_code)
    return query.where(LoyaltyCard.card_number == normalise_card_number(ref.card_number or ""))


def _lock_by(column: Any) -> CompiledQuery:
    cards = LoyaltyCard.__table__
    return CompiledQuery(
        select(cards).where(column == bindparam("ref"), cards.c.vendor_id == bindparam("vendor_id")).with_for_update()
    )


# Every counter operation starts here: the statements are compiled once (see compiled_queries.CompiledQuery).
_LOCKS = {column: _lock_by(LoyaltyCard.__table__.c[column]) for column in ("id", "qr_code", "card_number")}


def card_key(ref: CardRef) -> tuple[str, int | str]:
    """The column of `loyalty_cards` that `ref` names the card by, and the value to find there (a typed
    number without its spaces or dashes)."""
    if ref.card_id is not None:
        return "id", ref.card_id
    if ref.qr_code is not None:
        return "qr_code", ref.qr_code
    return "card_number", normalise_card_number(ref.card_number or "")


async def lock_card(ctx: Context, program: LoyaltyProgram, ref: CardRef) -> LoyaltyCard:
    """The vendor's card named by `ref`, in `program`, its row locked until commit (SELECT ... FOR
    UPDATE): the step every balance change takes after the PIN check (docs/rules.md, "A balance change,
    step by step"). Raises CardNotFound (404: none, another vendor's, or another programme's) and
    CardInactive (400).

    The card is not attached to the session: its loaded values are its committed state, so the
    changes a service makes are tracked, and `ledger.append` writes them with the ledger entry.
    """
    column, value = card_key(ref)
    row = await _LOCKS[column].first(ctx.session, {"ref": value, "vendor_id": ctx.vendor_id})
    if row is None or row["program_id"] != program.id:
        raise CardNotFound(ref.identifier)
    card = loaded(LoyaltyCard, row)
    if not card.is_active:
        raise CardInactive(card.id)
    return card


async def find_card(ctx: Context, ref: CardRef) -> CardView:
    """The calling vendor's card named by `ref` (id, QR payload, or number typed with any spaces or
    dashes), with its customer, active or not. Raises CardNotFound (404), also for another vendor's."""
    query = _where_ref(select(LoyaltyCard, Customer), ref)
    row = (
        await ctx.session.execute(
            query.join(Customer, Customer.id == LoyaltyCard.customer_id).where(LoyaltyCard.vendor_id == ctx.vendor_id)
        )
    ).first()
    if row is None:
        raise CardNotFound(ref.identifier)
    return CardView(card=row[0], customer=row[1])


class CardLookup(RequestBody):
    """What the counter finds a card by (exactly one): the scanned QR payload, the typed card number, or
    the customer's exact e-mail when the phone was left at home (PAGES.md, "Staff terminal")."""

    qr_code: str | None = Field(None, min_length=1, max_length=64)
    card_number: str | None = Field(None, min_length=1, max_length=40)
    email: str | None = Field(None, min_length=3, max_length=320)

    @model_validator(mode="after")
    def _exactly_one(self) -> CardLookup:
        if sum(value is not None for value in (self.qr_code, self.card_number, self.email)) != 1:
            raise ValueError("give exactly one of qr_code, card_number, email")
        return self


async def look_up(ctx: Context, lookup: CardLookup) -> CardView:
    """The calling vendor's card `lookup` names. Raises CardNotFound (404); pydantic's ValidationError for a
    typed number whose check digit fails."""
    if lookup.email is not None:
        return await find_card_by_email(ctx, lookup.email)
    return await find_card(ctx, CardRef(qr_code=lookup.qr_code, card_number=lookup.card_number))


async def find_card_by_email(ctx: Context, email: str) -> CardView:
    """The calling vendor's card of the customer who enrolled with `email` (compared normalised, exactly:
    no partial match, so a counter cannot browse customers). Raises CardNotFound (404)."""
    row = (
        await ctx.session.execute(
            select(LoyaltyCard, Customer)
            .join(Customer, Customer.id == LoyaltyCard.customer_id)
            .where(LoyaltyCard.vendor_id == ctx.vendor_id, Customer.email_normalised == normalise_email(email))
            .order_by(LoyaltyCard.id)
            .limit(1)
        )
    ).first()
    if row is None:
        raise CardNotFound(email)
    return CardView(card=row[0], customer=row[1])


async def find_card_by_token(ctx: Context, card_token: str) -> LoyaltyCard:
    """The card whose public page token is `card_token`, of any vendor (the token is the customer's
    secret). Raises CardNotFound (404)."""
    card = await ctx.session.scalar(select(LoyaltyCard).where(LoyaltyCard.card_token == card_token))
    if card is None:
        raise CardNotFound(card_token)
    return card


async def list_cards(ctx: Context, *, search: str | None, limit: int, offset: int) -> Page[CardView]:
    """The calling vendor's cards with their customers, newest first, one page (`limit` after `offset`);
    `search` matches part of the e-mail, the name or the card number (its digits). Raises nothing."""
    query = (
        select(LoyaltyCard, Customer)
        .join(Customer, Customer.id == LoyaltyCard.customer_id)
        .where(LoyaltyCard.vendor_id == ctx.vendor_id)
    )
    if search and search.strip():
        term = search.strip().lower()
        conditions = [  # autoescape: a typed "%" or "_" is a character, not a wildcard
            Customer.email_normalised.contains(term, autoescape=True),
            func.lower(Customer.name).contains(term, autoescape=True),
        ]
        if digits := normalise_card_number(term):
            conditions.append(LoyaltyCard.card_number.like(f"%{digits}%"))
        query = query.where(or_(*conditions))
    page = await paginate(
        ctx.session, query, order_by=(LoyaltyCard.id.desc(),), limit=limit, offset=offset, scalars=False
    )
    return Page([CardView(card, customer) for card, customer in page.items], page.total, limit, offset)


async def enrol(ctx: Context, program: LoyaltyProgram, enrolment: Enrolment) -> CardView:
    """A new active card in `program` for the enrolment's e-mail (normalised), with a Luhn card number and
    two random tokens, counted in the vendor's totals; the vendor's customer row for that e-mail is
    reused. Returns the card and its customer. Raises CardAlreadyExists (409: one card per customer per
    programme; naming the card only to a vendor's caller, never to the public), also when the same
    e-mail enrols concurrently. Rules: docs/rules.md, "Enrolment and customers"."""
    now = ctx.clock.now()
    email_key = normalise_email(enrolment.email)
    customer = await ctx.session.scalar(
        select(Customer).where(Customer.vendor_id == program.vendor_id, Customer.email_normalised == email_key)
    )
    if customer is None:
        customer = Customer(
            vendor_id=program.vendor_id,
            email=enrolment.email,
            email_normalised=email_key,
            name=enrolment.name,
            phone=enrolment.phone,
            locale=enrolment.locale,
            marketing_consent=enrolment.marketing_consent,
            created_at=now,
        )
        ctx.session.add(customer)
    else:
        await _refuse_a_second_card(ctx, program, customer.id)
    card = LoyaltyCard(
        vendor_id=program.vendor_id,
        program_id=program.id,
        card_number=await _unused_card_number(ctx),
        qr_code=new_token(),
        card_token=new_token(),
        stamp_count=0,
        stamps_today=0,
        total_stamps_earned=0,
        stamps_redeemed=0,
        points_balance=0,
        total_points_earned=0,
        total_points_redeemed=0,
        is_active=True,
        enrolled_at=now,
        updated_at=pass_version_after(None, now),
        pass_serial_number=new_pass_serial_number(),
        pass_authentication_token=new_authentication_token(),
    )
    try:
        async with ctx.session.begin_nested():
            await ctx.session.flush()  # the customer's id
            card.customer_id = customer.id
            ctx.session.add(card)
            await ctx.session.flush()
    except IntegrityError as exc:  # the same e-mail enrolled concurrently
        await _refuse_a_second_card(ctx, program, customer.id)
        raise CardAlreadyExists() from exc
    await totals.count_new_card(ctx.session, program.vendor_id, card.id)
    return CardView(card=card, customer=customer)


async def _refuse_a_second_card(ctx: Context, program: LoyaltyProgram, customer_id: int | None) -> None:
    """CardAlreadyExists when the customer has a card in the programme: naming it to the vendor (a
    caller with an actor, at its counter), never to the public."""
    if customer_id is None:
        return
    existing = (
        await ctx.session.execute(
            select(LoyaltyCard.id, LoyaltyCard.card_number).where(
                LoyaltyCard.program_id == program.id, LoyaltyCard.customer_id == customer_id
            )
        )
    ).first()
    if existing is None:
        return
    if ctx.actor is None:
        raise CardAlreadyExists()
    raise CardAlreadyExists(card_id=existing.id, card_number=existing.card_number)


async def _unused_card_number(ctx: Context) -> str:
    while True:  # 10^15 numbers: a collision is rare, and a second draw is cheap
        number = new_card_number()
        if await ctx.session.scalar(select(LoyaltyCard.id).where(LoyaltyCard.card_number == number)) is None:
            return number


async def set_card_active(ctx: Context, card_id: int, active: bool) -> CardView:
    """Deactivates or reactivates the vendor's card `card_id` (its pass version moves); doing it twice is a
    no-op. Returns the card and its customer. Raises CardNotFound (404); CustomerErased (400) to
    reactivate an erased customer's card, which stays inactive (docs/rules.md, "Enrolment and customers")."""
    view = await find_card(ctx, CardRef(card_id=card_id))
    if active and view.customer.erased_at is not None:
        raise CustomerErased(card_id)
    if view.card.is_active != active:
        view.card.is_active = active
        await pass_changed(ctx, view.card)
        await ctx.session.flush()
    return view
