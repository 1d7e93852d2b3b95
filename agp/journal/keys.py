"""Ed25519 keys for the journal: files, key ids, keyrings.

Layout of a key directory (``agp keys init --dir D``)::

    D/agp.key        PKCS#8 PEM private key, mode 0600 (refused if group/world can read it)
    D/agp.pub        SubjectPublicKeyInfo PEM public key (give this to auditors)
    D/keyring.json   every public key this directory has used, oldest first (after a rotation)
    D/retired/       private keys replaced by ``agp keys rotate`` (mode 0600)

A key id (``kid``) is the first 16 hex digits of SHA-256 over the raw 32-byte
public key.
"""

from __future__ import annotations

import base64
import json
import os
import stat
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from agp.errors import KeyFileError
from agp.journal import _crypto

__all__ = (
    "KEYRING_FILE",
    "KEY_FILE",
    "PUB_FILE",
    "RETIRED_DIR",
    "KeyRotation",
    "Keyring",
    "PublicKey",
    "SigningKey",
    "init_keys",
    "kid_for",
    "load_public_key",
    "load_signing_key",
)

KEY_FILE = "agp.key"
PUB_FILE = "agp.pub"
KEYRING_FILE = "keyring.json"
RETIRED_DIR = "retired"
_STAGED_SUFFIX = ".next"


def kid_for(raw_public: bytes) -> str:
    return _crypto.sha256(raw_public).hex()[:16]


@dataclass(frozen=True, slots=True)
class PublicKey:
    raw: bytes
    kid: str

    @classmethod
    def from_raw(cls, raw: bytes) -> PublicKey:
        if not isinstance(raw, (bytes, bytearray)) or len(raw) != _crypto.PUBLIC_BYTES:
            size = len(raw) if isinstance(raw, (bytes, bytearray)) else type(raw).__name__
            raise KeyFileError(f"bad public key: an Ed25519 public key has {_crypto.PUBLIC_BYTES} bytes, found {size}")
        return cls(raw=bytes(raw), kid=kid_for(bytes(raw)))

    @classmethod
    def from_b64(cls, text: str) -> PublicKey:
        try:
            raw = base64.b64decode(text, validate=True)
        except (ValueError, TypeError) as exc:
            raise KeyFileError(f"bad base64 public key: {exc}") from exc
        return cls.from_raw(raw)

    @classmethod
    def from_pem(cls, data: bytes) -> PublicKey:
        try:
            raw = _crypto.ed25519_public_from_pem(data)
        except (ValueError, TypeError) as exc:
            raise KeyFileError(f"not a PEM Ed25519 public key: {exc}") from exc
        return cls.from_raw(raw)

    def verify(self, signature: bytes, data: bytes) -> None:
        """Raise ``InvalidSignature`` unless ``signature`` is this key's over ``data``."""
        _crypto.ed25519_verify(self.raw, signature, data)

    def to_b64(self) -> str:
        return base64.b64encode(self.raw).decode("ascii")

    def to_pem(self) -> bytes:
        return _crypto.ed25519_public_to_pem(self.raw)


