"""A local Google peer for the tests (WALLET.md, "Google Wallet" and "Tests"): Google's OAuth 2.0 token endpoint
and the Google Wallet REST API's `loyaltyClass` and `loyaltyObject` methods, over plain HTTP/1.1 on 127.0.0.1.

    with google_peer(certificate_pem, "wallet@project.iam.gserviceaccount.com") as peer:
        ... the service-account file's token_uri = peer.token_uri, LOYALTY_GOOGLE_API_URL = peer.url ...
        peer.script("PATCH", "/walletobjects/v1/loyaltyObject/*", 500)   # the next matching request: 500
        [token, insert] = peer.wait_for_requests(2)     # or `await peer.wait_for_requests_async(2)`
        assert peer.invalid == [] and peer.quota_refusals == []

The token endpoint, `POST /token`, is the one google-auth's service-account credentials call (RFC 7523, the JWT
bearer grant): a form `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<JWT>`. The assertion
must be an RS256 JWT signed by the key of the certificate given to the peer, `aud` Google's token endpoint
`https://oauth2.googleapis.com/token` (google-auth writes it whatever the token_uri) or the peer's `token_uri`,
`iss` the service account's e-mail, `iat`/`exp` current and at most an hour apart, and `scope` must hold
`https://www.googleapis.com/auth/wallet_object.issuer`. The answer is `{"access_token", "expires_in": 3600,
"token_type": "Bearer"}`; a refused assertion gets 400 `{"error": "invalid_grant"}` (`invalid_scope` without
the Wallet scope, `unsupported_grant_type` for another grant).

The REST paths are those of the discovery document (`tests/discovery.py`), under `/walletobjects/v1/`. Every
request takes the first of these answers that applies:
1. a path or HTTP method the document does not have: 404 `NOT_FOUND`;
2. no `Authorization: Bearer <token>` with a token this peer issued within the hour: 401 `UNAUTHENTICATED`;
3. a malformed request (the body, or a query parameter the method does not take): 400 `INVALID_ARGUMENT`, each
   problem in the message and in `invalid`. The body is validated against the method's request schema
   (`LoyaltyClass`, `LoyaltyObject`, `AddMessageRequest`): with `patch=True` for a PATCH (null clears a field),
   with the required fields for an insert or update. The discovery document has `notifyPreference` as a field
   of `LoyaltyObject` and `LoyaltyClass` only, not as a query parameter: `?notifyPreference=` is refused here,
   as Google refuses a query parameter it cannot bind;
4. the next scripted answer whose method and path match (`script`), consumed;
5. a method this peer does not serve (list, modifyLinkedOfferObjects, other kinds of passes): 501 `UNIMPLEMENTED`;
6. the in-memory store, as Google documents the methods:
   - insert (POST): 200 with the stored resource; 409 `ALREADY_EXISTS` if the id is taken; an object whose
     `classId` is not a stored class: 404; an object of a `DRAFT` class: 400 ("a draft class cannot be used to
     create any object");
   - get: 200 / 404; patch (PATCH): the given top-level fields replace the stored ones, null removes one; update
     (PUT): replaces the resource; both 404 when it does not exist, 400 when the body's id is another;
   - addMessage (POST `.../{id}/addMessage`, body `{"message": {...}}`): appends the message to the resource's
     `messages` (with an `id` if it had none), answers `{"resource": <resource>}`;
   - more than 10 `messages` on a resource: 400 ("the maximum number of these fields is 10");
   - a class's `reviewStatus` may be set only to `DRAFT` or `UNDER_REVIEW`, and never back to `DRAFT` (400
     otherwise); the stored class then reads `APPROVED` ("the platform will automatically set this field to
     approved"), so a client that sends back what it read is refused;
   - `notifyPreference` is ephemeral ("needs to be set with each PATCH or UPDATE request"): it is not stored;
   - notices: Google allows 3 notifications per pass in 24 hours, messages and field updates together. An
     object's notices are its `addMessage` calls whose message is `TEXT_AND_NOTIFY` and its PATCH/update calls
     with `notifyPreference: "NOTIFY_ON_UPDATE"` (Google triggers field-update notices from those two methods
     only; an insert has no holder to notify); the fourth since `reset()` gets 429 `RESOURCE_EXHAUSTED`
     (Google's QuotaExceeded), is recorded in `quota_refusals` and changes nothing.

Errors use Google's envelope `{"error": {"code", "message", "status", "errors": [{"message", "domain",
"reason"}]}}`. Every request is recorded (`requests`) before its answer is sent. `reset()` forgets the script,
the records, the store and the notice counts, but not the access tokens (a client keeps its token across
tests); `expire_tokens()` makes every issued token unknown (the next call gets 401).

The server runs hypercorn in a background thread with its own event loop (`tests/peer_server.py`), on a free
port of 127.0.0.1 bound before the thread starts; an error of the peer itself is raised when the block ends.
"""

