"""Message catalogues and language negotiation.

The msgids are extracted from the source itself, with babel.cfg (the config `make messages` uses), so
a new `N_("...")` without a French, German or Luxembourgish translation fails here. The fix is always
`make messages`, then translating the new entries in src/loyalty/i18n/locales/*/LC_MESSAGES/messages.po
(see docs/i18n.md).
"""

from __future__ import annotations

import inspect
import string
import typing
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from functools import cache
from gettext import NullTranslations
from pathlib import Path
from typing import Any

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from loyalty import errors, i18n
from loyalty.api.schemas import operations
from loyalty.i18n import negotiate, translate

ROOT = Path(__file__).resolve().parents[1]
LOCALES = ("fr", "de", "lb")
NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
MAKE_MESSAGES = "run `make messages` and translate the new entries (docs/i18n.md)"


# --- catalogues ------------------------------------------------------------------------------------


# A msgid is a str, or (singular, plural) for a plural entry; a translation likewise a str or a tuple.
MessageId = str | tuple[str, ...]

# Placeholders that never hold a count. Any other placeholder is a count, and its message must be a
# plural entry (NP_), so that every language can say "1 minute" and "2 minutes" its own way. These hold
# a name, a list of words, a bound compared with ("{minimum} or more") or a position ("line {line}"):
# numbers beside no noun, which no language inflects.
# Placeholders that hold no count: names, texts, positions, and a rate (a decimal such as 1.5, no plural).
NOT_COUNTS = {
    "address",
    "email",
    "reward",
    "expected",
    "fields",
    "minimum",
    "maximum",
    "line",
    "column",
    "vendor",
    "rate",
    "name",
    "card_number",
    "time",
    "date",
    "id",  # an entry's, a card's: a name, not an amount
    "ratio",  # a contrast ratio such as 4.5 (of "4.5:1")
    "black",
    "white",
    "example",  # a number written as the page's language writes it
}


@cache
def source_msgids() -> frozenset[MessageId]:
    with (ROOT / "babel.cfg").open() as config:
        # babel leaves parse_mapping_cfg unannotated (the rest of its extraction API is typed)
        method_map, options_map = parse_mapping_cfg(config, "babel.cfg")  # type: ignore[no-untyped-call]
    found: set[MessageId] = set()
    for _filename, _lineno, message, _comments, _context in extract_from_dir(str(ROOT), method_map, options_map):
        if isinstance(message, tuple):
            found.add(tuple(part for part in message if part))
        elif message:
            found.add(message)
    return frozenset(found)


def po_path(locale: str) -> Path:
    return Path(i18n.LOCALES_DIR) / locale / "LC_MESSAGES" / f"{i18n.DOMAIN}.po"


@cache
def po_catalogue(locale: str) -> Catalog:
    with po_path(locale).open("rb") as file:
        return read_po(file, locale=locale, domain=i18n.DOMAIN)


def entries(catalogue: Catalog) -> dict[MessageId, Any]:
    return {
        tuple(message.id) if isinstance(message.id, list | tuple) else message.id: message.string
        for message in catalogue
        if message.id
    }


def forms(text: str | Sequence[str]) -> tuple[str, ...]:
    """The forms of a translation: one for a plain entry, one per plural form for a plural entry."""
    return (text,) if isinstance(text, str) else tuple(text)


def placeholders(text: str) -> Counter[str]:
    """`{name}` / `{name:spec}` / `{name!r}` fields of a str.format text; `{{` escapes are not fields."""
    return Counter(
        f"{name}!{conversion or ''}:{spec or ''}"
        for _, name, spec, conversion in string.Formatter().parse(text)
        if name is not None
    )


