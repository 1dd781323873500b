"""The card holder's Save to Google Wallet link and the public pictures Google shows, checked with tools
that are not ours: google-auth verifies the JWT with the development key's certificate, Google's
`walletobjects.v1` discovery document (google-api-python-client) judges every object and class, Pillow
measures the pictures (WALLET.md, "Google Wallet" and "Tests")."""

from __future__ import annotations

import io
from typing import Any

import httpx
import pytest
from PIL import Image

from loyalty.app import create_app
from loyalty.clock import FixedClock
from loyalty.config import Settings
from loyalty.db import Database
from loyalty.models.program import ProgramType
from loyalty.wallet.card_facts import CardFacts, PassReward, ProgramFacts
from loyalty.wallet.dev_certs import DEV_GOOGLE_ISSUER_ID, DEV_GOOGLE_SERVICE_ACCOUNT
from loyalty.wallet.google import resources, save_link
from loyalty.wallet.google.issuer import from_settings
from tests.api.helpers import assert_error
from tests.discovery import assert_valid
from tests.fixtures import START, DevGoogle, test_settings
from tests.google_peer import verified_save_link_claims
from tests.tenants import Tenant

pytestmark = pytest.mark.anyio

MINIMAL_FIELDS = {"id", "classId", "state", "accountId", "accountName", "loyaltyPoints", "barcode"}


@pytest.fixture
def settings(database_url: str, google: DevGoogle) -> Settings:
    return test_settings(database_url, **google.settings)


async def save_link_claims(client: httpx.AsyncClient, tenant: Tenant, google: DevGoogle) -> dict[str, Any]:
    answer = await client.get(f"/api/v1/loyalty/cards/{tenant.card_token}/google-wallet")
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    url = answer.json()["save_url"]
    assert len(url.removeprefix(save_link.SAVE_URL)) < save_link.LONGEST_JWT
    return verified_save_link_claims(url, google.certificate)


async def test_the_save_link_is_a_jwt_signed_by_the_service_account_with_the_contracts_claims(
    client: httpx.AsyncClient, tenant: Tenant, google: DevGoogle
) -> None:
    claims = await save_link_claims(client, tenant, google)

    assert claims["iss"] == DEV_GOOGLE_SERVICE_ACCOUNT
    assert claims["aud"] == "google" and claims["typ"] == "savetowallet"
    assert claims["iat"] == int(START.timestamp())
    assert claims["origins"] == ["http://127.0.0.1:8000"]
    assert set(claims["payload"]) == {"loyaltyObjects"}  # no class in the JWT: the worker inserts it
    [loyalty_object] = claims["payload"]["loyaltyObjects"]
    assert_valid("LoyaltyObject", loyalty_object, required=True)
    assert set(loyalty_object) == MINIMAL_FIELDS | {"secondaryLoyaltyPoints"}  # the tenant's programme is hybrid
    assert loyalty_object["classId"] == f"{DEV_GOOGLE_ISSUER_ID}.p{tenant.program_id}"
    assert loyalty_object["id"].startswith(f"{DEV_GOOGLE_ISSUER_ID}.")
    assert tenant.card_token not in loyalty_object["id"] and tenant.qr_code not in loyalty_object["id"]
    assert loyalty_object["state"] == "ACTIVE"
    assert loyalty_object["accountId"] == " ".join(
        tenant.card_number[i : i + 4] for i in range(0, len(tenant.card_number), 4)
    )
    assert loyalty_object["barcode"] == {
        "type": "QR_CODE",
        "value": tenant.qr_code,
        "alternateText": loyalty_object["accountId"],
    }
    assert loyalty_object["loyaltyPoints"]["balance"] == {"string": "0/3"}
    assert loyalty_object["secondaryLoyaltyPoints"]["balance"] == {"int": 0}


