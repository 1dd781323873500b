"""Time rules: "today" is the vendor's local calendar day in its IANA zone, across DST changes, and
the daily limit's Retry-After points at local midnight."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from loyalty.clock import FixedClock, as_utc, local_day, local_day_bounds, local_midnight
from loyalty.config import Settings
from loyalty.db import Database
from loyalty.errors import DailyStampLimit
from loyalty.models import Vendor
from loyalty.services.stamps import StampOutcome, StampRequest, add_stamp
from tests.services import helpers
from tests.services.helpers import Caller, caller_for
from tests.tenants import Tenant, make_tenant

LUX = "Europe/Luxembourg"
NYC = "America/New_York"


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def local(zone: str, year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=ZoneInfo(zone)).astimezone(UTC)


# --- the clock helpers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "zone", "start", "end", "hours"),
    [
        # An ordinary Saturday in Luxembourg (CET, UTC+1).
        (utc(2026, 11, 21, 9), LUX, utc(2026, 11, 20, 23), utc(2026, 11, 21, 23), 24),
        # 00:30 local is still the 21st in Luxembourg although UTC says the 20th.
        (utc(2026, 11, 20, 23, 30), LUX, utc(2026, 11, 20, 23), utc(2026, 11, 21, 23), 24),
        # Spring forward: 02:00 CET → 03:00 CEST, a 23-hour day.
        (utc(2026, 3, 29, 12), LUX, utc(2026, 3, 28, 23), utc(2026, 3, 29, 22), 23),
        # Fall back: 03:00 CEST → 02:00 CET, a 25-hour day.
        (utc(2026, 10, 25, 12), LUX, utc(2026, 10, 24, 22), utc(2026, 10, 25, 23), 25),
        # New York (EST, UTC−5) on the same Saturday.
        (utc(2026, 11, 21, 9), NYC, utc(2026, 11, 21, 5), utc(2026, 11, 22, 5), 24),
        # 03:00 UTC on the 22nd is still the 21st in New York.
        (utc(2026, 11, 22, 3), NYC, utc(2026, 11, 21, 5), utc(2026, 11, 22, 5), 24),
        # New York changes on its own dates: spring forward 2026-03-08, fall back 2026-11-01.
        (utc(2026, 3, 8, 12), NYC, utc(2026, 3, 8, 5), utc(2026, 3, 9, 4), 23),
        (utc(2026, 11, 1, 12), NYC, utc(2026, 11, 1, 4), utc(2026, 11, 2, 5), 25),
        # Luxembourg's spring-forward Sunday is an ordinary day in New York.
        (utc(2026, 3, 29, 12), NYC, utc(2026, 3, 29, 4), utc(2026, 3, 30, 4), 24),
    ],
)
def test_local_day_bounds(moment: datetime, zone: str, start: datetime, end: datetime, hours: int) -> None:
    assert local_day_bounds(moment, zone) == (start, end)
    assert end - start == timedelta(hours=hours)
    assert start <= moment < end


def test_local_day_bounds_are_utc_and_contiguous() -> None:
    moment = utc(2026, 10, 24, 21, 59)
    start, end = local_day_bounds(moment, LUX)
    assert start.tzinfo is UTC and end.tzinfo is UTC
    assert local_day_bounds(end, LUX)[0] == end
    assert local_day_bounds(start - timedelta(microseconds=1), LUX)[1] == start


def test_local_day_and_midnight() -> None:
    assert local_day(utc(2026, 11, 20, 23, 1), LUX) == date(2026, 11, 21)
    assert local_day(utc(2026, 11, 20, 22, 59), LUX) == date(2026, 11, 20)
    assert local_day(utc(2026, 11, 22, 4, 59), NYC) == date(2026, 11, 21)
    assert local_midnight(date(2026, 3, 30), LUX) == utc(2026, 3, 29, 22)
    assert local_midnight(date(2026, 10, 26), LUX) == utc(2026, 10, 25, 23)


def test_naive_database_values_are_read_as_utc() -> None:
    assert as_utc(datetime(2026, 1, 1, 12)) == utc(2026, 1, 1, 12)
    assert as_utc(datetime(2026, 1, 1, 13, tzinfo=ZoneInfo(LUX))) == utc(2026, 1, 1, 12)


# --- the daily limit on the vendor's local day ----------------------------------------------------


@pytest.fixture
async def shop(database: Database, settings: Settings, clock: FixedClock) -> Tenant:
    """One stamp a day, no cooldown: only the calendar day decides."""
    return await make_tenant(
        database, settings, clock, slug="day-shop", cooldown_minutes=0, max_daily_stamps=1, stamps_target=100
    )


async def set_timezone(database: Database, vendor_id: int, zone: str) -> None:
    async with database.unit_of_work() as session:
        vendor = await session.get(Vendor, vendor_id)
        assert vendor is not None
        vendor.timezone = zone


async def stamp_at(caller: Caller, shop: Tenant, moment: datetime) -> StampOutcome:
    caller.clock.current = moment
    return await caller(add_stamp, StampRequest(card_id=shop.card_id, staff_pin=shop.pin))


@pytest.fixture
async def caller(database: Database, settings: Settings, clock: FixedClock, shop: Tenant) -> Caller:
    return await caller_for(database, settings, clock, shop)


@pytest.mark.anyio
async def test_2359_and_0001_local_are_different_days(database: Database, caller: Caller, shop: Tenant) -> None:
    await stamp_at(caller, shop, local(LUX, 2026, 11, 21, 23, 59))
    with pytest.raises(DailyStampLimit) as refused:
        await stamp_at(caller, shop, local(LUX, 2026, 11, 21, 23, 59, 30))
    midnight = local(LUX, 2026, 11, 22, 0, 0)
    assert refused.value.details["resets_at"] == midnight.isoformat() == "2026-11-21T23:00:00+00:00"
    assert refused.value.retry_after_seconds == 30

    outcome = await stamp_at(caller, shop, local(LUX, 2026, 11, 22, 0, 1))
    assert outcome.stamps_today == 1
    assert (await helpers.card(database, shop.card_id)).stamp_count == 2


@pytest.mark.anyio
async def test_the_local_day_is_not_the_utc_day(caller: Caller, shop: Tenant) -> None:
    # 00:30 in Luxembourg is 23:30 UTC the day before: a UTC day would call the next one "tomorrow".
    await stamp_at(caller, shop, local(LUX, 2026, 11, 22, 0, 30))
    with pytest.raises(DailyStampLimit) as refused:
        await stamp_at(caller, shop, local(LUX, 2026, 11, 22, 1, 30))  # 00:30 UTC on the 22nd
    assert refused.value.details["resets_at"] == "2026-11-22T23:00:00+00:00"
    assert refused.value.retry_after_seconds == 22 * 3600 + 30 * 60


@pytest.mark.anyio
async def test_retry_after_on_the_spring_forward_day(database: Database, caller: Caller, shop: Tenant) -> None:
    # 2026-03-29 in Luxembourg has 23 hours: midnight falls at 22:00 UTC, not 23:00.
    await stamp_at(caller, shop, local(LUX, 2026, 3, 29, 0, 30))
    with pytest.raises(DailyStampLimit) as refused:
        await stamp_at(caller, shop, local(LUX, 2026, 3, 29, 23, 0))
    assert refused.value.details["resets_at"] == "2026-03-29T22:00:00+00:00"
    assert refused.value.retry_after_seconds == 3600
    await stamp_at(caller, shop, utc(2026, 3, 29, 22, 0))  # local midnight: a new day


@pytest.mark.anyio
async def test_retry_after_on_the_fall_back_day(database: Database, caller: Caller, shop: Tenant) -> None:
    # 2026-10-25 has 25 hours: 22:30 UTC is 23:30 CET, still the 25th (a 24-hour day would have ended).
    await stamp_at(caller, shop, local(LUX, 2026, 10, 25, 0, 30))
    with pytest.raises(DailyStampLimit) as refused:
        await stamp_at(caller, shop, utc(2026, 10, 25, 22, 30))
    assert refused.value.details["resets_at"] == "2026-10-25T23:00:00+00:00"
    assert refused.value.retry_after_seconds == 1800
    await stamp_at(caller, shop, utc(2026, 10, 25, 23, 0))


@pytest.mark.anyio
async def test_the_repeated_hour_of_the_fall_back_day_is_one_day(caller: Caller, shop: Tenant) -> None:
    # 02:30 happens twice on 2026-10-25: once in CEST (00:30 UTC), once in CET (01:30 UTC).
    await stamp_at(caller, shop, utc(2026, 10, 25, 0, 30))
    with pytest.raises(DailyStampLimit):
        await stamp_at(caller, shop, utc(2026, 10, 25, 1, 30))


@pytest.mark.anyio
async def test_a_vendor_in_another_zone_uses_its_own_midnight(database: Database, caller: Caller, shop: Tenant) -> None:
    await set_timezone(database, shop.vendor_id, NYC)
    await stamp_at(caller, shop, utc(2026, 11, 21, 16))  # 11:00 in New York
    # 03:00 UTC on the 22nd: already Sunday in Luxembourg, still Saturday 22:00 in New York.
    with pytest.raises(DailyStampLimit) as refused:
        await stamp_at(caller, shop, utc(2026, 11, 22, 3))
    assert refused.value.details["resets_at"] == "2026-11-22T05:00:00+00:00"
    assert refused.value.retry_after_seconds == 2 * 3600
    outcome = await stamp_at(caller, shop, utc(2026, 11, 22, 5, 0, 1))
    assert outcome.stamps_today == 1


@pytest.mark.anyio
async def test_the_same_moment_is_a_new_day_for_a_luxembourg_vendor(caller: Caller, shop: Tenant) -> None:
    await stamp_at(caller, shop, utc(2026, 11, 21, 16))
    outcome = await stamp_at(caller, shop, utc(2026, 11, 22, 3))  # 04:00 Sunday in Luxembourg

    assert outcome.stamps_today == 1  # a new local day: the one-a-day limit let it through
