"""Counter terminals as the vendor API shows them: never a session, never a pairing code but once."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from loyalty.api.schemas.common import Instant
from loyalty.services.pins import is_locked
from loyalty.services.terminals import PairingCode, TerminalView, is_pending


class TerminalOut(BaseModel):
    id: int = Field(description="The terminal's id; its ledger entries carry it as `terminal_id`.")
    name: str = Field(description="Where the device stands, e.g. `Counter 1`.")
    created_at: Instant = Field(description="When the vendor created it (UTC).")
    paired_at: Instant | None = Field(description="When a browser last paired as this terminal (UTC); null before.")
    last_seen_at: Instant | None = Field(description="When it was last used (UTC, to the minute); null before.")
    pairing_expires_at: Instant | None = Field(
        description="When its pending pairing code stops working (UTC); null when no code is pending."
    )
    revoked_at: Instant | None = Field(description="When the vendor revoked it (UTC); null while it works.")
    failed_pin_attempts: int = Field(
        description="Wrong PINs sent from it without `staff_pin_id`, in the current window."
    )
    is_locked: bool = Field(
        description='Whether it is locked now (423 `STAFF_PIN_LOCKED` with `lock: "terminal"`); '
        "`POST /terminals/{id}/unlock` lifts it."
    )
    locked_until: Instant | None = Field(description="When its lock ends (UTC); null when it has none.")

    @classmethod
    def from_view(cls, view: TerminalView, now: datetime) -> TerminalOut:
        terminal, guard = view.terminal, view.guard
        return cls(
            id=terminal.id,
            name=terminal.name,
            created_at=terminal.created_at,
            paired_at=terminal.paired_at,
            last_seen_at=terminal.last_seen_at,
            pairing_expires_at=terminal.pairing_expires_at if is_pending(terminal, now) else None,
            revoked_at=terminal.revoked_at,
            failed_pin_attempts=guard.failed_attempts if guard else 0,
            is_locked=is_locked(guard.locked_until if guard else None, now),
            locked_until=guard.locked_until if guard else None,
        )


class TerminalPairingOut(BaseModel):
    """PAGES.md, "Pairing": the code to type at `/terminal/pair`, shown this once."""

    id: int = Field(description="The terminal's id.")
    name: str = Field(description="The terminal's name.")
    pairing_code: str = Field(description="8 digits to type at `/terminal/pair` on the device; shown only here.")
    expires_at: Instant = Field(description="When the code stops working (UTC): 10 minutes after it was made.")

    @classmethod
    def from_code(cls, pairing: PairingCode) -> TerminalPairingOut:
        terminal = pairing.terminal
        assert terminal.pairing_expires_at is not None  # just issued
        return cls(
            id=terminal.id, name=terminal.name, pairing_code=pairing.code, expires_at=terminal.pairing_expires_at
        )