async def test_a_deactivated_card_saves_as_inactive(
    client: httpx.AsyncClient, tenant: Tenant, google: DevGoogle
) -> None:
    answer = await client.post(f"/api/v1/vendor/loyalty/cards/{tenant.card_id}/deactivate", headers=tenant.headers)
    assert answer.status_code == 200, answer.text

    claims = await save_link_claims(client, tenant, google)

    assert claims["payload"]["loyaltyObjects"][0]["state"] == "INACTIVE"


async def test_without_google_wallet_the_link_answers_503(
    tenant: Tenant, database_url: str, database: Database, clock: FixedClock
) -> None:
    app = create_app(test_settings(database_url), clock=clock, database=database)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as plain:
        answer = await plain.get(f"/api/v1/loyalty/cards/{tenant.card_token}/google-wallet")

    assert assert_error(answer, 503, "WALLET_NOT_CONFIGURED") == {"wallet": "google"}


async def test_an_unknown_card_token_answers_404(client: httpx.AsyncClient) -> None:
    answer = await client.get("/api/v1/loyalty/cards/no-such-token/google-wallet")

    assert_error(answer, 404, "LOYALTY_CARD_NOT_FOUND")


def worst_case_card(first_name: str = "😀" * 200) -> CardFacts:
    """The longest save link: the longest names and numbers the schemas allow, the largest balances."""
    return CardFacts(
        serial_number="f" * 32,  # services/card_numbers.py: 128 bits in hex
        authentication_token="T" * 64,
        modified_at=START,
        vendor_name="V" * 200,
        vendor_slug="v" * 100,
        program_type=ProgramType.HYBRID,
        program_name="P" * 200,
        stamps_target=1000,
        stamps_reward="R" * 500,
        points_per_euro=1000.0,
        rewards=(PassReward("W" * 200, 10**9),),
        max_daily_stamps=1000,
        terms="T" * 5000,
        card_color="#123456",
        stamp_count=1000,
        points_balance=2**63 - 1,
        is_active=True,
        is_erased=False,
        first_name=first_name,
        card_number=" ".join(["9999"] * 4),  # 16 digits
        qr_code="Q" * 32,  # 192 bits, URL-safe base64
        last_transaction=None,
        card_id=2**53,
        vendor_id=2**53,
        program_id=2**63 - 1,
        card_token="C" * 64,
        default_locale="lb",
    )


# The JWT's JSON escapes every non-ASCII character: "Ä" takes six characters, an emoji twelve.
@pytest.mark.parametrize("first_name", ["W" * 200, "Ä" * 200, "😀" * 200], ids=["ascii", "latin", "emoji"])
def test_the_worst_case_save_link_stays_under_1800_characters(
    google: DevGoogle, database_url: str, first_name: str
) -> None:
    issuer, _ = from_settings(test_settings(database_url, **{**google.settings, "google_issuer_id": "9" * 19}))
    assert issuer is not None
    url = issuer.save_url(worst_case_card(first_name), START)

    token = url.removeprefix(save_link.SAVE_URL)
    assert len(token) < save_link.LONGEST_JWT, len(token)
    [loyalty_object] = verified_save_link_claims(url, google.certificate)["payload"]["loyaltyObjects"]
    assert_valid("LoyaltyObject", loyalty_object, required=True)


