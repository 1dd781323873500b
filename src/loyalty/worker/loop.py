"""`loyalty worker`'s loop: it drains the wallet outbox, so each changed pass reaches the wallets that
hold it.

Each round claims the due rows in a short transaction of its own (`outbox.claim_due`: `FOR UPDATE SKIP
LOCKED`, a lease), hands each to its wallet's sender with no transaction open (a slow APNs or Google
never holds a database connection), then settles the row in another short transaction: sent, due
again after a back-off, or parked. Any number of workers on any number of machines share the work; a
row is sent by one at a time, and a worker that died leaves its rows to the others once their lease is
over. A row of a wallet that is not configured (any more) is parked, saying so.

SIGTERM (or Ctrl+C) stops it after the row in hand: that row is settled, the rows claimed but not
started are released (due now), and the process exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import signal
from dataclasses import dataclass, field

from sqlalchemy import update

from loyalty.clock import Clock, SystemClock
from loyalty.config import Settings
from loyalty.db import Database
from loyalty.models import OutboxStatus, WalletOutbox
from loyalty.services import outbox
from loyalty.services.context import Context
from loyalty.services.outbox import Claimed
from loyalty.wallet.apple.apns import ApnsClient
from loyalty.wallet.google.walletobjects import WalletObjects
from loyalty.worker.apple import AppleSender, apns_client
from loyalty.worker.google import GoogleSender, walletobjects_client
from loyalty.worker.mail import MailSender
from loyalty.worker.sender import Fate, Sender, Settlement

log = logging.getLogger("loyalty.worker")


@dataclass
class Worker:
    """One worker process's loop; `stop()` ends it after the row in hand. `apns` and `google` are the
    wallets' connections (None: that wallet is not configured, or Apple's is a dry run)."""

    database: Database
    settings: Settings
    clock: Clock = field(default_factory=SystemClock)
    apns: ApnsClient | None = None
    google: WalletObjects | None = None
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)
    _senders: dict[str, Sender] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.settings.apple_wallet_configured:
            self._senders["apple"] = AppleSender(self.database, self.settings, self.clock, self.apns)
        if self.google is not None:
            self._senders["google"] = GoogleSender(self.database, self.settings, self.clock, self.google)
        self._senders["mail"] = MailSender(self.database, self.settings, self.clock)

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        """Rounds until `stop()`: a round with nothing due waits LOYALTY_WORKER_IDLE_SECONDS (or the stop)."""
        try:
            while not self._stopping.is_set():
                if await self.run_once() == 0:
                    with contextlib.suppress(TimeoutError):  # nothing due: look again after the wait
                        await asyncio.wait_for(self._stopping.wait(), self.settings.worker_idle_seconds)
        finally:
            for sender in self._senders.values():
                await sender.close()

    async def run_once(self) -> int:
        """Claims and sends the due rows; returns how many were claimed."""
        async with self.database.unit_of_work() as session:
            claimed = await outbox.claim_due(
                Context(session, self.settings, self.clock), self.settings.worker_batch_size
            )
        for index, row in enumerate(claimed):
            if self._stopping.is_set():
                await self._release(claimed[index:])
                break
            async with self.database.unit_of_work() as session:
                if not await outbox.renew_lease(Context(session, self.settings, self.clock), row):
                    continue  # another worker took it over when this batch's lease ran out
            sender = self._senders.get(row.provider)
            if sender is None:
                settlement = Settlement(Fate.PARK, f"no sender for {row.provider}: that wallet is not configured")
            else:
                settlement = await self._deliver(sender, row)
            await self._settle(row, settlement)
        return len(claimed)

    async def _deliver(self, sender: Sender, row: Claimed) -> Settlement:
        """The sender's verdict; a sender's own failure (a bug, an answer nobody foresaw) is logged and the
        row tried again later, rather than ending the worker with its batch still claimed."""
        try:
            return await sender.deliver(row)
        except Exception as exc:
            log.exception(json.dumps({"event": "wallet_send_failed", "outbox_id": row.id, "provider": row.provider}))
            return Settlement(Fate.RETRY, f"{type(exc).__name__}: {exc}"[:500])

    async def _settle(self, row: Claimed, settlement: Settlement) -> None:
        """Sent; due again after a back-off, or parked once it failed LOYALTY_OUTBOX_MAX_ATTEMPTS times;
        or parked at once."""
        async with self.database.unit_of_work() as session:
            ctx = Context(session, self.settings, self.clock)
            if settlement.fate is Fate.SENT:
                await outbox.sent(ctx, row, settlement.detail)
            elif settlement.fate is Fate.PARK:
                await outbox.park(ctx, row, settlement.detail or "parked")
            elif row.attempts + 1 >= self.settings.outbox_max_attempts:
                await outbox.park(ctx, row, f"gave up after {row.attempts + 1} attempts: {settlement.detail}")
            else:
                await outbox.retry_later(ctx, row, settlement.detail or "failed", jitter=random.uniform(0.5, 1.5))

    async def _release(self, rows: list[Claimed]) -> None:
        """Rows claimed but not started: due now for the next worker."""
        async with self.database.unit_of_work() as session:
            await session.execute(
                update(WalletOutbox)
                .where(WalletOutbox.id.in_([row.id for row in rows]))
                .values(status=OutboxStatus.PENDING, claimed_until=None, due_at=self.clock.now())
            )


async def run_worker(settings: Settings) -> None:
    """`loyalty worker`: the loop, stopped by SIGTERM or SIGINT after the row in hand."""
    # httpx logs each request's URL at INFO, and an APNs URL ends with the device's push token.
    for library in ("httpx", "httpcore", "hpack"):
        logging.getLogger(library).setLevel(logging.WARNING)
    database = Database.from_settings(settings)
    worker = Worker(database, settings, apns=apns_client(settings), google=walletobjects_client(settings))
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, worker.stop)
    log.info(
        json.dumps(
            {
                "event": "worker_started",
                "wallets": settings.wallet_provider_list,
                "dry_run": settings.apns_dry_run,
                "apns_url": settings.apns_url,
                "google_dry_run": settings.google_dry_run,
                "google_api_url": settings.google_api_url,
            }
        )
    )
    try:
        await worker.run()
    finally:
        await database.dispose()
        log.info(json.dumps({"event": "worker_stopped"}))
