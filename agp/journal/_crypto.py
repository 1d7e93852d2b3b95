"""Hazmat: the only module that calls Ed25519 and SHA-256 directly.

Ed25519 signing and verification run in libsodium (PyNaCl's bindings): about twice
OpenSSL's verification rate per thread here, and the call releases the GIL, so
signatures can be checked and made on several threads at once. ``cryptography``
is kept for what libsodium does not do: the PEM files (PKCS#8 private keys,
SubjectPublicKeyInfo public keys) stay exactly as before. Ed25519 is
deterministic, so both libraries make byte-identical signatures (a test checks it).

Everything else goes through :class:`agp.journal.keys.SigningKey`,
:class:`agp.journal.keys.PublicKey` and the helpers below; a test checks that no
other module of the package imports an Ed25519 implementation. Signature checks
raise :class:`InvalidSignature` (cryptography's class, as before); they never
return a bool.
"""

from __future__ import annotations

import hashlib
import hmac

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from nacl import bindings as _sodium
from nacl.exceptions import BadSignatureError

__all__ = (
    "PUBLIC_BYTES",
    "SEED_BYTES",
    "SIGNATURE_BYTES",
    "InvalidSignature",
    "Signer",
    "digest_eq",
    "ed25519_generate",
    "ed25519_private_from_pem",
    "ed25519_private_to_pem",
    "ed25519_public_from_pem",
    "ed25519_public_to_pem",
    "ed25519_verify",
    "foreign_public_raw",
    "foreign_seed",
    "sha256",
)

SEED_BYTES = 32
PUBLIC_BYTES = 32
SIGNATURE_BYTES = 64


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def digest_eq(a: bytes | str, b: bytes | str) -> bool:
    """Constant-time comparison of two digests of the same type."""
    if type(a) is not type(b):
        raise TypeError("digest_eq needs two bytes or two str")
    if isinstance(a, str):
        return hmac.compare_digest(a.encode("ascii", "replace"), b.encode("ascii", "replace"))  # type: ignore[union-attr]
    return hmac.compare_digest(a, b)  # type: ignore[arg-type]


# ------------------------------------------------------------------- Ed25519
class Signer:
    """An Ed25519 private key held as libsodium's 64-byte secret key (seed || public key)."""

    __slots__ = ("_sk", "public_raw")

    def __init__(self, seed: bytes) -> None:
        if type(seed) is not bytes or len(seed) != SEED_BYTES:
            raise ValueError(f"an Ed25519 private key seed has {SEED_BYTES} bytes")
        pk, sk = _sodium.crypto_sign_seed_keypair(seed)
        self._sk = sk
        self.public_raw: bytes = pk

    @property
    def seed(self) -> bytes:
        return self._sk[:SEED_BYTES]

    def sign(self, data: bytes) -> bytes:
        """The 64-byte signature over ``data`` (libsodium; the GIL is released while it runs)."""
        return _sodium.crypto_sign(data, self._sk)[:SIGNATURE_BYTES]

    def __repr__(self) -> str:
        return "Signer(<private>)"


def ed25519_generate() -> bytes:
    """A new private key seed from the operating system's random source (via libsodium)."""
    _pk, sk = _sodium.crypto_sign_keypair()
    return sk[:SEED_BYTES]


def ed25519_verify(public_raw: bytes, signature: bytes, data: bytes) -> None:
    """Raise :class:`InvalidSignature` unless ``signature`` is ``public_raw``'s over ``data``.

    libsodium releases the GIL while it checks, and refuses non-canonical and
    small-order encodings that some other implementations accept.
    """
    if len(public_raw) != PUBLIC_BYTES:  # libsodium reads exactly 32 bytes from this buffer
        raise InvalidSignature(f"an Ed25519 public key has {PUBLIC_BYTES} bytes, found {len(public_raw)}")
    if len(signature) != SIGNATURE_BYTES:
        raise InvalidSignature(f"an Ed25519 signature has {SIGNATURE_BYTES} bytes, found {len(signature)}")
    try:
        _sodium.crypto_sign_open(bytes(signature) + bytes(data), bytes(public_raw))
    except BadSignatureError:
        raise InvalidSignature() from None


def ed25519_private_to_pem(seed: bytes) -> bytes:
    """PKCS#8 PEM, unencrypted (the format ``agp keys init`` has always written)."""
    return Ed25519PrivateKey.from_private_bytes(seed).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def ed25519_private_from_pem(data: bytes) -> bytes:
    """The seed of a PKCS#8 PEM Ed25519 private key; ``ValueError`` for anything else."""
    key = serialization.load_pem_private_key(data, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"not an Ed25519 private key ({type(key).__name__})")
    return key.private_bytes_raw()


def ed25519_public_to_pem(raw: bytes) -> bytes:
    """SubjectPublicKeyInfo PEM of a raw 32-byte public key."""
    return Ed25519PublicKey.from_public_bytes(raw).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def ed25519_public_from_pem(data: bytes) -> bytes:
    """The raw 32 bytes of a SubjectPublicKeyInfo PEM Ed25519 public key; ``ValueError`` otherwise."""
    key = serialization.load_pem_public_key(data)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"not an Ed25519 public key ({type(key).__name__})")
    return key.public_bytes_raw()


def foreign_seed(key: object) -> bytes | None:
    """The seed of a ``cryptography`` Ed25519 private key object, else ``None``.

    Lets callers that hold such an object (tests, embedders) hand it to agp
    without importing an Ed25519 implementation anywhere else.
    """
    if isinstance(key, Ed25519PrivateKey):
        return key.private_bytes_raw()
    return None


def foreign_public_raw(key: object) -> bytes | None:
    """The raw bytes of a ``cryptography`` Ed25519 public key object, else ``None``."""
    if isinstance(key, Ed25519PublicKey):
        return key.public_bytes_raw()
    return None