class SigningKey:
    """An Ed25519 private key. Never logged, never journaled, never put in a bundle.

    Made from a 32-byte seed (or, for callers that hold one, a ``cryptography``
    Ed25519 private key object); signs through libsodium.
    """

    __slots__ = ("_signer", "kid", "public")

    def __init__(self, key: bytes | object) -> None:
        seed = key if isinstance(key, bytes) else _crypto.foreign_seed(key)
        if seed is None:
            raise TypeError(f"a SigningKey is made from a 32-byte seed, not {type(key).__name__}")
        try:
            self._signer = _crypto.Signer(seed)
        except ValueError as exc:
            raise KeyFileError(str(exc)) from None
        self.public = PublicKey.from_raw(self._signer.public_raw)
        self.kid = self.public.kid

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(_crypto.ed25519_generate())

    def sign(self, data: bytes) -> bytes:
        return self._signer.sign(data)

    def to_pem(self) -> bytes:
        return _crypto.ed25519_private_to_pem(self._signer.seed)

    def __repr__(self) -> str:
        return f"SigningKey(kid={self.kid!r})"


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Create ``path`` exclusively with ``mode`` and fsync it; refuse to overwrite."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError as exc:
        raise KeyFileError(f"{path} already exists; refusing to overwrite it") from exc
    except OSError as exc:
        raise KeyFileError(f"cannot create {path}: {exc.strerror}") from exc
    try:
        os.fchmod(fd, mode)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def init_keys(key_dir: str | os.PathLike[str]) -> SigningKey:
    """Create ``agp.key`` (0600) and ``agp.pub`` in ``key_dir``; refuse to overwrite either."""
    d = Path(key_dir)
    try:
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise KeyFileError(f"cannot create key directory {d}: {exc.strerror}") from exc
    for name in (KEY_FILE, PUB_FILE):
        if (d / name).exists():
            raise KeyFileError(f"{d / name} already exists; refusing to overwrite a key")
    key = SigningKey.generate()
    _write_new(d / KEY_FILE, key.to_pem(), 0o600)
    _write_new(d / PUB_FILE, key.public.to_pem(), 0o644)
    _fsync_dir(d)
    return key


def load_signing_key(key_dir_or_file: str | os.PathLike[str]) -> SigningKey:
    """Load ``D/agp.key`` (or the file given). Refuses a key group or others can read."""
    p = Path(key_dir_or_file)
    if p.is_dir() or (not p.exists() and p.suffix != ".key"):
        p = p / KEY_FILE
    try:
        st = p.stat()
        data = p.read_bytes()
    except FileNotFoundError as exc:
        raise KeyFileError(f"no signing key at {p} (create one with `agp keys init --dir {p.parent}`)") from exc
    except OSError as exc:
        raise KeyFileError(f"cannot read signing key {p}: {exc.strerror}") from exc
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(
            f"signing key {p} has mode {stat.S_IMODE(st.st_mode):04o}; it must not be readable by group or "
            f"others (chmod 600 {p})"
        )
    try:
        return SigningKey(_crypto.ed25519_private_from_pem(data))
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"{p} is not an Ed25519 PEM private key: {exc}") from exc


def load_public_key(path: str | os.PathLike[str]) -> PublicKey:
    """Load a public key: PEM (``agp.pub``) or one line of base64 raw bytes."""
    p = Path(path)
    if p.is_dir():
        p = p / PUB_FILE
    try:
        data = p.read_bytes()
    except FileNotFoundError as exc:
        raise KeyFileError(f"no public key at {p}") from exc
    except OSError as exc:
        raise KeyFileError(f"cannot read public key {p}: {exc.strerror}") from exc
    if b"-----BEGIN" in data:
        return PublicKey.from_pem(data)
    return PublicKey.from_b64(data.decode("ascii", "replace").strip())


