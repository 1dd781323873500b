"""The Pass Type ID certificate, its key and the WWDR intermediate: loaded once, checked before use.

Apple signs nothing for us: every pass is signed with the platform's Pass Type ID certificate, and a
device accepts it only when that certificate chains to Apple's root through the WWDR intermediate
that issued it (G4 for certificates made after 27 January 2022). The checks below are the mistakes
that make a device refuse every pass without a word, each reported as one line (WALLET.md,
"Configuration"): a key that is not the certificate's, an intermediate that did not issue it, an
expired certificate, a pass type id that is not the certificate's `UID`, an http base URL outside
development. A certificate that expires within 30 days is a warning, not a refusal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

EXPIRY_WARNING = timedelta(days=30)
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})

SigningKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


class AppleWalletMisconfigured(Exception):
    """The Apple Wallet settings cannot sign a pass a device would accept; `problems` are one line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class AppleSettings:
    """The `LOYALTY_APPLE_*` settings as given: file paths and identifiers, nothing loaded yet."""

    pass_type_identifier: str
    team_identifier: str
    wwdr_certificate_file: Path
    certificate_file: Path | None = None
    key_file: Path | None = None
    key_password: str | None = None
    p12_file: Path | None = None
    p12_password: str | None = None


@dataclass(frozen=True)
class AppleCredentials:
    """What signs a pass: the Pass Type ID certificate and key, and the WWDR intermediate to include."""

    pass_type_identifier: str
    team_identifier: str
    certificate: x509.Certificate
    private_key: SigningKey
    wwdr_certificate: x509.Certificate

    @property
    def expires_at(self) -> datetime:
        return self.certificate.not_valid_after_utc


@dataclass(frozen=True)
class Finding:
    """One result of `check`: an `error` refuses the set-up, a `warning` is only said."""

    severity: str  # "error" or "warning"
    message: str


def load(settings: AppleSettings) -> AppleCredentials:
    """Reads the certificate, key and intermediate named by `settings`.

    Raises AppleWalletMisconfigured with one line per file that is missing or unreadable.
    """
    problems: list[str] = []
    wwdr = _read_certificate(settings.wwdr_certificate_file, "LOYALTY_APPLE_WWDR_CERT", problems)
    certificate, key = _read_pass_certificate_and_key(settings, problems)
    if problems or certificate is None or key is None or wwdr is None:
        raise AppleWalletMisconfigured(problems)
    return AppleCredentials(settings.pass_type_identifier, settings.team_identifier, certificate, key, wwdr)


def check(credentials: AppleCredentials, public_base_url: str, now: datetime) -> list[Finding]:
    """Everything that would make a device refuse the passes signed with `credentials`, one finding each."""
    findings = [
        *_key_matches(credentials),
        *_issued_by_wwdr(credentials),
        *_names_pass_type(credentials),
        *_validity(credentials.certificate, "the pass certificate", now),
        *_validity(credentials.wwdr_certificate, "the WWDR certificate", now),
    ]
    if not is_acceptable_base_url(public_base_url):
        findings.append(
            Finding(
                "error",
                f"LOYALTY_PUBLIC_BASE_URL is {public_base_url!r}: Wallet talks to its web service over https only "
                "(http is allowed for 127.0.0.1 and localhost, in development)",
            )
        )
    return findings


def is_acceptable_base_url(url: str) -> bool:
    """https anywhere; http only on a loopback host (Apple: HTTP is for testing only)."""
    parts = urlsplit(url)
    return parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS)


def _read_pass_certificate_and_key(
    settings: AppleSettings, problems: list[str]
) -> tuple[x509.Certificate | None, SigningKey | None]:
    if settings.p12_file is not None:
        return _read_p12(settings.p12_file, settings.p12_password, problems)
    if settings.certificate_file is None or settings.key_file is None:
        problems.append("set LOYALTY_APPLE_CERT and LOYALTY_APPLE_KEY, or LOYALTY_APPLE_P12")
        return None, None
    certificate = _read_certificate(settings.certificate_file, "LOYALTY_APPLE_CERT", problems)
    key = _read_key(settings.key_file, settings.key_password, problems)
    return certificate, key


def _read_certificate(path: Path, setting: str, problems: list[str]) -> x509.Certificate | None:
    data = _read(path, setting, problems)
    if data is None:
        return None
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)  # Apple's download (.cer) is DER
    except ValueError:
        problems.append(f"{setting}: {path} is not a PEM or DER certificate")
        return None


