"""The local APNs peer (tests/apns_peer.py) itself: HTTP/2 over TLS with the pass certificate, nothing without
a certificate the development chain issued, nothing but HTTP/2, Apple's answers in the script's order."""

from __future__ import annotations

import json
import ssl
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from loyalty.wallet.dev_certs import DEV_PASS_TYPE_ID, DevCertificatePaths
from tests.apns_peer import Answer, ApnsPeer, dev_apns_peer
from tests.fixtures import DevWallet

pytestmark = pytest.mark.anyio

TOKEN = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"


@pytest.fixture(scope="module")
def _running_peer(dev_wallet: DevWallet) -> Iterator[ApnsPeer]:
    with dev_apns_peer(dev_wallet.paths) as peer:
        yield peer


@pytest.fixture
def peer(_running_peer: ApnsPeer) -> ApnsPeer:
    """One peer for the module, its script and records emptied before each test."""
    _running_peer.reset()
    return _running_peer


def client_context(
    paths: DevCertificatePaths, *, certificate: bool = True, maximum_version: ssl.TLSVersion | None = None
) -> ssl.SSLContext:
    """What `verify=root.pem, cert=(pass.pem, pass.key)` makes, without httpx 0.28's deprecated arguments."""
    context = ssl.create_default_context(cafile=paths.root_certificate)
    if certificate:
        context.load_cert_chain(paths.pass_certificate, paths.pass_key)
    if maximum_version is not None:
        context.maximum_version = maximum_version
    return context


@asynccontextmanager
async def apns_client(context: ssl.SSLContext, *, http2: bool = True) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(http2=http2, verify=context, timeout=5.0) as client:
        yield client


async def push(client: httpx.AsyncClient, peer: ApnsPeer, token: str = TOKEN, **headers: str) -> httpx.Response:
    """A pass update as WALLET.md sends it."""
    sent = {
        "apns-topic": DEV_PASS_TYPE_ID,
        "apns-push-type": "alert",
        "apns-priority": "10",
        "apns-expiration": str(int(time.time()) + 86_400),
    }
    sent.update({name.replace("_", "-"): value for name, value in headers.items()})
    return await client.post(f"{peer.url}/3/device/{token}", content=b"{}", headers=sent)


async def test_the_pass_certificate_gets_200_over_http2_and_the_request_is_recorded(
    peer: ApnsPeer, dev_wallet: DevWallet
) -> None:
    expiration = str(int(time.time()) + 86_400)
    async with apns_client(client_context(dev_wallet.paths)) as client:
        response = await push(client, peer, apns_expiration=expiration, authorization="bearer a.b.c")

    assert response.status_code == 200
    assert response.http_version == "HTTP/2"
    assert response.content == b""
    assert uuid.UUID(response.headers["apns-id"])
    [request] = peer.requests
    assert (request.method, request.path, request.token) == ("POST", f"/3/device/{TOKEN}", TOKEN)
    assert request.http_version == "2"
    assert request.topic == DEV_PASS_TYPE_ID
    assert request.push_type == "alert"
    assert request.priority == "10"
    assert request.expiration == expiration
    assert request.authorization == "bearer a.b.c"
    assert request.header("APNS-TOPIC") == DEV_PASS_TYPE_ID  # any case
    assert request.body == b"{}" and request.json() == {}
    assert (request.status, request.reason, request.apns_id) == (200, None, response.headers["apns-id"])
    # the certificate the client authenticated with: the pass certificate, issued by the WWDR stand-in
    [handshake] = peer.handshakes
    assert f"UID={DEV_PASS_TYPE_ID}" in handshake.subject.split(",")
    assert "CN=Loyalty Development WWDR stand-in" in handshake.issuer.split(",")
    assert handshake.alpn_protocol == "h2"


