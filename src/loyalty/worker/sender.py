"""The one interface both wallets implement for the worker (WALLET.md, "Updates"): given an outbox row,
send what changed to the wallet and say what becomes of the row. The loop (`loop.py`) claims rows,
hands each to its wallet's sender, and settles the row from the answer; a third wallet is one more
sender, and nothing else changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from loyalty.services.outbox import Claimed


class Fate(StrEnum):
    """What becomes of a row: `sent`; `retry` after a back-off (parked after too many); `park` now (a
    configuration error or a refusal that retrying cannot fix, for the admin to look at)."""

    SENT = "sent"
    RETRY = "retry"
    PARK = "park"


@dataclass(frozen=True)
class Settlement:
    """A sender's verdict on one row: its fate, and a detail (the error for the admin, or for a sent
    row the wallet's id of the delivery, such as APNs' `apns-id`)."""

    fate: Fate
    detail: str | None = None


class Sender(Protocol):
    """A wallet's side of the worker: `provider` is the outbox's name for it (`apple`, `google`)."""

    provider: str

    async def deliver(self, row: Claimed) -> Settlement:
        """Sends the update `row` stands for, with no database transaction open while it waits on the
        wallet; its own bookkeeping (devices, objects) in short transactions of its own."""
        ...

    async def close(self) -> None:
        """Closes the sender's connections (the worker is stopping)."""
        ...
