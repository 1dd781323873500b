"""The dashboard's programme page over HTTP (PAGES.md, "Vendor dashboard" → Programme): creating the programme,
its settings (a decimal as the page's language writes it), the rewards catalogue (ids never reused), the shops
(at most 10), the colour and its contrast, the logo upload (re-encoded by Pillow; broken, foreign, huge files
refused with a message) and its public immutable URL, the passes repainted through the outbox, CSRF, roles."""

from __future__ import annotations

import io
import re
import struct
import zipfile
import zlib
from decimal import Decimal
from typing import Any

import httpx
import pytest
from PIL import Image
from sqlalchemy import delete, select, update

from loyalty.config import Settings
from loyalty.db import Database
from loyalty.models import LoyaltyProgram, OutboxStatus, WalletOutbox
from tests.api.apple_device import Device
from tests.fixtures import outbox_rows
from tests.tenants import Tenant
from tests.web.test_dashboard_http import FORM, _accept, _invite, _token

pytestmark = pytest.mark.anyio

PAGE = "/vendor/program"
PROGRAM_API = "/api/v1/vendor/loyalty/program"
PROGRAM_FIELDS = {
    "program_type": "hybrid",
    "name": "Coffee club",
    "card_name": "",
    "stamps_target": "8",
    "stamps_reward_description": "A free flat white",
    "max_daily_stamps": "2",
    "points_per_euro": "1",
    "cooldown_minutes": "30",
    "require_staff_pin": "on",
    "terms": "",
}


@pytest.fixture
def settings(apple_settings: Settings) -> Settings:
    """Apple Wallet configured: passes carry the logo, and a change queues their devices' updates."""
    return apple_settings


async def _owner_page(client: httpx.AsyncClient, admin_key: str, tenant: Tenant, role: str = "owner") -> str:
    """Signs in a new user of `tenant` and returns the programme page's CSRF token."""
    await _accept(client, await _invite(client, admin_key, tenant, f"{role}@cafe.lu", role=role))
    page = await client.get(PAGE)
    assert page.status_code == 200, page.text
    return _token(page.text)


async def _post(client: httpx.AsyncClient, csrf: str, **fields: str) -> httpx.Response:
    return await client.post(PAGE, data={"csrf_token": csrf, **fields}, headers=FORM)


async def _program(client: httpx.AsyncClient, tenant: Tenant) -> dict[str, Any]:
    answer = await client.get(PROGRAM_API, headers=tenant.headers)
    assert answer.status_code == 200
    program: dict[str, Any] = answer.json()
    return program


async def _apple_rows(database: Database) -> list[WalletOutbox]:
    """The outbox's rows for Apple devices (an invitation's mail has its own)."""
    return [row for row in await outbox_rows(database) if row.provider == "apple"]


