"""A local Apple Push Notification service peer for the tests (WALLET.md, "Updates" and "Tests").

It behaves as Apple documents ("Sending notification requests to APNs", "Handling notification responses
from APNs"): HTTP/2 only (ALPN `h2`; a connection that does not negotiate it is closed), over TLS with a
client certificate REQUIRED and verified against the CA files given, `POST /3/device/{token}` only. Every
answer carries an `apns-id` (the request's own, if it sent a valid one, else a new UUID); a 200 has an empty
body, an error a JSON body `{"reason": ...}`, plus `"timestamp"` (ms since the epoch) for a 410.

    with dev_apns_peer(dev_wallet.paths) as peer:      # or apns_peer(cert, key, [root.pem, wwdr.pem])
        peer.script(200, (410, "Unregistered"))      # the next answers, in order; then 200 again
        peer.answer_token("ab12…", (400, "BadDeviceToken"))  # every request to that token, until reset()
        ... settings.apns_url = peer.url, the worker sends ...
        [first, second] = peer.wait_for_requests(2)  # or `await peer.wait_for_requests_async(2)`
        assert first.topic == DEV_PASS_TYPE_ID and first.body == b"{}"

Which answer a request gets, first match wins:
1. a method other than POST: 405 `MethodNotAllowed`; a path other than `/3/device/{token}`: 404 `BadPath`;
   an empty token: 400 `MissingDeviceToken`;
2. (with `validate=True`, the default) a request Apple would refuse whatever the script says: a repeated
   `apns-*` header (`DuplicateHeaders`), an `apns-id` that is not a UUID (`BadMessageId`), an
   `apns-priority` not 1, 5 or 10 (`BadPriority`), an `apns-expiration` not a whole number of seconds
   (`BadExpirationDate`), an unknown `apns-push-type` (`InvalidPushType`), an `apns-collapse-id` over 64 bytes
   (`BadCollapseId`), an empty body (`PayloadEmpty`), a body over 4 KB (5 KB for voip): 413 `PayloadTooLarge`;
3. the token's override (`answer_token`), which does not consume the script;
4. the next scripted answer (`script`), consumed;
5. 200.

Every request is recorded (`requests`), whatever it was answered, before its answer is sent: once the client
holds a response, its record is there. The client certificate: hypercorn does not expose it to the
application (its ASGI scope has no `tls` extension), so a request's record cannot name it; instead every
accepted TLS connection (certificate verified, `h2` negotiated) is recorded in `handshakes`, with the
certificate's subject and issuer, in order. A request's `client` (address, port) tells its connection apart.

The server runs hypercorn in a background thread with its own event loop (`tests/peer_server.py`), on a free
port of 127.0.0.1 bound before the thread starts (a client connecting early waits in the listen queue); it
starts in a few milliseconds, and stops in a fraction of a second even with a client's connection open. One peer
can serve many tests: `reset()` forgets the script, the overrides and the records. A connection's network or TLS error
is the client's business (logged at DEBUG); an error of the peer itself is raised when the block ends.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import ssl
import time
import uuid
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from hypercorn.config import Config
from hypercorn.typing import ASGISendCallable, HTTPScope

from loyalty.wallet.dev_certs import DevCertificatePaths
from tests.peer_server import PeerApplication, RequestRecords, serve_in_thread

__all__ = [
    "Answer",
    "AnswerLike",
    "ApnsPeer",
    "Handshake",
    "RecordedRequest",
    "apns_peer",
    "dev_apns_peer",
]

logger = logging.getLogger("tests.apns_peer")

# The reason an error status has when a script gives none, where Apple documents exactly one for it.
# 400 and 403 have many reasons, each meaning something else to the worker: a script must name one.
DEFAULT_REASONS: dict[int, str] = {
    404: "BadPath",
    405: "MethodNotAllowed",
    410: "Unregistered",
    413: "PayloadTooLarge",
    429: "TooManyRequests",
    500: "InternalServerError",
    503: "ServiceUnavailable",
}
APNS_STATUSES = frozenset({200, 400, 403, 404, 405, 410, 413, 429, 500, 503})
PUSH_TYPES = frozenset(
    {
        "alert",
        "background",
        "location",
        "voip",
        "complication",
        "fileprovider",
        "mdm",
        "liveactivity",
        "pushtotalk",
        "widgets",
        "controls",
    }
)
MAX_PAYLOAD = 4096
MAX_VOIP_PAYLOAD = 5120
MAX_COLLAPSE_ID = 64
DEVICE_PATH = "/3/device/"
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


@dataclass(frozen=True)
class Answer:
    """What the peer answers one request: a status and, for an error, Apple's reason string. A 410's
    `timestamp` (ms since the epoch) is the moment it is answered unless given here."""

    status: int
    reason: str | None = None
    timestamp_ms: int | None = None

    def __post_init__(self) -> None:
        if self.status not in APNS_STATUSES:
            raise ValueError(f"APNs never answers {self.status}; it answers {sorted(APNS_STATUSES)}")
        if self.status == 200 and self.reason is not None:
            raise ValueError("a 200 has no reason")
        if self.status != 200 and self.reason is None:
            if self.status not in DEFAULT_REASONS:
                raise ValueError(f"a {self.status} needs Apple's reason string, e.g. (400, 'BadDeviceToken')")
            object.__setattr__(self, "reason", DEFAULT_REASONS[self.status])


AnswerLike = Answer | int | tuple[int, str | None]


def as_answer(value: AnswerLike) -> Answer:
    """200, (410, "Unregistered"), (429, None) or an Answer, as an Answer."""
    if isinstance(value, Answer):
        return value
    if isinstance(value, int):
        return Answer(value)
    status, reason = value
    return Answer(status, reason)


@dataclass(frozen=True)
class RecordedRequest:
    """One request the peer received, and what it answered."""

    method: str
    path: str
    token: str | None  # the `{token}` of `/3/device/{token}`; None for another path
    headers: tuple[tuple[str, str], ...]  # every header in order, names in lower case, as HTTP/2 sends them
    body: bytes
    http_version: str  # "2"
    client: tuple[str, int] | None  # the client's address and port: one port per connection
    status: int
    reason: str | None
    apns_id: str  # the `apns-id` answered
    received_at: float = field(repr=False)  # time.monotonic()

    def header(self, name: str) -> str | None:
        """The first value of header `name` (any case), or None."""
        name = name.lower()
        return next((value for key, value in self.headers if key == name), None)

    def header_values(self, name: str) -> list[str]:
        name = name.lower()
        return [value for key, value in self.headers if key == name]

    @property
    def topic(self) -> str | None:
        return self.header("apns-topic")

    @property
    def push_type(self) -> str | None:
        return self.header("apns-push-type")

    @property
    def priority(self) -> str | None:
        return self.header("apns-priority")

    @property
    def expiration(self) -> str | None:
        return self.header("apns-expiration")

    @property
    def authorization(self) -> str | None:
        return self.header("authorization")

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Handshake:
    """One accepted TLS connection: the client certificate it presented (verified against the CA files)."""

    subject: str  # RFC 4514, e.g. "C=LU,O=Loyalty development,OU=DEVTEAM123,CN=Pass Type ID: …,UID=pass.…"
    issuer: str
    certificate: x509.Certificate = field(repr=False)
    alpn_protocol: str


class ApnsPeer(RequestRecords[RecordedRequest]):
    """The running peer's script and records; made by `apns_peer()`, safe to use from any thread."""

    def __init__(self, host: str, port: int, *, validate: bool) -> None:
        super().__init__("APNs peer")  # the requests, `_lock` and the application's failures
        self.host = host
        self.port = port
        self.url = f"https://{host}:{port}"  # LOYALTY_APNS_URL
        self.validate = validate
        self._script: deque[Answer] = deque()
        self._overrides: dict[str, Answer] = {}
        self._handshakes: list[Handshake] = []

    # --- the script ------------------------------------------------------------------------------------

    def script(self, *answers: AnswerLike) -> None:
        """Appends answers to the queue: each request to a device (not refused by rule 1 or 2, nor
        overridden for its token) takes the next one; once it is empty, 200."""
        normalised = [as_answer(answer) for answer in answers]
        with self._lock:
            self._script.extend(normalised)

    def answer_token(self, token: str, answer: AnswerLike | None) -> None:
        """Every request to `token` gets `answer` (None removes the override), without consuming the script."""
        with self._lock:
            if answer is None:
                self._overrides.pop(token, None)
            else:
                self._overrides[token] = as_answer(answer)

    @property
    def unused_script(self) -> list[Answer]:
        """The scripted answers no request has taken yet."""
        with self._lock:
            return list(self._script)

    def reset(self) -> None:
        """Forgets the script, the token overrides, the requests and the handshakes."""
        with self._lock:
            self._script.clear()
            self._overrides.clear()
            self._requests.clear()
            self._handshakes.clear()

    # --- the records -----------------------------------------------------------------------------------

    @property
    def handshakes(self) -> list[Handshake]:
        """Every accepted TLS connection since the start or the last reset(), in order."""
        with self._lock:
            return list(self._handshakes)

    # --- the server's side -----------------------------------------------------------------------------

    def _record_handshake(self, handshake: Handshake) -> None:
        with self._lock:
            self._handshakes.append(handshake)

    def _decide(
        self, method: str, path: str, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[str | None, Answer, str]:
        """The token, the answer and the apns-id for one request (the module's docstring: first match wins)."""
        request_id = next((value for key, value in headers if key == "apns-id"), None)
        apns_id = request_id if request_id is not None and _UUID.fullmatch(request_id) else str(uuid.uuid4())
        token = path[len(DEVICE_PATH) :] if path.startswith(DEVICE_PATH) else None
        if method != "POST":
            return token, Answer(405), apns_id
        if token is None or "/" in token:
            return None, Answer(404), apns_id
        if not token:
            return token, Answer(400, "MissingDeviceToken"), apns_id
        if self.validate:
            refusal = _refusal(headers, body)
            if refusal is not None:
                return token, refusal, apns_id
        with self._lock:
            if token in self._overrides:
                return token, self._overrides[token], apns_id
            if self._script:
                return token, self._script.popleft(), apns_id
        return token, Answer(200), apns_id

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)
            self._lock.notify_all()


