"""Programmes: one per vendor; stamps, points or both, with the anti-fraud settings."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from pydantic import Field, model_validator
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError

from loyalty.errors import ProgramAlreadyExists, ProgramInactive, ProgramNotFound, ValidationFailed
from loyalty.models import LoyaltyProgram, ProgramType, Vendor
from loyalty.models.base import MAX_ID
from loyalty.services import google_wallet, outbox, wallet_passes
from loyalty.services.bodies import RequestBody
from loyalty.services.context import Context
from loyalty.services.pages import Page, paginate
from loyalty.sqlalchemy_internals import loaded

COLOR_PATTERN = r"^#[0-9A-Fa-f]{6}$"
MAX_REWARD_ID = 2**31 - 1  # stored in an INTEGER column of the ledger
REQUIRED_SETTINGS = (
    "program_type",
    "name",
    "stamps_target",
    "points_per_euro",
    "points_rewards",
    "cooldown_minutes",
    "max_daily_stamps",
    "require_staff_pin",
    "locations",
)
# What a programme's wallet passes do not show: changing only these moves no pass. `logo_url` is a link for
# the card page; the passes draw the logo uploaded on the dashboard (services/logos.py), which repaints them
# itself (`repaint_passes`), and never fetch a URL.
NOT_ON_THE_PASS = frozenset({"cooldown_minutes", "require_staff_pin", "logo_url"})
MOST_SHOP_LOCATIONS = 10  # Apple Wallet shows a pass near at most 10 places (WALLET.md)


class Reward(RequestBody):
    """One entry of the points catalogue. Without an `id`, the next free one is given."""

    id: int | None = Field(None, ge=1, le=MAX_REWARD_ID)
    name: str = Field(min_length=1, max_length=200)
    points_required: int = Field(ge=1, le=MAX_ID)
    is_active: bool = True


class ShopLocation(RequestBody):
    """A shop where the card's wallet pass offers itself on the lock screen (Apple: `locations`)."""

    latitude: float = Field(ge=-90, le=90, description="Degrees north (WGS 84).")
    longitude: float = Field(ge=-180, le=180, description="Degrees east (WGS 84).")
    relevant_text: str | None = Field(
        None, max_length=100, description='Shown near the shop, e.g. "Your stamp card for Rue du Fort".'
    )


class ProgramUpdate(RequestBody):
    """The fields of `PATCH /program`: any subset of ProgramCreate's fields. A field left out is unchanged;
    the required settings cannot be set to null."""

    program_type: ProgramType | None = None
    name: str | None = Field(None, min_length=1, max_length=200)
    stamps_target: int | None = Field(None, ge=1, le=1000)
    stamps_reward_description: str | None = Field(None, max_length=500)
    points_per_euro: Decimal | None = Field(None, ge=0, le=10000, max_digits=12, decimal_places=4)
    points_rewards: list[Reward] | None = Field(None, max_length=200)
    cooldown_minutes: int | None = Field(None, ge=0, le=10080)
    max_daily_stamps: int | None = Field(None, ge=1, le=1000)
    require_staff_pin: bool | None = None
    card_name: str | None = Field(None, max_length=200)
    card_color: str | None = Field(None, pattern=COLOR_PATTERN)
    logo_url: str | None = Field(None, max_length=1000)
    terms: str | None = Field(None, max_length=20000)
    locations: list[ShopLocation] | None = Field(None, max_length=MOST_SHOP_LOCATIONS)

    @model_validator(mode="after")
    def _required_settings_not_cleared(self) -> ProgramUpdate:
        cleared = [name for name in REQUIRED_SETTINGS if name in self.model_fields_set and getattr(self, name) is None]
        if cleared:
            raise ValueError(f"{', '.join(cleared)} cannot be null")
        return self

    @model_validator(mode="after")
    def _reward_ids_unique(self) -> ProgramUpdate:
        ids = [r.id for r in self.points_rewards or [] if r.id is not None]
        if len(ids) != len(set(ids)):
            raise ValueError("points_rewards ids must be unique")
        return self