async def test_the_script_is_followed_in_order_with_apples_answers(peer: ApnsPeer, dev_wallet: DevWallet) -> None:
    script = [
        (410, "Unregistered"),
        (400, "BadDeviceToken"),
        (403, "BadCertificate"),
        (429, "TooManyRequests"),
        (500, "InternalServerError"),
        (200, None),
    ]
    peer.script(*script)
    before = time.time_ns() // 10**6
    async with apns_client(client_context(dev_wallet.paths)) as client:
        responses = [await push(client, peer) for _ in range(len(script) + 1)]
    after = time.time_ns() // 10**6

    assert [(response.status_code, response.headers["apns-id"]) for response in responses] == [
        (request.status, request.apns_id) for request in peer.requests
    ]
    assert [response.status_code for response in responses] == [status for status, _ in script] + [200]
    for response, (status, reason) in zip(responses, script, strict=False):
        assert response.http_version == "HTTP/2"
        assert uuid.UUID(response.headers["apns-id"])
        if status == 200:
            assert response.content == b""
            continue
        assert response.headers["content-type"] == "application/json"
        body = response.json()
        assert body["reason"] == reason
        if (
            status == 410
        ):  # "the time, in milliseconds since Epoch, at which APNs confirmed the token was no longer valid"
            assert set(body) == {"reason", "timestamp"}
            assert before <= body["timestamp"] <= after
        else:
            assert set(body) == {"reason"}
    assert peer.unused_script == []
    # one connection, kept open: one handshake, one client address
    assert len(peer.handshakes) == 1
    assert len({request.client for request in peer.requests}) == 1


async def test_a_token_override_answers_every_request_to_it_and_leaves_the_script(
    peer: ApnsPeer, dev_wallet: DevWallet
) -> None:
    peer.script((500, None), 200)
    peer.answer_token("gone", Answer(410, "Unregistered", timestamp_ms=1_700_000_000_000))
    async with apns_client(client_context(dev_wallet.paths)) as client:
        gone = [await push(client, peer, token="gone") for _ in range(2)]
        assert peer.unused_script == [Answer(500, "InternalServerError"), Answer(200)]
        other = [await push(client, peer, token="other") for _ in range(3)]
        peer.answer_token("gone", None)
        again = await push(client, peer, token="gone")

    assert [response.json() for response in gone] == [{"reason": "Unregistered", "timestamp": 1_700_000_000_000}] * 2
    assert [response.status_code for response in other] == [500, 200, 200]
    assert other[0].json() == {"reason": "InternalServerError"}
    assert again.status_code == 200
    assert [(request.token, request.status) for request in peer.requests] == [
        ("gone", 410),
        ("gone", 410),
        ("other", 500),
        ("other", 200),
        ("other", 200),
        ("gone", 200),
    ]


async def test_the_request_apns_id_is_echoed(peer: ApnsPeer, dev_wallet: DevWallet) -> None:
    apns_id = str(uuid.uuid4())
    peer.script((400, "BadDeviceToken"))
    async with apns_client(client_context(dev_wallet.paths)) as client:
        refused = await push(client, peer, apns_id=apns_id)
        accepted = await push(client, peer, apns_id=apns_id)

    assert [refused.headers["apns-id"], accepted.headers["apns-id"]] == [apns_id, apns_id]
    assert [request.apns_id for request in peer.requests] == [apns_id, apns_id]


async def test_a_request_apple_refuses_whatever_the_script_says(peer: ApnsPeer, dev_wallet: DevWallet) -> None:
    peer.script((410, "Unregistered"))
    async with apns_client(client_context(dev_wallet.paths)) as client:
        answers = [
            await client.get(f"{peer.url}/3/device/{TOKEN}"),
            await client.post(f"{peer.url}/3/other/{TOKEN}", content=b"{}"),
            await client.post(f"{peer.url}/3/device/", content=b"{}"),
            await client.post(f"{peer.url}/3/device/{TOKEN}", content=b""),
            await client.post(f"{peer.url}/3/device/{TOKEN}", content=b"{}", headers={"apns-priority": "7"}),
            await client.post(f"{peer.url}/3/device/{TOKEN}", content=b"{}", headers={"apns-expiration": "soon"}),
            await client.post(f"{peer.url}/3/device/{TOKEN}", content=b"{}", headers={"apns-push-type": "pass"}),
            await client.post(f"{peer.url}/3/device/{TOKEN}", content=b"{}", headers={"apns-id": "42"}),
            await client.post(f"{peer.url}/3/device/{TOKEN}", content=json.dumps({"x": "y" * 4096}).encode()),
        ]
        scripted = await push(client, peer)

    assert [(answer.status_code, answer.json()["reason"]) for answer in answers] == [
        (405, "MethodNotAllowed"),
        (404, "BadPath"),
        (400, "MissingDeviceToken"),
        (400, "PayloadEmpty"),
        (400, "BadPriority"),
        (400, "BadExpirationDate"),
        (400, "InvalidPushType"),
        (400, "BadMessageId"),
        (413, "PayloadTooLarge"),
    ]
    assert scripted.status_code == 410  # none of them took the scripted answer
    assert len(peer.requests) == len(answers) + 1  # every one is recorded


