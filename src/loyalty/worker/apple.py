"""Apple Wallet's sender: a push to every device registered for the card's pass, and WALLET.md's table
of APNs answers (a gone device loses its registration; a configuration error parks the row; a
transient failure retries; anything else is sent).

Each push is one JSON log line (`event: wallet_push`), with the card, the outcome and APNs' answer;
never a push token or a pass's authentication token.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from loyalty.clock import Clock
from loyalty.config import Settings
from loyalty.db import Database
from loyalty.services import apple_devices
from loyalty.services.context import Context
from loyalty.services.outbox import Claimed
from loyalty.wallet.apple.apns import Answer, ApnsClient, ApnsSettings, Outcome, ProviderToken
from loyalty.worker.sender import Fate, Settlement

log = logging.getLogger("loyalty.worker")


@dataclass
class AppleSender:
    """Pushes through `apns` (None, or `LOYALTY_APNS_DRY_RUN`: each push is logged as sent)."""

    database: Database
    settings: Settings
    clock: Clock
    apns: ApnsClient | None
    provider: str = "apple"

    async def deliver(self, row: Claimed) -> Settlement:
        assert row.card_id is not None  # Apple has no programme-wide rows
        async with self.database.unit_of_work() as session:
            devices = await apple_devices.registrations_of(self._context(session), row.card_id)
        if not devices:  # no device holds this pass: nothing to tell, and the log says so
            log.info(json.dumps({"event": "wallet_push", "provider": "apple", "outbox_id": row.id,
                                 "card_id": row.card_id, "outcome": "no_device"}))  # fmt: skip
        answers = [(device, await self._push(row, device)) for device in devices]
        async with self.database.unit_of_work() as session:
            ctx = self._context(session)
            for device, answer in answers:
                if answer.outcome is Outcome.UNREGISTER:
                    await apple_devices.forget_device(ctx, device.id)
                else:
                    await apple_devices.record_push(ctx, device.id, answer.summary)
        return _verdict([answer for _, answer in answers])

    async def close(self) -> None:
        if self.apns is not None:
            await self.apns.close()

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

    def _context(self, session: AsyncSession) -> Context:
        return Context(session, self.settings, self.clock)


def _verdict(answers: list[Answer]) -> Settlement:
    """The row's fate from its devices' answers: a configuration error parks it; any retryable answer
    makes it due again (the delivered devices then get it twice, harmlessly); otherwise it is sent."""
    misconfigured = [answer for answer in answers if answer.outcome is Outcome.MISCONFIGURED]
    if misconfigured:
        return Settlement(Fate.PARK, f"APNs configuration error: {misconfigured[0].summary}")
    failed = [answer for answer in answers if answer.outcome is Outcome.RETRY]
    if failed:
        return Settlement(Fate.RETRY, f"APNs: {failed[0].summary}")
    delivered = [answer.apns_id for answer in answers if answer.outcome is Outcome.DELIVERED]
    return Settlement(Fate.SENT, delivered[-1] if delivered else None)


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
