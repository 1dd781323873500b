"""Message catalogues (gettext, compiled with Babel) and Accept-Language negotiation.

Messages are written in English in the code, marked with `N_` so `pybabel extract` finds them, and
translated when an answer is rendered. `lu` is accepted as an alias of `lb` (Luxembourgish).
"""

from __future__ import annotations

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
    weighted: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag and tag != "*" and quality > 0:
            weighted.append((-quality, position, tag))
    return [tag for _, _, tag in sorted(weighted)]


@cache
def catalogue(locale: str) -> NullTranslations:
    if locale == DEFAULT_LOCALE:
        return NullTranslations()
    return Translations.load(str(LOCALES_DIR), [locale], DOMAIN)


def translate(message: str, locale: str | None = None, **params: Any) -> str:
    """The message in `locale`, with `{placeholders}` filled from `params`."""
    text = catalogue(normalise_locale(locale) or DEFAULT_LOCALE).gettext(message)
    return text.format(**params) if params else text
