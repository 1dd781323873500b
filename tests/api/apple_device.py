"""A device's Wallet, as the API tests drive it: it downloads passes, registers them, asks which changed
and fetches them, through Apple's PassKit web service (WALLET.md, "Routes")."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import httpx

from tests.tenants import Tenant

BASE = "/api/v1/loyalty/apple/v1"
PASS_TYPE = "pass.dev.loyalty.example"
DEVICE = "a1b2c3d4e5f60718293a4b5c6d7e8f90"


class Device:
    """A device's Wallet: holds passes, registers them, asks what changed, fetches them."""

    def __init__(self, client: httpx.AsyncClient, identifier: str = DEVICE) -> None:
        self.client = client
        self.identifier = identifier
        self.tag: str | None = None

    async def add(self, tenant: Tenant) -> dict[str, Any]:
        """Downloads the card's pass, as the holder does; returns its pass.json."""
        response = await self.client.get(f"/api/v1/loyalty/cards/{tenant.card_token}/apple-pass")
        assert response.status_code == 200, response.text
        with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
            document: dict[str, Any] = json.loads(archive.read("pass.json"))
        return document

    def registration(self, serial: str) -> str:
        return f"{BASE}/devices/{self.identifier}/registrations/{PASS_TYPE}/{serial}"

    async def register(self, document: dict[str, Any], push_token: str = "push-token-1") -> httpx.Response:
        return await self.client.post(
            self.registration(document["serialNumber"]),
            json={"pushToken": push_token},
            headers=auth(document),
        )

    async def changed(self, *, with_tag: bool = True) -> httpx.Response:
        params = {"passesUpdatedSince": self.tag} if with_tag and self.tag else {}
        response = await self.client.get(f"{BASE}/devices/{self.identifier}/registrations/{PASS_TYPE}", params=params)
        if response.status_code == 200:
            self.tag = response.json()["lastUpdated"]
        return response

    async def fetch(self, document: dict[str, Any], **headers: str) -> httpx.Response:
        return await self.client.get(
            f"{BASE}/passes/{PASS_TYPE}/{document['serialNumber']}", headers={**auth(document), **headers}
        )


def auth(document: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"ApplePass {document['authenticationToken']}"}