class Keyring(Mapping[str, PublicKey]):
    """Public keys a verifier trusts directly, by kid.

    A journal's first entry must be signed by a key in the keyring; later keys
    are accepted only when a rotation entry signed by the key then in force
    introduces them.
    """

    def __init__(self, keys: Iterable[PublicKey]) -> None:
        self._keys = {k.kid: k for k in keys}
        if not self._keys:
            raise KeyFileError("a keyring needs at least one public key")

    @classmethod
    def from_public_key(cls, key: PublicKey) -> Keyring:
        return cls([key])

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Keyring:
        """A keyring file (``keyring.json``) or a single public key file."""
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            raise KeyFileError(f"no keyring at {p}") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise KeyFileError(f"cannot read keyring {p}: {exc}") from exc
        if not text.lstrip().startswith("{"):
            return cls([load_public_key(p)])
        try:
            doc = json.loads(text)
            keys = [PublicKey.from_b64(item["public_key"]) for item in doc["keys"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise KeyFileError(f'{p} is not a keyring file ({{"keys": [{{"public_key": ...}}]}}): {exc}') from exc
        return cls(keys)

    def to_json(self) -> str:
        return json.dumps(
            {"version": 1, "keys": [{"kid": k.kid, "public_key": k.to_b64()} for k in self._keys.values()]},
            indent=2,
        )

    def __getitem__(self, kid: str) -> PublicKey:
        return self._keys[kid]

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)


def _write_replace(path: Path, data: bytes, mode: int) -> None:
    """Write ``path`` through a temporary file, fsync it and rename it into place."""
    tmp = path.with_name(path.name + _STAGED_SUFFIX)
    tmp.unlink(missing_ok=True)
    _write_new(tmp, data, mode)
    os.replace(tmp, path)


@dataclass(frozen=True, slots=True)
class KeyRotation:
    """A key directory part-way through a rotation: the new key is staged beside the old one.

    The steps, in order (``agp.journal.rotate_key`` runs them around the journal's
    ``key.rotate`` entry)::

        r = KeyRotation.stage(D)   # load D/agp.key, make a new key, write D/agp.key.next (0600)
        ...                        # the journal records the rotation, signed by r.old
        r.install()                # old key -> D/retired/, new key -> D/agp.key, D/agp.pub, D/keyring.json
        # or r.abandon()           # the journal did not record it: drop D/agp.key.next
    """

    directory: Path
    old: SigningKey
    new: SigningKey

    @property
    def staged(self) -> Path:
        return self.directory / (KEY_FILE + _STAGED_SUFFIX)

    @property
    def retired(self) -> Path:
        return self.directory / RETIRED_DIR / f"agp-{self.old.kid}.key"

    @classmethod
    def stage(cls, key_dir: str | os.PathLike[str]) -> KeyRotation:
        d = Path(key_dir)
        old = load_signing_key(d)
        staged = d / (KEY_FILE + _STAGED_SUFFIX)
        if staged.exists():
            raise KeyFileError(
                f"{staged} exists: an earlier rotation stopped part-way. If the journal's last key.rotate entry "
                f"names that key, move it to {d / KEY_FILE} (keep {d / KEY_FILE} in {d / RETIRED_DIR}); "
                "otherwise delete it. Then rotate again"
            )
        new = SigningKey.generate()
        _write_new(staged, new.to_pem(), 0o600)
        return cls(directory=d, old=old, new=new)

    def abandon(self) -> None:
        """Drop the staged key (the journal did not record the rotation)."""
        self.staged.unlink(missing_ok=True)

    def install(self) -> Path:
        """Retire the old key, install the new one and its public key, extend the keyring.

        Returns the keyring's path. Call only once the journal records the rotation.
        """
        d = self.directory
        retired_dir = d / RETIRED_DIR
        try:
            retired_dir.mkdir(mode=0o700, exist_ok=True)
            os.replace(d / KEY_FILE, self.retired)
            os.replace(self.staged, d / KEY_FILE)
            _write_replace(d / PUB_FILE, self.new.public.to_pem(), 0o644)
            ring_path = d / KEYRING_FILE
            keys = list(Keyring.load(ring_path).values()) if ring_path.exists() else [self.old.public]
            if self.old.kid not in {k.kid for k in keys}:
                keys.insert(0, self.old.public)
            keys.append(self.new.public)
            _write_replace(ring_path, (Keyring(keys).to_json() + "\n").encode("utf-8"), 0o644)
            _fsync_dir(retired_dir)
            _fsync_dir(d)
        except OSError as exc:
            raise KeyFileError(
                f"the journal now expects key {self.new.kid}, but installing it in {d} failed: {exc}. "
                f"The new key is in {self.staged if self.staged.exists() else d / KEY_FILE}"
            ) from exc
        return ring_path
