"""A card's wallet pass: what it shows (`CardFacts`), found by the holder's card token or by the
pass's serial number and authentication token, and how a programme change moves every pass of it.

Every change to a card moves its pass version in the same transaction (`cards.bump_pass_version`,
called by the ledger, deactivation and erasure); a programme change that alters what passes show
moves all of the programme's passes (`move_program_passes`). The next fetch therefore renders the
card as committed: passes are rendered on request, never stored.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from loyalty.errors import CardNotFound, Unauthenticated
from loyalty.models import (
    AppleDeviceRegistration,
    Customer,
    LoyaltyCard,
    LoyaltyProgram,
    LoyaltyTransaction,
    ProgramLogo,
    Vendor,
)
from loyalty.services.card_numbers import format_card_number
from loyalty.services.cards import pass_version_after
from loyalty.services.context import Context
from loyalty.wallet.card_facts import CardFacts, LastTransaction, PassLocation, PassReward, ProgramFacts


async def facts_by_card_token(ctx: Context, card_token: str) -> CardFacts:
    """The pass of the card whose public token is `card_token` (the holder's download).

    Raises CardNotFound (404) for an unknown token and for a vendor switched off by the admin.
    """
    facts = await _facts(ctx, LoyaltyCard.card_token == card_token)
    if facts is None:
        raise CardNotFound()
    return facts


async def facts_for_device(ctx: Context, serial_number: str, authentication_token: str) -> CardFacts:
    """The pass `serial_number`, for a device that presents the pass's `authentication_token`.

    Raises Unauthenticated (401) alike for an unknown serial and a wrong token, so the answer tells
    nothing about which serials exist (WALLET.md, "Rules"). The token is compared in constant time.
    """
    facts = await _facts(ctx, LoyaltyCard.pass_serial_number == serial_number)
    if facts is None or not hmac.compare_digest(facts.authentication_token.encode(), authentication_token.encode()):
        raise Unauthenticated()
    return facts


async def facts_by_card_id(ctx: Context, card_id: int) -> CardFacts | None:
    """The pass of card `card_id` as it is now (the worker's read); None for an unknown card or a vendor
    switched off by the admin. Raises nothing."""
    return await _facts(ctx, LoyaltyCard.id == card_id)


async def authenticated_card_id(ctx: Context, serial_number: str, authentication_token: str) -> int:
    """The id of the card whose pass is `serial_number`, when `authentication_token` is its token.

    Raises Unauthenticated (401) for an unknown serial and a wrong token alike.
    """
    row = (
        await ctx.session.execute(
            select(LoyaltyCard.id, LoyaltyCard.pass_authentication_token).where(
                LoyaltyCard.pass_serial_number == serial_number
            )
        )
    ).first()
    if row is None or not hmac.compare_digest(row.pass_authentication_token.encode(), authentication_token.encode()):
        raise Unauthenticated()
    return int(row.id)


@dataclass(frozen=True)
class CardWallet:
    """Where a card's pass is: devices registered for its Apple Wallet updates, the last push to any of
    them (when, APNs' answer; None before the first), and the pass version (its Last-Modified, UTC)."""

    registered_devices: int
    last_push_at: datetime | None
    last_push_status: str | None
    pass_version: datetime


async def card_wallet(ctx: Context, card_id: int) -> CardWallet:
    """The wallet state of the calling vendor's card. Raises CardNotFound (404) for another vendor's card."""
    version = await ctx.session.scalar(
        select(LoyaltyCard.updated_at).where(LoyaltyCard.id == card_id, LoyaltyCard.vendor_id == ctx.vendor_id)
    )
    if version is None:
        raise CardNotFound(card_id)
    devices = (
        await ctx.session.execute(
            select(AppleDeviceRegistration.last_push_at, AppleDeviceRegistration.last_push_status)
            .where(AppleDeviceRegistration.card_id == card_id)
            .order_by(AppleDeviceRegistration.last_push_at.desc().nulls_last(), AppleDeviceRegistration.id.desc())
        )
    ).all()
    latest = devices[0] if devices else None
    return CardWallet(
        registered_devices=len(devices),
        last_push_at=latest.last_push_at if latest else None,
        last_push_status=latest.last_push_status if latest else None,
        pass_version=last_modified_second(version),
    )


async def move_program_passes(ctx: Context, program_id: int) -> int:
    """Moves the pass version of every card of the programme, whose look changed (name, colours,
    rules, rewards, terms, locations); returns how many cards moved.

    The cards are locked first (in id order, as every other writer locks one card at most), so a
    stamp landing meanwhile cannot be overtaken by a version computed before it.
     Raises nothing."""
    now = ctx.clock.now()
    rows = (
        await ctx.session.execute(
            select(LoyaltyCard.id, LoyaltyCard.updated_at)
            .where(LoyaltyCard.program_id == program_id)
            .order_by(LoyaltyCard.id)
            .with_for_update()
        )
    ).all()
    if rows:
        await ctx.session.execute(
            update(LoyaltyCard),
            [{"id": card_id, "updated_at": pass_version_after(version, now)} for card_id, version in rows],
        )
    return len(rows)


async def _facts(ctx: Context, which: Any) -> CardFacts | None:
    row = (
        await ctx.session.execute(
            select(LoyaltyCard, LoyaltyProgram, Vendor, Customer, ProgramLogo.png)
            .join(LoyaltyProgram, LoyaltyProgram.id == LoyaltyCard.program_id)
            .join(Vendor, Vendor.id == LoyaltyCard.vendor_id)
            .join(Customer, Customer.id == LoyaltyCard.customer_id)
            .outerjoin(ProgramLogo, ProgramLogo.program_id == LoyaltyProgram.id)
            .where(which, Vendor.is_active.is_(True))
        )
    ).first()
    if row is None:
        return None
    card, program, vendor, customer, logo = row
    last = (
        await ctx.session.execute(
            select(LoyaltyTransaction.transaction_type, LoyaltyTransaction.transaction_at)
            .where(LoyaltyTransaction.card_id == card.id)
            .order_by(LoyaltyTransaction.id.desc())
            .limit(1)
        )
    ).first()
    return _card_facts(card, program, vendor, customer, last, logo)


def _card_facts(
    card: LoyaltyCard,
    program: LoyaltyProgram,
    vendor: Vendor,
    customer: Customer,
    last: Any,
    logo: bytes | None = None,
) -> CardFacts:
    erased = customer.erased_at is not None
    return CardFacts(
        serial_number=card.pass_serial_number,
        authentication_token=card.pass_authentication_token,
        modified_at=card.updated_at,
        vendor_name=vendor.name,
        vendor_slug=vendor.slug,
        program_type=program.program_type,
        program_name=program.card_name or program.name,
        stamps_target=program.stamps_target,
        stamps_reward=program.stamps_reward_description,
        points_per_euro=float(program.points_per_euro),
        rewards=catalogue(program),
        max_daily_stamps=program.max_daily_stamps,
        terms=program.terms,
        card_color=program.card_color,
        stamp_count=card.stamp_count,
        points_balance=card.points_balance,
        is_active=card.is_active,
        is_erased=erased,
        first_name=None if erased else first_name(customer.name),
        card_number=None if erased else format_card_number(card.card_number),
        qr_code=None if erased else card.qr_code,
        last_transaction=None if erased or last is None else LastTransaction(last[0], last[1]),
        locations=tuple(
            PassLocation(float(shop["latitude"]), float(shop["longitude"]), shop.get("relevant_text"))
            for shop in program.locations or []
        ),
        card_id=card.id,
        vendor_id=card.vendor_id,
        program_id=program.id,
        card_token=None if erased else card.card_token,
        default_locale=vendor.default_locale,
        logo=logo,
    )


def catalogue(program: LoyaltyProgram) -> tuple[PassReward, ...]:
    """The programme's active catalogue rewards, cheapest first."""
    return tuple(
        PassReward(str(reward["name"]), int(reward["points_required"]))
        for reward in sorted(program.points_rewards, key=lambda reward: int(reward["points_required"]))
        if reward.get("is_active", True)
    )


async def program_facts(ctx: Context, program_id: int) -> ProgramFacts | None:
    """What the programme's wallet class shows; None for an unknown programme. Raises nothing."""
    row = (
        await ctx.session.execute(
            select(LoyaltyProgram, Vendor, ProgramLogo.digest)
            .join(Vendor, Vendor.id == LoyaltyProgram.vendor_id)
            .outerjoin(ProgramLogo, ProgramLogo.program_id == LoyaltyProgram.id)
            .where(LoyaltyProgram.id == program_id)
        )
    ).first()
    if row is None:
        return None
    program, vendor, logo_digest = row
    return ProgramFacts(
        program_id=program.id,
        vendor_name=vendor.name,
        vendor_slug=vendor.slug,
        default_locale=vendor.default_locale,
        program_type=program.program_type,
        program_name=program.card_name or program.name,
        stamps_target=program.stamps_target,
        stamps_reward=program.stamps_reward_description,
        rewards=catalogue(program),
        terms=program.terms,
        card_color=program.card_color,
        logo_digest=logo_digest,
    )


def first_name(name: str | None) -> str | None:
    """The first word of the name the customer gave: a pass and a mail show only that."""
    if not name or not name.strip():
        return None
    return name.strip().split()[0]


def last_modified_second(moment: datetime) -> datetime:
    """The pass version as an HTTP date can carry it: whole seconds."""
    return moment.replace(microsecond=0)