from __future__ import annotations

import base64
import copy
import fnmatch
import json
import logging
import re
import secrets
import socket
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from google.auth import crypt, jwt
from google.auth import exceptions as google_auth_exceptions
from hypercorn.config import Config
from hypercorn.typing import ASGISendCallable, HTTPScope

from tests import discovery
from tests.peer_server import PeerApplication, RequestRecords, serve_in_thread

__all__ = [
    "API_PREFIX",
    "JWT_BEARER_GRANT",
    "WALLET_SCOPE",
    "GooglePeer",
    "QuotaRefusal",
    "RecordedRequest",
    "ScriptedAnswer",
    "google_error",
    "google_peer",
]

logger = logging.getLogger("tests.google_peer")

WALLET_SCOPE = "https://www.googleapis.com/auth/wallet_object.issuer"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
API_PREFIX = "/walletobjects/v1/"
TOKEN_PATH = "/token"
# The assertion's audience: google-auth's service-account credentials always write Google's token endpoint
# there, whatever their token_uri (google/oauth2/service_account.py); the peer also takes its own token_uri.
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
TOKEN_LIFETIME = 3600  # seconds, as Google's token endpoint grants
MAX_ASSERTION_LIFETIME = 3600  # Google refuses an assertion whose exp is more than an hour after its iat
MAX_MESSAGES = 10
NOTIFICATION_BUDGET = 3
NOTIFY_ON_UPDATE = "NOTIFY_ON_UPDATE"
TEXT_AND_NOTIFY = "TEXT_AND_NOTIFY"
SETTABLE_REVIEW_STATUSES = frozenset({"DRAFT", "UNDER_REVIEW"})

# Google's canonical status and its JSON API's standard reason for each HTTP status a script may give.
STATUSES: dict[int, tuple[str, str]] = {
    400: ("INVALID_ARGUMENT", "badRequest"),
    401: ("UNAUTHENTICATED", "authError"),
    403: ("PERMISSION_DENIED", "forbidden"),
    404: ("NOT_FOUND", "notFound"),
    409: ("ALREADY_EXISTS", "duplicate"),
    429: ("RESOURCE_EXHAUSTED", "rateLimitExceeded"),
    500: ("INTERNAL", "backendError"),
    501: ("UNIMPLEMENTED", "notImplemented"),
    502: ("UNAVAILABLE", "backendError"),
    503: ("UNAVAILABLE", "backendError"),
    504: ("DEADLINE_EXCEEDED", "backendError"),
}
# The OAuth 2.0 error code (RFC 6749 section 5.2) of a scripted token endpoint answer without a body.
OAUTH_ERRORS: dict[int, str] = {400: "invalid_grant", 401: "invalid_client", 403: "access_denied"}