class ProgramCreate(ProgramUpdate):
    """A new programme; unset settings take the defaults of the business rules (docs/rules.md)."""

    program_type: ProgramType
    name: str = Field(min_length=1, max_length=200)
    stamps_target: int = Field(10, ge=1, le=1000)
    points_per_euro: Decimal = Field(Decimal(1), ge=0, le=10000, max_digits=12, decimal_places=4)
    points_rewards: list[Reward] = Field(default_factory=list, max_length=200)
    cooldown_minutes: int = Field(15, ge=0, le=10080)
    max_daily_stamps: int = Field(5, ge=1, le=1000)
    require_staff_pin: bool = True
    locations: list[ShopLocation] = Field(default_factory=list, max_length=MOST_SHOP_LOCATIONS)


def _catalogue(rewards: list[Reward], current: list[dict[str, Any]], last_id: int) -> tuple[list[dict[str, Any]], int]:
    """The catalogue with its ids, and the new highest id ever given. Ids are never reused within a
    programme: a reward without an id gets the next id never given, and an explicit id must name a
    reward of the current catalogue or be one never given, so a terminal that cached `reward_id` 1
    cannot spend points on whatever took the place of reward 1. Raises ValidationFailed (422)."""
    current_ids = {entry["id"] for entry in current}
    reused = [r.id for r in rewards if r.id is not None and r.id <= last_id and r.id not in current_ids]
    if reused:
        message = f"reward ids {reused} belonged to removed rewards; ids are never reused (omit the id for a new one)"
        raise ValidationFailed([{"field": "points_rewards", "message": message}])
    next_id = max([last_id, *(r.id or 0 for r in rewards)]) + 1
    catalogue = []
    for reward in rewards:
        entry = reward.model_dump()
        if entry["id"] is None:
            entry["id"], next_id = next_id, next_id + 1
        catalogue.append(entry)
    return catalogue, next_id - 1


def _values(changes: ProgramUpdate, *, only_set: bool) -> dict[str, Any]:
    """The plain fields to set; the catalogue is set apart (`_set_catalogue`), as its ids depend on the
    programme's history."""
    return changes.model_dump(exclude_unset=only_set, exclude={"points_rewards"})


def _set_catalogue(program: LoyaltyProgram, rewards: list[Reward]) -> None:
    program.points_rewards, program.last_reward_id = _catalogue(
        rewards, program.points_rewards or [], program.last_reward_id or 0
    )


async def create_program(ctx: Context, fields: ProgramCreate) -> LoyaltyProgram:
    """The calling vendor's one programme, active, with the reward catalogue's ids given (never reused
    later); with Google Wallet configured, its class is queued for the worker to insert.
    Raises ProgramAlreadyExists (409), also when a concurrent create won; ValidationFailed (422)
    for reward ids it cannot take. Rules: docs/rules.md, "Programmes" and "Points"."""
    vendor_id = ctx.vendor_id
    if await _find(ctx, vendor_id) is not None:
        raise ProgramAlreadyExists(vendor_id)
    now = ctx.clock.now()
    program = LoyaltyProgram(
        vendor_id=vendor_id, is_active=True, created_at=now, updated_at=now, **_values(fields, only_set=False)
    )
    program.points_rewards, program.last_reward_id = [], 0
    _set_catalogue(program, fields.points_rewards)
    await ctx.session.flush()  # what was pending before fails as itself, not as the programme below
    ctx.session.add(program)
    try:
        async with ctx.session.begin_nested():
            await ctx.session.flush()
    except IntegrityError as exc:  # a concurrent create won the unique vendor_id
        raise ProgramAlreadyExists(vendor_id) from exc
    await google_wallet.class_wanted(ctx, vendor_id, program.id)  # Google: the class exists before any save link
    return program


async def _find(ctx: Context, vendor_id: int) -> LoyaltyProgram | None:
    return await ctx.session.scalar(select(LoyaltyProgram).where(LoyaltyProgram.vendor_id == vendor_id))


async def get_program(ctx: Context) -> LoyaltyProgram:
    """The calling vendor's programme, active or not (from the caller's look-up when the Context carries
    it: no query). Raises ProgramNotFound (404) when the vendor has none."""
    if ctx.vendor_state is not None:
        program = ctx.vendor_state.program
    else:
        program = await _find(ctx, ctx.vendor_id)
    if program is None:
        raise ProgramNotFound(ctx.vendor_id)
    return program


