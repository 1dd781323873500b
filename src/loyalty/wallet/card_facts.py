"""What a wallet pass shows of one card, gathered in one read (`services/wallet_passes.py`) and
drawn by each wallet's own module. Nothing here knows Apple or Google."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from loyalty.models.program import ProgramType


@dataclass(frozen=True)
class PassLocation:
    """A shop of the vendor: the pass becomes relevant near it (Apple shows `relevant_text` on the lock screen)."""

    latitude: float
    longitude: float
    relevant_text: str | None = None


@dataclass(frozen=True)
class PassReward:
    """A catalogue reward a points card can be redeemed for."""

    name: str
    points_required: int


@dataclass(frozen=True)
class LastTransaction:
    """The card's latest ledger entry: its `transaction_type` and when (UTC)."""

    transaction_type: str
    at: datetime


@dataclass(frozen=True)
class ProgramFacts:
    """A programme as its wallet class shows it (Google Wallet's LoyaltyClass): the vendor, the offer, the
    look. `default_locale` is the vendor's language (en, fr, de or lb)."""

    program_id: int
    vendor_name: str
    vendor_slug: str
    default_locale: str
    program_type: str
    program_name: str
    stamps_target: int
    stamps_reward: str | None
    rewards: tuple[PassReward, ...]
    terms: str | None
    card_color: str | None
    logo_digest: str | None = None  # the uploaded logo's SHA-256 (its public URL); None: the initial is drawn

    @property
    def collects_stamps(self) -> bool:
        return self.program_type in (ProgramType.STAMPS, ProgramType.HYBRID)

    @property
    def collects_points(self) -> bool:
        return self.program_type in (ProgramType.POINTS, ProgramType.HYBRID)


@dataclass(frozen=True)
class CardFacts:
    """One card as its wallet pass shows it.

    `first_name`, `card_number`, `qr_code`, `card_token` and `last_transaction` are None for an erased
    customer: a voided pass keeps no personal data. Balances are whole stamps and whole points. `logo` is
    the programme's uploaded logo (a PNG, `services/logos.py`), None when it has none.
    """

    serial_number: str
    authentication_token: str
    modified_at: datetime
    vendor_name: str
    vendor_slug: str
    program_type: str
    program_name: str
    stamps_target: int
    stamps_reward: str | None
    points_per_euro: float
    rewards: tuple[PassReward, ...]
    max_daily_stamps: int
    terms: str | None
    card_color: str | None
    stamp_count: int
    points_balance: int
    is_active: bool
    is_erased: bool
    first_name: str | None
    card_number: str | None
    qr_code: str | None
    last_transaction: LastTransaction | None
    locations: tuple[PassLocation, ...] = field(default=())
    card_id: int = 0
    vendor_id: int = 0
    program_id: int = 0
    card_token: str | None = None
    default_locale: str = "en"
    logo: bytes | None = field(default=None, repr=False)

    @property
    def collects_stamps(self) -> bool:
        return self.program_type in (ProgramType.STAMPS, ProgramType.HYBRID)

    @property
    def collects_points(self) -> bool:
        return self.program_type in (ProgramType.POINTS, ProgramType.HYBRID)

    @property
    def reward_ready(self) -> bool:
        """Whether the card can be redeemed now: a full stamp card, or enough points for a catalogue reward."""
        stamps = self.collects_stamps and self.stamp_count >= self.stamps_target
        points = self.collects_points and any(self.points_balance >= r.points_required for r in self.rewards)
        return stamps or points

    @property
    def is_voided(self) -> bool:
        """Deactivated or erased: the wallet greys the pass out and it can no longer be used."""
        return not self.is_active or self.is_erased
