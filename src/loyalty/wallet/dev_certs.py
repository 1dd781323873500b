"""`loyalty wallet dev-certs DIR`: development certificates shaped like Apple's, so every wallet
route works on a laptop with no Apple account (WALLET.md, "Configuration").

The chain mirrors Apple's: a root (standing in for Apple Root CA), an intermediate standing in for
WWDR, and a Pass Type ID certificate whose subject is `UID=<pass type id>, CN=Pass Type ID: <pass
type id>, OU=<team id>`. A pass signed with it verifies with `openssl cms -verify` against the root;
a phone will not install it, since it trusts only Apple's root. A TLS certificate for `localhost`
serves the local APNs peer of the tests and the demo.

For Google Wallet: a service-account JSON key shaped like the one the Google Cloud console gives
(`type`, `private_key_id`, `private_key`, `client_email`, `token_uri`, …), whose `token_uri` is local,
and the key's self-signed certificate (what Google publishes for a service account's key), with which
a save link's JWT verifies. Google refuses both: the demo's worker runs dry.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from ipaddress import ip_address
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEV_PASS_TYPE_ID = "pass.dev.loyalty.example"
DEV_TEAM_ID = "DEVTEAM123"
DEV_GOOGLE_ISSUER_ID = "3388000000000000001"
DEV_GOOGLE_SERVICE_ACCOUNT = "loyalty-dev@loyalty-dev.iam.gserviceaccount.com"
DEV_GOOGLE_TOKEN_URI = "http://127.0.0.1:8470/token"  # a local token endpoint: the tests' peer
ROOT_LIFETIME = timedelta(days=3650)
LEAF_LIFETIME = timedelta(days=365)


@dataclass(frozen=True)
class DevCertificatePaths:
    """Where `write_dev_certificates` put each file (PEM; keys unencrypted, readable by the owner only)."""

    root_certificate: Path
    wwdr_certificate: Path
    pass_certificate: Path
    pass_key: Path
    apns_peer_certificate: Path
    apns_peer_key: Path
    google_service_account: Path
    google_certificate: Path


def paths_in(directory: Path) -> DevCertificatePaths:
    return DevCertificatePaths(
        root_certificate=directory / "root.pem",
        wwdr_certificate=directory / "wwdr.pem",
        pass_certificate=directory / "pass.pem",
        pass_key=directory / "pass.key",
        apns_peer_certificate=directory / "apns-peer.pem",
        apns_peer_key=directory / "apns-peer.key",
        google_service_account=directory / "google-service-account.json",
        google_certificate=directory / "google-service-account.pem",
    )


def write_dev_certificates(
    directory: Path,
    *,
    pass_type_identifier: str = DEV_PASS_TYPE_ID,
    team_identifier: str = DEV_TEAM_ID,
    now: datetime | None = None,
    leaf_expires_at: datetime | None = None,
    google_token_uri: str = DEV_GOOGLE_TOKEN_URI,
) -> DevCertificatePaths:
    """Writes a new development chain into `directory` (created if needed), replacing any there: valid
    from `now` (default: the current time), the leaves for a year or until `leaf_expires_at`."""
    now = now or datetime.now(UTC)
    leaf_expires_at = leaf_expires_at or now + LEAF_LIFETIME
    directory.mkdir(parents=True, exist_ok=True)
    paths = paths_in(directory)

    root_key, root = _authority(
        _name(CN="Loyalty Development Root CA", O="Loyalty development"), None, now, leaf_expires_at
    )
    wwdr_key, wwdr = _authority(
        _name(CN="Loyalty Development WWDR stand-in", OU="G4", O="Loyalty development"),
        (root_key, root),
        now,
        leaf_expires_at,
    )
    pass_key = _new_key()
    pass_subject = x509.Name(
        [
            x509.NameAttribute(NameOID.USER_ID, pass_type_identifier),
            x509.NameAttribute(NameOID.COMMON_NAME, f"Pass Type ID: {pass_type_identifier}"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, team_identifier),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Loyalty development"),
            x509.NameAttribute(NameOID.COUNTRY_NAME, "LU"),
        ]
    )
    pass_certificate = (
        _leaf(pass_subject, pass_key, wwdr_key, wwdr, now, leaf_expires_at)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(wwdr_key, hashes.SHA256())
    )
    peer_key = _new_key()
    peer_certificate = (
        _leaf(_name(CN="localhost"), peer_key, root_key, root, now, leaf_expires_at)
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(root_key, hashes.SHA256())
    )

    _write_certificate(paths.root_certificate, root)
    _write_certificate(paths.wwdr_certificate, wwdr)
    _write_certificate(paths.pass_certificate, pass_certificate)
    _write_key(paths.pass_key, pass_key)
    _write_certificate(paths.apns_peer_certificate, peer_certificate)
    _write_key(paths.apns_peer_key, peer_key)
    write_google_service_account(paths, google_token_uri, now)
    return paths


def write_google_service_account(paths: DevCertificatePaths, token_uri: str, now: datetime) -> None:
    """A development service-account key (`google_service_account`) whose token endpoint is `token_uri`,
    and its self-signed certificate (`google_certificate`)."""
    key = _new_key()
    subject = _name(CN=DEV_GOOGLE_SERVICE_ACCOUNT)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + LEAF_LIFETIME)
        .sign(key, hashes.SHA256())
    )
    private_key = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")
    document = {
        "type": "service_account",
        "project_id": "loyalty-dev",
        "private_key_id": certificate.fingerprint(hashes.SHA1()).hex(),
        "private_key": private_key,
        "client_email": DEV_GOOGLE_SERVICE_ACCOUNT,
        "client_id": "100000000000000000001",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
    }
    _write_secret(paths.google_service_account, json.dumps(document, indent=2).encode())
    _write_certificate(paths.google_certificate, certificate)


def _name(**attributes: str) -> x509.Name:
    oids = {"CN": NameOID.COMMON_NAME, "O": NameOID.ORGANIZATION_NAME, "OU": NameOID.ORGANIZATIONAL_UNIT_NAME}
    return x509.Name([x509.NameAttribute(oids[key], value) for key, value in attributes.items()])


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _authority(
    subject: x509.Name,
    issuer: tuple[rsa.RSAPrivateKey, x509.Certificate] | None,
    now: datetime,
    leaf_expires_at: datetime,
) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """A CA certificate: self-signed when `issuer` is None, else an intermediate that issues leaves only."""
    key = _new_key()
    signing_key, issuer_name = (key, subject) if issuer is None else (issuer[0], issuer[1].subject)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(max(now + ROOT_LIFETIME, leaf_expires_at))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None if issuer is None else 0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(signing_key, hashes.SHA256())
    )
    return key, certificate


def _leaf(
    subject: x509.Name,
    key: rsa.RSAPrivateKey,
    issuer_key: rsa.RSAPrivateKey,
    issuer: x509.Certificate,
    now: datetime,
    expires_at: datetime,
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(expires_at)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    )


def _write_certificate(path: Path, certificate: x509.Certificate) -> None:
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))


def _write_key(path: Path, key: rsa.RSAPrivateKey) -> None:
    data = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    _write_secret(path, data)


def _write_secret(path: Path, data: bytes) -> None:
    """`data` in a file only its owner can read."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)
    os.chmod(path, 0o600)  # O_CREAT's mode applies only to a new file
