"""Statistics: a programme's dashboard (vendor and admin) and the platform's totals (admin)."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict


class DailyOut(BaseModel):
    """One local calendar day of the vendor's timezone."""

    model_config = ConfigDict(from_attributes=True)

    date: dt.date
    stamps: int
    points_earned: int
    redemptions: int
    new_cards: int


class ProgramStatsOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    total_cards: int
    active_cards_30d: int
    stamps_issued: int
    stamps_redeemed: int
    points_issued: int
    points_redeemed: int
    transactions_30d: int
    daily: list[DailyOut]


class PlatformStatsOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    vendors: int
    programs: int
    active_programs: int
    cards: int
    transactions: int
    stamps_issued: int
    points_issued: int
