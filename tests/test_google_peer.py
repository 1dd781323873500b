"""The discovery-document validator (tests/discovery.py) and the local Google peer (tests/google_peer.py)
themselves: Google's rules as the walletobjects.v1 document states them, google-auth's own token flow against
the peer, and the store, notice budget and script answering as Google documents."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import google.auth.transport
import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from google.auth import exceptions as google_auth_exceptions
from google.oauth2 import service_account

from tests import discovery
from tests.google_peer import WALLET_SCOPE, GooglePeer, google_peer

ISSUER = "3388000000012345678"
CLASS_ID = f"{ISSUER}.p1"
OBJECT_ID = f"{ISSUER}.serial-0001"
EMAIL = "wallet-tests@loyalty-dev.iam.gserviceaccount.com"
API = "/walletobjects/v1"


# --- bodies as WALLET.md builds them ------------------------------------------------------------------------


def localized(default: str, **translations: str) -> dict[str, Any]:
    return {
        "defaultValue": {"language": "en", "value": default},
        "translatedValues": [{"language": language, "value": value} for language, value in translations.items()],
    }


def loyalty_class(class_id: str = CLASS_ID, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": class_id,
        "issuerName": "Café Mousel",
        "programName": "Coffee card",
        "programLogo": {
            "sourceUri": {"uri": "https://loyalty.example.lu/wallet/img/logo/1/v3.png"},
            "contentDescription": localized("Café Mousel logo"),
        },
        "reviewStatus": "UNDER_REVIEW",
        "hexBackgroundColor": "#4a2c2a",
        "countryCode": "LU",
        "localizedProgramName": localized("Coffee card", fr="Carte café", de="Kaffeekarte", lb="Kaffiskaart"),
        "localizedIssuerName": localized("Café Mousel"),
        "localizedAccountIdLabel": localized("Card number", fr="Numéro de carte"),
        "localizedAccountNameLabel": localized("Name", fr="Nom"),
        "textModulesData": [
            {"id": "reward", "header": "Reward", "body": "A free coffee after 10 stamps"},
            {"id": "terms", "header": "Terms", "localizedBody": localized("One stamp per visit.")},
        ],
        "homepageUri": {"uri": "https://loyalty.example.lu/c/abc", "description": "Your card"},
    }
    body.update(changes)
    return body


def loyalty_object(object_id: str = OBJECT_ID, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": object_id,
        "classId": CLASS_ID,
        "state": "ACTIVE",
        "accountId": "LC-4821-0937",
        "accountName": "Anne",
        "loyaltyPoints": {"label": "Stamps", "balance": {"string": "7/10"}},
        "secondaryLoyaltyPoints": {"label": "Points", "balance": {"int": 120}},
        "barcode": {"type": "QR_CODE", "value": "Q7f3kPz9LmN2xV8cR4tY6wB1sD5gH0jA", "alternateText": "LC-4821-0937"},
        "heroImage": {"sourceUri": {"uri": "https://loyalty.example.lu/wallet/img/stamps/10/7/brown.png"}},
    }
    body.update(changes)
    return body


# --- the validator ------------------------------------------------------------------------------------------


def test_the_document_is_google_api_python_clients_copy() -> None:
    doc = discovery.document()
    assert (doc["name"], doc["version"]) == ("walletobjects", "v1")
    assert doc["rootUrl"] == "https://walletobjects.googleapis.com/"


def test_bodies_as_wallet_md_builds_them_are_valid() -> None:
    assert discovery.validate("LoyaltyClass", loyalty_class(), required=True) == []
    assert discovery.validate("LoyaltyObject", loyalty_object(), required=True) == []
    message = {"header": "Reward earned", "body": "Your coffee is on us", "messageType": "TEXT_AND_NOTIFY"}
    assert discovery.validate("AddMessageRequest", {"message": message}) == []
    discovery.assert_valid("LoyaltyObject", loyalty_object(state="INACTIVE", messages=[message]))


def test_an_unknown_field_is_a_problem_named_by_its_json_path() -> None:
    body = loyalty_object(loyaltyPoints={"label": "Stamps", "balance": {"string": "7/10"}, "balanceText": "7"})
    problems = discovery.validate("LoyaltyObject", body)
    assert len(problems) == 1
    assert problems[0].startswith("$.loyaltyPoints.balanceText: unknown field of LoyaltyPoints")
    with pytest.raises(AssertionError, match=r"\$\.loyaltyPoints\.balanceText"):
        discovery.assert_valid("LoyaltyObject", body)
    assert discovery.validate("LoyaltyObject", loyalty_object(notifyPreferences="NOTIFY_ON_UPDATE")) == [
        "$.notifyPreferences: unknown field of LoyaltyObject (did you mean 'notifyPreference'?)"
    ]


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        ({"accountId": 48210937}, "$.accountId"),  # a number where the schema says string
        ({"loyaltyPoints": {"label": "Points", "balance": {"int": "120"}}}, "$.loyaltyPoints.balance.int"),  # int32
        ({"loyaltyPoints": {"label": "Points", "balance": {"int": 1.5}}}, "$.loyaltyPoints.balance.int"),
        ({"loyaltyPoints": {"label": "Points", "balance": {"int": True}}}, "$.loyaltyPoints.balance.int"),
        ({"loyaltyPoints": {"label": "Points", "balance": {"int": 2**31}}}, "$.loyaltyPoints.balance.int"),
        ({"barcode": "Q7f3kPz9"}, "$.barcode"),
        ({"textModulesData": {"header": "Terms"}}, "$.textModulesData"),
        ({"heroImage": {"sourceUri": "https://loyalty.example.lu/hero.png"}}, "$.heroImage.sourceUri"),
        ({"disableExpirationNotification": "false"}, "$.disableExpirationNotification"),
        ({"state": "ARCHIVED"}, "$.state"),  # not in the enum
    ],
)
def test_a_wrong_type_or_value_is_a_problem(changes: dict[str, Any], path: str) -> None:
    problems = discovery.validate("LoyaltyObject", loyalty_object(**changes))
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{path}: ")


def test_a_64_bit_integer_may_be_a_string_or_an_integer() -> None:
    balance: dict[str, Any] = {"balance": {"money": {"currencyCode": "EUR", "micros": "2500000"}}}
    assert discovery.validate("LoyaltyPoints", balance) == []
    balance["balance"]["money"]["micros"] = 2_500_000
    assert discovery.validate("LoyaltyPoints", balance) == []
    balance["balance"]["money"]["micros"] = "2.5"
    [problem] = discovery.validate("LoyaltyPoints", balance)
    assert problem.startswith("$.balance.money.micros: expected an integer (int64)")


def deprecated_spellings(schema_name: str, field: str) -> list[str]:
    spec = discovery.schema(schema_name)["properties"][field]
    return [value for value, old in zip(spec["enum"], spec["enumDeprecated"], strict=True) if old]


@pytest.mark.parametrize(
    ("schema_name", "field", "spelling", "modern"),
    [
        ("LoyaltyObject", "state", "active", "ACTIVE"),
        ("LoyaltyObject", "state", "inactive", "INACTIVE"),
        ("LoyaltyClass", "reviewStatus", "underReview", "UNDER_REVIEW"),
        ("Barcode", "type", "qrCode", "QR_CODE"),
        ("Barcode", "type", "qrcode", "QR_CODE"),
        ("Message", "messageType", "text", "TEXT"),
    ],
)
def test_a_deprecated_enum_spelling_is_a_problem(schema_name: str, field: str, spelling: str, modern: str) -> None:
    assert spelling in deprecated_spellings(schema_name, field)  # the document flags it in enumDeprecated
    body = {field: spelling}
    assert discovery.validate(schema_name, body) == [
        f"$.{field}: {spelling!r} is a deprecated spelling (enumDeprecated); use {modern!r}"
    ]
    assert discovery.validate(schema_name, {field: modern}) == []


def test_a_deprecated_field_is_a_problem() -> None:
    problems = discovery.validate(
        "LoyaltyObject",
        loyalty_object(
            kind="walletobjects#loyaltyObject",
            version="1",
            heroImage={"sourceUri": {"uri": "https://loyalty.example.lu/h.png", "description": "stamps"}},
        ),
    )
    assert sorted(problem.split(":")[0] for problem in problems) == [
        "$.heroImage.sourceUri.description",
        "$.kind",
        "$.version",
    ]
    assert all("deprecated field" in problem for problem in problems)


def test_null_clears_a_field_only_in_a_patch() -> None:
    changes = {"secondaryLoyaltyPoints": None, "loyaltyPoints": {"label": "Stamps", "localizedLabel": None}}
    assert discovery.validate("LoyaltyObject", changes, patch=True) == []
    assert discovery.validate("LoyaltyObject", changes) == [
        "$.secondaryLoyaltyPoints: null (allowed only in a PATCH body, where it clears the field)",
        "$.loyaltyPoints.localizedLabel: null (allowed only in a PATCH body, where it clears the field)",
    ]
    assert discovery.validate("LoyaltyObject", {"messages": [None]}, patch=True) == ["$.messages[0]: null in an array"]


def test_required_fields_come_from_the_documents_descriptions() -> None:
    assert discovery.required_properties("LoyaltyObject") == {"id", "classId", "state"}
    assert discovery.required_properties("LoyaltyClass") == {
        "id",
        "issuerName",
        "programName",
        "programLogo",
        "reviewStatus",
    }
    assert discovery.required_properties("LoyaltyPoints") == {"balance"}
    body = loyalty_object(loyaltyPoints={"label": "Stamps"})
    del body["state"]
    assert discovery.validate("LoyaltyObject", body) == []
    assert discovery.validate("LoyaltyObject", body, required=True) == [
        "$.loyaltyPoints.balance: missing (required in LoyaltyPoints)",
        "$.state: missing (required in LoyaltyObject)",
    ]
    assert discovery.validate("LoyaltyObject", {"accountName": "Anne"}, patch=True, required=True) == []


@pytest.mark.parametrize(
    ("http_method", "path", "request_schema", "method_id"),
    [
        ("POST", f"{API}/loyaltyClass", "LoyaltyClass", "walletobjects.loyaltyclass.insert"),
        ("GET", f"{API}/loyaltyClass/{CLASS_ID}", None, "walletobjects.loyaltyclass.get"),
        ("PATCH", f"{API}/loyaltyClass/{CLASS_ID}", "LoyaltyClass", "walletobjects.loyaltyclass.patch"),
        ("PUT", f"{API}/loyaltyClass/{CLASS_ID}", "LoyaltyClass", "walletobjects.loyaltyclass.update"),
        ("POST", f"{API}/loyaltyObject", "LoyaltyObject", "walletobjects.loyaltyobject.insert"),
        ("GET", f"{API}/loyaltyObject/{OBJECT_ID}", None, "walletobjects.loyaltyobject.get"),
        ("PATCH", f"{API}/loyaltyObject/{OBJECT_ID}", "LoyaltyObject", "walletobjects.loyaltyobject.patch"),
        ("PUT", f"{API}/loyaltyObject/{OBJECT_ID}", "LoyaltyObject", "walletobjects.loyaltyobject.update"),
        (
            "POST",
            f"{API}/loyaltyObject/{OBJECT_ID}/addMessage",
            "AddMessageRequest",
            "walletobjects.loyaltyobject.addmessage",
        ),
    ],
)
def test_rest_paths_map_to_the_documents_methods(
    http_method: str, path: str, request_schema: str | None, method_id: str
) -> None:
    assert discovery.method_schema(http_method, path) == request_schema
    assert discovery.method_schema(http_method, path + "?prettyPrint=false") == request_schema
    match = discovery.find_method(http_method, path)
    assert match.method.id == method_id
    assert match.path_parameters == ({} if path.endswith(("Class", "Object")) else {"resourceId": path.split("/")[4]})


@pytest.mark.parametrize(
    ("http_method", "path"),
    [
        ("DELETE", f"{API}/loyaltyObject/{OBJECT_ID}"),
        ("POST", f"{API}/loyaltyObject/{OBJECT_ID}"),
        ("GET", f"{API}/loyaltyObject/{OBJECT_ID}/messages"),
        ("GET", "/walletobjects/v2/loyaltyObject/1.a"),
    ],
)
def test_a_path_the_document_does_not_have_is_a_lookup_error(http_method: str, path: str) -> None:
    with pytest.raises(LookupError):
        discovery.method_schema(http_method, path)


def test_notify_preference_is_a_body_field_of_objects_and_classes_not_a_query_parameter() -> None:
    for name in ("LoyaltyObject", "LoyaltyClass"):
        assert discovery.schema(name)["properties"]["notifyPreference"]["enum"] == [
            "NOTIFICATION_SETTINGS_FOR_UPDATES_UNSPECIFIED",
            "NOTIFY_ON_UPDATE",
        ]
    for verb in ("PATCH", "PUT"):
        method = discovery.find_method(verb, f"{API}/loyaltyObject/{OBJECT_ID}").method
        assert "notifyPreference" not in method.query_parameters


# --- the peer -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServiceAccount:
    key_pem: str
    certificate_pem: bytes

    def info(self, token_uri: str) -> dict[str, str]:
        """A service-account key file's contents, as the Cloud console writes it."""
        return {
            "type": "service_account",
            "project_id": "loyalty-dev",
            "private_key_id": "0123456789abcdef",
            "private_key": self.key_pem,
            "client_email": EMAIL,
            "client_id": "100000000000000000001",
            "token_uri": token_uri,
        }

    def credentials(self, token_uri: str, scopes: list[str] | None = None) -> service_account.Credentials:
        credentials: service_account.Credentials = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
            self.info(token_uri), scopes=[WALLET_SCOPE] if scopes is None else scopes
        )
        return credentials


