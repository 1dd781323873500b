from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from loyalty.models.base import Base, BigId, UTCDateTime


class GoogleWalletObject(Base):
    """A card's LoyaltyObject in Google Wallet (WALLET.md, "Google Wallet"), as the worker last wrote it.

    The row exists once the card's save link was handed out: from then on every change to the card is
    PATCHed to Google. `synced_fields` holds the top-level fields as last written ({} before the first
    write), so a change PATCHes only what differs. `notices` are the UTC instants of the notifications
    Google counted against the pass in the last 24 hours (Google allows 3), `messages` the messages we
    added and that Google still holds (Google's Message: id, header, body, messageType, localizedHeader;
    oldest first, at most 10).
    """

    __tablename__ = "google_wallet_objects"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    vendor_id: Mapped[int] = mapped_column(ForeignKey("vendors.id"), index=True)  # the vendor's count
    card_id: Mapped[int] = mapped_column(ForeignKey("loyalty_cards.id"), unique=True)
    object_id: Mapped[str] = mapped_column(String(200), unique=True)
    synced_fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    notices: Mapped[list[str]] = mapped_column(JSON, default=list)
    messages: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # Whether the card could be redeemed at the last write: a reward that becomes ready is announced.
    reward_ready: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[str | None] = mapped_column(String(16))
    last_sync_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_sync_status: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
