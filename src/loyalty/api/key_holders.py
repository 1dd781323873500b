"""The callers a worker has identified, kept while PostgreSQL says nothing about them changed.

Every API request names its caller by key; looking the key up (with its vendor and programme) is a
round trip, ~85 µs of the worker's CPU and a fifth of a stamp's SQL on the reference machine
(docs/performance.md). So each worker keeps the callers it found, by the key's SHA-256, and PostgreSQL
tells it when any of them may have changed: a statement that writes `api_keys`, `vendors` or
`loyalty_programs` sends `NOTIFY loyalty_key_holders` (migration 0016), which PostgreSQL delivers when that
statement's transaction commits, and the worker then forgets every caller it kept. A revoked key, a
switched-off vendor or a changed programme (its cooldown, its daily limit, switched off) so takes effect
in the other workers as soon as the notification arrives (a fraction of a millisecond on one host), and in
the worker that made the change before that change's answer is sent (`Database.watch_commits`).

The cache is used only while its listening connection is known to work: before LISTEN, after the
connection is lost (until it is back and listening again) and on SQLite, every request looks its key up.
A connection that dies without a word is found by the next keep-alive (every `KEEPALIVE_SECONDS`, 10, with
as long to answer): a change in that window can stay unseen by that worker for up to ~20 s, and a caller is
kept `LOYALTY_KEY_CACHE_SECONDS` at most in any case (60; 0 turns the cache off).

Only callers whose key is valid are kept; a wrong key is looked up (and counted) every time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any

import asyncpg

from loyalty.services.api_keys import KeyHolder

CHANNEL = "loyalty_key_holders"  # migration 0016's NOTIFY
APPLICATION_NAME = "loyalty key holders"  # how the listening connection shows in pg_stat_activity
MAX_CALLERS = 10_000  # then the cache starts again empty: a worker rarely serves that many keys at once
KEEPALIVE_SECONDS = 10
WATCHED_TABLES = ("api_keys", "vendors", "loyalty_programs")  # what a caller is made of (migration 0016)
RECONNECT_SECONDS = (1, 2, 5, 10, 30)  # waits between attempts to listen again, the last one repeated

log = logging.getLogger("loyalty.key_holders")


@dataclass(frozen=True)
class _Kept:
    holder: KeyHolder
    until: float  # time.monotonic()


class KeyHolders:
    """One worker's cache of callers by key hash (`api/deps.py` reads and fills it), and the listening
    connection that empties it (`listen`, run by the app for as long as it serves)."""

    def __init__(self, connect_args: dict[str, Any] | None, keep_seconds: float) -> None:
        self._connect_args = connect_args  # asyncpg.connect's arguments; None: no cache (SQLite, or turned off)
        self._keep_seconds = keep_seconds
        self._kept: dict[str, _Kept] = {}
        self._generation = 0  # moves on every invalidation
        self.listening = False
        self._listened = False  # the current attempt got as far as listening

    @property
    def generation(self) -> int:
        """Read before looking a key up; `keep` takes the result only if no invalidation came since."""
        return self._generation

    def get(self, key_hash: str) -> KeyHolder | None:
        """The caller kept for `key_hash`, or None (not kept, kept too long, or not listening)."""
        if not self.listening:
            return None
        kept = self._kept.get(key_hash)
        if kept is None or kept.until <= time.monotonic():
            return None
        return kept.holder

    def keep(self, key_hash: str, holder: KeyHolder, generation: int) -> None:
        """Keeps `holder`, found after `generation` was read, unless a change was notified since (it may
        predate that change) or the cache is not listening."""
        if not self.listening or generation != self._generation:
            return
        if len(self._kept) >= MAX_CALLERS:
            self._kept.clear()
        self._kept[key_hash] = _Kept(holder, time.monotonic() + self._keep_seconds)

    def forget_all(self) -> None:
        self._generation += 1
        self._kept.clear()

    async def listen(self) -> None:
        """Listens for changes until cancelled, reconnecting after a loss; the cache works only while a
        connection listens. Raises nothing but CancelledError."""
        if self._connect_args is None:
            return
        attempt = 0
        while True:
            self._listened = False
            try:
                await self._listen_once()
            except Exception as exc:  # whatever it was, the cache is off until a connection listens again
                log.warning("key cache: not listening (%s); every request looks its key up", type(exc).__name__)
            self._stop_listening()
            attempt = 0 if self._listened else attempt + 1  # a new outage starts its back-off afresh
            await asyncio.sleep(RECONNECT_SECONDS[min(attempt, len(RECONNECT_SECONDS) - 1)])

    async def _listen_once(self) -> None:
        """One listening connection, until it fails a keep-alive or is closed."""
        assert self._connect_args is not None
        settings = {**self._connect_args.get("server_settings", {}), "application_name": APPLICATION_NAME}
        arguments = {**self._connect_args, "server_settings": settings}
        connection = await asyncpg.connect(**arguments, timeout=KEEPALIVE_SECONDS)
        closed = asyncio.Event()

        def lost(_connection: object) -> None:
            self._stop_listening()
            closed.set()

        try:
            connection.add_termination_listener(lost)
            await connection.add_listener(CHANNEL, self._notified)
            self.forget_all()  # what was kept before LISTEN may have changed unnoticed
            self.listening = self._listened = True
            while not connection.is_closed():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(closed.wait(), KEEPALIVE_SECONDS)  # woken at once by a loss
                if not connection.is_closed():
                    await connection.execute("SELECT 1", timeout=KEEPALIVE_SECONDS)
        finally:
            self._stop_listening()
            with contextlib.suppress(Exception):
                await asyncio.shield(connection.close(timeout=1))

    def _notified(self, *_: object) -> None:
        self.forget_all()

    def _stop_listening(self) -> None:
        self.listening = False
        self.forget_all()
