"""Message catalogues (gettext, compiled with Babel) and Accept-Language negotiation.

Messages are written in English in the code, marked with `N_` so `pybabel extract` finds them, and
translated when an answer is rendered. A message with a count is a plural entry, marked with `NP_`
(singular, plural, and the name of the placeholder that holds the count): each catalogue picks the
form by its own plural rule ("1 minute", "2 minutes"; French treats 0 as singular). `lu` is accepted
as an alias of `lb` (Luxembourgish).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from babel.support import NullTranslations, Translations

LOCALES_DIR = Path(__file__).parent / "locales"
DOMAIN = "messages"
DEFAULT_LOCALE = "en"
SUPPORTED_LOCALES = ("en", "fr", "de", "lb")
ALIASES = {"lu": "lb"}


def N_(message: str) -> str:
    """Marks a message for extraction; it is translated later, when rendered."""
    return message


@dataclass(frozen=True)
class Plural:
    """A message with a count: its English singular and plural, and the placeholder holding the count."""

    singular: str
    plural: str
    count: str


def NP_(singular: str, plural: str, *, count: str) -> Plural:
    """Marks a plural message for extraction (babel.cfg: `NP_:1,2`); translated when rendered."""
    return Plural(singular, plural, count)


Message = str | Plural


def normalise_locale(tag: str | None) -> str | None:
    """`fr-LU` → `fr`, `lu` → `lb`; None when the language is not one we speak."""
    if not tag:
        return None
    language = tag.strip().replace("_", "-").split("-")[0].lower()
    language = ALIASES.get(language, language)
    return language if language in SUPPORTED_LOCALES else None


def negotiate(accept_language: str | None, fallback: str | None = None) -> str:
    """The best supported language of an Accept-Language header, else `fallback`, else English."""
    for tag in _by_preference(accept_language or ""):
        if locale := normalise_locale(tag):
            return locale
    return normalise_locale(fallback) or DEFAULT_LOCALE


def _by_preference(header: str) -> list[str]:
    """Language tags by descending q-value (ties keep header order); `*` and q=0 are dropped."""
    weighted: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")):
        tag, *params = (piece.strip() for piece in part.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                quality = _quality(value)
        if tag and tag != "*" and quality > 0:
            weighted.append((-quality, position, tag))
    return [tag for _, _, tag in sorted(weighted)]


def _quality(value: str) -> float:
    try:
        quality = float(value.strip())
    except ValueError:
        return 0.0
    return 0.0 if math.isnan(quality) else min(quality, 1.0)


@cache
def catalogue(locale: str) -> NullTranslations:
    if locale == DEFAULT_LOCALE:
        return NullTranslations()
    return Translations.load(str(LOCALES_DIR), [locale], DOMAIN)


def translate(message: Message, locale: str | None = None, **params: Any) -> str:
    """The message in `locale`, with `{placeholders}` filled from `params`; a Plural in the form the
    locale's plural rule gives for `params[message.count]`.

    A missing translation falls back to the English msgid; so does a translation whose placeholders
    do not fit `params` (tests/test_i18n.py forbids that, but an error answer must never fail).
    """
    translations = catalogue(normalise_locale(locale) or DEFAULT_LOCALE)
    if isinstance(message, Plural):
        count = int(params[message.count])
        text = translations.ngettext(message.singular, message.plural, count)
        english = message.singular if count == 1 else message.plural
    else:
        text, english = translations.gettext(message), message
    if not params:
        return text
    try:
        return text.format(**params)
    except (KeyError, IndexError, ValueError):
        if text == english:
            raise
        return english.format(**params)
