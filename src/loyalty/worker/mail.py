"""The mail (PAGES.md, "Mail"): an outbox row of provider `mail` names a card whose link its holder should
receive (after enrolling, or asking for it again), or a person who signs in and the one-time link they
should receive (`invitation` or `reset`). The mail is built when it is sent, from the card or the person as
they are then: an erased customer, a removed person, an invitation accepted meanwhile get nothing. A person's
link is made here, at sending (`accounts.mail_link`: a fresh token, its SHA-256 stored), so the outbox never
holds a link's secret.

With LOYALTY_SMTP_URL it goes out over SMTP (aiosmtplib: STARTTLS when the server offers it, or TLS
from the start with smtps://); without it, it is written to LOYALTY_MAIL_DIR as an .eml file, which is
what `make demo` does. The log names the file, never the link: a card's link is its holder's secret, and
a person's one-time link theirs.
A refused recipient or a refused login parks the row; a server that cannot be reached or answers a
temporary error (4xx) is tried again after a back-off.
Each mail is one JSON log line (`event: mail`), never the address.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import unquote, urlsplit

import aiosmtplib
from sqlalchemy import select

from loyalty.clock import Clock
from loyalty.config import Settings
from loyalty.db import Database
from loyalty.models import Customer, LoyaltyCard, Vendor
from loyalty.services import accounts, wallet_passes
from loyalty.services.context import Context
from loyalty.services.outbox import Claimed
from loyalty.web.mail import card_link_message, person_link_message
from loyalty.worker.sender import Fate, Settlement

log = logging.getLogger("loyalty.worker")
TIMEOUT_SECONDS = 30


@dataclass
class MailSender:
    """Sends the card-link mails and the people's invitation and reset mails through the settings' SMTP
    server, or into the mail folder."""

    database: Database
    settings: Settings
    clock: Clock
    provider: str = "mail"

    async def deliver(self, row: Claimed) -> Settlement:
        message = await (self._card_link(row) if row.user_id is None else self._person_link(row))
        if message is None:
            return Settlement(Fate.SENT, "nothing to send")
        if not self.settings.smtp_url:
            self._log(row, "written", file=str(self._write(message, row)))
            return Settlement(Fate.SENT, None)
        settlement = await self._send(message)
        self._log(row, settlement.fate.value, detail=settlement.detail)
        return settlement

    async def close(self) -> None:
        return None

    async def _card_link(self, row: Claimed) -> EmailMessage | None:
        """The mail of the row's card, or None when there is no one to write to (erased, unknown)."""
        async with self.database.unit_of_work() as session:
            found = (
                await session.execute(
                    select(
                        LoyaltyCard.card_token,
                        Customer.email,
                        Customer.name,
                        Customer.locale,
                        Vendor.name,
                        Vendor.default_locale,
                    )
                    .join(Customer, Customer.id == LoyaltyCard.customer_id)
                    .join(Vendor, Vendor.id == LoyaltyCard.vendor_id)
                    .where(LoyaltyCard.id == row.card_id, Customer.erased_at.is_(None))
                )
            ).first()
        if found is None:
            return None
        token, email, name, locale, vendor, vendor_locale = found
        url = f"{self.settings.public_base_url.rstrip('/')}/card/{token}"
        message = card_link_message(
            to=email, sender=self.settings.mail_from, vendor=vendor, name=wallet_passes.first_name(name), url=url,
            locale=locale or vendor_locale or "en",
        )  # fmt: skip
        return message

    async def _person_link(self, row: Claimed) -> EmailMessage | None:
        """The mail of the row's person, with a one-time link made now (committed before the mail leaves, so
        it works when it arrives); None when it has no point any more (`accounts.mail_link`)."""
        async with self.database.unit_of_work() as session:
            link = await accounts.mail_link(
                Context(session, self.settings, self.clock), row.user_id or 0, row.purpose or ""
            )
        if link is None:
            return None
        return person_link_message(
            to=link.email, sender=self.settings.mail_from, purpose=row.purpose or "", vendor=link.vendor,
            url=f"{self.settings.public_base_url.rstrip('/')}{link.path}", locale=link.locale,
        )  # fmt: skip

    def _write(self, message: EmailMessage, row: Claimed) -> Path:
        folder = self.settings.mail_dir
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{self.clock.now():%Y%m%dT%H%M%S}-{row.id}.eml"
        path.write_bytes(bytes(message))
        return path

    async def _send(self, message: EmailMessage) -> Settlement:
        parts = urlsplit(self.settings.smtp_url)
        try:
            await aiosmtplib.send(
                message,
                hostname=parts.hostname or "localhost",
                port=parts.port or (465 if parts.scheme == "smtps" else 25),
                username=unquote(parts.username) if parts.username else None,
                password=unquote(parts.password) if parts.password else None,
                use_tls=parts.scheme == "smtps",
                start_tls=None if parts.scheme == "smtp" else False,  # None: STARTTLS when the server offers it
                timeout=TIMEOUT_SECONDS,
            )
        except (aiosmtplib.SMTPRecipientsRefused, aiosmtplib.SMTPSenderRefused) as exc:
            return Settlement(Fate.PARK, f"SMTP refused the mail: {exc}"[:500])
        except aiosmtplib.SMTPAuthenticationError as exc:
            return Settlement(Fate.PARK, f"SMTP login refused (LOYALTY_SMTP_URL): {exc.code}")
        except aiosmtplib.SMTPResponseException as exc:
            fate = Fate.RETRY if 400 <= exc.code < 500 else Fate.PARK
            return Settlement(fate, f"SMTP {exc.code}: {exc.message}"[:500])
        except (aiosmtplib.SMTPException, OSError) as exc:
            return Settlement(Fate.RETRY, f"SMTP: {type(exc).__name__}: {exc}"[:500])
        return Settlement(Fate.SENT, None)

    def _log(self, row: Claimed, outcome: str, **fields: object) -> None:
        about = (
            {"kind": "card_link", "card_id": row.card_id}
            if row.user_id is None
            else {"kind": row.purpose, "user_id": row.user_id}
        )
        log.info(json.dumps({"event": "mail", **about, "outbox_id": row.id, "outcome": outcome, **fields}))  # fmt: skip