async def current_program(ctx: Context) -> LoyaltyProgram | None:
    """The calling vendor's programme as this transaction sees it now, changes included (the caller's
    look-up may predate them: a page drawn after a change reads this), None when it has none. Raises nothing."""
    return await _find(ctx, ctx.vendor_id)


async def get_active_program(ctx: Context) -> LoyaltyProgram:
    """The calling vendor's programme, which must be active to run the counter. Raises ProgramNotFound
    (404) and ProgramInactive (400) (docs/rules.md, "Programmes")."""
    program = await get_program(ctx)
    if not program.is_active:
        raise ProgramInactive(program.id)
    return program


async def active_program_and_timezone(ctx: Context) -> tuple[LoyaltyProgram, str]:
    """The calling vendor's programme, only if active, and the vendor's IANA timezone (its local day
    decides the daily stamp limit), in one query, or none when the Context carries them. Raises
    ProgramNotFound (404) and ProgramInactive (400), as `get_active_program`."""
    if ctx.vendor_state is not None:
        return await get_active_program(ctx), ctx.vendor_state.timezone
    row = (
        await ctx.session.execute(
            select(LoyaltyProgram, Vendor.timezone)
            .join(Vendor, Vendor.id == LoyaltyProgram.vendor_id)
            .where(LoyaltyProgram.vendor_id == ctx.vendor_id)
        )
    ).first()
    if row is None:
        raise ProgramNotFound(ctx.vendor_id)
    program, timezone = row
    if not program.is_active:
        raise ProgramInactive(program.id)
    return program, timezone


async def _in_session(ctx: Context, program: LoyaltyProgram) -> LoyaltyProgram:
    """The programme as an instance of this session, to change it. The caller's look-up loads it
    outside the session (see api_keys.identify); the few writes to a programme load it again."""
    if program in ctx.session:
        return program
    attached = await ctx.session.get(LoyaltyProgram, program.id)
    if attached is None:
        raise ProgramNotFound(program.id)
    return attached


async def update_program(ctx: Context, changes: ProgramUpdate) -> LoyaltyProgram:
    """Applies the PATCH (a field left out is unchanged); when it changes what the wallet passes show,
    every card's pass moves in the same transaction (`wallet_passes.move_program_passes`), so each device
    fetches the new look. Raises ProgramNotFound (404); ValidationFailed (422) for reward ids it cannot
    take (docs/rules.md, "Points")."""
    program = await _in_session(ctx, await get_program(ctx))
    shown_before = _shown_on_the_pass(program)
    for name, value in _values(changes, only_set=True).items():
        setattr(program, name, value)
    if changes.points_rewards is not None:
        _set_catalogue(program, changes.points_rewards)
    program.updated_at = ctx.clock.now()
    await ctx.session.flush()
    if _shown_on_the_pass(program) != shown_before:
        await repaint_passes(ctx, program)
    return program


async def repaint_passes(ctx: Context, program: LoyaltyProgram) -> None:
    """After a change to what the programme's passes show: every card's pass version moves, each card with
    an Apple registration gets a pending outbox row (its devices are told to fetch the new pass) and the
    Google class is queued to be written again, all in the caller's transaction. Raises nothing."""
    await wallet_passes.move_program_passes(ctx, program.id)
    await outbox.queue_for_registered_cards(ctx, program.id)
    await google_wallet.class_wanted(ctx, program.vendor_id, program.id)


def _shown_on_the_pass(program: LoyaltyProgram) -> dict[str, Any]:
    columns = LoyaltyProgram.__table__.columns.keys()
    return {
        name: getattr(program, name)
        for name in columns
        if name not in NOT_ON_THE_PASS and name not in {"updated_at", "created_at", "last_reward_id"}
    }


async def set_program_active(ctx: Context, program: LoyaltyProgram, active: bool) -> LoyaltyProgram:
    """Switches `program` on or off (`updated_at` moves). Off, it refuses every counter operation and
    is not public; voids stay possible (docs/rules.md, "Programmes"). Raises ProgramNotFound (404)."""
    program = await _in_session(ctx, program)
    program.is_active = active
    program.updated_at = ctx.clock.now()
    await ctx.session.flush()
    return program


