"""Google Wallet's sender (WALLET.md, "Google Wallet" and "Updates"): a programme's row writes its
LoyaltyClass, a card's row its LoyaltyObject, each time only the fields that changed since the last
write.

- Class: insert the first time (409: it exists, patch it), then patch what changed; `reviewStatus`
  UNDER_REVIEW goes with every write.
- Object: patch what changed (404: Google has none yet, insert it whole; 409 on that insert: patch it
  whole). A changed balance asks Google to notify the holder (`notifyPreference`), a reward that became
  ready is a message (`addMessage`, TEXT_AND_NOTIFY), both within Google's budget of 3 notices per pass
  per 24 hours; past it they go out silent (the patch without `notifyPreference`, the message as TEXT).
  Google keeps 10 messages per object: before adding an eleventh we patch the list to drop our oldest.
- Answers: 401/403 park the row (configuration), any other 4xx parks it with Google's message (our
  bug), 429/5xx/no answer retry with back-off.

Each call is one JSON log line (`event: wallet_sync`); never a name, card number or token.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from loyalty.clock import Clock
from loyalty.config import Settings
from loyalty.db import Database
from loyalty.services import google_wallet, wallet_passes
from loyalty.services.context import Context
from loyalty.services.outbox import Claimed
from loyalty.wallet.card_facts import CardFacts
from loyalty.wallet.google import credentials, resources
from loyalty.wallet.google.walletobjects import Outcome, Reply, WalletObjects
from loyalty.worker.sender import Fate, Settlement

log = logging.getLogger("loyalty.worker")

CLASS, OBJECT = "loyaltyClass", "loyaltyObject"
BALANCES = ("loyaltyPoints", "secondaryLoyaltyPoints")


@dataclass
class GoogleSender:
    """Writes classes and objects through `api` for the issuer of the settings."""

    database: Database
    settings: Settings
    clock: Clock
    api: WalletObjects
    provider: str = "google"

    @property
    def issuer_id(self) -> str:
        return self.settings.google_issuer_id.strip()

    @property
    def base_url(self) -> str:
        return self.settings.public_base_url.rstrip("/")

    async def deliver(self, row: Claimed) -> Settlement:
        if row.card_id is None:
            assert row.program_id is not None
            return await self._write_class(row, row.program_id)
        return await self._write_object(row, row.card_id)

    async def close(self) -> None:
        await self.api.close()

    # --- classes -------------------------------------------------------------------------------------

    async def _write_class(self, row: Claimed, program_id: int) -> Settlement:
        async with self.database.unit_of_work() as session:
            ctx = self._context(session)
            program, written = (
                await wallet_passes.program_facts(ctx, program_id),
                await google_wallet.class_fields(ctx, program_id),
            )
        if program is None or written is None:
            return Settlement(Fate.SENT, "no class wanted")
        logo = f"{self.base_url}{resources.logo_path(program.vendor_name, program.card_color, program.logo_digest)}"
        wanted = resources.loyalty_class(program, issuer_id=self.issuer_id, logo_url=logo)
        class_id = wanted["id"]
        if not written:
            reply = await self._call(row, "insert", CLASS, class_id, wanted)
            if reply.outcome is Outcome.CONFLICT:
                body = {name: value for name, value in wanted.items() if name != "id"}
                reply = await self._call(row, "patch", CLASS, class_id, body)
        else:
            changes = resources.changed_fields(written, wanted)
            if not changes:
                return Settlement(Fate.SENT, "class unchanged")
            body = {**changes, "reviewStatus": wanted["reviewStatus"]}
            reply = await self._call(row, "patch", CLASS, class_id, body)
            if reply.outcome is Outcome.NOT_FOUND:
                reply = await self._call(row, "insert", CLASS, class_id, wanted)
        async with self.database.unit_of_work() as session:
            ok = reply.outcome is Outcome.OK
            await google_wallet.record_class_write(
                self._context(session),
                program_id,
                wanted,
                reply.body.get("reviewStatus") if ok else None,
                None if ok else reply.summary,
            )
        return _settlement(reply)

    # --- objects -------------------------------------------------------------------------------------

    async def _write_object(self, row: Claimed, card_id: int) -> Settlement:
        async with self.database.unit_of_work() as session:
            ctx = self._context(session)
            state = await google_wallet.object_state(ctx, card_id)
            card = await wallet_passes.facts_by_card_id(ctx, card_id) if state is not None else None
            class_written = await google_wallet.class_fields(ctx, card.program_id) if card is not None else None
        if state is None or card is None:  # no save link was handed out, or the vendor is switched off
            return Settlement(Fate.SENT, "no object")
        if not class_written:  # the class was never written: objects need it first (Google: 404 otherwise)
            written = await self._write_class(row, card.program_id)
            if written.fate is not Fate.SENT:
                return written
        wanted = resources.object_fields(card, issuer_id=self.issuer_id, base_url=self.base_url)
        plan = _plan(state, card, wanted, self.clock.now())
        done = _Progress(messages=list(state.messages))
        if plan.changes or plan.notify_update:
            await self._patch_object(row, state.object_id, wanted, plan, done)
        if done.reply.outcome is Outcome.OK and plan.announce_reward:
            await self._add_reward_message(row, state, card, plan.notify_message, done)
        async with self.database.unit_of_work() as session:
            ctx = self._context(session)
            if done.reply.outcome is Outcome.OK:
                message_ok = done.message_reply.outcome is Outcome.OK
                write = google_wallet.ObjectWrite(
                    fields=wanted,
                    notified=done.notified,
                    messages=tuple(done.messages),
                    reward_ready=card.reward_ready if message_ok else state.reward_ready,
                    status=(done.reply if message_ok else done.message_reply).summary,
                    quota_exceeded=done.quota_exceeded,
                )
                await google_wallet.record_object_write(ctx, card_id, state, write)
            else:
                await google_wallet.record_object_failure(ctx, card_id, done.reply.summary)
        return _settlement(done.reply if done.reply.outcome is not Outcome.OK else done.message_reply)

    async def _patch_object(
        self, row: Claimed, object_id: str, wanted: dict[str, Any], plan: _Plan, done: _Progress
    ) -> None:
        """PATCHes the changes. Only this first PATCH asks for a notice: an object Google did not have
        (inserted instead) notified nobody. Google's QuotaExceeded (429) to a notice: the same, silent."""
        notice = {"notifyPreference": "NOTIFY_ON_UPDATE"} if plan.notify_update else {}
        reply = await self._call(row, "patch", OBJECT, object_id, {**plan.changes, **notice})
        if reply.status == 429 and notice:  # the budget was spent elsewhere: no notice until it is back
            done.quota_exceeded = True
            reply = await self._call(row, "patch", OBJECT, object_id, plan.changes)
        elif notice and reply.outcome is Outcome.OK:
            done.notified = True
        if reply.outcome is Outcome.NOT_FOUND:  # not saved yet, or gone: Google gets the whole object
            reply = await self._call(row, "insert", OBJECT, object_id, resources.insert_body(wanted))
            if reply.outcome is Outcome.CONFLICT:  # saved meanwhile: ours is authoritative
                rest = {name: value for name, value in wanted.items() if name != "id"}
                reply = await self._call(row, "patch", OBJECT, object_id, rest)
        done.reply = reply

    async def _add_reward_message(
        self, row: Claimed, state: google_wallet.ObjectState, card: CardFacts, notify: bool, done: _Progress
    ) -> None:
        """Adds "reward ready", first making room (Google keeps 10 messages); QuotaExceeded to a notifying
        message: the same message as TEXT."""
        object_id = state.object_id
        if len(done.messages) >= google_wallet.MOST_MESSAGES:  # make room: our oldest goes
            # The PATCH writes the list anew: as TEXT, so that keeping a message notifies nobody again.
            kept = [
                {**message, "messageType": "TEXT"} for message in done.messages[-(google_wallet.MOST_MESSAGES - 1) :]
            ]
            done.message_reply = await self._call(row, "patch", OBJECT, object_id, {"messages": kept})
            if done.message_reply.outcome is not Outcome.OK:
                return
            done.messages = kept
        message_id = f"reward-{self.clock.now():%Y%m%d%H%M%S%f}"
        message = resources.reward_message(card, message_id, notify=notify)
        reply = await self._call(row, "addMessage", OBJECT, object_id, message)
        if reply.status == 429 and notify:
            done.quota_exceeded, notify = True, False
            message = resources.reward_message(card, message_id, notify=False)
            reply = await self._call(row, "addMessage", OBJECT, object_id, message)
        done.message_reply = reply
        if reply.outcome is Outcome.OK:
            done.messages.append(message)
            done.notified = done.notified or notify

    async def _call(self, row: Claimed, method: str, resource: str, resource_id: str, body: dict[str, Any]) -> Reply:
        """One API call (`insert`, `patch` or `addMessage` of `resource`), logged."""
        if method == "insert":
            reply = await self.api.insert(resource, body)
        elif method == "patch":
            reply = await self.api.patch(resource, resource_id, body)
        else:
            reply = await self.api.add_message(resource_id, body)
        log.info(
            json.dumps(
                {
                    "event": "wallet_sync",
                    "provider": "google",
                    "outbox_id": row.id,
                    "card_id": row.card_id,
                    "program_id": row.program_id,
                    "method": method,
                    "resource": resource,
                    "resource_id": resource_id,
                    "status": reply.summary,
                    "outcome": reply.outcome.value,
                    "dry_run": self.api.dry_run,
                }
            )
        )
        return reply

    def _context(self, session: AsyncSession) -> Context:
        return Context(session, self.settings, self.clock)