_SERVED_RESOURCES = frozenset({"loyaltyclass", "loyaltyobject"})
_SERVED_METHODS = frozenset({"insert", "get", "patch", "update", "addmessage"})
_RESOURCE_ID = re.compile(r"[A-Za-z0-9._-]+")
_CLOCK_SKEW = 10  # seconds of iat/exp tolerance


def google_error(code: int, message: str, *, status: str | None = None, reason: str | None = None) -> dict[str, Any]:
    """Google's JSON error envelope for HTTP status `code`."""
    default_status, default_reason = STATUSES.get(code, ("UNKNOWN", "unknown"))
    return {
        "error": {
            "code": code,
            "message": message,
            "errors": [{"message": message, "domain": "global", "reason": reason or default_reason}],
            "status": status or default_status,
        }
    }


@dataclass
class ScriptedAnswer:
    """An answer forced on the next `times` requests with this method (or "*") and a path matching
    `path_pattern` (a shell-style pattern, `*` matching any characters including `/`, or a compiled regular
    expression, which must match the whole path)."""

    method: str
    path_pattern: str | re.Pattern[str]
    status: int
    body: Any = None  # None: Google's error envelope for an error, {} for a success
    times: int = 1  # how many requests it still answers

    def matches(self, method: str, path: str) -> bool:
        if self.method != "*" and self.method.upper() != method:
            return False
        if isinstance(self.path_pattern, re.Pattern):
            return self.path_pattern.fullmatch(path) is not None
        return fnmatch.fnmatchcase(path, self.path_pattern)


@dataclass(frozen=True)
class RecordedRequest:
    """One request the peer received, and what it answered."""

    method: str
    path: str
    query: dict[str, str]  # the URL's query parameters (the last value of a repeated one)
    headers: tuple[tuple[str, str], ...]  # every header in order, names in lower case
    body: Any  # the parsed JSON body, the token endpoint's form as a dict, or None without a body
    raw_body: bytes = field(repr=False)
    status: int
    answer: Any  # the JSON answered
    method_id: str | None  # the discovery method, e.g. "walletobjects.loyaltyobject.patch"; "token"; None
    resource_id: str | None  # the `{resourceId}` of the path, or an insert body's `id`
    scripted: bool  # answered by `script`
    received_at: float = field(repr=False)  # time.monotonic()

    def header(self, name: str) -> str | None:
        """The first value of header `name` (any case), or None."""
        name = name.lower()
        return next((value for key, value in self.headers if key == name), None)

    @property
    def authorization(self) -> str | None:
        return self.header("authorization")


@dataclass(frozen=True)
class QuotaRefusal:
    """A notice over the budget, answered 429: which object, which method, and the notices it already had."""

    object_id: str
    method_id: str
    notices: int


@dataclass
class _Answer:
    status: int
    body: Any
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)


class _Refused(Exception):
    """A request the store refuses: its answer (raised inside the store's operations)."""

    def __init__(self, status: int, message: str, *, invalid: bool = False, grpc_status: str | None = None) -> None:
        super().__init__(message)
        self.answer = _Answer(status, google_error(status, message, status=grpc_status))
        self.invalid = invalid