def _refusal(headers: list[tuple[str, str]], body: bytes) -> Answer | None:
    """What Apple answers a request it refuses whatever the device's state, or None."""
    names = [key for key, _ in headers if key.startswith("apns-")]
    if len(names) != len(set(names)):
        return Answer(400, "DuplicateHeaders")
    values = dict(headers)
    if "apns-id" in values and not _UUID.fullmatch(values["apns-id"]):
        return Answer(400, "BadMessageId")
    if "apns-priority" in values and values["apns-priority"] not in {"1", "5", "10"}:
        return Answer(400, "BadPriority")
    expiration = values.get("apns-expiration")
    if expiration is not None and not (expiration.isascii() and expiration.isdigit()):
        return Answer(400, "BadExpirationDate")
    push_type = values.get("apns-push-type")
    if push_type is not None and push_type not in PUSH_TYPES:
        return Answer(400, "InvalidPushType")
    if len(values.get("apns-collapse-id", "").encode()) > MAX_COLLAPSE_ID:
        return Answer(400, "BadCollapseId")
    if not body:
        return Answer(400, "PayloadEmpty")
    if len(body) > (MAX_VOIP_PAYLOAD if push_type == "voip" else MAX_PAYLOAD):
        return Answer(413, "PayloadTooLarge")
    return None