def make_service_account() -> ServiceAccount:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, EMAIL)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return ServiceAccount(key_pem, certificate.public_bytes(serialization.Encoding.PEM))


@pytest.fixture(scope="module")
def account() -> ServiceAccount:
    return make_service_account()


@pytest.fixture(scope="module")
def _running_peer(account: ServiceAccount) -> Iterator[GooglePeer]:
    with google_peer(account.certificate_pem, EMAIL) as peer:
        yield peer


@pytest.fixture
def peer(_running_peer: GooglePeer) -> GooglePeer:
    """One peer for the module, its script, store and records emptied before each test."""
    _running_peer.reset()
    return _running_peer


@pytest.fixture(scope="module")
def credentials(account: ServiceAccount, _running_peer: GooglePeer) -> service_account.Credentials:
    """The service account's credentials, token_uri the peer's (loading the key once: it takes a while)."""
    return account.credentials(_running_peer.token_uri)


@pytest.fixture(scope="module")
def http(_running_peer: GooglePeer) -> Iterator[httpx.Client]:
    """One client of the peer's REST API for the module (making one takes a while), without credentials."""
    with httpx.Client(base_url=_running_peer.url + API, timeout=5.0) as client:
        yield client


class _HttpxRequest(google.auth.transport.Request):
    """google-auth's transport interface over httpx, where `requests` is not installed."""

    def __init__(self, client: httpx.Client) -> None:
        self._client = client

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: Any = None,
        headers: Any = None,
        timeout: Any = None,
        **kwargs: Any,
    ) -> google.auth.transport.Response:
        response = self._client.request(method, url, content=body, headers=headers)
        return _HttpxResponse(response)


