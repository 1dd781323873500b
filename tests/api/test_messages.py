"""Field errors speak the request's language and say what is expected (issue 11: items 5, 11 and 12).

Every validation message is ours, keyed by pydantic's error type and rendered through the catalogues;
unknown fields are refused by name; a mistyped card number is told apart from an unknown card; public
errors fall back to the vendor's language.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update

from loyalty.api.errors import field_message
from loyalty.db import Database
from loyalty.models import Vendor
from loyalty.services.card_numbers import luhn_check_digit
from tests.api.helpers import assert_error
from tests.tenants import Tenant

pytestmark = pytest.mark.anyio

VENDOR = "/api/v1/vendor/loyalty"
PUBLIC = "/api/v1/loyalty"


def field_errors(response: httpx.Response) -> dict[str, str]:
    details = assert_error(response, 422, "VALIDATION_ERROR")
    return {error["field"]: error["message"] for error in details["errors"]}


async def post(
    client: httpx.AsyncClient, tenant: Tenant, path: str, body: Any, locale: str | None = None
) -> httpx.Response:
    headers = {**tenant.headers, **({"Accept-Language": locale} if locale else {})}
    return await client.post(f"{VENDOR}{path}", json=body, headers=headers)


# --- item 5: every message follows Accept-Language --------------------------------------------------


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("en", "This is not a valid e-mail address"),
        ("fr", "Cette adresse e-mail n'est pas valide"),
        ("de", "Dies ist keine gültige E-Mail-Adresse"),
        ("lb", "Dat ass keng gëlteg E-Mail-Adress"),
    ],
)
async def test_an_invalid_email_is_said_in_the_requests_language(
    client: httpx.AsyncClient, tenant: Tenant, locale: str, expected: str
) -> None:
    response = await post(client, tenant, "/cards", {"email": "marie.example.com"}, locale)
    assert field_errors(response) == {"email": expected}


@pytest.mark.parametrize(
    ("path", "body", "field", "english", "french"),
    [
        ("/cards", {}, "email", "This field is required", "Ce champ est obligatoire"),
        (
            "/cards",
            {"email": "a@example.com", "name": "x" * 201},
            "name",
            "This must be at most 200 characters long",
            "Cette valeur doit comporter au plus 200 caractères",
        ),
        (
            "/points/earn",
            {"card_id": 1, "purchase_amount_cents": "lots", "staff_pin": "1234"},
            "purchase_amount_cents",
            "This must be a whole number",
            "Cette valeur doit être un nombre entier",
        ),
        (
            "/stamp",
            {"card_id": 0, "staff_pin": "1234"},
            "card_id",
            "This must be 1 or more",
            "Cette valeur doit être supérieure ou égale à 1",
        ),
        (
            "/pins",
            {"name": "Anna", "pin": "12"},
            "pin",
            "This must be 4 to 8 digits",
            "Cette valeur doit comporter 4 à 8 chiffres",
        ),
        (
            "/program",
            {"program_type": "coffee", "name": "Card"},
            "program_type",
            "This must be one of: stamps, points, hybrid",
            "Cette valeur doit être l'une des suivantes\u00a0: stamps, points, hybrid",
        ),
        (
            "/program",
            {"program_type": "stamps", "name": "Card", "card_color": "red"},
            "card_color",
            "This must be a colour written #RRGGBB, such as #1A2B3C",
            "Cette valeur doit être une couleur écrite #RRGGBB, par exemple #1A2B3C",
        ),
        (
            "/stamp",
            {"card_id": 1, "staff_pn": "1234"},
            "staff_pn",
            "This field is not accepted here: check its spelling",
            "Ce champ n'est pas accepté ici\u00a0: vérifiez son orthographe",
        ),
    ],
)
async def test_field_errors_are_ours_and_translated(
    client: httpx.AsyncClient, tenant: Tenant, path: str, body: dict[str, Any], field: str, english: str, french: str
) -> None:
    assert field_errors(await post(client, tenant, path, body))[field] == english
    assert field_errors(await post(client, tenant, path, body, "fr"))[field] == french


async def test_a_count_takes_the_plural_form_of_the_language(client: httpx.AsyncClient, tenant: Tenant) -> None:
    body = {"program_type": "stamps", "name": "Card", "points_per_euro": "1.5"}
    program = await client.get(f"{VENDOR}/program", headers=tenant.headers)
    assert program.status_code == 200  # the tenant has one: PATCH validates the same fields
    one = {**body, "points_per_euro": "1.12345"}
    response = await client.patch(f"{VENDOR}/program", json=one, headers={**tenant.headers, "Accept-Language": "de"})
    assert field_errors(response)["points_per_euro"] == "Dies darf höchstens 4 Nachkommastellen haben"
    response = await client.patch(f"{VENDOR}/program", json={"name": ""}, headers=tenant.headers)
    assert field_errors(response)["name"] == "This must be at least 1 character long"


@pytest.mark.parametrize(
    ("content", "line", "column"),
    [(b'{"card_id": 1,', 1, 15), (b'{\n  "card_id": 1,\n  "staff_pin": 1234\n  "notes": "x"\n}', 4, 3)],
)
async def test_a_json_syntax_error_names_the_body_and_says_where(
    client: httpx.AsyncClient, tenant: Tenant, content: bytes, line: int, column: int
) -> None:
    headers = {**tenant.headers, "Content-Type": "application/json"}
    response = await client.post(f"{VENDOR}/stamp", content=content, headers=headers)
    assert field_errors(response) == {"body": f"The body is not valid JSON: see line {line}, column {column}"}
    response = await client.post(f"{VENDOR}/stamp", content=content, headers={**headers, "Accept-Language": "de"})
    assert field_errors(response) == {
        "body": f"Der Anfragetext ist kein gültiges JSON: siehe Zeile {line}, Spalte {column}"
    }


async def test_our_validators_messages_are_translated_too(
    client: httpx.AsyncClient, tenant: Tenant, admin_key: str
) -> None:
    response = await post(client, tenant, "/stamp", {"staff_pin": "1234"}, "lb")
    assert field_errors(response) == {"body": "Gitt genee eent vun dëse Felder un: card_id, qr_code, card_number"}
    response = await client.post(
        "/api/v1/admin/loyalty/vendors",
        json={"name": "Kaffi", "timezone": "Mars/Olympus", "default_locale": "es"},
        headers={"Authorization": f"Bearer {admin_key}", "Accept-Language": "fr"},
    )
    assert field_errors(response) == {
        "timezone": "Cette valeur doit être un fuseau horaire IANA, par exemple Europe/Luxembourg",
        "default_locale": "Cette valeur doit être l'une des suivantes\u00a0: en, fr, de, lb",
    }


def test_an_unknown_error_type_keeps_pydantics_english() -> None:
    error = {"type": "uuid_parsing", "loc": ("body", "x"), "msg": "Input should be a valid UUID", "ctx": {}}
    assert field_message(error, "fr") == "Input should be a valid UUID"


# --- item 11: unknown fields, what a PIN looks like, the check digit ---------------------------------


async def test_an_unknown_field_is_refused_by_name_not_ignored(client: httpx.AsyncClient, tenant: Tenant) -> None:
    """`staff_pn` used to be ignored, and the answer was STAFF_PIN_REQUIRED."""
    response = await post(client, tenant, "/stamp", {"card_id": tenant.card_id, "staff_pn": tenant.pin})
    assert field_errors(response) == {"staff_pn": "This field is not accepted here: check its spelling"}


async def test_every_request_body_refuses_unknown_fields(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant, admin_key: str
) -> None:
    """Each operation with a body, found in the OpenAPI document, so a new one is covered too."""
    admin = {"Authorization": f"Bearer {admin_key}"}
    values = {"vendor_slug": tenant.slug, "vendor_id": tenant.vendor_id, "pin_id": tenant.pin_id, "terminal_id": 1}
    checked = 0
    for path, operations in app.openapi()["paths"].items():
        for method, operation in operations.items():
            if "requestBody" not in operation:
                continue
            url = path.format_map({"transaction_id": 1, **values})
            headers = admin if "/admin/" in path else {} if path.startswith(PUBLIC) else tenant.headers
            response = await client.request(method, url, json={"zz_typo": 1}, headers=headers)
            assert response.status_code == 422, (method, path, response.text)
            errors = response.json()["details"]["errors"]
            assert {"field": "zz_typo", "message": "This field is not accepted here: check its spelling"} in errors, (
                method,
                path,
                errors,
            )
            checked += 1
    assert checked >= 14


async def test_unknown_fields_inside_a_reward_are_refused(client: httpx.AsyncClient, tenant: Tenant) -> None:
    body = {"points_rewards": [{"name": "Croissant", "points_required": 50, "point_required": 5}]}
    response = await client.patch(f"{VENDOR}/program", json=body, headers=tenant.headers)
    assert "points_rewards.0.point_required" in field_errors(response)


def _mistyped(number: str) -> str:
    """The number with its last digit wrong: the check digit no longer matches."""
    return number[:-1] + str((int(number[-1]) + 1) % 10)


async def test_a_wrong_check_digit_is_a_typo_not_an_unknown_card(client: httpx.AsyncClient, tenant: Tenant) -> None:
    typo = _mistyped(tenant.card_number)
    response = await post(client, tenant, "/stamp", {"card_number": typo, "staff_pin": tenant.pin})
    assert field_errors(response) == {"card_number": "The card number's check digit does not match: a typo?"}
    spaced = " ".join(typo[i : i + 4] for i in range(0, 16, 4))
    response = await post(client, tenant, "/points/earn", {"card_number": spaced, "purchase_amount_cents": 100}, "de")
    assert field_errors(response) == {"card_number": "Die Prüfziffer der Kartennummer stimmt nicht: ein Tippfehler?"}
    response = await client.get(f"{VENDOR}/cards/lookup", params={"card_number": typo}, headers=tenant.headers)
    assert field_errors(response) == {"card_number": "The card number's check digit does not match: a typo?"}
    # A number whose check digit matches and that names no card is still an unknown card.
    body = "4" * 15
    unknown = body + luhn_check_digit(body)
    assert unknown != tenant.card_number
    response = await post(client, tenant, "/stamp", {"card_number": unknown, "staff_pin": tenant.pin})
    assert_error(response, 404, "LOYALTY_CARD_NOT_FOUND")
    response = await client.get(f"{VENDOR}/cards/lookup", params={"card_number": unknown}, headers=tenant.headers)
    assert_error(response, 404, "LOYALTY_CARD_NOT_FOUND")


# --- item 12: public errors fall back to the vendor's language ---------------------------------------


async def _speaks(database: Database, tenant: Tenant, locale: str) -> None:
    async with database.unit_of_work() as session:
        await session.execute(update(Vendor).where(Vendor.id == tenant.vendor_id).values(default_locale=locale))


async def test_public_enrolment_errors_speak_the_vendors_language(
    client: httpx.AsyncClient, tenant: Tenant, database: Database
) -> None:
    await _speaks(database, tenant, "lb")
    url = f"{PUBLIC}/programs/{tenant.slug}/enroll"
    response = await client.post(url, json={"email": "not-an-address"})
    assert response.json()["message"] == "D'Ufro ass net gëlteg"
    assert field_errors(response) == {"email": "Dat ass keng gëlteg E-Mail-Adress"}
    duplicate = await client.post(url, json={"email": "customer@example.com"})
    assert_error(duplicate, 409, "LOYALTY_CARD_ALREADY_EXISTS")
    assert duplicate.json()["message"] == "Fir dës E-Mail-Adress gëtt et an dësem Programm schonn eng Kaart"
    # Accept-Language still comes first.
    response = await client.post(url, json={"email": "not-an-address"}, headers={"Accept-Language": "fr"})
    assert field_errors(response) == {"email": "Cette adresse e-mail n'est pas valide"}


async def test_public_errors_of_an_english_vendor_stay_english(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.post(f"{PUBLIC}/programs/{tenant.slug}/enroll", json={"email": "x"})
    assert response.json()["message"] == "The request is not valid"
    assert field_errors(response) == {"email": "This is not a valid e-mail address"}