class GooglePeer(RequestRecords[RecordedRequest]):
    """The running peer's script, store and records; made by `google_peer()`, safe to use from any thread."""

    def __init__(
        self, host: str, port: int, certificate_pem: bytes, service_account_email: str, *, notification_budget: int
    ) -> None:
        super().__init__("Google peer")  # the requests, `_lock` and the application's failures
        self.host = host
        self.port = port
        self.url = f"http://{host}:{port}"  # LOYALTY_GOOGLE_API_URL
        self.token_uri = self.url + TOKEN_PATH  # the service-account file's token_uri
        self.certificate_pem = certificate_pem
        self.service_account_email = service_account_email
        self.notification_budget = notification_budget
        self._script: list[ScriptedAnswer] = []
        self._tokens: dict[str, float] = {}  # access token -> monotonic expiry
        self._classes: dict[str, dict[str, Any]] = {}
        self._objects: dict[str, dict[str, Any]] = {}
        self._notices: dict[str, int] = {}
        self._invalid: list[str] = []
        self._quota_refusals: list[QuotaRefusal] = []

    # --- the script and the state --------------------------------------------------------------------------

    def script(
        self, method: str, path_pattern: str | re.Pattern[str], status: int, body: Any = None, times: int = 1
    ) -> None:
        """The next `times` requests with `method` ("*": any) whose path matches `path_pattern` get `status`
        and `body` (default: Google's error envelope, or `{}` for a 2xx; the token endpoint's default error is
        OAuth's `{"error": ...}`), after the checks of authentication and validity (rules 1-3), before the
        store, which they leave alone. Entries are tried in the order they were added."""
        if not 100 <= status <= 599:
            raise ValueError(f"not an HTTP status: {status}")
        if times < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._script.append(ScriptedAnswer(method.upper(), path_pattern, status, body, times))

    @property
    def unused_script(self) -> list[ScriptedAnswer]:
        """The scripted answers no request has taken yet (with the number of requests each still answers)."""
        with self._lock:
            return [copy.copy(entry) for entry in self._script]

    def reset(self) -> None:
        """Forgets the script, the records, the stored classes and objects and the notice counts (not the
        access tokens)."""
        with self._lock:
            self._script.clear()
            self._classes.clear()
            self._objects.clear()
            self._notices.clear()
            self._requests.clear()
            self._invalid.clear()
            self._quota_refusals.clear()

    def expire_tokens(self) -> None:
        """Every access token issued so far is refused from now on (401), as after its hour."""
        with self._lock:
            self._tokens.clear()

    def put_class(self, resource: Mapping[str, Any]) -> None:
        """Stores a class as if it had been inserted earlier (no validation, no request recorded)."""
        with self._lock:
            self._classes[resource["id"]] = copy.deepcopy(dict(resource))

    def put_object(self, resource: Mapping[str, Any]) -> None:
        """Stores an object as if it had been inserted earlier (no validation, no request recorded)."""
        with self._lock:
            self._objects[resource["id"]] = copy.deepcopy(dict(resource))

    # --- the records ---------------------------------------------------------------------------------------

    @property
    def classes(self) -> dict[str, dict[str, Any]]:
        """A copy of the stored classes, by id."""
        with self._lock:
            return copy.deepcopy(self._classes)

    @property
    def objects(self) -> dict[str, dict[str, Any]]:
        """A copy of the stored objects, by id."""
        with self._lock:
            return copy.deepcopy(self._objects)

    @property
    def notices(self) -> dict[str, int]:
        """The notices each object has had since the start or the last reset()."""
        with self._lock:
            return dict(self._notices)

    @property
    def invalid(self) -> list[str]:
        """Every problem of every request answered 400 by the peer itself (not by the script), as
        "METHOD path: problem": a test asserts it is empty."""
        with self._lock:
            return list(self._invalid)

    @property
    def quota_refusals(self) -> list[QuotaRefusal]:
        """Every notice refused for being over the budget (429), in order."""
        with self._lock:
            return list(self._quota_refusals)

    # --- the server's side: one request --------------------------------------------------------------------

    def _handle(
        self, method: str, path: str, query_string: str, headers: list[tuple[str, str]], raw_body: bytes
    ) -> _Answer:
        """Decides, records and returns the answer to one request (the module's docstring)."""
        query_pairs = parse_qsl(query_string, keep_blank_values=True)
        body: Any = None
        method_id: str | None = None
        resource_id: str | None = None
        scripted = False
        with self._lock:
            if path == TOKEN_PATH:
                method_id = "token"
                body = dict(parse_qsl(raw_body.decode("latin-1"), keep_blank_values=True))
                answer, problems = self._token(method, headers, raw_body)
            else:
                answer, problems, body, method_id, resource_id = self._api(method, path, query_pairs, headers, raw_body)
            if answer is None:
                entry = next((entry for entry in self._script if entry.matches(method, path)), None)
                if entry is not None:
                    scripted = True
                    entry.times -= 1
                    if entry.times == 0:
                        self._script.remove(entry)
                    answer = self._scripted(entry, path)
                elif path == TOKEN_PATH:
                    answer = self._issue_token()
                else:
                    assert method_id is not None
                    answer = self._store(method, path, method_id, resource_id, body)
            self._invalid.extend(f"{method} {path}: {problem}" for problem in problems)
            self._requests.append(
                RecordedRequest(
                    method=method,
                    path=path,
                    query=dict(query_pairs),
                    headers=tuple(headers),
                    body=copy.deepcopy(body),
                    raw_body=raw_body,
                    status=answer.status,
                    answer=copy.deepcopy(answer.body),
                    method_id=method_id,
                    resource_id=resource_id,
                    scripted=scripted,
                    received_at=time.monotonic(),
                )
            )
            self._lock.notify_all()
            return answer

    def _scripted(self, entry: ScriptedAnswer, path: str) -> _Answer:
        if entry.body is not None:
            return _Answer(entry.status, copy.deepcopy(entry.body))
        if 200 <= entry.status < 300:
            return _Answer(entry.status, {})
        if path == TOKEN_PATH:
            return _Answer(entry.status, {"error": OAUTH_ERRORS.get(entry.status, "server_error")})
        return _Answer(entry.status, google_error(entry.status, f"scripted {entry.status}"))

    # --- the token endpoint --------------------------------------------------------------------------------

    def _token(self, method: str, headers: list[tuple[str, str]], raw_body: bytes) -> tuple[_Answer | None, list[str]]:
        """None when the assertion is good (the script or a new token answers), else the refusal and its
        problem."""

        def refuse(error: str, description: str, status: int = 400) -> tuple[_Answer, list[str]]:
            return _Answer(status, {"error": error, "error_description": description}), [f"{error}: {description}"]

        if method != "POST":
            return refuse("invalid_request", "the token endpoint takes POST only", 405)
        content_type = _header(headers, "content-type") or ""
        if content_type.split(";")[0].strip().lower() != "application/x-www-form-urlencoded":
            return refuse(
                "invalid_request", f"expected a form (application/x-www-form-urlencoded), not {content_type!r}"
            )
        form = parse_qsl(raw_body.decode("latin-1"), keep_blank_values=True)
        names = [name for name, _ in form]
        if len(names) != len(set(names)):
            return refuse("invalid_request", "a parameter is repeated")
        fields = dict(form)
        if fields.get("grant_type") != JWT_BEARER_GRANT:
            return refuse("unsupported_grant_type", f"grant_type must be {JWT_BEARER_GRANT}")
        assertion = fields.get("assertion")
        if not assertion:
            return refuse("invalid_request", "no assertion")
        try:
            header: Mapping[str, Any] = jwt.decode_header(assertion)  # type: ignore[no-untyped-call]
            claims: Mapping[str, Any] = jwt.decode(  # type: ignore[no-untyped-call]
                assertion,
                certs=self.certificate_pem,
                audience=[GOOGLE_TOKEN_AUDIENCE, self.token_uri],
                clock_skew_in_seconds=_CLOCK_SKEW,
            )
        except (ValueError, google_auth_exceptions.GoogleAuthError) as error:
            return refuse("invalid_grant", f"Invalid JWT: {error}")
        if header.get("alg") != "RS256":
            return refuse("invalid_grant", f"the assertion is signed with {header.get('alg')!r}, not RS256")
        if claims.get("iss") != self.service_account_email:
            return refuse("invalid_grant", "Invalid JWT: iss is not the service account's e-mail")
        if int(claims["exp"]) - int(claims["iat"]) > MAX_ASSERTION_LIFETIME:
            return refuse("invalid_grant", "Invalid JWT: exp is more than an hour after iat")
        scopes = str(claims.get("scope", "")).split()
        if WALLET_SCOPE not in scopes:
            return refuse("invalid_scope", f"the assertion's scope {scopes} lacks {WALLET_SCOPE}")
        return None, []

    def _issue_token(self) -> _Answer:
        token = "ya29." + secrets.token_urlsafe(48)
        self._tokens[token] = time.monotonic() + TOKEN_LIFETIME
        return _Answer(200, {"access_token": token, "expires_in": TOKEN_LIFETIME, "token_type": "Bearer"})

    # --- the REST API --------------------------------------------------------------------------------------

    def _api(
        self,
        method: str,
        path: str,
        query: list[tuple[str, str]],
        headers: list[tuple[str, str]],
        raw_body: bytes,
    ) -> tuple[_Answer | None, list[str], Any, str | None, str | None]:
        """Rules 1-3: the refusal (or None) and its problems, the parsed body, the method's id, the resource id."""
        try:
            match = discovery.find_method(method, path) if path.startswith(API_PREFIX) else None
        except LookupError:
            match = None
        if match is None:
            return _Answer(404, google_error(404, f"The requested URL {path} was not found.")), [], None, None, None
        spec = match.method
        resource_id = match.path_parameters.get("resourceId")

        scheme, _, token = (_header(headers, "authorization") or "").partition(" ")
        expiry = self._tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if expiry is None or expiry <= time.monotonic():
            message = (
                "Request is missing required authentication credential. Expected OAuth 2 access token."
                if not token
                else "Request had invalid authentication credentials. Expected OAuth 2 access token."
            )
            answer = _Answer(401, google_error(401, message), [(b"www-authenticate", b'Bearer realm="google-peer"')])
            return answer, [], _json_or_none(raw_body), spec.id, resource_id

        problems = [
            f"Cannot bind query parameter {name!r}: {spec.id} takes no such parameter"
            + (
                " (the discovery document has notifyPreference as a field of the body)"
                if name == "notifyPreference"
                else ""
            )
            for name, _ in query
            if name not in spec.query_parameters
        ]
        body: Any = None
        if spec.request is not None:
            content_type = (_header(headers, "content-type") or "").split(";")[0].strip().lower()
            if content_type != "application/json":
                problems.append(f"the body must be application/json, not {content_type!r}")
            try:
                body = json.loads(raw_body) if raw_body else None
            except ValueError as error:
                problems.append(f"Invalid JSON payload received: {error}")
            else:
                if body is None:
                    problems.append(f"the body must be a {spec.request}, got nothing")
                else:
                    problems += discovery.validate(
                        spec.request, body, patch=method == "PATCH", required=spec.name in {"insert", "update"}
                    )
            if spec.name == "insert" and isinstance(body, dict) and isinstance(body.get("id"), str):
                resource_id = body["id"]
        if problems:
            return _Answer(400, google_error(400, "; ".join(problems))), problems, body, spec.id, resource_id
        return None, [], body, spec.id, resource_id

    def _store(self, method: str, path: str, method_id: str, resource_id: str | None, body: Any) -> _Answer:
        """Rules 5 and 6: the store's answer (the body is valid)."""
        _, resource, name = method_id.split(".")
        if resource not in _SERVED_RESOURCES or name not in _SERVED_METHODS:
            return _Answer(501, google_error(501, f"the local Google peer does not implement {method_id}"))
        try:
            return self._operate(resource, name, method_id, resource_id, body)
        except _Refused as refusal:
            if refusal.invalid:
                self._invalid.append(f"{method} {path}: {refusal}")
            return refusal.answer

    def _operate(self, resource: str, name: str, method_id: str, resource_id: str | None, body: Any) -> _Answer:
        is_object = resource == "loyaltyobject"
        store = self._objects if is_object else self._classes
        kind = "object" if is_object else "class"
        if name == "insert":
            assert isinstance(body, dict) and resource_id is not None
            if not _RESOURCE_ID.fullmatch(resource_id):
                raise _Refused(
                    400, f"the {kind} id {resource_id!r} may hold only letters, digits, '.', '_', '-'", invalid=True
                )
            if resource_id in store:
                raise _Refused(409, f"Resource already exists: {resource_id}")
            new = _without_nulls(body)
            self._check(is_object, None, new, body)
            return self._commit(store, is_object, new, method_id, notice=False)
        assert resource_id is not None
        current = store.get(resource_id)
        if current is None:
            raise _Refused(404, f"Resource not found: {kind} {resource_id}")
        if name == "get":
            return _Answer(200, copy.deepcopy(current))
        assert isinstance(body, dict)
        if name == "addmessage":
            if "message" not in body:
                raise _Refused(400, "the AddMessageRequest has no message", invalid=True)
            message = _without_nulls(body["message"])
            message.setdefault("id", uuid.uuid4().hex)
            new = copy.deepcopy(current)
            new["messages"] = [*new.get("messages", []), message]
            self._check(is_object, current, new, {})
            committed = self._commit(
                store, is_object, new, method_id, notice=message.get("messageType") == TEXT_AND_NOTIFY
            )
            return _Answer(200, {"resource": committed.body})
        if body.get("id", resource_id) != resource_id:
            raise _Refused(400, f"the body's id {body['id']!r} is not the path's {resource_id!r}", invalid=True)
        if name == "patch":
            new = copy.deepcopy(current)
            for key, value in body.items():
                if value is None:
                    new.pop(key, None)
                else:
                    new[key] = _without_nulls(value)
        else:  # update
            new = _without_nulls(body)
        new["id"] = resource_id
        self._check(is_object, current, new, body)
        return self._commit(store, is_object, new, method_id, notice=body.get("notifyPreference") == NOTIFY_ON_UPDATE)

    def _check(
        self, is_object: bool, current: Mapping[str, Any] | None, new: Mapping[str, Any], sent: Mapping[str, Any]
    ) -> None:
        """What Google documents about a resource's contents beyond its schema: `current` the stored resource
        (None for an insert), `new` what it would become, `sent` the request's body."""
        messages = new.get("messages", [])
        if len(messages) > MAX_MESSAGES:
            raise _Refused(
                400, f"{len(messages)} messages: the maximum number of these fields is {MAX_MESSAGES}", invalid=True
            )
        if is_object:
            class_id = new.get("classId")
            if class_id is not None and (current is None or class_id != current.get("classId")):
                loyalty_class = self._classes.get(class_id)
                if loyalty_class is None:
                    raise _Refused(404, f"Resource not found: class {class_id}")
                if loyalty_class.get("reviewStatus") == "DRAFT":
                    raise _Refused(
                        400,
                        f"the class {class_id} is a DRAFT: a draft class cannot be used to create any object",
                        invalid=True,
                        grpc_status="FAILED_PRECONDITION",
                    )
            return
        if "reviewStatus" not in sent:
            return  # a patch or an addMessage that leaves it alone
        status = sent["reviewStatus"]
        if status not in SETTABLE_REVIEW_STATUSES:
            raise _Refused(400, f"reviewStatus may be set to DRAFT or UNDER_REVIEW only, not {status!r}", invalid=True)
        if status == "DRAFT" and current is not None and current.get("reviewStatus") != "DRAFT":
            raise _Refused(400, "a class's reviewStatus cannot go back to DRAFT", invalid=True)

    def _commit(
        self, store: dict[str, dict[str, Any]], is_object: bool, new: dict[str, Any], method_id: str, *, notice: bool
    ) -> _Answer:
        new.pop("notifyPreference", None)  # ephemeral: set with each request
        if not is_object and new.get("reviewStatus") == "UNDER_REVIEW":
            new["reviewStatus"] = "APPROVED"  # "the platform will automatically set this field to approved"
        if notice and is_object:
            had = self._notices.get(new["id"], 0)
            if had >= self.notification_budget:
                self._quota_refusals.append(QuotaRefusal(new["id"], method_id, had))
                raise _Refused(
                    429,
                    f"QuotaExceeded: the object {new['id']} has had {had} notifications; "
                    f"Google allows {self.notification_budget} per pass in 24 hours",
                )
            self._notices[new["id"]] = had + 1
        store[new["id"]] = new
        return _Answer(200, copy.deepcopy(new))


