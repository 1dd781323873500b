"""The LoyaltyClass and LoyaltyObject bodies, as Google's walletobjects v1 REST reference defines them
and WALLET.md ("Google Wallet") chooses them.

Ids: a class is `{issuer}.p{program id}`, an object `{issuer}.{pass serial}` (Google: the part after
the issuer holds only letters, digits, `.`, `_` and `-`; a serial is 32 hex digits).
Enum values are written in their UPPER_CASE spelling; the lower-case ones are deprecated. Texts a
holder reads come from the gettext catalogues in en, fr, de and lb: the vendor's language is the
`defaultValue`, the other three are `translatedValues`.

Everything here depends only on the facts, so the worker can compare what it wrote last with what it
would write now and PATCH only the difference (`changed_fields`).
"""

from __future__ import annotations

import json
from typing import Any

from loyalty.i18n import N_, NP_, SUPPORTED_LOCALES, Message, normalise_locale, translate
from loyalty.wallet.card_facts import CardFacts, ProgramFacts
from loyalty.wallet.colors import parse_hex, readable_text
from loyalty.wallet.images import Palette

COUNTRY_CODE = "LU"  # vendors have no country yet; every one is in Luxembourg (WALLET.md's default)
LONGEST_BALANCE_STRING = 7  # Google shows at most 7 characters of a string balance
LONGEST_ACCOUNT_NAME = 40  # characters: more than a pass shows of a name
# A save link's JSON escapes every non-ASCII character (`\\u00e4`, an emoji twice over), so the name is
# also cut to this many characters once escaped: the worst case stays under the link's 1,800 characters.
LONGEST_ESCAPED_ACCOUNT_NAME = 120
ACTIVE, INACTIVE = "ACTIVE", "INACTIVE"
LARGEST_INT = 2**31 - 1  # a balance's `int` is an int32 in the discovery document

STAMPS_LABEL = N_("Stamps")
POINTS_LABEL = N_("Points")
CARD_NUMBER_LABEL = N_("Card number")
MEMBER_LABEL = N_("Member")
REWARD_LABEL = N_("Reward")
TERMS_LABEL = N_("Terms")
REWARDS_LABEL = N_("Rewards")
# The noun agrees with the count (French: "1 tampon sur 3", "2 tampons sur 3"): the plural is the count's.
STAMP_PICTURE = NP_("{count} stamp out of {target}", "{count} stamps out of {target}", count="count")
YOUR_CARD = N_("Your card")
LOGO_DESCRIPTION = N_("Logo of {vendor}")
REWARD_READY_HEADER = N_("Your reward is ready!")
STAMPS_REWARD_READY = N_("Show this card at the counter to redeem: {reward}.")
STAMPS_REWARD_READY_NO_NAME = N_("Show this card at the counter to redeem your reward.")
POINTS_REWARD_READY = N_("You can redeem {reward}.")


def class_id(issuer_id: str, program_id: int) -> str:
    return f"{issuer_id}.p{program_id}"


def object_id(issuer_id: str, serial_number: str) -> str:
    return f"{issuer_id}.{serial_number}"


def palette_of(card_color: str | None) -> Palette:
    background = parse_hex(card_color)
    return Palette(background, readable_text(background))


def hex_color(card_color: str | None) -> str:
    red, green, blue = palette_of(card_color).background
    return f"#{red:02x}{green:02x}{blue:02x}"


def palette_slug(card_color: str | None) -> str:
    """The palette in a picture's URL: background and text colour, `1f6febffffff`."""
    palette = palette_of(card_color)
    return "".join(f"{channel:02x}" for channel in (*palette.background, *palette.foreground))


def localized(message: Message, default_locale: str, **params: Any) -> dict[str, Any]:
    """A LocalizedString: the vendor's language as `defaultValue`, the other three as `translatedValues`."""
    first = normalise_locale(default_locale) or "en"
    return {
        "defaultValue": {"language": first, "value": translate(message, first, **params)},
        "translatedValues": [
            {"language": locale, "value": translate(message, locale, **params)}
            for locale in SUPPORTED_LOCALES
            if locale != first
        ],
    }