def _read_key(path: Path, password: str | None, problems: list[str]) -> SigningKey | None:
    data = _read(path, "LOYALTY_APPLE_KEY", problems)
    if data is None:
        return None
    try:
        key = serialization.load_pem_private_key(data, password.encode() if password else None)
    except (ValueError, TypeError) as exc:
        problems.append(f"LOYALTY_APPLE_KEY: {path} cannot be read ({exc}); is LOYALTY_APPLE_KEY_PASSWORD right?")
        return None
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        problems.append(f"LOYALTY_APPLE_KEY: {path} holds a {type(key).__name__}, not an RSA or EC key")
        return None
    return key


def _read_p12(
    path: Path, password: str | None, problems: list[str]
) -> tuple[x509.Certificate | None, SigningKey | None]:
    data = _read(path, "LOYALTY_APPLE_P12", problems)
    if data is None:
        return None, None
    try:
        key, certificate, _ = pkcs12.load_key_and_certificates(data, password.encode() if password else None)
    except ValueError as exc:
        problems.append(f"LOYALTY_APPLE_P12: {path} cannot be read ({exc}); is LOYALTY_APPLE_P12_PASSWORD right?")
        return None, None
    if certificate is None or not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        problems.append(f"LOYALTY_APPLE_P12: {path} must hold the pass certificate and its RSA or EC key")
        return None, None
    return certificate, key


def _read(path: Path, setting: str, problems: list[str]) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError as exc:
        problems.append(f"{setting}: cannot read {path} ({exc.strerror or exc})")
        return None


def _key_matches(credentials: AppleCredentials) -> list[Finding]:
    ours = credentials.private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    theirs = credentials.certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if ours == theirs:
        return []
    return [Finding("error", "the key (LOYALTY_APPLE_KEY) is not the pass certificate's key (LOYALTY_APPLE_CERT)")]


def _issued_by_wwdr(credentials: AppleCredentials) -> list[Finding]:
    certificate, wwdr = credentials.certificate, credentials.wwdr_certificate
    if certificate.issuer != wwdr.subject:
        return [
            Finding(
                "error",
                f"the pass certificate was issued by {certificate.issuer.rfc4514_string()!r}, "
                f"not by LOYALTY_APPLE_WWDR_CERT ({wwdr.subject.rfc4514_string()!r}); "
                "certificates made after 27 January 2022 need the WWDR G4 intermediate",
            )
        ]
    if not _signed_by(certificate, wwdr):
        return [Finding("error", "LOYALTY_APPLE_WWDR_CERT has the issuer's name but did not sign the pass certificate")]
    return []


def _signed_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    public_key = issuer.public_key()
    algorithm = certificate.signature_hash_algorithm
    try:
        if isinstance(public_key, rsa.RSAPublicKey) and algorithm is not None:
            public_key.verify(certificate.signature, certificate.tbs_certificate_bytes, padding.PKCS1v15(), algorithm)
        elif isinstance(public_key, ec.EllipticCurvePublicKey) and algorithm is not None:
            public_key.verify(certificate.signature, certificate.tbs_certificate_bytes, ec.ECDSA(algorithm))
        else:
            return False
    except InvalidSignature:
        return False
    return True


def _names_pass_type(credentials: AppleCredentials) -> list[Finding]:
    uids = [attribute.value for attribute in credentials.certificate.subject.get_attributes_for_oid(NameOID.USER_ID)]
    if credentials.pass_type_identifier in uids:
        return []
    return [
        Finding(
            "error",
            f"LOYALTY_APPLE_PASS_TYPE_ID is {credentials.pass_type_identifier!r} but the pass certificate is for "
            f"{', '.join(map(str, uids)) or 'no pass type (its subject has no UID)'}",
        )
    ]


def _validity(certificate: x509.Certificate, name: str, now: datetime) -> list[Finding]:
    expires = certificate.not_valid_after_utc
    if now >= expires:
        return [Finding("error", f"{name} expired on {expires:%Y-%m-%d}")]
    if now < certificate.not_valid_before_utc:
        return [Finding("error", f"{name} is not valid before {certificate.not_valid_before_utc:%Y-%m-%d}")]
    if expires - now <= EXPIRY_WARNING:
        return [Finding("warning", f"{name} expires on {expires:%Y-%m-%d}: renew it before then (docs/wallet.md)")]
    return []
