"""The card holder's Apple Wallet pass, checked with tools that are not ours: `openssl cms -verify`
for the signature, `zipfile` and SHA-1 for the manifest, Pillow for the image sizes (WALLET.md, "Tests")."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import zipfile
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from loyalty.app import create_app
from loyalty.clock import FixedClock
from loyalty.config import Settings
from loyalty.db import Database
from loyalty.wallet.colors import contrast_ratio
from tests.api.helpers import assert_error
from tests.fixtures import DevWallet, test_settings
from tests.tenants import Tenant, make_tenant

pytestmark = pytest.mark.anyio

IMAGE_SIZES = {
    "icon.png": (29, 29),
    "icon@2x.png": (58, 58),
    "icon@3x.png": (87, 87),
    "strip.png": (375, 144),
    "strip@2x.png": (750, 288),
    "strip@3x.png": (1125, 432),
}
LOGO_LIMITS = {"logo.png": (160, 50), "logo@2x.png": (320, 100), "logo@3x.png": (480, 150)}


@pytest.fixture
def settings(apple_settings: Settings) -> Settings:
    return apple_settings


def openssl(*arguments: str) -> subprocess.CompletedProcess[str]:
    """OpenSSL's own command line: the independent check of Apple's signature format."""
    return subprocess.run(["openssl", *arguments], capture_output=True, text=True, check=False)


async def download(client: httpx.AsyncClient, tenant: Tenant) -> httpx.Response:
    return await client.get(f"/api/v1/loyalty/cards/{tenant.card_token}/apple-pass")


def unpack(pkpass: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(pkpass)) as archive:
        assert not [info.filename for info in archive.infolist() if info.is_dir()], "no directory entries"
        return {name: archive.read(name) for name in archive.namelist()}


def pass_json(files: dict[str, bytes]) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(files["pass.json"])
    return document


def fields(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    card = document["storeCard"]
    return {field["key"]: field for group in card.values() for field in group}


async def test_the_pass_is_a_signed_pkpass_that_openssl_verifies_against_the_development_root(
    client: httpx.AsyncClient, tenant: Tenant, dev_wallet: DevWallet, tmp_path: Path
) -> None:
    response = await download(client, tenant)

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/vnd.apple.pkpass"
    assert response.headers["content-disposition"] == 'attachment; filename="cafe-one.pkpass"'
    assert response.headers["cache-control"] == "no-store"
    parsedate_to_datetime(response.headers["last-modified"])
    files = unpack(response.content)
    (tmp_path / "manifest.json").write_bytes(files["manifest.json"])
    (tmp_path / "signature").write_bytes(files["signature"])
    verified = openssl(
        "cms", "-verify", "-binary", "-inform", "DER", "-in", str(tmp_path / "signature"),
        "-content", str(tmp_path / "manifest.json"), "-CAfile", str(dev_wallet.ca_file), "-purpose", "any",
        "-out", "/dev/null",
    )  # fmt: skip
    assert verified.returncode == 0, verified.stderr
    assert "Verification successful" in verified.stderr


async def test_the_signature_carries_the_signing_time_the_signer_and_the_intermediate(
    client: httpx.AsyncClient, tenant: Tenant, tmp_path: Path
) -> None:
    files = unpack((await download(client, tenant)).content)
    (tmp_path / "signature").write_bytes(files["signature"])

    printed = openssl("cms", "-cmsout", "-print", "-inform", "DER", "-in", str(tmp_path / "signature")).stdout
    certificates = openssl("pkcs7", "-print_certs", "-inform", "DER", "-in", str(tmp_path / "signature")).stdout

    assert "signingTime" in printed
    assert "eContent: <ABSENT>" in printed  # detached
    assert "subject=UID = pass.dev.loyalty.example, CN = Pass Type ID: pass.dev.loyalty.example" in certificates
    assert "Loyalty Development WWDR stand-in" in certificates


async def test_the_manifest_lists_the_sha1_of_every_file_and_nothing_else(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    files = unpack((await download(client, tenant)).content)
    manifest = json.loads(files.pop("manifest.json"))
    files.pop("signature")

    assert manifest == {name: hashlib.sha1(data).hexdigest() for name, data in files.items()}


async def test_images_have_apples_pixel_sizes_and_the_strip_draws_the_stamps(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    empty = unpack((await download(client, tenant)).content)
    stamped = await client.post(
        "/api/v1/vendor/loyalty/stamp", json={"card_id": tenant.card_id, "staff_pin": "1234"}, headers=tenant.headers
    )
    assert stamped.status_code == 201, stamped.text
    one_stamp = unpack((await download(client, tenant)).content)

    for name, size in IMAGE_SIZES.items():
        assert Image.open(io.BytesIO(empty[name])).size == size, name
    for name, (width, height) in LOGO_LIMITS.items():
        logo_width, logo_height = Image.open(io.BytesIO(empty[name])).size
        assert logo_width <= width and logo_height <= height, name
    assert empty["strip.png"] != one_stamp["strip.png"]


async def test_pass_json_follows_the_contract(client: httpx.AsyncClient, tenant: Tenant) -> None:
    document = pass_json(unpack((await download(client, tenant)).content))
    by_key = fields(document)

    assert document["formatVersion"] == 1
    assert document["passTypeIdentifier"] == "pass.dev.loyalty.example"
    assert document["teamIdentifier"] == "DEVTEAM123"
    assert document["organizationName"] == "Cafe-One"
    assert document["webServiceURL"] == "http://127.0.0.1:8000/api/v1/loyalty/apple"
    assert len(document["authenticationToken"]) >= 32
    serial = document["serialNumber"]
    assert serial not in (tenant.card_token, tenant.card_number, tenant.qr_code)
    assert document["barcodes"] == [
        {
            "format": "PKBarcodeFormatQR",
            "message": tenant.qr_code,
            "messageEncoding": "iso-8859-1",
            "altText": " ".join(tenant.card_number[i : i + 4] for i in range(0, 16, 4)),
        }
    ]
    assert "barcode" not in document and "relevantDate" not in document and "nfc" not in document
    assert document["sharingProhibited"] is True
    assert "voided" not in document
    assert by_key["stamps"]["value"] == "0/3"
    assert by_key["points"]["value"] == 0
    assert by_key["member"]["value"] == "Customer"
    with_change_message = [key for key, field in by_key.items() if "changeMessage" in field]
    assert sorted(with_change_message) == ["points", "stamps"]
    assert all("%@" in by_key[key]["changeMessage"] for key in with_change_message)


async def test_the_label_colour_reaches_wcag_contrast_on_the_programmes_colour(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    patched = await client.patch(
        "/api/v1/vendor/loyalty/program", json={"card_color": "#f5f5dc"}, headers=tenant.headers
    )
    assert patched.status_code == 200, patched.text
    document = pass_json(unpack((await download(client, tenant)).content))

    def rgb(value: str) -> tuple[int, int, int]:
        red, green, blue = (int(part) for part in value.removeprefix("rgb(").removesuffix(")").split(","))
        return red, green, blue

    assert document["backgroundColor"] == "rgb(245, 245, 220)"
    assert contrast_ratio(rgb(document["foregroundColor"]), rgb(document["backgroundColor"])) >= 4.5
    assert contrast_ratio(rgb(document["labelColor"]), rgb(document["backgroundColor"])) >= 4.5


async def test_pass_strings_come_in_four_languages_as_utf16_from_the_catalogues(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    files = unpack((await download(client, tenant)).content)
    document = pass_json(files)

    strings = {}
    for locale in ("en", "fr", "de", "lb"):
        raw = files[f"{locale}.lproj/pass.strings"]
        assert raw[:2] in (b"\xff\xfe", b"\xfe\xff"), f"{locale}: UTF-16 with a byte-order mark"
        strings[locale] = dict(_entries(raw.decode("utf-16")))
    label = fields(document)["stamps"]["label"]
    assert label == "Stamps"
    assert strings["en"][label] == "Stamps"
    assert strings["fr"][label] == "Tampons"
    assert strings["de"][label] == "Stempel"
    assert set(strings["fr"]) == set(strings["en"])  # every English string of pass.json has its line


def _entries(text: str) -> list[tuple[str, str]]:
    entries = []
    for line in text.splitlines():
        key, _, value = line.partition('" = "')
        entries.append((key.removeprefix('"'), value.removesuffix('";')))
    return entries


async def test_a_deactivated_card_gets_a_voided_pass(client: httpx.AsyncClient, tenant: Tenant) -> None:
    answer = await client.post(f"/api/v1/vendor/loyalty/cards/{tenant.card_id}/deactivate", headers=tenant.headers)
    assert answer.status_code == 200, answer.text

    document = pass_json(unpack((await download(client, tenant)).content))

    assert document["voided"] is True


async def test_an_erased_customers_pass_is_voided_and_keeps_no_personal_data(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    grouped_number = " ".join(tenant.card_number[i : i + 4] for i in range(0, 16, 4))
    personal = ("Customer", grouped_number, tenant.qr_code, "customer@example.com")
    before = readable(unpack((await download(client, tenant)).content))
    customer_id = await _customer_id(client, tenant)
    erased = await client.post(f"/api/v1/vendor/loyalty/customers/{customer_id}/erase", headers=tenant.headers)
    assert erased.status_code == 204, erased.text

    files = unpack((await download(client, tenant)).content)
    document = pass_json(files)
    after = readable(files)

    assert [item for item in personal[:3] if item in before] == list(personal[:3])  # so the check below can fail
    assert document["voided"] is True
    assert "barcodes" not in document
    assert [item for item in personal if item in after] == []


def readable(files: dict[str, bytes]) -> str:
    """Every text of the pass: pass.json and the manifest as UTF-8, each pass.strings as UTF-16."""
    return "".join(
        data.decode("utf-16") if name.endswith(".strings") else data.decode("utf-8", "replace")
        for name, data in files.items()
        if not name.endswith(".png") and name != "signature"
    )


async def _customer_id(client: httpx.AsyncClient, tenant: Tenant) -> int:
    card = await client.get(f"/api/v1/vendor/loyalty/cards/{tenant.card_id}", headers=tenant.headers)
    customer_id: int = card.json()["customer"]["id"]
    return customer_id


async def test_an_unknown_card_token_is_not_found(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.get("/api/v1/loyalty/cards/not-a-card/apple-pass")

    assert_error(response, 404, "LOYALTY_CARD_NOT_FOUND")


async def test_head_answers_the_headers_of_get_without_a_body(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.head(f"/api/v1/loyalty/cards/{tenant.card_token}/apple-pass")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/vnd.apple.pkpass"
    assert "last-modified" in response.headers
    assert response.content == b""


async def test_without_apple_wallet_configured_the_pass_answers_503_wallet_not_configured(
    database_url: str, clock: FixedClock, database: Database, tenant: Tenant
) -> None:
    app = create_app(test_settings(database_url), clock=clock, database=database)  # no LOYALTY_APPLE_*
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await download(client, tenant)

    details = assert_error(response, 503, "WALLET_NOT_CONFIGURED")
    assert details == {"wallet": "apple"}


async def test_a_points_programme_shows_points_and_the_nearest_reward_without_a_strip(
    client: httpx.AsyncClient, database: Database, settings: Settings, clock: FixedClock
) -> None:
    bakery = await make_tenant(
        database,
        settings,
        clock,
        slug="bakery",
        program_type="points",
        points_rewards=[{"name": "Croissant", "points_required": 50}, {"name": "Cake", "points_required": 200}],
    )
    earned = await client.post(
        "/api/v1/vendor/loyalty/points/earn",
        json={"card_id": bakery.card_id, "purchase_amount_cents": 1250, "staff_pin": "1234"},
        headers=bakery.headers,
    )
    assert earned.status_code == 201, earned.text

    files = unpack((await download(client, bakery)).content)
    by_key = fields(pass_json(files))

    assert "stamps" not in by_key and by_key["points"]["value"] == 12
    assert by_key["progress"]["value"] == "38 more points to Croissant"
    assert not [name for name in files if name.startswith("strip")]
    french = files["fr.lproj/pass.strings"].decode("utf-16")
    assert '"38 more points to Croissant" = "' in french


async def test_the_programmes_shops_become_the_pass_locations(client: httpx.AsyncClient, tenant: Tenant) -> None:
    shop = {"latitude": 49.6116, "longitude": 6.1319, "relevant_text": "Your card for Rue du Fort"}
    patched = await client.patch("/api/v1/vendor/loyalty/program", json={"locations": [shop]}, headers=tenant.headers)
    too_many = await client.patch(
        "/api/v1/vendor/loyalty/program", json={"locations": [shop] * 11}, headers=tenant.headers
    )
    off_the_map = await client.patch(
        "/api/v1/vendor/loyalty/program", json={"locations": [{**shop, "latitude": 91}]}, headers=tenant.headers
    )

    assert patched.status_code == 200 and patched.json()["locations"] == [shop]
    assert_error(too_many, 422, "VALIDATION_ERROR")
    assert_error(off_the_map, 422, "VALIDATION_ERROR")
    document = pass_json(unpack((await download(client, tenant)).content))
    assert document["locations"] == [{"latitude": 49.6116, "longitude": 6.1319, "relevantText": shop["relevant_text"]}]
    assert "relevantDate" not in document