# --- platform admin ------------------------------------------------------------------------------


async def get_program_by_id(ctx: Context, program_id: int) -> tuple[LoyaltyProgram, str]:
    """Any vendor's programme `program_id` and its vendor's name (the platform admin's view). Raises
    ProgramNotFound (404)."""
    row = (
        await ctx.session.execute(
            select(LoyaltyProgram, Vendor.name)
            .join(Vendor, Vendor.id == LoyaltyProgram.vendor_id)
            .where(LoyaltyProgram.id == program_id)
        )
    ).first()
    if row is None:
        raise ProgramNotFound(program_id)
    return row[0], row[1]


async def get_program_and_vendor(ctx: Context, program_id: int) -> tuple[LoyaltyProgram, Vendor]:
    """Programme `program_id` and its vendor, for a card holder's page: a deactivated vendor's is not
    found. Raises ProgramNotFound (404)."""
    row = (
        await ctx.session.execute(
            select(LoyaltyProgram, Vendor)
            .join(Vendor, Vendor.id == LoyaltyProgram.vendor_id)
            .where(LoyaltyProgram.id == program_id, Vendor.is_active.is_(True))
        )
    ).first()
    if row is None:
        raise ProgramNotFound(program_id)
    return row[0], row[1]


async def list_programs(
    ctx: Context,
    *,
    is_active: bool | None,
    program_type: ProgramType | None,
    search: str | None,
    limit: int,
    offset: int,
) -> Page[tuple[LoyaltyProgram, str]]:
    """Every vendor's programme with its vendor's name, by id, one page, filtered by activity, type and
    `search` (part of the programme's or vendor's name). Raises nothing."""
    query = select(LoyaltyProgram, Vendor.name).join(Vendor, Vendor.id == LoyaltyProgram.vendor_id)
    if is_active is not None:
        query = query.where(LoyaltyProgram.is_active == is_active)
    if program_type is not None:
        query = query.where(LoyaltyProgram.program_type == program_type)
    if search:
        term = search.lower()  # autoescape: a "%" or "_" typed by the admin is a character, not a wildcard
        query = query.where(
            or_(
                func.lower(LoyaltyProgram.name).contains(term, autoescape=True),
                func.lower(Vendor.name).contains(term, autoescape=True),
            )
        )
    return await paginate(ctx.session, query, order_by=(LoyaltyProgram.id,), limit=limit, offset=offset, scalars=False)


async def get_public_program(ctx: Context, vendor_slug: str) -> tuple[LoyaltyProgram, Vendor]:
    """A vendor's programme and the vendor, as the public sees them, by the vendor's slug: an inactive
    programme, or one of a deactivated vendor, does not exist. Raises ProgramNotFound (404)."""
    row = (
        await ctx.session.execute(
            select(LoyaltyProgram, Vendor)
            .join(Vendor, Vendor.id == LoyaltyProgram.vendor_id)
            .where(Vendor.slug == vendor_slug, LoyaltyProgram.is_active.is_(True), Vendor.is_active.is_(True))
        )
    ).first()
    if row is None:
        raise ProgramNotFound(vendor_slug)
    return row[0], row[1]


# The caller's programme comes with its key or session, in the one query each request makes
# (services/api_keys.py, services/web_sessions.py): its columns are selected under these labels.
_PROGRAM_LABELS = {f"program_{column.key}": column.key for column in LoyaltyProgram.__table__.c}


def labelled_program_columns() -> list[Any]:
    """Every column of `loyalty_programs`, labelled `program_<name>`, for a query that joins the programme."""
    return [column.label(label) for label, column in zip(_PROGRAM_LABELS, LoyaltyProgram.__table__.c, strict=True)]


def program_from_row(row: Mapping[str, Any]) -> LoyaltyProgram | None:
    """The programme of a row selected with `labelled_program_columns` (outside any session), or None when
    the outer join found none."""
    if row["program_id"] is None:
        return None
    return loaded(LoyaltyProgram, {key: row[label] for label, key in _PROGRAM_LABELS.items()})
