from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from loyalty.clock import Clock
from loyalty.config import Settings
from loyalty.models import LoyaltyProgram, PinGuard


@dataclass(frozen=True)
class Actor:
    """Who asks: the vendor, the API key or the paired terminal (`terminals.id`), and where from
    (recorded on every ledger row)."""

    vendor_id: int
    api_key_id: int | None = None
    client_ip: str | None = None
    user_agent: str | None = None
    terminal_id: int | None = None

    @property
    def terminal(self) -> str:
        """The identity failed PIN checks are counted against when no PIN was named: the paired terminal,
        else the API key, else the client's address."""
        if self.terminal_id is not None:
            return PinGuard.paired_terminal(self.terminal_id)
        if self.api_key_id is not None:
            return f"key:{self.api_key_id}"
        return f"ip:{self.client_ip or 'unknown'}"


@dataclass(frozen=True)
class VendorState:
    """The calling vendor's timezone and programme (None: it has none yet), when the caller's
    look-up already loaded them; services then skip their own query."""

    timezone: str
    program: LoyaltyProgram | None


@dataclass(frozen=True)
class Context:
    session: AsyncSession
    settings: Settings
    clock: Clock
    actor: Actor | None = None
    vendor_state: VendorState | None = None

    @property
    def vendor_id(self) -> int:
        if self.actor is None:
            raise RuntimeError("this operation needs a vendor actor")
        return self.actor.vendor_id
