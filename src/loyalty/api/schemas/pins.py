"""Staff PINs as the vendor API shows them: never the PIN, never its hash."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from loyalty.api.schemas.common import Instant
from loyalty.models import StaffPin
from loyalty.services.pins import TerminalCount, is_locked


class StaffPinOut(BaseModel):
    id: int = Field(description="The PIN's id: a terminal may send it as `staff_pin_id`, so only this PIN is checked.")
    name: str = Field(description="Whose PIN it is (a member of staff).")
    is_active: bool = Field(description="False: the PIN approves nothing until switched on again.")
    is_locked: bool = Field(
        description='Whether the PIN is locked now (423 `STAFF_PIN_LOCKED` with `lock: "staff_pin"`).',
    )
    locked_until: Instant | None = Field(description="When the PIN's lock ends (UTC); null when it has none.")
    failed_attempts: int = Field(description="Wrong PINs counted against this PIN in its current window.")
    last_used_at: Instant | None = Field(description="When the PIN last approved an operation (UTC); null before.")
    created_at: Instant = Field(description="When the PIN was created (UTC).")

    @classmethod
    def from_pin(cls, pin: StaffPin, now: datetime) -> StaffPinOut:
        """`now` is the app clock: a lock whose time has passed is shown as unlocked."""
        return cls(
            id=pin.id,
            name=pin.name,
            is_active=pin.is_active,
            is_locked=is_locked(pin.locked_until, now),
            locked_until=pin.locked_until,
            failed_attempts=pin.failed_attempts,
            last_used_at=pin.last_used_at,
            created_at=pin.created_at,
        )


class TerminalLockOut(BaseModel):
    """A terminal (a paired counter terminal, an API key, or a client address for callers without either) with
    wrong PINs counted
    against it; while `is_locked`, every PIN sent from it answers 423 `STAFF_PIN_LOCKED` with
    `lock: "terminal"`. `POST /pins/{id}/unlock` (any PIN) clears these counts."""

    terminal: str = Field(
        description="The terminal: `terminal:<id>` for a paired counter terminal, `key:<id>` for an API key, "
        "`ip:<address>` for a caller with neither.",
    )
    api_key_id: int | None = Field(description="The terminal's API key, if it is one.")
    api_key_name: str | None = Field(description="That key's name.")
    terminal_id: int | None = Field(description="The paired counter terminal, if it is one (`/terminals`).")
    terminal_name: str | None = Field(description="That terminal's name.")
    failed_attempts: int = Field(description="Wrong PINs counted against the terminal in its current window.")
    is_locked: bool = Field(description="Whether the terminal is locked now.")
    locked_until: Instant | None = Field(description="When the terminal's lock ends (UTC); null when it has none.")

    @classmethod
    def from_count(cls, count: TerminalCount, now: datetime) -> TerminalLockOut:
        guard = count.guard
        return cls(
            terminal=guard.terminal,
            api_key_id=count.api_key_id,
            api_key_name=count.api_key_name,
            terminal_id=count.terminal_id,
            terminal_name=count.terminal_name,
            failed_attempts=guard.failed_attempts,
            is_locked=is_locked(guard.locked_until, now),
            locked_until=guard.locked_until,
        )