@dataclass
class _Progress:
    """What one write of an object achieved so far: Google's answers to the fields and to the message,
    whether the holder was notified, whether Google said the notice budget was spent, our messages."""

    messages: list[dict[str, Any]]
    reply: Reply = field(default_factory=lambda: Reply(200))
    message_reply: Reply = field(default_factory=lambda: Reply(200))
    notified: bool = False
    quota_exceeded: bool = False


@dataclass(frozen=True)
class _Plan:
    """What one write of an object does: the fields to patch, whether the patch notifies the holder,
    whether a "reward ready" message goes out and whether it notifies."""

    changes: dict[str, Any]
    notify_update: bool
    announce_reward: bool
    notify_message: bool


def _plan(state: google_wallet.ObjectState, card: CardFacts, wanted: dict[str, Any], now: Any) -> _Plan:
    """The first write tells the holder nothing (they just saved the pass); later, a reward that became
    ready is announced by a message and any other balance change by the update's own notice, each only
    while Google's daily budget lasts."""
    changes = resources.changed_fields(state.synced_fields, wanted)
    first = not state.synced_fields
    budget = state.notices_left(now)
    announce = not first and card.reward_ready and not state.reward_ready and not card.is_voided
    balance_changed = not first and any(name in changes for name in BALANCES)
    return _Plan(
        changes=changes,
        notify_update=balance_changed and not announce and budget > 0 and not card.is_voided,
        announce_reward=announce,
        notify_message=announce and budget > 0,
    )


def _settlement(reply: Reply) -> Settlement:
    outcome = reply.outcome
    if outcome is Outcome.OK:
        return Settlement(Fate.SENT, None)
    if outcome is Outcome.MISCONFIGURED:
        return Settlement(Fate.PARK, f"Google Wallet configuration error: {reply.summary}")
    if outcome is Outcome.RETRY:
        return Settlement(Fate.RETRY, f"Google Wallet: {reply.summary}")
    return Settlement(Fate.PARK, f"Google Wallet refused: {reply.summary}")


def walletobjects_client(settings: Settings) -> WalletObjects | None:
    """The Google Wallet API client of the configured issuer; None without one. Raises
    GoogleWalletMisconfigured when the service-account key cannot be read."""
    if not settings.google_wallet_configured:
        return None
    loaded = credentials.load(settings.google_issuer_id, settings.google_service_account_file)
    return WalletObjects(loaded, settings.google_api_url, dry_run=settings.google_dry_run)
