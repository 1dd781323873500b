"""Statistics: a programme's dashboard (vendor and admin) and the platform's totals (admin)."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field


class DailyOut(BaseModel):
    """One local calendar day of the vendor's timezone."""

    model_config = ConfigDict(from_attributes=True)

    date: dt.date = Field(description="The local calendar day (YYYY-MM-DD).")
    stamps: int = Field(description="Stamps given that day.")
    points_earned: int = Field(description="Points earned that day.")
    redemptions: int = Field(description="Rewards redeemed that day, stamps and points.")
    new_cards: int = Field(description="Cards issued that day.")


class ProgramStatsOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    total_cards: int = Field(description="Cards of the programme, active or not.")
    active_cards_30d: int = Field(description="Cards with at least one ledger entry in the last 30 days.")
    stamps_issued: int = Field(description="Stamps ever given, less voided ones.")
    stamps_redeemed: int = Field(description="Stamp rewards ever redeemed.")
    points_issued: int = Field(description="Points ever earned, less voided earns.")
    points_redeemed: int = Field(description="Points ever spent on rewards.")
    transactions_30d: int = Field(description="Ledger entries of the last 30 days (voids included).")
    daily: list[DailyOut] = Field(
        description="The last 30 local days of the vendor's timezone, oldest first (a 23- or 25-hour day on a DST "
        "change).",
    )


class PlatformStatsOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    vendors: int = Field(description="Vendors, active or not.")
    programs: int = Field(description="Programmes.")
    active_programs: int = Field(description="Programmes not paused.")
    cards: int = Field(description="Cards of every vendor.")
    transactions: int = Field(description="Ledger entries of every vendor.")
    stamps_issued: int = Field(description="Stamps ever given, less voided ones.")
    points_issued: int = Field(description="Points ever earned, less voided earns.")
