"""Time, injectable: services ask a Clock for "now" so tests can stand at any instant.

All instants are timezone-aware UTC; local calendar days are computed from the vendor's IANA zone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from importlib import resources
from typing import Protocol
from zoneinfo import ZoneInfo


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class FixedClock:
    """A clock that stands still until a test moves it."""

    current: datetime

    def now(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta) -> None:
        self.current += delta


@cache
def _iana_zones() -> frozenset[str]:
    # The tzdata package's own list: unlike available_timezones(), it holds only IANA names.
    return frozenset(resources.files("tzdata").joinpath("zones").read_text().split())


def require_iana_zone(name: str) -> str:
    """`name` if it is an IANA zone such as Europe/Luxembourg. ZoneInfo alone would also accept
    `localtime` or a file path, which would make "today" depend on how the server is set up."""
    if name not in _iana_zones():
        raise ValueError(f"must be an IANA timezone such as Europe/Luxembourg, not {name!r}")
    return name


def as_utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything we store is UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def local_day(moment: datetime, zone: str) -> date:
    return as_utc(moment).astimezone(ZoneInfo(zone)).date()


def local_day_bounds(moment: datetime, zone: str) -> tuple[datetime, datetime]:
    """Start and end (UTC) of the vendor's local calendar day containing `moment`.

    Built from local midnights, so a 23- or 25-hour day around a daylight-saving change is right.
    """
    day = local_day(moment, zone)
    return local_midnight(day, zone), local_midnight(day + timedelta(days=1), zone)


def local_midnight(day: date, zone: str) -> datetime:
    """The UTC instant at which `day` begins in `zone`."""
    return datetime.combine(day, time.min, tzinfo=ZoneInfo(zone)).astimezone(UTC)
