"""A card's place in the wallets, as the vendor sees it (WALLET.md, "Routes")."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from loyalty.api.schemas.common import Instant
from loyalty.models import OutboxStatus
from loyalty.services.google_wallet import CardGoogleObject
from loyalty.services.outbox import WalletStats
from loyalty.services.wallet_passes import CardWallet


class AppleWalletOut(BaseModel):
    registered_devices: int = Field(description="Devices holding the pass with automatic updates on.")
    last_push_at: Instant | None = Field(
        None, description="When the last update push left for this card's devices (null: none yet)."
    )
    last_push_status: str | None = Field(None, description="How APNs answered the last push (null: none yet).")


class GoogleWalletObjectOut(BaseModel):
    object_id: str = Field(description="The card's LoyaltyObject id in Google Wallet (`{issuer}.{serial}`).")
    state: str | None = Field(description="`ACTIVE` or `INACTIVE` as last written (null: not written yet).")
    last_sync_at: Instant | None = Field(description="When the worker last wrote the object (null: not yet).")
    notifications_24h: int = Field(description="Notices Google counted for this pass in 24 hours (3 allowed).")


class GoogleSaveLinkOut(BaseModel):
    save_url: str = Field(description="`https://pay.google.com/gp/v/save/<JWT>`: opens Google Wallet to save the card.")


class CardWalletOut(BaseModel):
    apple: AppleWalletOut = Field(description="Apple Wallet: the devices holding the pass and the last push.")
    google: GoogleWalletObjectOut | None = Field(
        None, description="Google Wallet: the card's object; null until its save link was handed out."
    )
    pass_version: Instant = Field(
        description="The pass's version: its Last-Modified, which moves with every change to the card."
    )

    @classmethod
    def from_wallet(cls, wallet: CardWallet, google: CardGoogleObject | None) -> CardWalletOut:
        apple = AppleWalletOut(
            registered_devices=wallet.registered_devices,
            last_push_at=wallet.last_push_at,
            last_push_status=wallet.last_push_status,
        )
        google_out = None
        if google is not None:
            google_out = GoogleWalletObjectOut(
                object_id=google.object_id,
                state=google.state,
                last_sync_at=google.last_sync_at,
                notifications_24h=google.notifications_24h,
            )
        return cls(apple=apple, google=google_out, pass_version=wallet.pass_version)


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
            google_objects=stats.google_objects,
            pushes_24h=stats.pushes_24h,
            failures_24h=stats.failures_24h,
            oldest_pending_seconds=stats.oldest_pending_seconds,
        )


class OutboxRowOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int = Field(description="The row's id (the retry route's `{id}`).")
    card_id: int | None = Field(
        description="The card whose pass changed, or whose link is mailed (null: a programme's or a person's row)."
    )
    program_id: int | None = Field(description="The programme whose Google Wallet class changed (null otherwise).")
    user_id: int | None = Field(
        None, description="The person to be mailed an invitation or a reset link (null otherwise)."
    )
    purpose: str | None = Field(None, description="`invitation` or `reset` for a person's mail (null otherwise).")
    provider: str = Field(description="`apple`, `google` or `mail`.")
    status: OutboxStatus = Field(description="`pending` (waits for `due_at`), `sending`, `sent` or `parked`.")
    attempts: int = Field(description="Failed sends so far.")
    last_error: str | None = Field(description="The last failure, as the wallet answered it.")
    due_at: Instant = Field(description="When a worker sends it next (UTC).")
