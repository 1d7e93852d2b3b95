"""Hazmat: the only module that calls Ed25519 and SHA-256 directly.

Everything else goes through :class:`agp.journal.keys.SigningKey`,
:class:`agp.journal.keys.PublicKey` and the helpers below. Signature checks
raise :class:`cryptography.exceptions.InvalidSignature`; they never return a bool.
"""

from __future__ import annotations

import hashlib
import hmac

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

__all__ = (
    "InvalidSignature",
    "digest_eq",
    "ed25519_generate",
    "ed25519_private_from_pem",
    "ed25519_private_to_pem",
    "ed25519_public_from_raw",
    "ed25519_public_raw",
    "sha256",
)


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def digest_eq(a: bytes | str, b: bytes | str) -> bool:
    """Constant-time comparison of two digests of the same type."""
    if type(a) is not type(b):
        raise TypeError("digest_eq needs two bytes or two str")
    if isinstance(a, str):
        return hmac.compare_digest(a.encode("ascii", "replace"), b.encode("ascii", "replace"))  # type: ignore[union-attr]
    return hmac.compare_digest(a, b)  # type: ignore[arg-type]


def ed25519_generate() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def ed25519_private_to_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def ed25519_private_from_pem(data: bytes) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(data, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"not an Ed25519 private key ({type(key).__name__})")
    return key


def ed25519_public_raw(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def ed25519_public_from_raw(raw: bytes) -> Ed25519PublicKey:
    if len(raw) != 32:
        raise ValueError(f"an Ed25519 public key has 32 bytes, found {len(raw)}")
    return Ed25519PublicKey.from_public_bytes(raw)
