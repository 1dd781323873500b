"""The Google Wallet REST API (walletobjects v1) as the worker uses it: insert, patch and addMessage of
LoyaltyClass and LoyaltyObject resources, each answer sorted into what to do next (WALLET.md, "Updates").

Authentication is the service account's OAuth 2.0 access token (scope `wallet_object.issuer`), which
google-auth obtains from the key file's `token_uri` and renews before it expires; its refresh is
blocking, so it runs in a thread. One HTTP connection pool is kept for the worker's life.

| answer | outcome |
|---|---|
| 2xx | OK |
| 404 | NOT_FOUND (insert instead of patch) |
| 409 | CONFLICT (patch instead of insert) |
| 401 (after one new token), 403, a refused token | MISCONFIGURED: park, alert the admin |
| other 4xx | REJECTED: our bug; park with Google's message |
| 429, 5xx, connection errors | RETRY with back-off |
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import quote

import google.auth.exceptions
import google.auth.transport.requests
import httpx
import requests

from loyalty.wallet.google.credentials import GoogleCredentials

API_PATH = "/walletobjects/v1"
TIMEOUT_SECONDS = 10.0


class Outcome(StrEnum):
    OK = "ok"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    MISCONFIGURED = "misconfigured"
    REJECTED = "rejected"
    RETRY = "retry"


@dataclass(frozen=True)
class Reply:
    """Google's answer: its status (0: no answer), body (the resource, or `{"error": …}`) and outcome."""

    status: int
    body: dict[str, Any] = field(default_factory=dict)
    problem: str | None = None

    @property
    def outcome(self) -> Outcome:
        if self.status == 0 or self.status == 429 or self.status >= 500:
            return Outcome.RETRY
        if 200 <= self.status < 300:
            return Outcome.OK
        if self.status in (401, 403):
            return Outcome.MISCONFIGURED
        return {404: Outcome.NOT_FOUND, 409: Outcome.CONFLICT}.get(self.status, Outcome.REJECTED)

    @property
    def summary(self) -> str:
        """`200`, `404 requested entity was not found`, `0 connection refused`: for the log and the admin."""
        error = self.body.get("error")
        message = self.problem or (error.get("message") if isinstance(error, dict) else None)
        return f"{self.status} {message}"[:200] if message else str(self.status)


class WalletObjects:
    """A client of the walletobjects API at `api_url` (LOYALTY_GOOGLE_API_URL). With `dry_run` nothing is
    sent: every call answers 200 with the body it would have sent (the demo's key would be refused)."""

    def __init__(self, credentials: GoogleCredentials, api_url: str, *, dry_run: bool = False) -> None:
        self.credentials = credentials
        self.dry_run = dry_run
        self._http = httpx.AsyncClient(base_url=api_url.rstrip("/") + API_PATH, timeout=TIMEOUT_SECONDS)
        self._token_session = requests.Session()
        self._token_lock = asyncio.Lock()

    async def insert(self, resource: str, body: dict[str, Any]) -> Reply:
        """`POST /{resource}` (resource: `loyaltyClass` or `loyaltyObject`)."""
        return await self._call("POST", f"/{resource}", body)

    async def patch(self, resource: str, resource_id: str, body: dict[str, Any]) -> Reply:
        """`PATCH /{resource}/{id}`: only the fields given change; a null clears one."""
        return await self._call("PATCH", f"/{resource}/{quote(resource_id, safe='')}", body)

    async def add_message(self, object_id: str, message: dict[str, Any]) -> Reply:
        """`POST /loyaltyObject/{id}/addMessage` with `{"message": …}`."""
        return await self._call("POST", f"/loyaltyObject/{quote(object_id, safe='')}/addMessage", {"message": message})

    async def close(self) -> None:
        await self._http.aclose()
        self._token_session.close()

    async def _call(self, method: str, path: str, body: dict[str, Any]) -> Reply:
        if self.dry_run:
            return Reply(200, body, "dry-run")
        reply = await self._send(method, path, body)
        if reply.status == 401:  # Google no longer takes the token it gave (revoked, rotated): one new try
            self.credentials.service_account.token = None
            reply = await self._send(method, path, body)
        return reply

    async def _send(self, method: str, path: str, body: dict[str, Any]) -> Reply:
        try:
            token = await self._access_token()
        except google.auth.exceptions.RefreshError as exc:
            retryable = bool(getattr(exc, "retryable", False))
            return Reply(0 if retryable else 401, problem=f"access token refused: {exc}"[:200])
        except google.auth.exceptions.TransportError as exc:
            return Reply(0, problem=f"token endpoint unreachable: {type(exc).__name__}")
        except Exception as exc:  # google-auth on an answer it cannot read (HTML, a malformed expiry): try later
            return Reply(0, problem=f"token endpoint answered nonsense: {type(exc).__name__}: {exc}"[:200])
        try:
            answer = await self._http.request(
                method, path, content=json.dumps(body), headers={"Authorization": f"Bearer {token}",
                                                                   "Content-Type": "application/json"}
            )  # fmt: skip
        except httpx.HTTPError as exc:
            return Reply(0, problem=f"{type(exc).__name__}: {exc}"[:200])
        try:
            parsed = answer.json()
        except ValueError:
            parsed = {}
        return Reply(answer.status_code, parsed if isinstance(parsed, dict) else {})

    async def _access_token(self) -> str:
        """The current access token, renewed through google-auth when it is missing or about to expire."""
        account = self.credentials.service_account
        async with self._token_lock:
            if not account.valid:
                request = google.auth.transport.requests.Request(self._token_session)
                await asyncio.to_thread(account.refresh, request)
        return str(account.token)
