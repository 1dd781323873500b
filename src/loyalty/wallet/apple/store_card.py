"""A card as an Apple Wallet store card: `pass.json`, its `pass.strings` in four languages, its images.

The layout follows WALLET.md ("The pass") and Apple's PassKit Package Format Reference: the balance
in the header, the progress to the reward as the primary field (drawn over the strip of stamps),
the member's first name and card number below, terms, how it works, contact and the last visit on
the back. `pass.json` holds English; each `<lang>.lproj/pass.strings` maps those English strings to
the language's own, from the same gettext catalogues as the API, so a phone set to French shows
French and any other phone shows English.

`changeMessage` sits on exactly one field per kind of change (the stamps field, the points field):
when two fields carrying one change together, iOS shows a generic notice instead of either.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from loyalty.i18n import N_, NP_, SUPPORTED_LOCALES, Message, translate
from loyalty.models.transaction import TRANSACTION_TYPE_LABELS
from loyalty.wallet import images
from loyalty.wallet.card_facts import CardFacts
from loyalty.wallet.colors import css_rgb, parse_hex, readable_text
from loyalty.wallet.images import Palette

FORMAT_VERSION = 1
MOST_LOCATIONS = 10  # Apple shows a pass near at most 10 locations

DESCRIPTION = N_("Loyalty card – {vendor}")
STAMPS_LABEL = N_("Stamps")
POINTS_LABEL = N_("Points")
STAMPS_CHANGED = N_("You now have %@ stamps.")
POINTS_CHANGED = N_("Your balance is now %@ points.")
MEMBER_LABEL = N_("Member")
CARD_NUMBER_LABEL = N_("Card number")
PROGRESS_LABEL = N_("Your progress")
REWARD_READY = N_("Your reward is ready!")
STAMPS_TO_GO = NP_("{count} more stamp to your reward", "{count} more stamps to your reward", count="count")
POINTS_TO_GO = NP_("{count} more point to {reward}", "{count} more points to {reward}", count="count")
POINTS_REWARD_READY = N_("You can redeem {reward}")
HOW_IT_WORKS_LABEL = N_("How it works")
STAMPS_RULE = NP_("Collect {count} stamp for: {reward}.", "Collect {count} stamps for: {reward}.", count="count")
STAMPS_PER_DAY = NP_("At most {count} stamp a day.", "At most {count} stamps a day.", count="count")
POINTS_RULE = N_("Points per euro spent: {rate}.")
REWARD_LINE = NP_("{name}: {count} point", "{name}: {count} points", count="count")
STAMPS_RULE_NO_REWARD_NAME = NP_(
    "Collect {count} stamp for a reward.", "Collect {count} stamps for a reward.", count="count"
)
TERMS_LABEL = N_("Terms")
CARD_VOIDED = N_("This card is no longer active.")


class _Strings:
    """The English text of every localisable string the pass uses, and how to say it in each language."""

    def __init__(self) -> None:
        self._entries: dict[str, Callable[[str], str]] = {}

    def say(self, message: Message, **params: Any) -> str:
        return self._add(lambda locale: translate(message, locale, **params))

    def lines(self, *lines: tuple[Message, dict[str, Any]]) -> str:
        """Several messages as one field value, one per line: the whole value is one `.strings` key."""
        return self._add(lambda locale: "\n".join(translate(message, locale, **params) for message, params in lines))

    def _add(self, say: Callable[[str], str]) -> str:
        english = say("en")
        self._entries[english] = say
        return english

    def pass_strings(self, locale: str) -> bytes:
        """`pass.strings` for `locale`: `"english" = "translated";` lines, UTF-16 with a byte-order mark."""
        lines = [f'"{_escape(english)}" = "{_escape(say(locale))}";' for english, say in sorted(self._entries.items())]
        return ("\n".join(lines) + "\n").encode("utf-16")


def pass_files(
    facts: CardFacts,
    *,
    pass_type_identifier: str,
    team_identifier: str,
    web_service_url: str,
) -> dict[str, bytes]:
    """Every file of the pass but the manifest and signature: `pass.json`, the images at 1x, 2x and
    3x, and `pass.strings` in `<lang>.lproj/` for en, fr, de and lb."""
    strings = _Strings()
    background = parse_hex(facts.card_color)
    palette = Palette(background, readable_text(background))
    document = {
        "formatVersion": FORMAT_VERSION,
        "passTypeIdentifier": pass_type_identifier,
        "serialNumber": facts.serial_number,
        "teamIdentifier": team_identifier,
        "organizationName": facts.vendor_name,
        "description": strings.say(DESCRIPTION, vendor=facts.vendor_name),
        "logoText": facts.vendor_name,
        "backgroundColor": css_rgb(palette.background),
        "foregroundColor": css_rgb(palette.foreground),
        "labelColor": css_rgb(palette.foreground),
        "webServiceURL": web_service_url,
        "authenticationToken": facts.authentication_token,
        "sharingProhibited": True,
        "storeCard": _store_card(facts, strings),
        **_barcodes(facts),
        **_locations(facts),
        **({"voided": True} if facts.is_voided else {}),
    }
    files: dict[str, bytes] = {"pass.json": _json(document)}
    initial = facts.vendor_name.strip()[:1]
    for scale in images.SCALES:
        files[images.scaled_name("icon", scale)] = images.icon(palette, initial, scale)
        files[images.scaled_name("logo", scale)] = (
            images.uploaded_logo(facts.logo, scale) if facts.logo else images.logo(palette, initial, scale)
        )
        if facts.collects_stamps:
            files[images.scaled_name("strip", scale)] = images.strip(
                palette, facts.stamp_count, facts.stamps_target, scale
            )
    for locale in SUPPORTED_LOCALES:
        files[f"{locale}.lproj/pass.strings"] = strings.pass_strings(locale)
    return files


def _store_card(facts: CardFacts, strings: _Strings) -> dict[str, list[dict[str, Any]]]:
    header: list[dict[str, Any]] = []
    if facts.collects_stamps:
        header.append(
            {
                "key": "stamps",
                "label": strings.say(STAMPS_LABEL),
                "value": f"{facts.stamp_count}/{facts.stamps_target}",
                "changeMessage": strings.say(STAMPS_CHANGED),
            }
        )
    if facts.collects_points:
        header.append(
            {
                "key": "points",
                "label": strings.say(POINTS_LABEL),
                "value": facts.points_balance,
                "numberStyle": "PKNumberStyleDecimal",
                "changeMessage": strings.say(POINTS_CHANGED),
            }
        )
    card: dict[str, list[dict[str, Any]]] = {
        "headerFields": header,
        "primaryFields": [
            {"key": "progress", "label": strings.say(PROGRESS_LABEL), "value": _progress(facts, strings)}
        ],
        "secondaryFields": [],
        "auxiliaryFields": [],
        "backFields": _back_fields(facts, strings),
    }
    if facts.first_name:
        card["secondaryFields"].append({"key": "member", "label": strings.say(MEMBER_LABEL), "value": facts.first_name})
    if facts.card_number:
        card["auxiliaryFields"].append(
            {"key": "card_number", "label": strings.say(CARD_NUMBER_LABEL), "value": facts.card_number}
        )
    return card


def _progress(facts: CardFacts, strings: _Strings) -> str:
    if facts.is_voided:
        return strings.say(CARD_VOIDED)
    if facts.collects_stamps:
        missing = facts.stamps_target - facts.stamp_count
        return strings.say(REWARD_READY) if missing <= 0 else strings.say(STAMPS_TO_GO, count=missing)
    reachable = [reward for reward in facts.rewards if reward.points_required <= facts.points_balance]
    if reachable:
        best = max(reachable, key=lambda reward: reward.points_required)
        return strings.say(POINTS_REWARD_READY, reward=best.name)
    if facts.rewards:
        nearest = min(facts.rewards, key=lambda reward: reward.points_required)
        return strings.say(POINTS_TO_GO, count=nearest.points_required - facts.points_balance, reward=nearest.name)
    return str(facts.points_balance)


def _back_fields(facts: CardFacts, strings: _Strings) -> list[dict[str, Any]]:
    rules: list[tuple[Message, dict[str, Any]]] = []
    if facts.collects_stamps:
        if facts.stamps_reward:
            rules.append((STAMPS_RULE, {"count": facts.stamps_target, "reward": facts.stamps_reward}))
        else:
            rules.append((STAMPS_RULE_NO_REWARD_NAME, {"count": facts.stamps_target}))
        rules.append((STAMPS_PER_DAY, {"count": facts.max_daily_stamps}))
    if facts.collects_points:
        rules.append((POINTS_RULE, {"rate": f"{facts.points_per_euro:g}"}))
        rules.extend((REWARD_LINE, {"name": r.name, "count": r.points_required}) for r in facts.rewards)
    fields: list[dict[str, Any]] = [
        {"key": "how_it_works", "label": strings.say(HOW_IT_WORKS_LABEL), "value": strings.lines(*rules)}
    ]
    if facts.last_transaction is not None:
        fields.append(
            {
                # The device writes the date in its own language and timezone.
                "key": "last_visit",
                "label": strings.say(TRANSACTION_TYPE_LABELS[facts.last_transaction.transaction_type]),
                "value": facts.last_transaction.at.isoformat(),
                "dateStyle": "PKDateStyleMedium",
                "timeStyle": "PKDateStyleShort",
            }
        )
    if facts.terms:
        fields.append({"key": "terms", "label": strings.say(TERMS_LABEL), "value": facts.terms})
    return fields


def _barcodes(facts: CardFacts) -> dict[str, Any]:
    if facts.qr_code is None or facts.is_erased:
        return {}
    barcode = {
        "format": "PKBarcodeFormatQR",
        "message": facts.qr_code,
        "messageEncoding": "iso-8859-1",  # the QR payload is ASCII, so this is exact
        "altText": facts.card_number,
    }
    return {"barcodes": [barcode]}


def _locations(facts: CardFacts) -> dict[str, Any]:
    if not facts.locations or facts.is_voided:
        return {}
    locations = []
    for shop in facts.locations[:MOST_LOCATIONS]:
        location: dict[str, Any] = {"latitude": shop.latitude, "longitude": shop.longitude}
        if shop.relevant_text:
            location["relevantText"] = shop.relevant_text
        locations.append(location)
    return {"locations": locations}


def _escape(text: str) -> str:
    """A `.strings` literal: backslash, double quote and line breaks escaped."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _json(document: dict[str, Any]) -> bytes:
    return json.dumps(document, ensure_ascii=False, indent=2, sort_keys=False).encode()
