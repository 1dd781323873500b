"""`loyalty worker`: drains the wallet outbox, so each changed pass reaches the devices that hold it.

Each round claims the due rows in a short transaction of its own (`outbox.claim_due`: `FOR UPDATE SKIP
LOCKED`, a lease), sends them with no transaction open (a slow APNs never holds a database
connection), then settles each row in another short transaction: sent, due again after a back-off, or
parked. Any number of workers on any number of machines share the work; a row is sent by one at a
time, and a worker that died leaves its rows to the others once their lease is over.

SIGTERM (or Ctrl+C) stops it after the row in hand: that row is settled, the rows claimed but not
started are released (due now), and the process exits 0.

Each send is one JSON log line (`event: wallet_push`), with the card, the outcome and APNs' answer;
never a push token or a pass's authentication token.
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
from loyalty.services import apple_devices, outbox
from loyalty.services.context import Context
from loyalty.services.outbox import Claimed
from loyalty.wallet.apple.apns import Answer, ApnsClient, ApnsSettings, Outcome, ProviderToken

log = logging.getLogger("loyalty.worker")


@dataclass
class Worker:
    """One worker process's loop; `stop()` ends it after the row in hand."""

    database: Database
    settings: Settings
    clock: Clock = field(default_factory=SystemClock)
    apns: ApnsClient | None = None
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)

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
            if self.apns is not None:
                await self.apns.close()

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
            await self._send(row)
        return len(claimed)

    async def _send(self, row: Claimed) -> None:
        if row.provider != "apple":  # Google Wallet: a later issue; its rows wait, parked, for it
            async with self.database.unit_of_work() as session:
                await outbox.park(Context(session, self.settings, self.clock), row, f"no sender for {row.provider}")
            return
        async with self.database.unit_of_work() as session:
            devices = await apple_devices.registrations_of(Context(session, self.settings, self.clock), row.card_id)
        if not devices:  # no device holds this pass: nothing to tell, and the log says so
            log.info(json.dumps({"event": "wallet_push", "provider": "apple", "outbox_id": row.id,
                                 "card_id": row.card_id, "outcome": "no_device"}))  # fmt: skip
        answers = [(device, await self._push(row, device)) for device in devices]
        async with self.database.unit_of_work() as session:
            await self._settle(Context(session, self.settings, self.clock), row, answers)

    async def _push(self, row: Claimed, device: apple_devices.Registration) -> Answer:
        if self.settings.apns_dry_run or self.apns is None:
            answer = Answer(200, None, "dry-run")
        else:
            answer = await self.apns.push(device.push_token, self.clock.now())
        log.info(
            json.dumps(
                {
                    "event": "wallet_push",
                    "provider": "apple",
                    "outbox_id": row.id,
                    "card_id": row.card_id,
                    "registration_id": device.id,
                    "outcome": answer.outcome.value,
                    "apns_status": answer.summary,
                    "apns_id": answer.apns_id,
                    "dry_run": self.settings.apns_dry_run,
                }
            )
        )
        return answer

    async def _settle(
        self, ctx: Context, row: Claimed, answers: list[tuple[apple_devices.Registration, Answer]]
    ) -> None:
        """One row's fate from its devices' answers (WALLET.md's table): a configuration error parks it;
        any retryable answer makes it due again (the delivered devices then get it twice, harmlessly);
        otherwise it is sent. Gone devices lose their registration either way."""
        for device, answer in answers:
            if answer.outcome is Outcome.UNREGISTER:
                await apple_devices.forget_device(ctx, device.id)
            else:
                await apple_devices.record_push(ctx, device.id, answer.summary)
        outcomes = {answer.outcome for _, answer in answers}
        failed = next(
            (answer for _, answer in answers if answer.outcome in (Outcome.MISCONFIGURED, Outcome.RETRY)), None
        )
        if Outcome.MISCONFIGURED in outcomes:
            await outbox.park(ctx, row, f"APNs configuration error: {_first(answers, Outcome.MISCONFIGURED)}")
        elif failed is not None and row.attempts + 1 >= self.settings.outbox_max_attempts:
            await outbox.park(ctx, row, f"gave up after {row.attempts + 1} attempts: {failed.summary}")
        elif failed is not None:
            await outbox.retry_later(ctx, row, f"APNs: {failed.summary}", jitter=random.uniform(0.5, 1.5))
        else:
            delivered = [answer.apns_id for _, answer in answers if answer.outcome is Outcome.DELIVERED]
            await outbox.sent(ctx, row, delivered[-1] if delivered else None)

    async def _release(self, rows: list[Claimed]) -> None:
        """Rows claimed but not started: due now for the next worker."""
        async with self.database.unit_of_work() as session:
            await session.execute(
                update(WalletOutbox)
                .where(WalletOutbox.id.in_([row.id for row in rows]))
                .values(status=OutboxStatus.PENDING, claimed_until=None, due_at=self.clock.now())
            )


def _first(answers: list[tuple[apple_devices.Registration, Answer]], outcome: Outcome) -> str:
    return next(answer.summary for _, answer in answers if answer.outcome is outcome)


def apns_client(settings: Settings) -> ApnsClient | None:
    """The APNs connection of the configured Apple Wallet; None without one, or in a dry run."""
    if not settings.apple_wallet_configured or settings.apns_dry_run:
        return None
    topic = settings.apple_pass_type_id.strip()
    if settings.apns_auth == "token":
        if settings.apns_key_file is None or not settings.apns_key_id:
            raise ValueError("LOYALTY_APNS_AUTH=token needs LOYALTY_APNS_KEY_FILE and LOYALTY_APNS_KEY_ID")
        token = ProviderToken(settings.apns_key_file, settings.apns_key_id, settings.apple_team_id.strip())
        return ApnsClient(ApnsSettings(url=settings.apns_url, topic=topic, token=token, ca_file=settings.apns_ca_file))
    if settings.apple_cert is None or settings.apple_key is None:
        raise ValueError("the worker authenticates to APNs with LOYALTY_APPLE_CERT and LOYALTY_APPLE_KEY")
    return ApnsClient(
        ApnsSettings(
            url=settings.apns_url,
            topic=topic,
            certificate_file=settings.apple_cert,
            key_file=settings.apple_key,
            key_password=settings.apple_key_password,
            ca_file=settings.apns_ca_file,
        )
    )


async def run_worker(settings: Settings) -> None:
    """`loyalty worker`: the loop, stopped by SIGTERM or SIGINT after the row in hand."""
    # httpx logs each request's URL at INFO, and an APNs URL ends with the device's push token.
    for library in ("httpx", "httpcore", "hpack"):
        logging.getLogger(library).setLevel(logging.WARNING)
    database = Database.from_settings(settings)
    worker = Worker(database, settings, apns=apns_client(settings))
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, worker.stop)
    log.info(json.dumps({"event": "worker_started", "dry_run": settings.apns_dry_run, "apns_url": settings.apns_url}))
    try:
        await worker.run()
    finally:
        await database.dispose()
        log.info(json.dumps({"event": "worker_stopped"}))