class _Application(PeerApplication):
    """The ASGI application: records each request, then answers it."""

    def __init__(self, peer: ApnsPeer) -> None:
        super().__init__(peer._failures)
        self._peer = peer

    async def respond(
        self, scope: HTTPScope, headers: list[tuple[str, str]], body: bytes, send: ASGISendCallable
    ) -> None:
        token, answer, apns_id = self._peer._decide(scope["method"], scope["path"], headers, body)
        self._peer._record(
            RecordedRequest(
                method=scope["method"],
                path=scope["path"],
                token=token,
                headers=tuple(headers),
                body=body,
                http_version=scope["http_version"],
                client=scope["client"],
                status=answer.status,
                reason=answer.reason,
                apns_id=apns_id,
                received_at=time.monotonic(),
            )
        )
        response_headers = [(b"apns-id", apns_id.encode("ascii"))]
        payload = b""
        if answer.status != 200:
            error: dict[str, object] = {"reason": answer.reason}
            if answer.status == 410:
                error["timestamp"] = answer.timestamp_ms if answer.timestamp_ms is not None else time.time_ns() // 10**6
            payload = json.dumps(error).encode()
            response_headers += [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(payload))]
        await send(
            {"type": "http.response.start", "status": answer.status, "headers": response_headers, "trailers": False}
        )
        await send({"type": "http.response.body", "body": payload, "more_body": False})