def _as_is(text: str, default_locale: str) -> dict[str, Any]:
    """A LocalizedString of a text the vendor wrote in one language (a name): its default value only."""
    return {"defaultValue": {"language": normalise_locale(default_locale) or "en", "value": text}}


def loyalty_class(program: ProgramFacts, *, issuer_id: str, logo_url: str) -> dict[str, Any]:
    """The programme's LoyaltyClass, `reviewStatus` UNDER_REVIEW (Google: a DRAFT class cannot hold
    objects, and APPROVED is not ours to write; it goes on every insert and patch)."""
    locale = program.default_locale
    modules = []
    if program.collects_stamps and program.stamps_reward:
        modules.append({"id": "reward", "header": translate(REWARD_LABEL, locale), "body": program.stamps_reward})
    if program.collects_points and program.rewards:
        lines = "\n".join(f"{reward.name}: {reward.points_required}" for reward in program.rewards)
        modules.append({"id": "rewards", "header": translate(REWARDS_LABEL, locale), "body": lines})
    if program.terms:
        modules.append({"id": "terms", "header": translate(TERMS_LABEL, locale), "body": program.terms})
    return {
        "id": class_id(issuer_id, program.program_id),
        "issuerName": program.vendor_name,
        "programName": program.program_name,
        "localizedIssuerName": _as_is(program.vendor_name, locale),
        "localizedProgramName": _as_is(program.program_name, locale),
        "programLogo": {
            "sourceUri": {"uri": logo_url},
            "contentDescription": localized(LOGO_DESCRIPTION, locale, vendor=program.vendor_name),
        },
        "hexBackgroundColor": hex_color(program.card_color),
        "countryCode": COUNTRY_CODE,
        "reviewStatus": "UNDER_REVIEW",
        "localizedAccountIdLabel": localized(CARD_NUMBER_LABEL, locale),
        "localizedAccountNameLabel": localized(MEMBER_LABEL, locale),
        "textModulesData": modules,
    }


def minimal_object(card: CardFacts, *, issuer_id: str) -> dict[str, Any]:
    """The object a save link carries (WALLET.md): id, class, state, account, balances (their label in
    the vendor's language only) and barcode, so the link stays short. The worker writes the rest (the
    labels' translations, picture, link) once the link is handed out."""
    body: dict[str, Any] = {
        "id": object_id(issuer_id, card.serial_number),
        "classId": class_id(issuer_id, card.program_id),
        "state": INACTIVE if card.is_voided else ACTIVE,
        **_balances(card, translated=False),
    }
    if card.card_number is not None:
        body["accountId"] = card.card_number
    if card.first_name is not None:
        body["accountName"] = _fitted(card.first_name[:LONGEST_ACCOUNT_NAME], LONGEST_ESCAPED_ACCOUNT_NAME)
    if card.qr_code is not None and card.card_number is not None:
        body["barcode"] = {"type": "QR_CODE", "value": card.qr_code, "alternateText": card.card_number}
    return body


def object_fields(card: CardFacts, *, issuer_id: str, base_url: str) -> dict[str, Any]:
    """Every field of the card's object we write, a field with no value (an erased holder's name,
    number and barcode) as None: a PATCH clears it (Google's patch semantics), an insert leaves it out."""
    minimal = minimal_object(card, issuer_id=issuer_id)
    fields: dict[str, Any] = {
        **minimal,
        "accountId": minimal.get("accountId"),
        "accountName": minimal.get("accountName"),
        "barcode": minimal.get("barcode"),
        "linksModuleData": None,
        # Fields a programme may stop having (a hybrid card becomes a points card): null clears them.
        "secondaryLoyaltyPoints": None,
        "heroImage": None,
    }
    fields.update(_balances(card, translated=True))
    if card.collects_stamps:
        target = max(card.stamps_target, 1)
        count = min(card.stamp_count, target)
        fields["heroImage"] = {
            "sourceUri": {"uri": f"{base_url}{stamp_picture_path(target, count, card.card_color)}"},
            "contentDescription": localized(STAMP_PICTURE, card.default_locale, count=count, target=target),
        }
    if card.card_token is not None:
        fields["linksModuleData"] = {
            "uris": [
                {
                    "id": "card",
                    "uri": f"{base_url}/card/{card.card_token}",
                    "localizedDescription": localized(YOUR_CARD, card.default_locale),
                }
            ]
        }
    return fields


