"""C2SP checkpoints, signed notes and witness cosignatures for the journal's Merkle tree.

Formats (byte for byte, checked against the published examples in the tests):

- c2sp.org/signed-note: ``<text ending in \\n>`` ``\\n`` then one or more lines
  ``— <key name> base64(key id (4 bytes, big-endian) || signature)\\n``.
  Ed25519 key id = SHA-256(name || 0x0A || 0x01 || 32-byte public key)[:4];
  the signature is Ed25519 over the note text (including its final newline).
- c2sp.org/tlog-checkpoint: the note text is ``<origin>\\n<tree size>\\n<base64
  root>\\n`` followed by optional non-empty extension lines. The log's key name
  is its origin.
- c2sp.org/tlog-cosignature (cosignature/v1, signature type 0x04): key id =
  SHA-256(name || 0x0A || 0x04 || public key)[:4]; the signature bytes are
  u64 big-endian timestamp || Ed25519(``"cosignature/v1\\ntime <ts>\\n"`` || note text).
- verifier keys (vkeys): ``<name>+<hex key id>+base64(type || public key)``.

Opening a note verifies it: :func:`open_checkpoint` and :func:`verify_cosignature`
raise :class:`agp.errors.JournalVerificationError` (expected vs. found) and never
return a bool. :func:`parse_unverified_note` is the only way to look inside a note
without checking it, and says so in its name.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from agp.errors import JournalVerificationError, UsageError
from agp.journal import _crypto

__all__ = (
    "COSIGNATURE_V1_HEADER",
    "MAX_SIGNATURES",
    "SIG_TYPE_COSIGNATURE_V1",
    "SIG_TYPE_ED25519",
    "Checkpoint",
    "Note",
    "NoteSignature",
    "VerifierKey",
    "cosign_checkpoint",
    "cosignature_message",
    "format_checkpoint",
    "journal_origin",
    "key_id",
    "open_checkpoint",
    "parse_checkpoint_body",
    "parse_unverified_note",
    "parse_vkey",
    "sign_checkpoint",
    "sign_note",
    "verify_cosignature",
    "verify_note",
    "vkey",
)

SIG_TYPE_ED25519 = 0x01
SIG_TYPE_COSIGNATURE_V1 = 0x04
COSIGNATURE_V1_HEADER = "cosignature/v1\n"
MAX_SIGNATURES = 100  # the spec requires at least 16; Go's x/mod/sumdb/note caps at 100
_SIG_PREFIX = "\u2014 "  # em dash, space
_SIZE_RE = re.compile(r"0|[1-9][0-9]*")
_MAX_TREE_SIZE = (1 << 63) - 1


# ------------------------------------------------------------------------ keys
def _valid_name(name: str) -> bool:
    return bool(name) and "+" not in name and not any(c.isspace() or unicodedata.category(c) == "Zs" for c in name)


def key_id(name: str, sig_type: int, public_raw: bytes) -> bytes:
    """SHA-256(name || 0x0A || type || public key)[:4]  (signed-note §Signatures)."""
    return hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([sig_type]) + public_raw).digest()[:4]


def _public_raw(pub: Any) -> bytes:
    """Raw 32 bytes of an Ed25519 public key given as bytes, agp PublicKey or cryptography key."""
    if isinstance(pub, (bytes, bytearray)):
        if len(pub) != 32:
            raise UsageError(f"an Ed25519 public key has 32 bytes, found {len(pub)}")
        return bytes(pub)
    foreign = _crypto.foreign_public_raw(pub)
    if foreign is not None:
        return foreign
    raw = getattr(pub, "raw", None)  # agp.journal.keys.PublicKey
    if isinstance(raw, bytes) and len(raw) == 32:
        return raw
    raise UsageError(f"not an Ed25519 public key: {type(pub).__name__}")


def _private(key: Any) -> tuple[Any, bytes]:
    """(object with .sign(bytes) -> bytes, raw public key) from a seed, cryptography key or agp SigningKey."""
    if isinstance(key, (bytes, bytearray)):
        if len(key) != 32:
            raise UsageError(f"an Ed25519 private key seed has 32 bytes, found {len(key)}")
        signer = _crypto.Signer(bytes(key))
        return signer, signer.public_raw
    seed = _crypto.foreign_seed(key)
    if seed is not None:
        signer = _crypto.Signer(seed)
        return signer, signer.public_raw
    public = getattr(key, "public", None)  # agp.journal.keys.SigningKey
    if callable(getattr(key, "sign", None)) and public is not None:
        return key, _public_raw(public)
    raise UsageError(f"not an Ed25519 signing key: {type(key).__name__}")


@dataclass(frozen=True, slots=True)
class VerifierKey:
    """A public key a verifier trusts, under a name, for one signature type."""

    name: str
    sig_type: int
    public_raw: bytes

    def __post_init__(self) -> None:
        if not _valid_name(self.name):
            raise UsageError(f"key name {self.name!r} must be non-empty, without spaces or '+'")
        if len(self.public_raw) != 32:
            raise UsageError("an Ed25519 public key has 32 bytes")

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.sig_type, self.public_raw)

    def to_vkey(self) -> str:
        return vkey(self.name, self.public_raw, self.sig_type)

    def _verify(self, signature: bytes, message: bytes) -> None:
        try:
            _crypto.ed25519_verify(self.public_raw, signature, message)
        except _crypto.InvalidSignature:
            raise JournalVerificationError(
                f"the signature by {self.name} (key id {self.key_id.hex()}) does not verify over this note"
            ) from None


def vkey(name: str, public_raw: bytes, sig_type: int = SIG_TYPE_ED25519) -> str:
    """Encode a verifier key: ``<name>+<hex key id>+base64(type || public key)``."""
    if not _valid_name(name):
        raise UsageError(f"key name {name!r} must be non-empty, without spaces or '+'")
    return (
        f"{name}+{key_id(name, sig_type, public_raw).hex()}+{base64.b64encode(bytes([sig_type]) + public_raw).decode()}"
    )


def parse_vkey(text: str) -> VerifierKey:
    """Decode a vkey; refuses a key id that does not match, an unknown type or a key of the wrong size."""
    text = text.strip()
    parts = text.split("+", 2)  # base64 may itself contain '+'
    if len(parts) != 3:
        raise UsageError(f"a verifier key is <name>+<hex id>+<base64 key>, found {len(parts)} parts")
    name, hid, b64 = parts
    try:
        blob = base64.b64decode(b64, validate=True)
        want_id = bytes.fromhex(hid)
    except (binascii.Error, ValueError) as exc:
        raise UsageError(f"verifier key for {name!r} is not well-formed: {exc}") from exc
    if len(hid) != 8 or len(blob) != 33:
        raise UsageError(
            f"verifier key for {name!r}: expected an 8-digit id and 33 key bytes, found {len(hid)} and {len(blob)}"
        )
    sig_type = blob[0]
    if sig_type not in (SIG_TYPE_ED25519, SIG_TYPE_COSIGNATURE_V1):
        raise UsageError(f"verifier key for {name!r} has signature type {sig_type:#04x}; agp knows 0x01 and 0x04")
    vk = VerifierKey(name, sig_type, blob[1:])
    if vk.key_id != want_id:
        raise UsageError(f"verifier key for {name!r} says key id {hid}, but its key hashes to {vk.key_id.hex()}")
    return vk


# ----------------------------------------------------------------------- notes
@dataclass(frozen=True, slots=True)
class NoteSignature:
    name: str
    key_id: bytes
    signature: bytes  # the bytes after the key id

    def line(self) -> str:
        return f"{_SIG_PREFIX}{self.name} {base64.b64encode(self.key_id + self.signature).decode()}\n"


@dataclass(frozen=True, slots=True)
class Note:
    text: str
    signatures: tuple[NoteSignature, ...]

    def to_text(self) -> str:
        return self.text + "\n" + "".join(s.line() for s in self.signatures)


def _malformed(why: str) -> JournalVerificationError:
    return JournalVerificationError(f"malformed signed note: {why}")


def parse_unverified_note(note: str | bytes) -> Note:
    """Split a signed note into its text and signature lines WITHOUT checking any signature."""
    if isinstance(note, bytes):
        try:
            note = note.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _malformed(f"not UTF-8 ({exc})") from None
    for ch in note:
        if ch < " " and ch != "\n":
            raise _malformed(f"control character {ord(ch):#04x} (only newline is allowed)")
    split = note.rfind("\n\n")
    if split < 0:
        raise _malformed("no blank line between the text and the signatures")
    text, sigs = note[: split + 1], note[split + 2 :]
    if not sigs or not sigs.endswith("\n"):
        raise _malformed("the signature block is empty or does not end with a newline")
    out: list[NoteSignature] = []
    for n, line in enumerate(sigs[:-1].split("\n"), start=1):
        if n > MAX_SIGNATURES:
            raise _malformed(f"more than {MAX_SIGNATURES} signatures")
        if not line.startswith(_SIG_PREFIX):
            raise _malformed(f"signature line {n} does not start with '— '")
        name, _, b64 = line[len(_SIG_PREFIX) :].partition(" ")
        try:
            blob = base64.b64decode(b64, validate=True)
        except (binascii.Error, ValueError):
            raise _malformed(f"signature line {n} ({name}) is not base64") from None
        if not _valid_name(name) or not b64 or len(blob) < 5:
            raise _malformed(f"signature line {n} has a bad key name or a signature shorter than 5 bytes")
        out.append(NoteSignature(name, blob[:4], blob[4:]))
    return Note(text, tuple(out))


def sign_note(note_or_text: str, key: Any, key_name: str) -> str:
    """Add an Ed25519 (type 0x01) signature line; ``note_or_text`` is bare text or an already-signed note."""
    signer, pub = _private(key)
    if not _valid_name(key_name):
        raise UsageError(f"key name {key_name!r} must be non-empty, without spaces or '+'")
    if _looks_signed(note_or_text):
        note = parse_unverified_note(note_or_text)
    else:
        if not note_or_text.endswith("\n"):
            raise UsageError("note text must end with a newline")
        note = Note(note_or_text, ())
    sig = NoteSignature(key_name, key_id(key_name, SIG_TYPE_ED25519, pub), signer.sign(note.text.encode("utf-8")))
    return Note(note.text, note.signatures + (sig,)).to_text()


def _looks_signed(s: str) -> bool:
    return "\n\n" + _SIG_PREFIX in s or s.startswith("\n" + _SIG_PREFIX)


def verify_note(note: str | bytes, keys: Iterable[VerifierKey]) -> tuple[Note, tuple[VerifierKey, ...]]:
    """Verify a signed note against trusted keys; return the note and the keys that signed it.

    As the spec says: signatures from unknown (name, id) pairs are ignored; a
    signature from a known key that fails rejects the whole note; at least one
    known key must have signed. Stricter than Go's x/mod: every signature line
    of a known key is checked, not just the first.
    """
    parsed = parse_unverified_note(note)
    known = {(k.name, k.key_id): k for k in keys}
    if not known:
        raise UsageError("no trusted keys given to verify the note with")
    signed: dict[tuple[str, bytes], VerifierKey] = {}
    message = parsed.text.encode("utf-8")
    for s in parsed.signatures:
        k = known.get((s.name, s.key_id))
        if k is None:
            continue
        if k.sig_type == SIG_TYPE_ED25519:
            k._verify(s.signature, message)
        elif k.sig_type == SIG_TYPE_COSIGNATURE_V1:
            _verify_cosig_bytes(k, s.signature, parsed.text)
        else:  # pragma: no cover - parse_vkey refuses other types
            raise UsageError(f"unsupported signature type {k.sig_type}")
        signed[(s.name, s.key_id)] = k
    if not signed:
        want = ", ".join(f"{k.name} (key id {k.key_id.hex()})" for k in known.values())
        found = ", ".join(f"{s.name} (key id {s.key_id.hex()})" for s in parsed.signatures) or "none"
        raise JournalVerificationError(f"the note is not signed by a trusted key: expected {want}, found {found}")
    return parsed, tuple(signed.values())


# ------------------------------------------------------------------ checkpoints
def journal_origin(genesis_hash_hex: str) -> str:
    """The checkpoint origin (and log key name) of one journal: ``agp.local/journal/<first 32 hex of entry 0's hash>``."""
    g = genesis_hash_hex.lower()
    if len(g) < 32 or any(c not in "0123456789abcdef" for c in g):
        raise UsageError(f"a journal origin needs the hex hash of entry 0, found {genesis_hash_hex!r}")
    return f"agp.local/journal/{g[:32]}"