def names(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_extraction_finds_the_messages() -> None:
    msgids = source_msgids()
    assert errors.CardNotFound.message in msgids  # N_ on a class attribute
    cooldown = errors.StampCooldown.message
    assert isinstance(cooldown, i18n.Plural) and (cooldown.singular, cooldown.plural) in msgids  # NP_
    assert len(msgids) >= 30


def test_template_is_up_to_date() -> None:
    with (Path(i18n.LOCALES_DIR).parent / "messages.pot").open("rb") as file:
        template = entries(read_po(file))
    assert sorted(map(str, source_msgids() - template.keys())) == [], MAKE_MESSAGES
    assert sorted(map(str, template.keys() - source_msgids())) == [], MAKE_MESSAGES


def test_every_count_is_in_a_plural_entry() -> None:
    """A message whose placeholder holds a number is a plural entry, never a plain one."""
    plain_counts = {msgid: names(msgid) - NOT_COUNTS for msgid in source_msgids() if isinstance(msgid, str)}
    assert {msgid: found for msgid, found in plain_counts.items() if found} == {}, (
        "mark messages with a count NP_(singular, plural, count=...) (docs/i18n.md)"
    )


@pytest.mark.parametrize("locale", LOCALES)
def test_every_message_is_translated(locale: str) -> None:
    translated = entries(po_catalogue(locale))
    missing = sorted(
        str(msgid) for msgid in source_msgids() if not all(form.strip() for form in forms(translated.get(msgid, "")))
    )
    assert missing == [], f"{len(missing)} message(s) without a {locale} translation: {MAKE_MESSAGES}"


@pytest.mark.parametrize("locale", LOCALES)
def test_every_plural_entry_has_each_form_of_the_language(locale: str) -> None:
    catalogue = po_catalogue(locale)
    plural_entries = {msgid: text for msgid, text in entries(catalogue).items() if isinstance(msgid, tuple)}
    assert plural_entries, "no plural entries at all"
    for msgid, text in plural_entries.items():
        assert len(forms(text)) == catalogue.num_plurals, (locale, msgid)


@pytest.mark.parametrize("locale", LOCALES)
def test_no_stale_messages(locale: str) -> None:
    stale = sorted(map(str, entries(po_catalogue(locale)).keys() - source_msgids()))
    assert stale == [], f"{locale} catalogue has messages the code no longer uses: {MAKE_MESSAGES}"


@pytest.mark.parametrize("locale", LOCALES)
def test_placeholders_match_the_msgid(locale: str) -> None:
    wrong = {
        str(msgid): text
        for msgid, text in entries(po_catalogue(locale)).items()
        for source in forms(msgid)
        for form in forms(text)
        if form and placeholders(form) != placeholders(source)
    }
    assert wrong == {}, f"{locale}: translations must keep the msgid's {{placeholders}} exactly"


@pytest.mark.parametrize("locale", LOCALES)
def test_no_fuzzy_entries(locale: str) -> None:
    catalogue = po_catalogue(locale)
    fuzzy = sorted(str(message.id) for message in catalogue if message.id and message.fuzzy)
    assert not catalogue.fuzzy, f"{locale}: the catalogue header is marked fuzzy"
    assert fuzzy == [], f"{locale}: review the fuzzy (guessed) translations and remove their `#, fuzzy` flag"


@pytest.mark.parametrize("locale", LOCALES)
def test_header_names_the_language(locale: str) -> None:
    catalogue = po_catalogue(locale)
    assert str(catalogue.locale) == locale
    assert catalogue.charset.lower() == "utf-8"


@pytest.mark.parametrize("locale", LOCALES)
def test_compiled_catalogue_matches_the_po(locale: str) -> None:
    with po_path(locale).with_suffix(".mo").open("rb") as file:
        compiled = {msgid: forms(text) for msgid, text in entries(read_mo(file)).items()}
    written = {msgid: forms(text) for msgid, text in entries(po_catalogue(locale)).items() if any(forms(text))}
    assert compiled == written, f"{locale}: messages.mo is out of date: run `make messages` (pybabel compile)"


@pytest.mark.parametrize("locale", LOCALES)
def test_app_loads_the_compiled_catalogue(locale: str) -> None:
    loaded = i18n.catalogue(locale)
    assert isinstance(loaded, Translations)
    assert loaded.gettext(errors.CardNotFound.message) == entries(po_catalogue(locale))[errors.CardNotFound.message]


@pytest.mark.parametrize("locale", LOCALES)
def test_every_message_formats_in_every_language(locale: str) -> None:
    for msgid in sorted(source_msgids(), key=str):
        for params, text in _renderings(msgid, locale):
            assert text.strip() and "{" not in text, (msgid, text)
            assert all(str(value) in text for value in params.values()), (msgid, text)


def _renderings(msgid: MessageId, locale: str) -> list[tuple[dict[str, object], str]]:
    """The message rendered with sample values: a plural entry (all of whose placeholders are numbers)
    with counts that reach every form of every language's rule."""
    if isinstance(msgid, str):
        params: dict[str, object] = {name: f"<{name}>" for name in names(msgid)}
        return [(params, translate(msgid, locale, **params))]
    message = i18n.Plural(msgid[0], msgid[1], count=sorted(names(msgid[0]))[0])
    samples: list[dict[str, object]] = [{name: n for name in names(msgid[0])} for n in (0, 1, 2, 5, 21)]
    return [(sample, translate(message, locale, **sample)) for sample in samples]


@pytest.mark.parametrize(
    ("locale", "one", "two"),
    [
        ("en", "Please wait 1 minute between stamps", "Please wait 2 minutes between stamps"),
        ("fr", "Veuillez patienter 1 minute entre deux tampons", "Veuillez patienter 2 minutes entre deux tampons"),
        ("de", "Bitte warten Sie 1 Minute zwischen zwei Stempeln", "Bitte warten Sie 2 Minuten zwischen zwei Stempeln"),
        ("lb", "Waart w.e.g. 1 Minutt tëscht zwee Stempelen", "Waart w.e.g. 2 Minutten tëscht zwee Stempelen"),
    ],
)
def test_one_minute_is_singular_in_every_language(locale: str, one: str, two: str) -> None:
    """A peer system's fault: "Please wait 1 minutes between stamps", and likewise in fr, de and lb."""
    assert errors.StampCooldown(NOW + timedelta(minutes=1), 1, NOW).localised_message(locale) == one
    assert errors.StampCooldown(NOW + timedelta(minutes=2), 2, NOW).localised_message(locale) == two


def test_each_language_applies_its_own_plural_rule() -> None:
    """French counts 0 as singular, English and German do not."""
    assert translate(operations.POINTS_ADDED, "fr", points=0) == "0 point ajouté"
    assert translate(operations.POINTS_ADDED, "en", points=0) == "0 points added"
    assert translate(operations.POINTS_ADDED, "de", points=0) == "0 Punkte gutgeschrieben"
    assert translate(operations.POINTS_ADDED, "de", points=1) == "1 Punkt gutgeschrieben"


# --- negotiation -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "fallback", "expected"),
    [
        ("fr-LU,fr;q=0.9,en;q=0.8", None, "fr"),
        ("lu", None, "lb"),
        ("lb-LU", None, "lb"),
        ("de-CH", None, "de"),
        ("de;q=0.5, fr;q=0.9", None, "fr"),
        ("de ; q=0.5, lb ; Q=0.7", None, "lb"),
        ("fr;q=0, de", None, "de"),
        ("es, de;q=0.2", None, "de"),
        ("es", "de", "de"),
        ("es", "lu", "lb"),
        ("es", None, "en"),
        ("es", "es", "en"),
        ("", "fr", "fr"),
        (None, None, "en"),
        ("*", "de", "de"),
        ("en-GB,fr;q=0.9", "de", "en"),
        ("fr;q=abc, de;q=0.1", None, "de"),
        ("fr;q=0.5, de;q=0.5", None, "fr"),
        ("de;level=1;q=0.4, fr;q=0.3", None, "de"),
    ],
)
def test_negotiate(header: str, fallback: str | None, expected: str) -> None:
    assert negotiate(header, fallback) == expected


