"""A `.pkpass` from its files: the SHA-1 manifest, the detached PKCS#7 signature and the zip.

Apple, "Building a Pass" and "Signing a Pass": `manifest.json` maps every file's path to the SHA-1
hex digest of its bytes; `signature` is a detached CMS SignedData in DER over the exact bytes of
`manifest.json`, signed by the Pass Type ID certificate, with the WWDR intermediate included and
the signing time as a signed attribute (WALLET.md, "The pass"). The signature is made by
`cryptography`'s PKCS7SignatureBuilder with the `Binary` option: without it the manifest's line
endings would be canonicalised before signing and the signature would not verify on a device.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Mapping
from datetime import datetime

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7

from loyalty.wallet.apple.credentials import AppleCredentials

MEDIA_TYPE = "application/vnd.apple.pkpass"
RESERVED = frozenset({"manifest.json", "signature"})


def manifest(files: Mapping[str, bytes]) -> bytes:
    """`manifest.json`'s bytes: `{"<path>": "<sha1 hex>"}` for every file, keys sorted."""
    digests = {path: hashlib.sha1(data, usedforsecurity=False).hexdigest() for path, data in files.items()}
    return json.dumps(digests, sort_keys=True, indent=2).encode()


def sign(manifest_bytes: bytes, credentials: AppleCredentials) -> bytes:
    """The detached PKCS#7 signature (DER, SHA-256, signing time, WWDR included) of `manifest_bytes`."""
    return (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(manifest_bytes)
        .add_signer(credentials.certificate, credentials.private_key, hashes.SHA256())
        .add_certificate(credentials.wwdr_certificate)
        .sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary])
    )


def package(files: Mapping[str, bytes], credentials: AppleCredentials, modified_at: datetime) -> bytes:
    """The `.pkpass` archive: `files` (paths as in the pass, e.g. `fr.lproj/pass.strings`), their
    manifest and its signature; no directory entries; every entry dated `modified_at`, so the same
    pass version gives the same archive apart from the signature's signing time.

    Raises ValueError when `files` names `manifest.json` or `signature` itself.
    """
    if RESERVED & files.keys():
        raise ValueError(f"a pass's own files cannot be named {sorted(RESERVED & files.keys())}")
    manifest_bytes = manifest(files)
    entries = {**dict(sorted(files.items())), "manifest.json": manifest_bytes}
    entries["signature"] = sign(manifest_bytes, credentials)
    stamp = modified_at.timetuple()[:6]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path, data in entries.items():
            info = zipfile.ZipInfo(path, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return buffer.getvalue()
