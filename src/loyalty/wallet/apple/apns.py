"""Pushes to Apple Wallet through APNs: one empty push per device that holds a changed pass.

Authentication is the Pass Type ID certificate by default (TLS client certificate, Apple's documented
way for passes), or a provider token (`LOYALTY_APNS_AUTH=token`: an ES256 JWT from a `.p8` key of the
same team, reused for 40 minutes, renewed once on `ExpiredProviderToken`).

Apple, "Updating a Pass" and "Sending notification requests to APNs": `POST /3/device/<push token>`
over HTTP/2, authenticated by the Pass Type ID certificate (TLS client certificate), `apns-topic` = the
pass type id, body `{}`. WALLET.md adds `apns-push-type: alert`, `apns-priority: 10` and a 24-hour
`apns-expiration`, which the working open-source servers send. One HTTP/2 connection is kept open and
reused for every push (httpx with HTTP/2).

`outcome` reads Apple's answer as WALLET.md's table: done; delete the registration (410, or
`BadDeviceToken`); a configuration error (park the row, keep the registrations); or try again later.
"""

from __future__ import annotations

import json
import ssl
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path

import httpx
from google.auth import jwt as google_jwt
from google.auth.crypt.es256 import ES256Signer

DEFAULT_URL = "https://api.push.apple.com"
EXPIRATION = timedelta(hours=24)
TIMEOUT_SECONDS = 10
UNREGISTERED = frozenset({"Unregistered", "ExpiredToken", "BadDeviceToken"})
CONFIGURATION_ERRORS = frozenset(
    {
        "DeviceTokenNotForTopic",
        "TopicDisallowed",
        "BadTopic",
        "MissingTopic",
        "BadCertificate",
        "BadCertificateEnvironment",
        "InvalidProviderToken",
        "MissingProviderToken",
        "Forbidden",
    }
)


class Outcome(StrEnum):
    """What to do after one push (WALLET.md, "Updates")."""

    DELIVERED = "delivered"
    UNREGISTER = "unregister"  # the device no longer holds the pass: delete its registration
    MISCONFIGURED = "misconfigured"  # ours to fix: park the row, keep the registrations
    RETRY = "retry"  # 429, 5xx, a connection error: back off and try again


@dataclass(frozen=True)
class Answer:
    """APNs' answer to one push: HTTP status (0: no answer, the connection failed), Apple's `reason`,
    the `apns-id` it assigned."""

    status: int
    reason: str | None = None
    apns_id: str | None = None

    @property
    def outcome(self) -> Outcome:
        if self.status == 200:
            return Outcome.DELIVERED
        if self.status == 410 or self.reason in UNREGISTERED:
            return Outcome.UNREGISTER
        if self.status == 403 or self.reason in CONFIGURATION_ERRORS:
            return Outcome.MISCONFIGURED
        if self.status == 400 and self.reason not in (None, "IdleTimeout", "Shutdown"):
            return Outcome.MISCONFIGURED  # any other 400 is a request we built wrong
        return Outcome.RETRY

    @property
    def summary(self) -> str:
        """`200`, `410 Unregistered`, `connection error`: what the vendor's wallet status shows."""
        if self.status == 0:
            return f"connection error{': ' + self.reason if self.reason else ''}"[:64]
        return f"{self.status} {self.reason}"[:64] if self.reason else str(self.status)


@dataclass(frozen=True)
class ProviderToken:
    """Token authentication (WALLET.md: the option): a `.p8` key of the pass type's team, its key id and
    the team id. Each JWT is reused for `REUSE` (Apple refuses one older than an hour, and one renewed
    more often than every 20 minutes)."""

    key_file: Path
    key_id: str
    team_id: str

    REUSE = timedelta(minutes=40)

    def jwt(self, now: datetime) -> str:
        """An ES256 JWT `{alg, kid}.{iss: team id, iat}`, signed by google-auth's ES256 signer."""
        signer = ES256Signer.from_string(self.key_file.read_bytes(), key_id=self.key_id)
        # google-auth ships no type hints for jwt.encode; it returns the compact JWT as bytes.
        token = google_jwt.encode(signer, {"iss": self.team_id, "iat": int(now.timestamp())})  # type: ignore[no-untyped-call]
        return token.decode() if isinstance(token, bytes) else str(token)


@dataclass(frozen=True)
class ApnsSettings:
    """Where and as whom to push: the APNs origin, the pass type id (the topic), the Pass Type ID
    certificate and key (PEM files; Apple's documented way), or a provider token instead, and, for a
    local peer only, the CA that signed its certificate."""

    url: str
    topic: str
    certificate_file: Path | None = None
    key_file: Path | None = None
    key_password: str | None = None
    token: ProviderToken | None = None
    ca_file: Path | None = None


class ApnsClient:
    """One HTTP/2 connection to APNs, opened on the first push and kept for the next ones."""

    def __init__(self, settings: ApnsSettings) -> None:
        self.settings = settings
        self._jwt: tuple[str, datetime] | None = None  # the provider token in use, and when it was made
        self._http = httpx.AsyncClient(
            http1=False,
            http2=True,
            verify=self._tls(),
            base_url=settings.url.rstrip("/"),
            timeout=TIMEOUT_SECONDS,
        )

    def _tls(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.settings.ca_file) if self.settings.ca_file else None)
        if self.settings.token is None and self.settings.certificate_file and self.settings.key_file:
            context.load_cert_chain(self.settings.certificate_file, self.settings.key_file, self.settings.key_password)
        return context

    def _authorization(self, now: datetime, renew: bool = False) -> dict[str, str]:
        token = self.settings.token
        if token is None:
            return {}
        if renew or self._jwt is None or now - self._jwt[1] >= ProviderToken.REUSE:
            self._jwt = (token.jwt(now), now)
        return {"authorization": f"bearer {self._jwt[0]}"}

    async def push(self, push_token: str, now: datetime) -> Answer:
        """Tells the device holding `push_token` that a pass changed; never raises for APNs' answers or
        the network (an Answer with status 0 says the connection failed)."""
        headers = {
            "apns-topic": self.settings.topic,
            "apns-push-type": "alert",
            "apns-priority": "10",
            "apns-expiration": str(int((now + EXPIRATION).timestamp())),
        }
        answer = await self._post(push_token, {**headers, **self._authorization(now)})
        if answer.status == 0:  # APNs closes idle or old connections (GOAWAY): once more, on a new one
            answer = await self._post(push_token, {**headers, **self._authorization(now)})
        if answer.reason == "ExpiredProviderToken":  # WALLET.md: a new JWT, and one more try
            answer = await self._post(push_token, {**headers, **self._authorization(now, renew=True)})
        return answer

    async def _post(self, push_token: str, headers: dict[str, str]) -> Answer:
        try:
            response = await self._http.post(f"/3/device/{push_token}", content=b"{}", headers=headers)
        except httpx.HTTPError as exc:
            return Answer(0, type(exc).__name__)
        return Answer(response.status_code, _reason(response), response.headers.get("apns-id"))

    async def close(self) -> None:
        await self._http.aclose()


def _reason(response: httpx.Response) -> str | None:
    if response.status_code == 200 or not response.content:
        return None
    try:
        reason = json.loads(response.content).get("reason")
    except (ValueError, AttributeError):
        return None
    return str(reason) if reason else None