def format_checkpoint(origin: str, size: int, root: bytes, extensions: Sequence[str] = ()) -> str:
    """The checkpoint note text (tlog-checkpoint): origin, size, base64 root, extension lines; ends with a newline."""
    if not origin or "\n" in origin or any(ch < " " for ch in origin):
        raise UsageError(f"checkpoint origin must be one non-empty line, found {origin!r}")
    if type(size) is not int or not 0 <= size <= _MAX_TREE_SIZE:
        raise UsageError(f"tree size must be a non-negative integer, found {size!r}")
    if type(root) is not bytes or len(root) != 32:
        raise UsageError("the root hash must be 32 bytes")
    for e in extensions:
        if not e or "\n" in e or any(ch < " " for ch in e):
            raise UsageError(f"extension lines must be non-empty single lines, found {e!r}")
    return "".join(f"{line}\n" for line in (origin, str(size), base64.b64encode(root).decode(), *extensions))


def parse_checkpoint_body(text: str) -> tuple[str, int, bytes, tuple[str, ...]]:
    """(origin, size, root, extensions) from a checkpoint note text. Raises JournalVerificationError."""
    if not text.endswith("\n"):
        raise JournalVerificationError("checkpoint text must end with a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise JournalVerificationError(f"a checkpoint has at least 3 lines (origin, size, root), found {len(lines)}")
    origin, size_s, root_s, *ext = lines
    if not origin:
        raise JournalVerificationError("checkpoint origin line is empty")
    if not _SIZE_RE.fullmatch(size_s) or int(size_s) > _MAX_TREE_SIZE:
        raise JournalVerificationError(
            f"checkpoint tree size must be a decimal without leading zeros, found {size_s!r}"
        )
    try:
        root = base64.b64decode(root_s, validate=True)
    except (binascii.Error, ValueError):
        raise JournalVerificationError(f"checkpoint root hash is not base64: {root_s!r}") from None
    if len(root) != 32:
        raise JournalVerificationError(f"checkpoint root hash must be 32 bytes, found {len(root)}")
    if any(not e for e in ext):
        raise JournalVerificationError("checkpoint extension lines must be non-empty")
    return origin, int(size_s), root, tuple(ext)


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A checkpoint whose log signature was verified by :func:`open_checkpoint`."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...]
    text: str  # the note text (body) that was signed
    note: str  # the whole signed note, cosignatures included

    @property
    def root_b64(self) -> str:
        return base64.b64encode(self.root).decode()


def sign_checkpoint(text: str, key: Any, key_name: str | None = None) -> str:
    """Sign a checkpoint (text from :func:`format_checkpoint`) as the log; key name defaults to the origin."""
    origin, _, _, _ = parse_checkpoint_body(text if not _looks_signed(text) else parse_unverified_note(text).text)
    return sign_note(text, key, key_name or origin)


def _log_key(pubkey: Any, key_name: str) -> VerifierKey:
    if isinstance(pubkey, VerifierKey):
        return pubkey
    if isinstance(pubkey, str):
        vk = parse_vkey(pubkey)
        if vk.sig_type != SIG_TYPE_ED25519:
            raise UsageError(f"the log key {vk.name} must be an Ed25519 (type 0x01) key")
        return vk
    return VerifierKey(key_name, SIG_TYPE_ED25519, _public_raw(pubkey))


def open_checkpoint(
    note_text: str | bytes, pubkey: Any, key_name: str | None = None, *, origin: str | None = None
) -> Checkpoint:
    """Verify the log's signature on a checkpoint and parse it. Raises JournalVerificationError.

    ``pubkey``: raw 32 bytes, agp ``PublicKey``, cryptography key, vkey string
    or :class:`VerifierKey`. ``key_name`` defaults to the checkpoint's origin
    (the log signs under its origin). ``origin``, when given, must match.
    """
    parsed = parse_unverified_note(note_text)
    o, size, root, ext = parse_checkpoint_body(parsed.text)
    if origin is not None and o != origin:
        raise JournalVerificationError(f"checkpoint origin: expected {origin!r}, found {o!r}")
    if isinstance(pubkey, (str, VerifierKey)):
        vk = _log_key(pubkey, "")
        if key_name is not None and key_name != vk.name:
            raise UsageError(f"key name {key_name!r} differs from the verifier key's name {vk.name!r}")
    else:
        name = key_name or o
        if not _valid_name(name):
            raise JournalVerificationError(
                f"checkpoint origin {name!r} cannot be a key name (spaces or '+'); give key_name"
            )
        vk = _log_key(pubkey, name)
    verify_note(parsed.to_text(), [vk])
    return Checkpoint(origin=o, size=size, root=root, extensions=ext, text=parsed.text, note=parsed.to_text())


# ---------------------------------------------------------------- cosignatures
def cosignature_message(text: str, timestamp: int) -> bytes:
    """The bytes a cosignature/v1 signs: ``"cosignature/v1\\ntime <ts>\\n"`` || checkpoint note text."""
    if type(timestamp) is not int or not 0 <= timestamp <= _MAX_TREE_SIZE:
        raise UsageError(f"cosignature timestamp must be a POSIX time in [0, 2^63-1], found {timestamp!r}")
    if len(text.split("\n")) < 4:  # three lines plus the final newline
        raise UsageError("a cosigned note must be a checkpoint (at least three lines)")
    return f"{COSIGNATURE_V1_HEADER}time {timestamp}\n{text}".encode()


def cosign_checkpoint(note_text: str, witness_key: Any, witness_name: str, timestamp: int) -> str:
    """Append a cosignature/v1 (type 0x04) line by the witness. Does NOT check the checkpoint: see witness.py."""
    signer, pub = _private(witness_key)
    if not _valid_name(witness_name):
        raise UsageError(f"witness name {witness_name!r} must be non-empty, without spaces or '+'")
    note = parse_unverified_note(note_text)
    sig = signer.sign(cosignature_message(note.text, timestamp))
    line = NoteSignature(
        witness_name, key_id(witness_name, SIG_TYPE_COSIGNATURE_V1, pub), struct.pack(">Q", timestamp) + sig
    )
    return Note(note.text, note.signatures + (line,)).to_text()


def _verify_cosig_bytes(k: VerifierKey, blob: bytes, text: str) -> int:
    if len(blob) != 8 + 64:
        raise JournalVerificationError(
            f"cosignature by {k.name}: expected 72 bytes (timestamp and Ed25519 signature), found {len(blob)}"
        )
    ts = int.from_bytes(blob[:8], "big")  # uint64, big-endian
    if ts > _MAX_TREE_SIZE:
        raise JournalVerificationError(f"cosignature by {k.name} has timestamp {ts} > 2^63-1")
    k._verify(blob[8:], cosignature_message(text, ts))
    return ts


def verify_cosignature(note_text: str | bytes, witness: Any, witness_name: str | None = None) -> int:
    """Check the witness's cosignature on a checkpoint; return its timestamp. Raises JournalVerificationError.

    ``witness``: a vkey string / :class:`VerifierKey` of type 0x04, or a public
    key together with ``witness_name``. Other signature lines are ignored.
    """
    if isinstance(witness, str):
        witness = parse_vkey(witness)
    if not isinstance(witness, VerifierKey):
        if witness_name is None:
            raise UsageError("a witness public key needs its name (or give a vkey)")
        witness = VerifierKey(witness_name, SIG_TYPE_COSIGNATURE_V1, _public_raw(witness))
    if witness.sig_type != SIG_TYPE_COSIGNATURE_V1:
        raise UsageError(f"witness key {witness.name} must be a cosignature/v1 (type 0x04) key")
    note = parse_unverified_note(note_text)
    parse_checkpoint_body(note.text)
    stamps = [
        _verify_cosig_bytes(witness, s.signature, note.text)
        for s in note.signatures
        if s.name == witness.name and s.key_id == witness.key_id
    ]
    if not stamps:
        found = ", ".join(s.name for s in note.signatures) or "none"
        raise JournalVerificationError(
            f"no cosignature by witness {witness.name} (key id {witness.key_id.hex()}); signature lines found: {found}"
        )
    return max(stamps)