@pytest.mark.parametrize(
    ("maximum_version", "error"),
    [
        # TLS 1.3: the client has finished its side when the server refuses: its first read or write fails
        (None, httpx.TransportError),
        # TLS 1.2: the server refuses before its Finished, so the client's handshake itself fails
        (ssl.TLSVersion.TLSv1_2, httpx.ConnectError),
    ],
)
async def test_a_client_without_a_certificate_is_refused_at_the_tls_handshake(
    peer: ApnsPeer, dev_wallet: DevWallet, maximum_version: ssl.TLSVersion | None, error: type[Exception]
) -> None:
    context = client_context(dev_wallet.paths, certificate=False, maximum_version=maximum_version)
    async with apns_client(context) as client:
        with pytest.raises(error):
            await push(client, peer)

    assert peer.requests == []
    assert peer.handshakes == []


async def test_a_certificate_of_another_authority_is_refused(
    peer: ApnsPeer, dev_wallet: DevWallet, tmp_path: Path
) -> None:
    # the pass certificate's subject, self-signed
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.load_pem_x509_certificate(dev_wallet.paths.pass_certificate.read_bytes()).subject
    now = datetime.now(UTC)
    stranger = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "stranger.pem").write_bytes(stranger.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "stranger.key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.create_default_context(cafile=dev_wallet.paths.root_certificate)
    context.load_cert_chain(tmp_path / "stranger.pem", tmp_path / "stranger.key")
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    async with apns_client(context) as client:
        with pytest.raises(httpx.ConnectError):
            await push(client, peer)

    assert peer.requests == []
    assert peer.handshakes == []


async def test_only_http2_is_spoken(peer: ApnsPeer, dev_wallet: DevWallet) -> None:
    async with apns_client(client_context(dev_wallet.paths), http2=False) as client:
        with pytest.raises(httpx.TransportError):
            await push(client, peer)

    assert peer.requests == []
    assert peer.handshakes == []


async def test_waiting_for_requests(peer: ApnsPeer, dev_wallet: DevWallet) -> None:
    with pytest.raises(TimeoutError, match="0 request"):
        await peer.wait_for_requests_async(1, within=0.05)
    with pytest.raises(TimeoutError, match="0 request"):
        peer.wait_for_requests(1, within=0.05)
    async with apns_client(client_context(dev_wallet.paths)) as client:
        await push(client, peer, token="a")
        await push(client, peer, token="b")

    assert [request.token for request in await peer.wait_for_requests_async(2)] == ["a", "b"]
    assert [request.token for request in peer.wait_for_requests(1)] == ["a", "b"]


def test_a_script_names_apples_reason_where_a_status_has_several() -> None:
    with pytest.raises(ValueError, match="BadDeviceToken"):
        Answer(400)
    with pytest.raises(ValueError, match="never answers 418"):
        Answer(418, "Teapot")
    assert Answer(429) == Answer(429, "TooManyRequests")


async def test_a_peer_starts_in_well_under_a_second_and_stops_with_a_connection_open(dev_wallet: DevWallet) -> None:
    async with apns_client(client_context(dev_wallet.paths)) as client:
        for _ in range(2):  # a new peer, on a new port, each time
            started = time.perf_counter()
            with dev_apns_peer(dev_wallet.paths) as peer:
                assert time.perf_counter() - started < 1.0
                assert (await push(client, peer)).status_code == 200
                stopping = time.perf_counter()
            # the client's connection is still open: the peer closes it within its grace period
            assert time.perf_counter() - stopping < 1.0