def stamp_picture_path(target: int, count: int, card_color: str | None) -> str:
    """The public stamp-row picture (`api/public/wallet_images.py`): no personal data in the path or
    the picture, so one URL serves every card at that count, and it never changes (immutable)."""
    return f"/wallet/img/stamps/{target}/{count}/{palette_slug(card_color)}.png"


def logo_path(vendor_name: str, card_color: str | None, logo_digest: str | None = None) -> str:
    """The programme logo (Google: a square PNG of at least 660×660): the vendor's uploaded logo on the card's
    colour when there is one (its digest names it), else drawn from the first visible character of the name."""
    if logo_digest is not None:
        return f"/wallet/img/logos/{logo_digest}/{palette_slug(card_color)}.png"
    initial = next((char for char in vendor_name if char.isprintable() and not char.isspace()), "?")
    return f"/wallet/img/logo/{ord(initial)}/{palette_slug(card_color)}.png"


def _balances(card: CardFacts, *, translated: bool) -> dict[str, Any]:
    locale = card.default_locale
    stamps: dict[str, Any] = {"label": translate(STAMPS_LABEL, locale)}
    points: dict[str, Any] = {"label": translate(POINTS_LABEL, locale)}
    if translated:
        stamps["localizedLabel"] = localized(STAMPS_LABEL, locale)
        points["localizedLabel"] = localized(POINTS_LABEL, locale)
    progress = f"{card.stamp_count}/{card.stamps_target}"
    stamps["balance"] = {"string": progress} if len(progress) <= LONGEST_BALANCE_STRING else {"int": card.stamp_count}
    points["balance"] = {"int": min(card.points_balance, LARGEST_INT)}
    if card.collects_stamps and card.collects_points:
        return {"loyaltyPoints": stamps, "secondaryLoyaltyPoints": points}
    return {"loyaltyPoints": stamps if card.collects_stamps else points}


def _fitted(text: str, escaped_budget: int) -> str:
    """`text` cut (at a character) so that its JSON string, escaped as ASCII, holds at most `escaped_budget`
    characters between its quotes."""
    while len(json.dumps(text)) - 2 > escaped_budget:
        text = text[:-1]
    return text


def changed_fields(written: dict[str, Any], wanted: dict[str, Any]) -> dict[str, Any]:
    """The top-level fields of `wanted` that differ from `written` (what was last sent): a PATCH body.
    A field never written and still empty is left out."""
    return {
        name: value
        for name, value in wanted.items()
        if written.get(name) != value and not (value is None and name not in written)
    }


def insert_body(fields: dict[str, Any]) -> dict[str, Any]:
    """An insert carries only the fields that have a value."""
    return {name: value for name, value in fields.items() if value is not None}


def reward_message(card: CardFacts, message_id: str, *, notify: bool) -> dict[str, Any]:
    """The "reward earned" message (`addMessage`): TEXT_AND_NOTIFY within Google's notice budget, else
    TEXT (shown on the pass without a notification)."""
    locale = card.default_locale
    if card.collects_stamps and card.stamp_count >= card.stamps_target:
        body = (
            translate(STAMPS_REWARD_READY, locale, reward=card.stamps_reward)
            if card.stamps_reward
            else translate(STAMPS_REWARD_READY_NO_NAME, locale)
        )
    else:
        ready = [reward for reward in card.rewards if card.points_balance >= reward.points_required]
        body = translate(POINTS_REWARD_READY, locale, reward=ready[-1].name if ready else "")
    return {
        "id": message_id,
        "header": translate(REWARD_READY_HEADER, locale),
        "body": body,
        "messageType": "TEXT_AND_NOTIFY" if notify else "TEXT",
        "localizedHeader": localized(REWARD_READY_HEADER, locale),
    }
