"""APNs token authentication (WALLET.md, "Updates"): an ES256 JWT `{alg, kid}.{iss: team id, iat}` from a
`.p8` key, its signature checked with the key's public half (cryptography), apart from google-auth's signer."""

from __future__ import annotations

import json
from base64 import urlsafe_b64decode
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from loyalty.wallet.apple.apns import ProviderToken


def p8_key(path: Path) -> bytes:
    """A `.p8` key as Apple hands it out (PKCS#8 PEM, P-256); returns its public key in PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def test_the_provider_token_is_an_es256_jwt_of_the_team_with_the_key_id(tmp_path: Path) -> None:
    public = p8_key(tmp_path / "AuthKey_ABC123DEFG.p8")
    now = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)

    token = ProviderToken(tmp_path / "AuthKey_ABC123DEFG.p8", "ABC123DEFG", "DEVTEAM123").jwt(now)

    header, claims, signature = (urlsafe_b64decode(part + "=" * (-len(part) % 4)) for part in token.split("."))
    assert json.loads(header) == {"alg": "ES256", "kid": "ABC123DEFG", "typ": "JWT"}
    assert json.loads(claims) == {"iss": "DEVTEAM123", "iat": int(now.timestamp())}
    # JWS ES256 (RFC 7518, 3.4): the signature is r ‖ s, 32 bytes each, over "header.claims".
    verifier = serialization.load_pem_public_key(public)
    assert isinstance(verifier, ec.EllipticCurvePublicKey)
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    signed = token.rsplit(".", 1)[0].encode()
    verifier.verify(encode_dss_signature(r, s), signed, ec.ECDSA(hashes.SHA256()))  # raises if forged
