"""Ed25519 through libsodium: the same signatures as cryptography, the same key files, one door."""

from __future__ import annotations

import ast
import base64
import os
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature as CryptographyInvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

import agp.journal
from agp.errors import KeyFileError
from agp.journal import _crypto
from agp.journal.keys import PublicKey, SigningKey, init_keys, load_public_key, load_signing_key
from tests.support.journal import make_journal

ROOT = Path(__file__).resolve().parents[3]
PACKAGE = ROOT / "agp" / "journal"
COMMANDS = ROOT / "agp" / "commands"

# RFC 8032 section 7.1, TEST 2 (one-byte message) and TEST 3 (two bytes)
RFC8032 = [
    ("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
     "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"),
    ("c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
     "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac"
     "18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"),
]


def _messages() -> list[bytes]:
    return [b"", b"x", os.urandom(64), os.urandom(1000), b'{"body":{}}' * 300]


@pytest.mark.parametrize("seed, public, message, signature", RFC8032)
def test_rfc8032_vectors(seed, public, message, signature):
    key = SigningKey(bytes.fromhex(seed))
    assert key.public.raw.hex() == public
    assert key.sign(bytes.fromhex(message)).hex() == signature
    key.public.verify(bytes.fromhex(signature), bytes.fromhex(message))


def test_libsodium_and_cryptography_sign_byte_identically_and_verify_each_other():
    for _ in range(20):
        seed = os.urandom(32)
        ours = SigningKey(seed)
        theirs = Ed25519PrivateKey.from_private_bytes(seed)
        assert ours.public.raw == theirs.public_key().public_bytes_raw()
        for msg in _messages():
            sig = ours.sign(msg)
            assert sig == theirs.sign(msg)  # Ed25519 is deterministic
            theirs.public_key().verify(sig, msg)  # cryptography accepts libsodium's signature
            ours.public.verify(theirs.sign(msg), msg)  # and libsodium accepts cryptography's


def test_a_bad_signature_raises_invalid_signature_never_returns():
    key = SigningKey.generate()
    sig = bytearray(key.sign(b"data"))
    with pytest.raises(_crypto.InvalidSignature):
        key.public.verify(sig, b"datA")
    sig[5] ^= 1
    with pytest.raises(_crypto.InvalidSignature):
        key.public.verify(bytes(sig), b"data")
    with pytest.raises(_crypto.InvalidSignature):
        key.public.verify(bytes(sig[:63]), b"data")  # short signature
    with pytest.raises(_crypto.InvalidSignature):
        key.public.verify(bytes(sig) + b"\0", b"data")  # long signature
    with pytest.raises(_crypto.InvalidSignature):
        SigningKey.generate().public.verify(key.sign(b"data"), b"data")  # another key
    # still cryptography's exception class, so callers written against it keep working
    assert _crypto.InvalidSignature is CryptographyInvalidSignature


def test_a_public_key_of_the_wrong_size_is_refused_before_libsodium_reads_it():
    for raw in (b"", bytes(31), bytes(33)):
        with pytest.raises(KeyFileError, match="32 bytes"):
            PublicKey.from_raw(raw)
        with pytest.raises(_crypto.InvalidSignature):
            _crypto.ed25519_verify(raw, bytes(64), b"data")


def test_a_small_order_public_key_verifies_nothing():
    # the identity point: with it, a forged "signature" (R = identity, S = 0) fits every message
    # under a lax verifier; libsodium refuses small-order keys
    identity = bytes([1]) + bytes(31)
    forged = identity + bytes(32)
    with pytest.raises(_crypto.InvalidSignature):
        PublicKey.from_raw(identity).verify(forged, b"any message")  # OpenSSL accepted this


