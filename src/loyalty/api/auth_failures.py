"""Failed authentications, counted per client address: past `LOYALTY_AUTH_FAILURE_LIMIT` wrong keys in
`LOYALTY_AUTH_FAILURE_WINDOW_SECONDS`, the address is refused (429 RATE_LIMITED with Retry-After)
until the window ends, whatever key it sends.

Keys are 256-bit, so guessing one is hopeless anyway; the limit keeps a guesser from costing the
service a database round trip per guess, and each failure is logged as one line with the address.
The count is shared by every worker (a rate-limit bucket in the database, `services/rate_limits.py`);
each worker also remembers the addresses it refused, so a refused client costs it no round trip.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime, timedelta
from typing import Any

from loyalty.clock import Clock
from loyalty.config import Settings
from loyalty.db import Unit
from loyalty.errors import RateLimited
from loyalty.services import rate_limits

log = logging.getLogger("loyalty.security")

# Refused addresses, and keys seen valid, remembered at most each.
MAX_REMEMBERED = 10_000


class RefusedAddresses:
    """This worker's refused addresses and until when (a cache of the database's count), and the keys
    it has seen valid: many terminals may share one address (a shop's NAT, a proxy hop not listed in
    LOYALTY_TRUSTED_PROXIES), and a guesser there must not lock the others out. A guess never matches
    a key seen valid, so it is still refused without a look-up."""

    def __init__(self) -> None:
        self._until: dict[str, datetime] = {}
        self._valid_keys: dict[str, None] = {}  # key hashes, oldest first

    def check(self, address: str, key_hash: str, now: datetime) -> None:
        """Raises RateLimited while `address` is refused, unless the key was seen valid."""
        until = self._until.get(address)
        if until is None or key_hash in self._valid_keys:
            return
        if until <= now:
            del self._until[address]
            return
        raise RateLimited(retry_after=max(1, math.ceil((until - now).total_seconds())))

    def refuse(self, address: str, until: datetime) -> None:
        _remember(self._until, address, until)

    def seen_valid(self, key_hash: str) -> None:
        _remember(self._valid_keys, key_hash, None)


def _remember(entries: dict[str, Any], key: str, value: Any) -> None:
    """Adds `key`; past MAX_REMEMBERED entries the oldest is forgotten (the database still counts)."""
    entries.pop(key, None)
    if len(entries) >= MAX_REMEMBERED:
        del entries[next(iter(entries))]
    entries[key] = value


async def count_failure(unit: Unit, refused: RefusedAddresses, address: str, settings: Settings, clock: Clock) -> None:
    """Logs and counts one failed authentication from `address`, apart from the request's transaction;
    raises RateLimited (and remembers the refusal) once the address is past the limit."""
    log.warning("authentication failed from %s", address)

    try:
        await rate_limits.hit_apart(
            unit,
            settings,
            clock,
            f"auth-failure:{address}",
            limit=settings.auth_failure_limit,
            window_seconds=settings.auth_failure_window_seconds,
        )
    except RateLimited as limited:
        refused.refuse(address, clock.now() + timedelta(seconds=limited.retry_after_seconds))
        raise
