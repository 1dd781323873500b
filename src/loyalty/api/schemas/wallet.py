"""A card's place in the wallets, as the vendor sees it (WALLET.md, "Routes")."""

from __future__ import annotations

from pydantic import BaseModel, Field

from loyalty.api.schemas.common import Instant
from loyalty.services.wallet_passes import CardWallet


class AppleWalletOut(BaseModel):
    registered_devices: int = Field(description="Devices holding the pass with automatic updates on.")
    last_push_at: Instant | None = Field(
        None, description="When the last update push left for this card's devices (null: none yet)."
    )
    last_push_status: str | None = Field(None, description="How APNs answered the last push (null: none yet).")


class CardWalletOut(BaseModel):
    apple: AppleWalletOut
    google: None = Field(None, description="Google Wallet: null while it is not configured.")
    pass_version: Instant = Field(
        description="The pass's version: its Last-Modified, which moves with every change to the card."
    )

    @classmethod
    def from_wallet(cls, wallet: CardWallet) -> CardWalletOut:
        return cls(apple=AppleWalletOut(registered_devices=wallet.registered_devices), pass_version=wallet.pass_version)