def test_key_files_keep_their_format_both_ways(tmp_path):
    # a key directory written with cryptography alone (as agp did before) loads and signs the same
    seed = os.urandom(32)
    theirs = Ed25519PrivateKey.from_private_bytes(seed)
    d = tmp_path / "old"
    d.mkdir(mode=0o700)
    (d / "agp.key").write_bytes(theirs.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    os.chmod(d / "agp.key", 0o600)
    (d / "agp.pub").write_bytes(theirs.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    key = load_signing_key(d)
    assert key.sign(b"m") == theirs.sign(b"m")
    assert load_public_key(d).raw == theirs.public_key().public_bytes_raw()
    # and a directory written now is exactly what cryptography writes and reads
    new = init_keys(tmp_path / "new")
    pem = (tmp_path / "new" / "agp.key").read_bytes()
    loaded = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(loaded, Ed25519PrivateKey)
    assert pem == loaded.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    pub = serialization.load_pem_public_key((tmp_path / "new" / "agp.pub").read_bytes())
    assert isinstance(pub, Ed25519PublicKey)
    assert pub.public_bytes_raw() == new.public.raw
    assert new.public.to_pem() == (tmp_path / "new" / "agp.pub").read_bytes()


def test_a_cryptography_key_object_is_still_accepted_as_a_signing_key():
    seed = os.urandom(32)
    assert SigningKey(Ed25519PrivateKey.from_private_bytes(seed)).kid == SigningKey(seed).kid
    with pytest.raises(TypeError):
        SigningKey("not a key")
    with pytest.raises(KeyFileError):
        SigningKey(bytes(31))


def test_a_journal_written_with_libsodium_verifies_with_cryptography_alone(tmp_path):
    """Independent check: every entry's signature, checked by OpenSSL instead of libsodium."""
    import json

    from agp.journal.chain import parse_entry

    path, key, _ = make_journal(tmp_path, 30)
    pub = Ed25519PublicKey.from_public_bytes(key.public.raw)
    n = 0
    for line in path.read_bytes().splitlines():
        _entry, _unsigned, signed, sig = parse_entry(json.loads(line))
        pub.verify(sig, signed)
        n += 1
    assert n >= 30


# ------------------------------------------------------------------ structure
def _imports(path: Path) -> list[tuple[str, list[str], int]]:
    """(module, names, line) for every import statement in the file."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.extend((a.name, [], node.lineno) for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.append((node.module, [a.name for a in node.names], node.lineno))
    return out


ED25519_MODULES = ("cryptography.hazmat.primitives.asymmetric.ed25519", "nacl")


def test_only_crypto_module_imports_an_ed25519_implementation():
    offenders = []
    for f in sorted(PACKAGE.rglob("*.py")):
        if f.name == "_crypto.py":
            continue
        for module, names, line in _imports(f):
            full = [module] + [f"{module}.{n}" for n in names]
            if any(m == e or m.startswith(e + ".") for m in full for e in ED25519_MODULES):
                offenders.append(f"{f.relative_to(ROOT)}:{line} imports {module}")
            if module.startswith("cryptography") and "serialization" in names:
                offenders.append(f"{f.relative_to(ROOT)}:{line} reads key files itself ({module})")
    assert offenders == []
    # and the door itself is where both libraries are named
    crypto_imports = {m for m, _, _ in _imports(PACKAGE / "_crypto.py")}
    assert "nacl" in crypto_imports or any(m.startswith("nacl") for m in crypto_imports)


def test_the_grep_would_catch_a_direct_import(tmp_path):
    """The check above fails on a module that signs on its own (guards against a vacuous pass)."""
    bad = tmp_path / "sneaky.py"
    bad.write_text("from nacl.signing import SigningKey\nimport cryptography.hazmat.primitives.asymmetric.ed25519\n")
    found = [m for m, names, _ in _imports(bad)
             if any(x == e or x.startswith(e + ".") for x in [m] + [f"{m}.{n}" for n in names] for e in ED25519_MODULES)]
    assert len(found) == 2


def _private_journal_imports(path: Path) -> list[str]:
    out = []
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("agp.journal"):
            if any(part.startswith("_") for part in node.module.split(".")):
                out.append(f"line {node.lineno}: from {node.module}")
            out.extend(f"line {node.lineno}: {a.name} from {node.module}" for a in node.names if a.name.startswith("_"))
        elif isinstance(node, ast.Import):
            out.extend(f"line {node.lineno}: import {a.name}" for a in node.names
                       if a.name.startswith("agp.journal") and any(p.startswith("_") for p in a.name.split(".")))
    return out


def test_commands_import_no_private_journal_helper():
    found = {}
    for f in sorted(COMMANDS.glob("*.py")):
        bad = _private_journal_imports(f)
        if bad:
            found[f.name] = bad
    assert found == {}


def test_the_private_import_check_catches_one(tmp_path):
    bad = tmp_path / "cmd.py"
    bad.write_text("from agp.journal.keys import _write_new\nfrom agp.journal import _crypto\nimport agp.journal._crypto\n")
    assert len(_private_journal_imports(bad)) == 3


@pytest.mark.parametrize("command", ["keys.py", "journal.py", "witness.py"])
def test_journal_commands_use_only_the_package_face(command):
    """`agp keys`, `agp journal` and `agp witness` import the journal only from agp.journal."""
    modules = [m for m, _, _ in _imports(COMMANDS / command) if m.startswith("agp.journal")]
    assert modules and set(modules) == {"agp.journal"}
    tree = ast.parse((COMMANDS / command).read_text())
    used = {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module == "agp.journal" for a in n.names}
    assert used <= set(agp.journal.__all__)


def test_the_face_covers_proofs_checkpoints_and_the_witness():
    for name in ("prove_inclusion", "prove_consistency", "write_checkpoint", "read_checkpoint", "TreeFile",
                 "verify_entry", "verify_consistency", "require_witnesses", "open_checkpoint",
                 "parse_checkpoint_body", "parse_unverified_note", "Witness", "WitnessState", "init_witness",
                 "load_log_key", "split_add_checkpoint", "rotate_key", "KeyRotation"):
        assert name in agp.journal.__all__ and hasattr(agp.journal, name), name


def test_base64_signature_in_a_journal_line_is_libsodiums(tmp_path):
    """The journal's sig member is exactly the signature both libraries make over the signed bytes."""
    import json

    from agp.journal.chain import parse_entry

    path, key, _ = make_journal(tmp_path, 3)
    seedless = Ed25519PublicKey.from_public_bytes(key.public.raw)
    line = path.read_bytes().splitlines()[1]
    _e, _u, signed, sig = parse_entry(json.loads(line))
    assert base64.b64decode(json.loads(line)["sig"]) == sig == key.sign(signed)
    seedless.verify(sig, signed)
