"""Staff PINs as the vendor API shows them: never the PIN, never its hash."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from loyalty.api.schemas.common import Instant
from loyalty.models import StaffPin
from loyalty.services.pins import TerminalCount, is_locked


class StaffPinOut(BaseModel):
    id: int
    name: str
    is_active: bool
    is_locked: bool
    locked_until: Instant | None
    failed_attempts: int
    last_used_at: Instant | None
    created_at: Instant

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
    """A terminal (an API key, or a client address for callers without one) with wrong PINs counted
    against it; while `is_locked`, every PIN sent from it answers 423 `STAFF_PIN_LOCKED` with
    `lock: "terminal"`. `POST /pins/{id}/unlock` (any PIN) clears these counts."""

    terminal: str
    api_key_id: int | None
    api_key_name: str | None
    failed_attempts: int
    is_locked: bool
    locked_until: Instant | None

    @classmethod
    def from_count(cls, count: TerminalCount, now: datetime) -> TerminalLockOut:
        guard = count.guard
        return cls(
            terminal=guard.terminal,
            api_key_id=count.api_key_id,
            api_key_name=count.api_key_name,
            failed_attempts=guard.failed_attempts,
            is_locked=is_locked(guard.locked_until, now),
            locked_until=guard.locked_until,
        )