def test_luxembourgish_alias_translates() -> None:
    assert translate(errors.CardInactive.message, "lu") == translate(errors.CardInactive.message, "lb")
    assert translate(errors.CardInactive.message, "lb") == "Dës Kaart ass deaktivéiert"


def test_english_is_the_msgid() -> None:
    expected = "Not enough stamps: 3 of 10 stamps"
    assert translate(errors.InsufficientStamps.message, "en", current=3, required=10) == expected
    assert translate(errors.InsufficientStamps.message, "es", current=3, required=10) == expected


def test_stamp_cooldown_in_luxembourgish() -> None:
    error = errors.StampCooldown(NOW + timedelta(minutes=12), 15, NOW)
    message = error.localised_message("lb")
    assert "15" in message
    assert message == "Waart w.e.g. 15 Minutten tëscht zwee Stempelen"
    assert "15" in translate(errors.StampCooldown.message, "lb", minutes=15)


def test_a_broken_translation_falls_back_to_english(monkeypatch: pytest.MonkeyPatch) -> None:
    class Broken(NullTranslations):
        def gettext(self, message: str) -> str:
            return "Kaputt: {unknown}"

    monkeypatch.setattr(i18n, "catalogue", lambda locale: Broken())
    assert translate("Not enough stamps: {current} of {required}", "de", current=1, required=2) == (
        "Not enough stamps: 1 of 2"
    )


