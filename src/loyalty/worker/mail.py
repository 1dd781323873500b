"""The customer's mail (PAGES.md, "Mail"): an outbox row of provider `mail` names a card whose link its
holder should receive (after enrolling, or asking for it again). The mail is built when it is sent,
from the card as it is then: an erased customer gets nothing.

With LOYALTY_SMTP_URL it goes out over SMTP (aiosmtplib: STARTTLS when the server offers it, or TLS
from the start with smtps://); without it, it is written to LOYALTY_MAIL_DIR as an .eml file, which is
what `make demo` does. The log names the file, never the link: a card's link is its holder's secret.
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
from loyalty.services import wallet_passes
from loyalty.services.outbox import Claimed
from loyalty.web.mail import card_link_message
from loyalty.worker.sender import Fate, Settlement

log = logging.getLogger("loyalty.worker")
TIMEOUT_SECONDS = 30


@dataclass
class MailSender:
    """Sends the card-link mails through the settings' SMTP server, or into the mail folder."""

    database: Database
    settings: Settings
    clock: Clock
    provider: str = "mail"

    async def deliver(self, row: Claimed) -> Settlement:
        message = await self._card_link(row)
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
        log.info(json.dumps({"event": "mail", "kind": "card_link", "outbox_id": row.id, "card_id": row.card_id,
                             "outcome": outcome, **fields}))  # fmt: skip
