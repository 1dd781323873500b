"""What every page in a real browser must be, in each language: `check_page` (`<html lang>`, no English text
left on a page that is not English, axe without serious or critical violations)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from babel.messages.pofile import read_po
from playwright.async_api import Page, expect

from loyalty.web.languages import ENDONYMS
from tests.browser import assert_accessible

LOCALES = Path(__file__).resolve().parents[2] / "src" / "loyalty" / "i18n" / "locales"
PLACEHOLDER = re.compile(r"\{[a-z_]+\}")


async def visible_text(page: Page) -> str:
    """What a reader of the page meets: its title, the text of its body as rendered, and the text
    alternatives (alt, aria-label) a screen reader speaks."""
    text: str = await page.evaluate(
        """() => [document.title, document.body.innerText,
                  ...Array.from(document.querySelectorAll("[alt], [aria-label]"),
                                (element) => element.getAttribute("alt") ?? element.getAttribute("aria-label"))
                 ].join("\\n")"""
    )
    return text


@dataclass(frozen=True)
class EnglishText:
    msgid: str
    pattern: re.Pattern[str]


@cache
def english_texts(locale: str) -> tuple[EnglishText, ...]:
    """The English forms of the catalogue's messages that `locale` translates differently, each as a pattern
    whose placeholders match any text: none of them may show on a page in `locale`. Left out: forms equal to
    one of their translations, and one-word forms that are also a word of the language ("Points" in French,
    found in the catalogue's own translations), which would match their own translation."""
    with (LOCALES / locale / "LC_MESSAGES" / "messages.po").open("rb") as po:
        catalogue = read_po(po, locale=locale)
    messages = [message for message in catalogue if message.id and message.string]
    words_of_the_language = {
        word for message in messages for string in _forms(message.string) for word in re.findall(r"\w+", string)
    }
    texts = []
    for message in messages:
        translated = set(_forms(message.string))
        for form in _forms(message.id):
            literal = PLACEHOLDER.sub(" ", form).split()
            if form in translated or not literal or (len(literal) == 1 and literal[0] in words_of_the_language):
                continue
            texts.append(EnglishText(form, _pattern(form)))
    return tuple(texts)


def _forms(text: str | Sequence[str] | None) -> tuple[str, ...]:
    """A message's id or string: one text, or its plural forms."""
    if text is None:
        return ()
    return (text,) if isinstance(text, str) else tuple(text)


def _pattern(msgid: str) -> re.Pattern[str]:
    parts = PLACEHOLDER.split(msgid)
    while parts and not parts[0].strip():  # a leading or trailing placeholder: any text around it
        parts.pop(0)
    while parts and not parts[-1].strip():
        parts.pop()
    body = ".+?".join(re.escape(part) for part in parts)
    start = r"\b" if re.match(r"\w", parts[0]) else ""
    end = r"\b" if re.search(r"\w$", parts[-1]) else ""
    return re.compile(start + body + end)


def untranslated(text: str, locale: str) -> list[str]:
    """The English msgids of the catalogue that show in `text` instead of their `locale` translation."""
    for name in ENDONYMS.values():  # the language switcher names each language in itself
        text = text.replace(name, "")
    return [english.msgid for english in english_texts(locale) if english.pattern.search(text)]


async def check_page(page: Page, locale: str) -> None:
    """The page speaks `locale` (`<html lang>`, no English text left when it is not English) and axe finds
    no serious or critical violation."""
    await expect(page.locator("html")).to_have_attribute("lang", locale)
    text = await visible_text(page)
    if locale == "en":  # the check can fail: an English page is English text to it
        assert untranslated(text, "fr") != [], f"{page.url}: no English msgid found in the English page"
    else:
        assert untranslated(text, locale) == [], f"{page.url}: English text in {locale}: {untranslated(text, locale)}"
    await assert_accessible(page)
