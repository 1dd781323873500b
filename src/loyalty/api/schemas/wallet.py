"""A card's place in the wallets, as the vendor sees it (WALLET.md, "Routes")."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from loyalty.api.schemas.common import Instant
from loyalty.models import OutboxStatus
from loyalty.services.outbox import WalletStats
from loyalty.services.wallet_passes import CardWallet


class AppleWalletOut(BaseModel):
    registered_devices: int = Field(description="Devices holding the pass with automatic updates on.")
    last_push_at: Instant | None = Field(
        None, description="When the last update push left for this card's devices (null: none yet)."
    )
    last_push_status: str | None = Field(None, description="How APNs answered the last push (null: none yet).")


class CardWalletOut(BaseModel):
    apple: AppleWalletOut = Field(description="Apple Wallet: the devices holding the pass and the last push.")
    google: None = Field(None, description="Google Wallet: null while it is not configured.")
    pass_version: Instant = Field(
        description="The pass's version: its Last-Modified, which moves with every change to the card."
    )

    @classmethod
    def from_wallet(cls, wallet: CardWallet) -> CardWalletOut:
        apple = AppleWalletOut(
            registered_devices=wallet.registered_devices,
            last_push_at=wallet.last_push_at,
            last_push_status=wallet.last_push_status,
        )
        return cls(apple=apple, pass_version=wallet.pass_version)


class WalletStatsOut(BaseModel):
    apple_installed_cards: int = Field(description="Cards at least one device holds in Apple Wallet.")
    google_objects: int | None = Field(None, description="Google Wallet objects: null while it is not configured.")
    pushes_24h: int = Field(description="Card updates delivered to the wallets in the last 24 hours.")
    failures_24h: int = Field(description="Card updates whose last attempt in the last 24 hours failed.")
    oldest_pending_seconds: int | None = Field(
        description="How long the oldest waiting update has been due, in seconds (null: none waits)."
    )

    @classmethod
    def from_stats(cls, stats: WalletStats) -> WalletStatsOut:
        return cls(
            apple_installed_cards=stats.apple_installed_cards,
            pushes_24h=stats.pushes_24h,
            failures_24h=stats.failures_24h,
            oldest_pending_seconds=stats.oldest_pending_seconds,
        )


class OutboxRowOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int = Field(description="The row's id (the retry route's `{id}`).")
    card_id: int = Field(description="The card whose pass changed.")
    provider: str = Field(description="`apple` or `google`.")
    status: OutboxStatus = Field(description="`pending` (waits for `due_at`), `sending`, `sent` or `parked`.")
    attempts: int = Field(description="Failed sends so far.")
    last_error: str | None = Field(description="The last failure, as the wallet answered it.")
    due_at: Instant = Field(description="When a worker sends it next (UTC).")