class _HttpxResponse(google.auth.transport.Response):
    def __init__(self, response: httpx.Response) -> None:
        self._response = response

    @property
    def status(self) -> int:
        return self._response.status_code

    @property
    def headers(self) -> Any:
        return self._response.headers

    @property
    def data(self) -> bytes:
        return self._response.content


@contextmanager
def auth_transport() -> Iterator[google.auth.transport.Request]:
    """google-auth's requests transport (with its session closed at the end), or httpx's without requests."""
    try:
        from google.auth.transport import requests as requests_transport
    except ImportError:
        with httpx.Client(timeout=5.0) as client:
            yield _HttpxRequest(client)
        return
    request = requests_transport.Request()
    try:
        yield request
    finally:
        request.session.close()


def access_token(credentials: service_account.Credentials) -> str:
    """google-auth's own refresh of service-account credentials against the peer's token endpoint."""
    with auth_transport() as request:
        credentials.refresh(request)  # type: ignore[no-untyped-call]
    assert isinstance(credentials.token, str)
    return credentials.token


@pytest.fixture
def api(peer: GooglePeer, credentials: service_account.Credentials, http: httpx.Client) -> Iterator[httpx.Client]:
    """The module's client of the peer's REST API, holding an access token google-auth has just obtained."""
    http.headers["Authorization"] = f"Bearer {access_token(credentials)}"
    try:
        yield http
    finally:
        del http.headers["Authorization"]