def _header(headers: list[tuple[str, str]], name: str) -> str | None:
    return next((value for key, value in headers if key == name), None)


def _json_or_none(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


def _without_nulls(value: Any) -> Any:
    """A copy of `value` with every null property dropped (a null clears a field: it is never stored)."""
    if isinstance(value, dict):
        return {key: _without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_without_nulls(item) for item in value]
    return value


class _Application(PeerApplication):
    """The ASGI application: reads each request, lets the peer decide and record, then answers."""

    def __init__(self, peer: GooglePeer) -> None:
        super().__init__(peer._failures)
        self._peer = peer

    async def respond(
        self, scope: HTTPScope, headers: list[tuple[str, str]], body: bytes, send: ASGISendCallable
    ) -> None:
        answer = self._peer._handle(
            scope["method"], scope["path"], scope["query_string"].decode("latin-1"), headers, body
        )
        payload = json.dumps(answer.body).encode()
        response_headers = [
            (b"content-type", b"application/json; charset=UTF-8"),
            (b"content-length", b"%d" % len(payload)),
            *answer.headers,
        ]
        await send(
            {"type": "http.response.start", "status": answer.status, "headers": response_headers, "trailers": False}
        )
        await send({"type": "http.response.body", "body": payload, "more_body": False})


@contextmanager
def google_peer(
    certificate_pem: bytes, service_account_email: str, *, notification_budget: int = NOTIFICATION_BUDGET
) -> Iterator[GooglePeer]:
    """Serves the token endpoint and the Wallet REST API on a free port of 127.0.0.1 until the block ends.

    `certificate_pem`: the PEM certificate of the service account's key (the assertions' signatures are checked
    with its public key). `service_account_email`: the assertions' `iss`. `notification_budget`: the notices an
    object may have (Google: 3 per pass in 24 hours)."""
    listener = socket.create_server(("127.0.0.1", 0))  # listening now: an early client waits in the queue
    host, port = listener.getsockname()[:2]
    peer = GooglePeer(host, port, certificate_pem, service_account_email, notification_budget=notification_budget)
    with serve_in_thread(_Application(peer), Config(), listener, name="Google peer", logger=logger):
        yield peer
    # reached only when the block itself succeeded and the server did not fail
    if peer._failures:
        raise RuntimeError("the Google peer failed to answer a request") from peer._failures[0]


def verified_save_link_claims(save_url: str, certificate: bytes) -> dict[str, Any]:
    """The claims of a Save to Google Wallet link's JWT once its RS256 signature verifies with the service
    account's certificate (google-auth's verifier; google-auth's `jwt.decode` would also demand an `exp`,
    which a save link does not carry). Raises AssertionError when the signature does not verify."""
    token = save_url.removeprefix("https://pay.google.com/gp/v/save/")
    assert token != save_url, f"not a save link: {save_url}"
    header_and_payload, _, signature = token.rpartition(".")
    verifier = crypt.RSAVerifier.from_string(certificate)  # type: ignore[no-untyped-call]
    padded = signature + "=" * (-len(signature) % 4)
    assert verifier.verify(header_and_payload.encode(), base64.urlsafe_b64decode(padded)), "bad signature"
    assert jwt.decode_header(token)["alg"] == "RS256"  # type: ignore[no-untyped-call]
    claims: dict[str, Any] = jwt.decode(token, verify=False)  # type: ignore[no-untyped-call]
    return claims