class _Config(Config):
    """hypercorn's configuration with a TLS context made by the peer (hypercorn's own loads one CA file)."""

    def __init__(self, context: ssl.SSLContext) -> None:
        super().__init__()
        self._context = context

    def create_ssl_context(self) -> ssl.SSLContext:
        return self._context


def _server_context(certificate: Path, key: Path, client_ca_files: Sequence[Path], peer: ApnsPeer) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2  # RFC 9113 section 9.2
    context.set_ciphers("ECDHE+AESGCM")  # RFC 9113 section 9.2.2 (TLS 1.2); TLS 1.3's are all allowed
    context.options |= ssl.OP_NO_COMPRESSION
    context.load_cert_chain(certfile=certificate, keyfile=key)
    for ca_file in client_ca_files:
        context.load_verify_locations(cafile=ca_file)
    context.verify_mode = ssl.CERT_REQUIRED
    context.set_alpn_protocols(["h2"])

    class _AcceptingSSLObject(ssl.SSLObject):
        """Closes a connection that did not negotiate h2 (OpenSSL goes on without ALPN when the client
        offers no h2), and records the client certificate of every other."""

        def do_handshake(self) -> None:
            super().do_handshake()  # raises until the handshake is done; a refused certificate raises
            protocol = self.selected_alpn_protocol()
            if protocol != "h2":
                raise ssl.SSLError(f"the APNs peer speaks HTTP/2 only; ALPN chose {protocol!r}")
            der = self.getpeercert(binary_form=True)
            if der is None:  # not with CERT_REQUIRED; kept for the type checker
                raise ssl.SSLError("no client certificate")
            presented = x509.load_der_x509_certificate(der)
            peer._record_handshake(
                Handshake(
                    subject=presented.subject.rfc4514_string(),
                    issuer=presented.issuer.rfc4514_string(),
                    certificate=presented,
                    alpn_protocol=protocol,
                )
            )

    context.sslobject_class = _AcceptingSSLObject
    return context


@contextmanager
def apns_peer(
    certificate: Path,
    key: Path,
    client_ca_files: Path | Sequence[Path],
    *,
    validate: bool = True,
    idle_timeout: float = 300.0,
) -> Iterator[ApnsPeer]:
    """Serves APNs on a free port of 127.0.0.1 until the block ends.

    `certificate`/`key`: the server's (the dev chain's `apns-peer.pem`/`apns-peer.key`, for localhost and
    127.0.0.1). `client_ca_files`: what a client certificate must chain to (`root.pem` and `wwdr.pem`, which
    issued `pass.pem`). `validate`: refuse what Apple refuses (the module's docstring, rule 2).
    `idle_timeout`: seconds after which an idle connection is closed (Apple keeps them open for long)."""
    ca_files = [client_ca_files] if isinstance(client_ca_files, Path) else list(client_ca_files)
    listener = socket.create_server(("127.0.0.1", 0))  # listening now: an early client waits in the queue
    host, port = listener.getsockname()[:2]
    peer = ApnsPeer(host, port, validate=validate)
    try:
        context = _server_context(certificate, key, ca_files, peer)
    except BaseException:
        listener.close()
        raise
    config = _Config(context)
    config.certfile, config.keyfile = str(certificate), str(key)  # hypercorn serves TLS only when both are set
    config.alpn_protocols = ["h2"]
    config.keep_alive_timeout = idle_timeout
    with serve_in_thread(_Application(peer), config, listener, name="APNs peer", logger=logger):
        yield peer
    # reached only when the block itself succeeded and the server did not fail
    if peer._failures:
        raise RuntimeError("the APNs peer failed to answer a request") from peer._failures[0]


@contextmanager
def dev_apns_peer(paths: DevCertificatePaths, *, validate: bool = True) -> Iterator[ApnsPeer]:
    """The peer on the development chain (`write_dev_certificates`): it trusts what `pass.pem` chains to."""
    with apns_peer(
        paths.apns_peer_certificate,
        paths.apns_peer_key,
        [paths.root_certificate, paths.wwdr_certificate],
        validate=validate,
    ) as peer:
        yield peer