def error_of(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert error["code"] == response.status_code
    return error


def test_google_auth_gets_a_token_and_the_api_takes_it(
    peer: GooglePeer, credentials: service_account.Credentials, http: httpx.Client
) -> None:
    token = access_token(credentials)
    [token_request] = peer.requests
    assert (token_request.method, token_request.path, token_request.status) == ("POST", "/token", 200)
    assert token_request.body["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    assert token_request.answer == {"access_token": token, "expires_in": 3600, "token_type": "Bearer"}

    authorization = {"Authorization": f"Bearer {token}"}
    inserted = http.post("/loyaltyClass", json=loyalty_class(), headers=authorization)
    got = http.get(f"/loyaltyClass/{CLASS_ID}", headers=authorization)
    assert inserted.status_code == 200
    assert inserted.json()["programName"] == "Coffee card"
    assert got.status_code == 200 and got.json() == inserted.json()
    assert peer.requests[1].header("authorization") == f"Bearer {token}"
    assert peer.invalid == []


def test_an_assertion_signed_by_another_key_gets_invalid_grant(peer: GooglePeer) -> None:
    stranger = make_service_account()  # same e-mail, another key
    with auth_transport() as request, pytest.raises(google_auth_exceptions.RefreshError, match="invalid_grant"):
        stranger.credentials(peer.token_uri).refresh(request)  # type: ignore[no-untyped-call]
    [refused] = peer.requests
    assert refused.status == 400 and refused.answer["error"] == "invalid_grant"
    assert len(peer.invalid) == 1 and peer.invalid[0].startswith("POST /token: invalid_grant")


def test_an_assertion_without_the_wallet_scope_is_refused(
    peer: GooglePeer, credentials: service_account.Credentials
) -> None:
    other = credentials.with_scopes(["https://www.googleapis.com/auth/cloud-platform"])
    with auth_transport() as request, pytest.raises(google_auth_exceptions.RefreshError, match="invalid_scope"):
        other.refresh(request)
    assert peer.requests[0].status == 400


@pytest.mark.parametrize("authorization", [None, "Bearer ya29.not-issued-here", "Basic d2FsbGV0OnRlc3Q="])
def test_the_api_needs_a_token_the_peer_issued(peer: GooglePeer, http: httpx.Client, authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = http.get(f"/loyaltyObject/{OBJECT_ID}", headers=headers)
    assert response.status_code == 401
    assert error_of(response)["status"] == "UNAUTHENTICATED"
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_expired_tokens_are_refused(peer: GooglePeer, api: httpx.Client) -> None:
    assert api.get(f"/loyaltyClass/{CLASS_ID}").status_code == 404
    peer.expire_tokens()
    assert api.get(f"/loyaltyClass/{CLASS_ID}").status_code == 401


def test_insert_get_patch_update_as_google_documents(peer: GooglePeer, api: httpx.Client) -> None:
    assert api.post("/loyaltyClass", json=loyalty_class()).status_code == 200
    inserted = api.post("/loyaltyObject", json=loyalty_object())
    assert inserted.status_code == 200
    assert inserted.json() == loyalty_object()

    # 404 on an unknown id, 409 on a duplicate insert
    missing = api.get(f"/loyaltyObject/{ISSUER}.unknown")
    assert missing.status_code == 404 and error_of(missing)["status"] == "NOT_FOUND"
    duplicate = api.post("/loyaltyObject", json=loyalty_object())
    assert duplicate.status_code == 409 and error_of(duplicate)["status"] == "ALREADY_EXISTS"

    # patch: the given top-level fields replace the stored ones, null removes one
    changes = {"loyaltyPoints": {"label": "Stamps", "balance": {"string": "8/10"}}, "secondaryLoyaltyPoints": None}
    patched = api.patch(f"/loyaltyObject/{OBJECT_ID}", json=changes)
    assert patched.status_code == 200
    expected = loyalty_object(loyaltyPoints=changes["loyaltyPoints"])
    del expected["secondaryLoyaltyPoints"]
    assert patched.json() == expected == peer.objects[OBJECT_ID]
    assert api.get(f"/loyaltyObject/{OBJECT_ID}").json() == expected
    assert api.patch(f"/loyaltyObject/{ISSUER}.unknown", json=changes).status_code == 404

    # update replaces the whole resource
    replaced = api.put(f"/loyaltyObject/{OBJECT_ID}", json=loyalty_object(state="INACTIVE", accountName="A."))
    assert replaced.status_code == 200
    assert peer.objects[OBJECT_ID] == loyalty_object(state="INACTIVE", accountName="A.")
    assert [request.method_id for request in peer.requests[1:]] == [
        "walletobjects.loyaltyclass.insert",
        "walletobjects.loyaltyobject.insert",
        "walletobjects.loyaltyobject.get",
        "walletobjects.loyaltyobject.insert",
        "walletobjects.loyaltyobject.patch",
        "walletobjects.loyaltyobject.get",
        "walletobjects.loyaltyobject.patch",
        "walletobjects.loyaltyobject.update",
    ]
    assert peer.invalid == [] and peer.quota_refusals == []


def test_an_object_of_an_unknown_class_is_not_found(peer: GooglePeer, api: httpx.Client) -> None:
    response = api.post("/loyaltyObject", json=loyalty_object())
    assert response.status_code == 404
    assert CLASS_ID in error_of(response)["message"]
    assert peer.objects == {}


def test_every_body_is_validated_and_a_refusal_is_recorded(peer: GooglePeer, api: httpx.Client) -> None:
    api.post("/loyaltyClass", json=loyalty_class())
    response = api.post("/loyaltyObject", json=loyalty_object(state="active", barcode={"type": "QR_CODE", "val": "x"}))
    assert response.status_code == 400
    error = error_of(response)
    assert error["status"] == "INVALID_ARGUMENT"
    assert "$.state: 'active' is a deprecated spelling" in error["message"]
    assert "$.barcode.val: unknown field of Barcode" in error["message"]
    assert [problem.split(": ")[0:2] for problem in peer.invalid] == [
        [f"POST {API}/loyaltyObject", "$.state"],
        [f"POST {API}/loyaltyObject", "$.barcode.val"],
    ]
    assert peer.objects == {}

    # a required field missing from an insert; a null outside a patch; notifyPreference in the query
    peer.reset()
    body = loyalty_object()
    del body["state"]
    assert api.post("/loyaltyObject", json=body).status_code == 400
    assert api.put(f"/loyaltyObject/{OBJECT_ID}", json=loyalty_object(accountName=None)).status_code == 400
    api.post("/loyaltyObject", json=loyalty_object())
    notify = api.patch(
        f"/loyaltyObject/{OBJECT_ID}", params={"notifyPreference": "NOTIFY_ON_UPDATE"}, json={"accountName": "B"}
    )
    assert notify.status_code == 400
    assert [problem.split(": ", 2)[1] for problem in peer.invalid] == [
        "$.state",
        "$.accountName",
        "Cannot bind query parameter 'notifyPreference'",
    ]
    assert peer.notices == {}


def test_a_class_review_status_is_set_to_under_review_and_reads_approved(peer: GooglePeer, api: httpx.Client) -> None:
    assert api.post("/loyaltyClass", json=loyalty_class()).json()["reviewStatus"] == "APPROVED"
    echoed = api.put(f"/loyaltyClass/{CLASS_ID}", json=peer.classes[CLASS_ID])  # sends back APPROVED
    assert echoed.status_code == 400 and "reviewStatus" in error_of(echoed)["message"]
    assert api.patch(f"/loyaltyClass/{CLASS_ID}", json={"reviewStatus": "DRAFT"}).status_code == 400
    patched = api.patch(f"/loyaltyClass/{CLASS_ID}", json={"programName": "Tea card", "reviewStatus": "UNDER_REVIEW"})
    assert patched.status_code == 200 and patched.json()["programName"] == "Tea card"
    assert len(peer.invalid) == 2

    draft_id = f"{ISSUER}.p2"
    assert api.post("/loyaltyClass", json=loyalty_class(draft_id, reviewStatus="DRAFT")).status_code == 200
    refused = api.post("/loyaltyObject", json=loyalty_object(classId=draft_id))
    assert refused.status_code == 400 and error_of(refused)["status"] == "FAILED_PRECONDITION"


def message(number: int, message_type: str = "TEXT") -> dict[str, Any]:
    return {"header": f"Message {number}", "body": "Your reward is waiting", "messageType": message_type}


def test_add_message_appends_with_an_id_and_an_object_holds_ten(peer: GooglePeer, api: httpx.Client) -> None:
    api.post("/loyaltyClass", json=loyalty_class())
    api.post("/loyaltyObject", json=loyalty_object())
    response = api.post(f"/loyaltyObject/{OBJECT_ID}/addMessage", json={"message": message(1)})
    assert response.status_code == 200
    resource = response.json()["resource"]
    [added] = resource["messages"]
    assert added == {**message(1), "id": added["id"]} and added["id"]
    assert resource == peer.objects[OBJECT_ID]

    for number in range(2, 11):
        message_id = {"id": f"m{number}"}
        answer = api.post(f"/loyaltyObject/{OBJECT_ID}/addMessage", json={"message": message(number) | message_id})
        assert answer.status_code == 200
    assert len(peer.objects[OBJECT_ID]["messages"]) == 10
    eleventh = api.post(f"/loyaltyObject/{OBJECT_ID}/addMessage", json={"message": message(11)})
    assert eleventh.status_code == 400 and "maximum number" in error_of(eleventh)["message"]
    assert len(peer.invalid) == 1
    # the documented way out: PATCH the list without the oldest
    kept = peer.objects[OBJECT_ID]["messages"][1:]
    assert api.patch(f"/loyaltyObject/{OBJECT_ID}", json={"messages": kept}).status_code == 200
    assert api.post(f"/loyaltyObject/{OBJECT_ID}/addMessage", json={"message": message(11)}).status_code == 200
    assert peer.notices == {}  # TEXT messages notify nobody


def test_the_fourth_notice_for_an_object_is_quota_exceeded(peer: GooglePeer, api: httpx.Client) -> None:
    api.post("/loyaltyClass", json=loyalty_class())
    api.post("/loyaltyObject", json=loyalty_object(notifyPreference="NOTIFY_ON_UPDATE"))  # an insert notifies nobody
    other = f"{ISSUER}.serial-0002"
    api.post("/loyaltyObject", json=loyalty_object(other))
    assert "notifyPreference" not in peer.objects[OBJECT_ID]  # ephemeral

    notices = [
        ("POST", f"/loyaltyObject/{OBJECT_ID}/addMessage", {"message": message(1, "TEXT_AND_NOTIFY")}),
        ("PATCH", f"/loyaltyObject/{OBJECT_ID}", {"accountName": "B", "notifyPreference": "NOTIFY_ON_UPDATE"}),
        ("PUT", f"/loyaltyObject/{OBJECT_ID}", loyalty_object(notifyPreference="NOTIFY_ON_UPDATE")),
    ]
    for method, path, body in notices:
        assert api.request(method, path, json=body).status_code == 200
    # silent updates are not notices
    assert api.patch(f"/loyaltyObject/{OBJECT_ID}", json={"accountName": "C"}).status_code == 200
    assert api.post(f"/loyaltyObject/{OBJECT_ID}/addMessage", json={"message": message(2)}).status_code == 200
    assert peer.notices == {OBJECT_ID: 3}

    fourth = api.post(f"/loyaltyObject/{OBJECT_ID}/addMessage", json={"message": message(3, "TEXT_AND_NOTIFY")})
    assert fourth.status_code == 429
    error = error_of(fourth)
    assert error["status"] == "RESOURCE_EXHAUSTED" and "QuotaExceeded" in error["message"]
    assert len(peer.objects[OBJECT_ID]["messages"]) == 1  # refused: unchanged (the PUT dropped message 1)
    also = api.patch(f"/loyaltyObject/{OBJECT_ID}", json={"accountName": "D", "notifyPreference": "NOTIFY_ON_UPDATE"})
    assert also.status_code == 429 and peer.objects[OBJECT_ID]["accountName"] == "C"
    assert [(refusal.object_id, refusal.method_id) for refusal in peer.quota_refusals] == [
        (OBJECT_ID, "walletobjects.loyaltyobject.addmessage"),
        (OBJECT_ID, "walletobjects.loyaltyobject.patch"),
    ]
    # another object has its own budget; reset() starts every budget again
    patch_other = {"accountName": "E", "notifyPreference": "NOTIFY_ON_UPDATE"}
    assert api.patch(f"/loyaltyObject/{other}", json=patch_other).status_code == 200
    assert peer.invalid == []


def test_a_scripted_answer_comes_before_the_store(peer: GooglePeer, api: httpx.Client) -> None:
    api.post("/loyaltyClass", json=loyalty_class())
    peer.script("POST", f"{API}/loyaltyObject", 403)
    peer.script("*", re.compile(rf"{API}/loyaltyObject/.*"), 500, times=2)
    peer.script("GET", f"{API}/loyaltyClass/*", 200, body={"id": "scripted"})

    forbidden = api.post("/loyaltyObject", json=loyalty_object())
    assert forbidden.status_code == 403 and error_of(forbidden)["status"] == "PERMISSION_DENIED"
    assert peer.objects == {}  # the store was not consulted
    assert api.post("/loyaltyObject", json=loyalty_object()).status_code == 200
    assert [api.get(f"/loyaltyObject/{OBJECT_ID}").status_code for _ in range(3)] == [500, 500, 200]
    assert api.get(f"/loyaltyClass/{CLASS_ID}").json() == {"id": "scripted"}
    assert peer.unused_script == []
    assert [request.scripted for request in peer.requests[1:]] == [False, True, False, True, True, False, True]
    # an invalid body is refused whatever the script says: the peer hides no bug
    peer.script("PATCH", "*", 200)
    assert api.patch(f"/loyaltyObject/{OBJECT_ID}", json={"state": "active"}).status_code == 400
    assert len(peer.unused_script) == 1 and len(peer.invalid) == 1


def test_a_scripted_token_endpoint_error_reaches_google_auth(
    peer: GooglePeer, credentials: service_account.Credentials
) -> None:
    peer.script("POST", "/token", 400)
    with pytest.raises(google_auth_exceptions.RefreshError, match="invalid_grant"):
        access_token(credentials)
    assert peer.invalid == []  # the assertion itself was good


def test_unknown_paths_and_unserved_methods(peer: GooglePeer, api: httpx.Client) -> None:
    assert api.delete(f"/loyaltyObject/{OBJECT_ID}").status_code == 404
    assert api.get("/loyaltyObject", params={"classId": CLASS_ID}).status_code == 501  # list: not served here


def test_records_can_be_awaited_from_another_thread(peer: GooglePeer, api: httpx.Client) -> None:
    api.get(f"/loyaltyObject/{OBJECT_ID}")
    assert len(peer.wait_for_requests(2, within=1)) == 2  # the token request and the get
    with pytest.raises(TimeoutError):
        peer.wait_for_requests(3, within=0.05)


@pytest.mark.anyio
async def test_records_can_be_awaited_on_an_event_loop(peer: GooglePeer) -> None:
    async with httpx.AsyncClient(base_url=peer.url, timeout=5.0) as client:
        response = await client.get(f"{API}/loyaltyObject/{OBJECT_ID}")
    assert response.status_code == 401
    [request] = await peer.wait_for_requests_async(1, within=1)
    assert (request.method_id, request.resource_id, request.status) == (
        "walletobjects.loyaltyobject.get",
        OBJECT_ID,
        401,
    )


def test_a_stored_resource_is_a_copy(peer: GooglePeer) -> None:
    peer.put_class(loyalty_class())
    copied = peer.classes
    copied[CLASS_ID]["programName"] = "changed"
    assert peer.classes[CLASS_ID]["programName"] == "Coffee card"
    peer.put_object(copy.deepcopy(loyalty_object()))
    assert set(peer.objects) == {OBJECT_ID}