@pytest.mark.parametrize("program_type", list(ProgramType))
def test_classes_and_objects_of_every_programme_type_conform_to_the_discovery_document(
    program_type: ProgramType,
) -> None:
    card = CardFacts(**{**worst_case_card().__dict__, "program_type": program_type, "default_locale": "fr"})
    fields = resources.object_fields(card, issuer_id=DEV_GOOGLE_ISSUER_ID, base_url="https://loyalty.example")
    assert_valid("LoyaltyObject", resources.insert_body(fields), required=True)
    program = ProgramFacts(
        program_id=7,
        vendor_name="Café Lëtzebuerg",
        vendor_slug="cafe",
        default_locale="fr",
        program_type=program_type,
        program_name="Carte café",
        stamps_target=10,
        stamps_reward="Un café offert",
        rewards=(PassReward("Croissant", 50),),
        terms="Une carte par personne.",
        card_color="#6f4e37",
    )
    loyalty_class = resources.loyalty_class(program, issuer_id=DEV_GOOGLE_ISSUER_ID, logo_url="https://x.example/l.png")
    assert_valid("LoyaltyClass", loyalty_class, required=True)
    assert loyalty_class["reviewStatus"] == "UNDER_REVIEW"
    assert loyalty_class["hexBackgroundColor"] == "#6f4e37"
    label = loyalty_class["localizedAccountIdLabel"]
    assert label["defaultValue"] == {"language": "fr", "value": "Numéro de carte"}
    assert {value["language"] for value in label["translatedValues"]} == {"en", "de", "lb"}
    assert all(value["value"] for value in label["translatedValues"])
    message = resources.reward_message(card, "reward-1", notify=True)
    assert_valid("Message", message)


def test_an_erased_holders_object_keeps_no_personal_data() -> None:
    erased = CardFacts(
        **{
            **worst_case_card().__dict__,
            "is_erased": True,
            "first_name": None,
            "card_number": None,
            "qr_code": None,
            "card_token": None,
        }
    )
    fields = resources.object_fields(erased, issuer_id=DEV_GOOGLE_ISSUER_ID, base_url="https://loyalty.example")

    assert fields["state"] == "INACTIVE"
    assert fields["accountName"] is None and fields["accountId"] is None and fields["barcode"] is None
    assert fields["linksModuleData"] is None  # the card page's link carries the card token
    assert_valid("LoyaltyObject", fields, patch=True)  # a PATCH's nulls clear the holder's data at Google


async def test_the_stamp_picture_is_a_public_immutable_png_of_google_s_hero_size(
    client: httpx.AsyncClient, tenant: Tenant, clock: FixedClock
) -> None:
    path = resources.stamp_picture_path(10, 7, "#6f4e37")
    assert path.startswith("/wallet/img/stamps/10/7/")

    answer = await client.get(path)

    assert answer.status_code == 200 and answer.headers["content-type"] == "image/png"
    assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert "set-cookie" not in answer.headers
    with Image.open(io.BytesIO(answer.content)) as picture:
        assert picture.size == (1032, 336)
        assert picture.getpixel((5, 5)) == (0x6F, 0x4E, 0x37)


async def test_the_programme_logo_is_a_660_pixel_square(client: httpx.AsyncClient) -> None:
    path = resources.logo_path("\x01 Café", "#6f4e37")  # the first visible character: no control code
    assert path.startswith(f"/wallet/img/logo/{ord('C')}/")
    answer = await client.get(path)

    assert answer.status_code == 200
    with Image.open(io.BytesIO(answer.content)) as picture:
        assert picture.size == (660, 660)


@pytest.mark.parametrize(
    "path",
    [
        "/wallet/img/stamps/10/11/6f4e37ffffff.png",  # more stamps than the card holds
        "/wallet/img/stamps/0/0/6f4e37ffffff.png",
        "/wallet/img/stamps/10/1/not-a-palette.png",
        "/wallet/img/logo/55296/6f4e37ffffff.png",  # a surrogate is no character
        "/wallet/img/stamps/10/1/ffffffffffff.png",  # white on white: not a palette the wallets are given
        "/wallet/img/logo/+67/6f4e37ffffff.png",  # one spelling per number: no aliases of an immutable URL
        "/wallet/img/stamps/010/1/6f4e37ffffff.png",
    ],
)
async def test_a_picture_that_cannot_exist_answers_422(client: httpx.AsyncClient, path: str) -> None:
    assert_error(await client.get(path), 422, "VALIDATION_ERROR")


def test_a_localized_string_names_the_vendors_language_first() -> None:
    text = resources.localized(resources.STAMPS_LABEL, "de")

    assert text["defaultValue"] == {"language": "de", "value": "Stempel"}
    assert [value["language"] for value in text["translatedValues"]] == ["en", "fr", "lb"]
