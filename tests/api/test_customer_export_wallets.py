"""A customer's GDPR export names the wallets that hold their card (Apple device registrations, Google
Wallet objects), without the credentials a device's push token is."""

from __future__ import annotations

import httpx
import pytest

from loyalty.config import Settings
from tests.api.apple_device import Device
from tests.fixtures import DevGoogle, DevWallet, test_settings
from tests.tenants import Tenant

pytestmark = pytest.mark.anyio

VENDOR = "/api/v1/vendor/loyalty"


@pytest.fixture
def settings(database_url: str, dev_wallet: DevWallet, google: DevGoogle) -> Settings:
    return test_settings(database_url, **{**dev_wallet.settings, **google.settings})


async def test_the_export_names_the_devices_and_objects_holding_the_card_but_no_push_token(
    client: httpx.AsyncClient, tenant: Tenant, google: DevGoogle
) -> None:
    phone = Device(client)
    assert (await phone.register(await phone.add(tenant), push_token="secret-push-token")).status_code == 201
    assert (await client.get(f"/api/v1/loyalty/cards/{tenant.card_token}/google-wallet")).status_code == 200
    card = (await client.get(f"{VENDOR}/cards/{tenant.card_id}", headers=tenant.headers)).json()

    answer = await client.get(f"{VENDOR}/customers/{card['customer']['id']}/export", headers=tenant.headers)

    assert answer.status_code == 200, answer.text
    [device] = answer.json()["apple_devices"]
    assert (device["device_library_identifier"], device["card_id"]) == (phone.identifier, tenant.card_id)
    assert "push_token" not in device and "secret-push-token" not in answer.text
    [google_object] = answer.json()["google_objects"]
    assert google_object["card_id"] == tenant.card_id
    assert google_object["object_id"].startswith(f"{google.settings['google_issuer_id']}.")
