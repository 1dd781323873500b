"""The customer's e-mails (PAGES.md, "Mail"): plain text plus HTML, in the customer's language, from the
templates in `templates/mail/`. Built here, sent by `loyalty worker` (worker/mail.py), never inside a
request."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from typing import Any

from loyalty.i18n import N_, translate
from loyalty.web.rendering import render_text

CARD_LINK_SUBJECT = N_("Your loyalty card at {vendor}")


def card_link_message(*, to: str, sender: str, vendor: str, name: str | None, url: str, locale: str) -> EmailMessage:
    """The e-mail that carries a card's link (`url`, the holder's bearer secret) to its holder."""
    subject = translate(CARD_LINK_SUBJECT, locale, vendor=vendor)
    context: dict[str, Any] = {"vendor": vendor, "name": name, "url": url, "subject": subject}
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = formataddr((name or "", to))
    message["Message-ID"] = make_msgid(domain="loyalty.invalid")
    message.set_content(render_text("mail/card_link.txt", locale, **context))
    message.add_alternative(render_text("mail/card_link.html", locale, **context), subtype="html")
    message["Content-Language"] = locale  # after the parts: setting the content replaces Content-* headers
    return message