def _png(size: tuple[int, int], colour: tuple[int, int, int, int] = (200, 30, 30, 255), kind: str = "PNG") -> bytes:
    image = Image.new("RGBA", size, (0, 0, 0, 0))
    image.paste(Image.new("RGBA", (size[0] // 2, size[1] // 2), colour), (size[0] // 4, size[1] // 4))
    buffer = io.BytesIO()
    (image.convert("RGB") if kind == "JPEG" else image).save(buffer, format=kind)
    return buffer.getvalue()


def _bomb(side: int) -> bytes:
    """A valid PNG of side×side 1-bit pixels, all zero: a few dozen kilobytes that would decode to
    side² pixels (a "decompression bomb")."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = zlib.compress(b"\0" * ((side + 7) // 8 + 1) * side, 9)
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


async def _upload(client: httpx.AsyncClient, csrf: str, data: bytes, name: str = "logo.png") -> httpx.Response:
    return await client.post(
        f"{PAGE}/logo", data={"csrf_token": csrf}, files={"logo": (name, data, "application/octet-stream")}
    )


async def test_a_shop_without_a_programme_creates_it_from_the_page(
    client: httpx.AsyncClient, admin_key: str, database: Database
) -> None:
    admin = {"authorization": f"Bearer {admin_key}"}
    made = await client.post("/api/v1/admin/loyalty/vendors", json={"name": "Bakery", "slug": "bakery"}, headers=admin)
    assert made.status_code == 201, made.text
    invited = await client.post(
        f"/api/v1/admin/loyalty/vendors/{made.json()['id']}/users", json={"email": "o@bakery.lu", "role": "owner"},
        headers=admin,
    )  # fmt: skip
    await _accept(client, str(invited.json()["invitation_url"]).removeprefix("http://127.0.0.1:8000"))
    page = await client.get(PAGE)
    assert page.status_code == 200 and "Create the programme" in page.text
    for name, default in (("stamps_target", "10"), ("cooldown_minutes", "15"), ("max_daily_stamps", "5")):
        assert re.search(rf'name="{name}"[^>]*value="{default}"', page.text), name  # ProgramCreate's defaults
    assert re.search(r'name="points_per_euro"[^>]*value="1"', page.text)
    assert re.search(r'name="require_staff_pin" type="checkbox" checked', page.text)
    csrf = _token(page.text)

    nameless = await _post(client, csrf, action="create", **{**PROGRAM_FIELDS, "name": ""})
    assert nameless.status_code == 400 and 'id="name-problem"' in nameless.text
    created = await _post(
        client, csrf, action="create", card_color_before="", card_color="#FFEB3B", card_color_picker="#111827",
        **{**PROGRAM_FIELDS, "points_per_euro": "2.25"},
    )  # fmt: skip
    assert created.status_code == 200 and "The programme is created and switched on." in created.text
    assert "Save the settings" in created.text and "Create the programme" not in created.text
    async with database.unit_of_work() as session:
        [program] = await session.scalars(select(LoyaltyProgram))
        assert (program.name, program.stamps_target, program.points_per_euro) == ("Coffee club", 8, Decimal("2.25"))
        assert (program.card_color, program.is_active, program.require_staff_pin) == ("#ffeb3b", True, True)
    twice = await _post(client, csrf, action="create", **PROGRAM_FIELDS)
    assert twice.status_code == 409  # one programme per shop


async def test_settings_take_decimals_as_the_language_writes_them(
    client: httpx.AsyncClient, admin_key: str, tenant: Tenant
) -> None:
    csrf = await _owner_page(client, admin_key, tenant)
    french = await client.get(f"{PAGE}?lang=fr")  # the cookie keeps French for what follows
    assert french.status_code == 200
    saved = await _post(client, csrf, action="settings", **{**PROGRAM_FIELDS, "points_per_euro": "1,5"})
    assert saved.status_code == 200
    assert re.search(r'name="points_per_euro"[^>]*value="1,5"', saved.text)  # drawn back as French writes it
    program = await _program(client, tenant)
    assert (Decimal(str(program["points_per_euro"])), program["stamps_target"]) == (Decimal("1.5"), 8)
    assert (program["max_daily_stamps"], program["cooldown_minutes"], program["name"]) == (2, 30, "Coffee club")
    assert await _post(client, csrf, action="settings", **{**PROGRAM_FIELDS, "points_per_euro": "2.5"})
    assert Decimal(str((await _program(client, tenant))["points_per_euro"])) == Decimal("2.5")  # the dot, too

    client.cookies.set("loyalty_lang", "en")
    english = await _post(client, csrf, action="settings", **{**PROGRAM_FIELDS, "points_per_euro": "1,5"})
    assert english.status_code == 400 and 'id="points_per_euro-problem"' in english.text  # "1,5" is not English
    assert 'aria-invalid="true" aria-describedby="points_per_euro-problem' in english.text
    wrong = await _post(client, csrf, action="settings", **{**PROGRAM_FIELDS, "stamps_target": "0", "name": "Kept"})
    assert wrong.status_code == 400 and 'id="stamps_target-problem"' in wrong.text
    assert re.search(r'name="name"[^>]*value="Kept"', wrong.text)  # what was typed stays in the form
    assert (await _program(client, tenant))["name"] == "Coffee club"  # nothing saved
    del_pin = {name: value for name, value in PROGRAM_FIELDS.items() if name != "require_staff_pin"}
    assert (await _post(client, csrf, action="settings", **del_pin)).status_code == 200
    assert (await _program(client, tenant))["require_staff_pin"] is False  # an unticked box sends nothing


async def test_the_rewards_catalogue_never_gives_a_removed_rewards_id_again(
    client: httpx.AsyncClient, admin_key: str, tenant: Tenant
) -> None:
    csrf = await _owner_page(client, admin_key, tenant)
    assert (
        await _post(client, csrf, action="reward_add", reward_name="Croissant", reward_points="50")
    ).status_code == 200
    added = await _post(client, csrf, action="reward_add", reward_name="Cake", reward_points="120")
    assert added.status_code == 200 and 'id="reward-2">Cake<' in added.text
    renamed = await _post(
        client, csrf, action="reward_edit", reward_id="1", reward_name="Pain au chocolat", reward_points="60"
    )
    assert renamed.status_code == 200
    assert (await _post(client, csrf, action="reward_off", reward_id="2")).status_code == 200
    rewards = (await _program(client, tenant))["points_rewards"]
    assert [(r["id"], r["name"], r["points_required"], r["is_active"]) for r in rewards] == [
        (1, "Pain au chocolat", 60, True), (2, "Cake", 120, False),
    ]  # fmt: skip
    assert (await _post(client, csrf, action="reward_remove", reward_id="2")).status_code == 200
    again = await _post(client, csrf, action="reward_add", reward_name="Tart", reward_points="90")
    assert again.status_code == 200
    rewards = (await _program(client, tenant))["points_rewards"]
    assert [(r["id"], r["name"]) for r in rewards] == [(1, "Pain au chocolat"), (3, "Tart")]  # 2 is never given again
    gone = await _post(client, csrf, action="reward_edit", reward_id="2", reward_name="Cake", reward_points="1")
    assert gone.status_code == 404 and "not in the catalogue" in gone.text
    bad = await _post(client, csrf, action="reward_add", reward_name="Free", reward_points="0")
    assert bad.status_code == 400 and 'id="reward_points-problem"' in bad.text
    assert len((await _program(client, tenant))["points_rewards"]) == 2


async def test_at_most_ten_shops(client: httpx.AsyncClient, admin_key: str, tenant: Tenant) -> None:
    csrf = await _owner_page(client, admin_key, tenant)
    for number in range(10):
        german = number < 8  # "49,6…" as German writes it; the last two in English, to read the form
        client.cookies.set("loyalty_lang", "de" if german else "en")
        added = await _post(
            client,
            csrf,
            action="location_add",
            latitude=f"49,6{number}" if german else f"49.6{number}",
            longitude="6.13",
            relevant_text=f"Shop {number}",
        )
        assert added.status_code == 200, added.text
        assert ("Add the shop" in added.text) == (number == 8) or german
    assert "Add the shop" not in added.text  # the form is gone once the list is full
    eleventh = await _post(client, csrf, action="location_add", latitude="49.5", longitude="6.1")
    assert eleventh.status_code == 409 and "at most 10 shops" in eleventh.text
    shops = (await _program(client, tenant))["locations"]
    assert len(shops) == 10 and shops[3] == {"latitude": 49.63, "longitude": 6.13, "relevant_text": "Shop 3"}
    far = await _post(client, csrf, action="location_remove", index="3", latitude="1.0", longitude="2.0")
    assert far.status_code == 404  # not the shop drawn at that place: nothing removed
    removed = await _post(client, csrf, action="location_remove", index="3", latitude="49.63", longitude="6.13")
    assert removed.status_code == 200
    shops = (await _program(client, tenant))["locations"]
    assert len(shops) == 9 and "Shop 3" not in [shop["relevant_text"] for shop in shops]
    north = await _post(client, csrf, action="location_add", latitude="91", longitude="6")
    assert north.status_code == 400 and 'id="latitude-problem"' in north.text


async def test_the_colour_says_its_contrast_and_repaints_the_passes_through_the_outbox(
    client: httpx.AsyncClient, admin_key: str, tenant: Tenant, database: Database
) -> None:
    device = Device(client)
    assert (await device.register(await device.add(tenant))).status_code == 201
    before = [row.id for row in await _apple_rows(database)]
    csrf = await _owner_page(client, admin_key, tenant)
    page = await client.get(PAGE)
    assert "The pass writes its text in white: 17.7:1 on this colour" in page.text  # the default #111827

    # Without script, whichever field differs from the colour drawn is the one changed: here the picker.
    yellow = await _post(
        client, csrf, action="colour", card_color_before="", card_color="", card_color_picker="#ffeb3b"
    )
    assert yellow.status_code == 200 and "Colour saved." in yellow.text
    assert "The pass writes its text in black: 17.2:1 on this colour" in yellow.text
    assert "Black text would have 17.2:1, white text 1.2:1." in yellow.text
    assert (await _program(client, tenant))["card_color"] == "#ffeb3b"
    pending = [row for row in await _apple_rows(database) if row.id not in before]
    assert [(row.card_id, row.provider, row.status) for row in pending] == [
        (tenant.card_id, "apple", OutboxStatus.PENDING)
    ]

    typed = await _post(
        client, csrf, action="colour", card_color_before="#ffeb3b", card_color="0b57D0", card_color_picker="#ffeb3b"
    )
    assert typed.status_code == 200 and (await _program(client, tenant))["card_color"] == "#0b57d0"
    wrong = await _post(client, csrf, action="colour", card_color_before="#0b57d0", card_color="#12345g")
    assert wrong.status_code == 400 and 'id="card_color-problem"' in wrong.text

    async with database.unit_of_work() as session:  # the worker sends it: the row is done
        await session.execute(update(WalletOutbox).values(status=OutboxStatus.SENT))
    target = await _post(client, csrf, action="settings", **{**PROGRAM_FIELDS, "stamps_target": "9"})
    assert target.status_code == 200
    assert [row.status for row in await _apple_rows(database)].count(OutboxStatus.PENDING) == 1
    quiet = await _post(
        client, csrf, action="settings", **{**PROGRAM_FIELDS, "stamps_target": "9", "cooldown_minutes": "5"}
    )
    assert quiet.status_code == 200  # the cooldown is not on the pass: no second update
    assert [row.status for row in await _apple_rows(database)].count(OutboxStatus.PENDING) == 1


async def test_a_logo_is_re_encoded_served_at_its_hash_and_drawn_on_the_passes(
    client: httpx.AsyncClient, admin_key: str, tenant: Tenant, database: Database
) -> None:
    device = Device(client)
    document = await device.add(tenant)
    assert (await device.register(document)).status_code == 201
    csrf = await _owner_page(client, admin_key, tenant)
    async with database.unit_of_work() as session:
        await session.execute(delete(WalletOutbox))

    uploaded = await _upload(client, csrf, _png((1200, 400)))
    assert uploaded.status_code == 200 and "Logo saved" in uploaded.text
    path = re.search(
        r'<img src="(/wallet/img/logos/([0-9a-f]{64})/logo\.png)" width="(\d+)" height="(\d+)"', uploaded.text
    )
    assert path is not None and (path.group(3), path.group(4)) == ("600", "200")  # trimmed, within 660×660
    served = await client.get(path.group(1))
    assert served.status_code == 200 and served.headers["content-type"] == "image/png"
    assert served.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert Image.open(io.BytesIO(served.content)).size == (600, 200)
    assert (await _program(client, tenant))["logo_url"] == f"http://127.0.0.1:8000{path.group(1)}"
    assert [row.card_id for row in await _apple_rows(database)] == [tenant.card_id]  # the pass is repainted

    fetched = await device.fetch(document)
    with zipfile.ZipFile(io.BytesIO(fetched.content)) as archive:
        sizes = {name: Image.open(io.BytesIO(archive.read(name))).size for name in archive.namelist() if "logo" in name}
    assert sizes == {"logo.png": (150, 50), "logo@2x.png": (300, 100), "logo@3x.png": (450, 150)}
    google = await client.get(f"/wallet/img/logos/{path.group(2)}/111827ffffff.png")
    picture = Image.open(io.BytesIO(google.content))
    assert google.status_code == 200 and picture.size == (660, 660) and picture.getpixel((5, 5)) == (17, 24, 39)

    photo = await _upload(client, csrf, _png((300, 300), kind="JPEG"), "photo.jpg")
    jpeg_path = re.search(r'<img src="(/wallet/img/logos/[0-9a-f]{64}/logo\.png)"', photo.text)
    assert photo.status_code == 200 and jpeg_path is not None and jpeg_path.group(1) != path.group(1)
    kept = Image.open(io.BytesIO((await client.get(jpeg_path.group(1))).content))
    assert (kept.format, kept.size) == ("PNG", (300, 300))  # a JPEG becomes a PNG
    assert (await client.get(path.group(1))).status_code == 404  # the replaced logo is gone

    removed = await _post(client, csrf, action="logo_remove")
    assert removed.status_code == 200 and "No logo yet" in removed.text
    assert (await _program(client, tenant))["logo_url"] is None


@pytest.mark.parametrize(
    ("data", "status", "message"),
    [
        (b"name,points\nAda,3\n", 400, "not a picture we can read"),
        (_png((400, 400))[:-300], 400, "damaged or incomplete"),
        (_bomb(20000), 413, "too many pixels"),
        (b"\x89PNG" + b"\0" * (2 * 1024 * 1024 + 1), 413, "larger than 2 MB"),
        (b"", 400, "Choose a picture file"),
    ],
    ids=["text", "truncated", "bomb", "too-large", "empty"],
)
async def test_a_file_that_cannot_be_a_logo_is_refused_with_a_message(
    client: httpx.AsyncClient, admin_key: str, tenant: Tenant, data: bytes, status: int, message: str
) -> None:
    csrf = await _owner_page(client, admin_key, tenant)
    refused = await _upload(client, csrf, data, "logo.png")
    assert refused.status_code == status and message in refused.text and 'role="alert"' in refused.text
    assert "No logo yet" in refused.text and (await _program(client, tenant))["logo_url"] is None


async def test_a_forged_form_is_refused_and_a_manager_runs_the_programme(
    app: Any, client: httpx.AsyncClient, admin_key: str, tenant: Tenant
) -> None:
    csrf = await _owner_page(client, admin_key, tenant, role="manager")
    forged = await client.post(PAGE, data={"action": "deactivate"}, headers=FORM)
    assert forged.status_code == 403 and (await _program(client, tenant))["is_active"] is True
    foreign = await client.post(
        PAGE, data={"csrf_token": csrf, "action": "deactivate"}, headers={**FORM, "origin": "https://evil.example"}
    )
    assert foreign.status_code == 403
    upload = await client.post(f"{PAGE}/logo", data={"csrf_token": "0" * 64}, files={"logo": ("a.png", _png((64, 64)))})
    assert upload.status_code == 403 and (await _program(client, tenant))["logo_url"] is None

    # The API gives the programme to its owner scope, which a manager's dashboard acts with (but for users and
    # terminals): a manager changes settings and switches the programme off and on.
    off = await _post(client, csrf, action="deactivate")
    assert off.status_code == 200 and (await _program(client, tenant))["is_active"] is False
    assert "Switch the programme on" in off.text
    stamp = await client.post(
        "/api/v1/vendor/loyalty/stamp",
        json={"card_id": tenant.card_id, "staff_pin": tenant.pin},
        headers=tenant.headers,
    )
    assert stamp.status_code == 400  # switched off: the counter refuses
    assert (await _post(client, csrf, action="activate")).status_code == 200
    assert (await _program(client, tenant))["is_active"] is True
    assert (await _post(client, csrf, action="reward_add", reward_name="Tea", reward_points="10")).status_code == 200
    assert (await _post(client, csrf, action="nonsense")).status_code == 400

    client.cookies.clear()
    signed_out = await client.get(PAGE)
    assert signed_out.status_code == 303 and signed_out.headers["location"] == "/vendor/login"