# --- every error class renders in every language ---------------------------------------------------

# Plausible arguments for the error classes whose constructors need them; any other class is built from
# its signature's type hints (so a new class is covered without editing this file).
ERROR_ARGUMENTS: dict[str, dict[str, object]] = {
    "InsufficientStamps": {"current": 7, "required": 10},
    "InsufficientPoints": {"current": 120, "required": 500},
    "InvalidStaffPin": {"remaining_attempts": 2},
    "TransactionNotVoidable": {"transaction_id": 42, "reason": errors.TransactionNotVoidable.ALREADY_VOIDED},
    "ValidationFailed": {"errors": [{"field": "email", "message": "invalid"}]},
    "StaffPinLocked": {"locked_until": NOW + timedelta(minutes=15), "lock": "terminal"},
    "StampCooldown": {"cooldown_ends": NOW + timedelta(minutes=20), "cooldown_minutes": 30, "now": NOW},
    "DailyStampLimit": {"max_daily_stamps": 3, "stamps_today": 3, "resets_at": NOW + timedelta(hours=14), "now": NOW},
    "RateLimited": {"retry_after": 30},
}

_SAMPLES: dict[object, object] = {int: 7, str: "sample", datetime: NOW + timedelta(minutes=5), object: 7}


def _arguments(cls: type[errors.LoyaltyError]) -> dict[str, Any]:  # keyword arguments of any error's __init__
    if cls.__name__ in ERROR_ARGUMENTS:
        return ERROR_ARGUMENTS[cls.__name__]
    hints = typing.get_type_hints(cls.__init__, vars(errors))
    arguments: dict[str, Any] = {}
    for name, parameter in inspect.signature(cls.__init__).parameters.items():
        if name == "self" or parameter.kind in (parameter.VAR_KEYWORD, parameter.VAR_POSITIONAL):
            continue
        if parameter.default is not parameter.empty:
            continue
        hint = hints.get(name, object)
        origin = typing.get_origin(hint) or hint
        arguments[name] = _SAMPLES.get(origin, {} if origin is dict else [] if origin is list else 7)
    return arguments


ERROR_CLASSES = sorted(
    (
        cls
        for cls in vars(errors).values()
        if inspect.isclass(cls)
        and issubclass(cls, errors.LoyaltyError)
        and cls.__module__ == errors.__name__
        and hasattr(cls, "error_code")  # the bases without a code are never raised (errors.py)
    ),
    key=lambda cls: cls.__name__,
)


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda cls: cls.__name__)
def test_each_error_renders_in_each_language(cls: type[errors.LoyaltyError]) -> None:
    error = cls(**_arguments(cls))
    english = error.localised_message("en")
    assert english.strip() and "{" not in english, english
    for locale in LOCALES:
        message = error.localised_message(locale)
        assert message.strip(), (cls.__name__, locale)
        assert "{" not in message, f"{cls.__name__}: a placeholder is not filled in {locale}: {message}"
        assert message != english, f"{cls.__name__}: not translated into {locale}"
        for value in error.message_params.values():
            assert str(value) in message, (cls.__name__, locale, message)


@pytest.mark.parametrize("locale", LOCALES)
def test_no_translation_is_a_fuzzy_guess(locale: str) -> None:
    """`make messages` fills a new msgid with the nearest old translation, marked fuzzy: a wrong text
    ("Loyalty programme not found" for a missing wallet update) until someone translates it."""
    fuzzy = sorted(str(message.id) for message in po_catalogue(locale) if message.id and message.fuzzy)
    assert fuzzy == [], f"fuzzy {locale} entries to translate: {MAKE_MESSAGES}"
