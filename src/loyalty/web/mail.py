"""The e-mails (PAGES.md, "Mail"): the customer's card link, and the invitations and password resets of the
people who sign in; plain text plus HTML, in the customer's (or the shop's) language, from the
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


# The people who sign in (PAGES.md, "Authentication"): their invitation and their password reset.
INVITATION_SUBJECT = N_("Your invitation to {vendor}'s dashboard")
ADMIN_INVITATION_SUBJECT = N_("Your invitation to the platform's administration")
RESET_SUBJECT = N_("Choose a new password")


def person_link_message(
    *, to: str, sender: str, purpose: str, vendor: str | None, url: str, locale: str
) -> EmailMessage:
    """The e-mail that carries a one-time link (`url`: the person's secret) to someone who signs in:
    `purpose` `invitation` (choose a password, 7 days) or `reset` (a new password, 1 hour). `vendor` is the
    shop's name, None for a platform admin. In `locale` (the shop's language; English for an admin)."""
    if purpose == "invitation":
        subject = translate(INVITATION_SUBJECT if vendor else ADMIN_INVITATION_SUBJECT, locale, vendor=vendor or "")
        template = "mail/invitation"
    else:
        subject, template = translate(RESET_SUBJECT, locale), "mail/reset"
    context: dict[str, Any] = {"vendor": vendor, "url": url, "subject": subject, "email": to}
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = to
    message["Message-ID"] = make_msgid(domain="loyalty.invalid")
    message.set_content(render_text(f"{template}.txt", locale, **context))
    message.add_alternative(render_text(f"{template}.html", locale, **context), subtype="html")
    message["Content-Language"] = locale
    return message
