"""agp.journal.checkpoint: signed notes, checkpoints and cosignatures against published C2SP / Go vectors."""

from __future__ import annotations

import base64
import hashlib
import struct

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agp.errors import JournalVerificationError, UsageError
from agp.journal import SigningKey
from agp.journal.checkpoint import (
    SIG_TYPE_COSIGNATURE_V1,
    SIG_TYPE_ED25519,
    VerifierKey,
    cosign_checkpoint,
    cosignature_message,
    format_checkpoint,
    journal_origin,
    key_id,
    open_checkpoint,
    parse_checkpoint_body,
    parse_unverified_note,
    parse_vkey,
    sign_checkpoint,
    sign_note,
    verify_cosignature,
    verify_note,
    vkey,
)
from agp.journal.merkle import EMPTY_ROOT

# --- published vectors (values only) ------------------------------------------------------------
# c2sp.org/signed-note, "Example"
C2SP_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
C2SP_NOTE = (
    "This is an example message.\n\n"
    "— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
)
# golang.org/x/mod/sumdb/note TestSign: a private key, its vkey and the exact signed output
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
PETER_SIGNED = PETER_TEXT + "\n— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
# transparency-dev/formats log/note_test.go TestSumDBNoteParsing: a real sum.golang.org checkpoint
SUMDB_VKEY = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"
SUMDB_CHECKPOINT = (
    "go.sum database tree\n6476701\nmb8QLQIs0Z0yP5Cstq6guj87oXWeC9gEM8oVikmm9Wk=\n\n"
    "— sum.golang.org Az3grsLX85Gz+s1SiTbgkuqxgItqFq7gsMUEyVnrsa9LM7Us9S+1xbFIGu95949rj4nPRYfvimWEPWL+o3GeoWwOoAw=\n"
)
# transparency-dev/formats log/note_test.go: a signer key pair
LOG_SKEY = "PRIVATE+KEY+Log+2271c621+AdEIq9FLRQni54Wg68T96VJO+iayOaulswav2DUMKgvQ"
LOG_VKEY = "Log+2271c621+AemuH5ooBpEPcr+W8onrjA1NfuzBVHdezakU81Ekarvs"


def seed_of(skey: str) -> bytes:
    blob = base64.b64decode(skey.split("+", 4)[4])
    assert blob[0] == SIG_TYPE_ED25519
    return blob[1:]


# ---------------------------------------------------------------- signed notes
def test_c2sp_signed_note_example_verifies():
    note, keys = verify_note(C2SP_NOTE, [parse_vkey(C2SP_VKEY)])
    assert note.text == "This is an example message.\n"
    assert keys[0].name == "example.com/foo"


def test_go_sumdb_note_signature_is_byte_identical():
    seed = seed_of(PETER_SKEY)
    assert sign_note(PETER_TEXT, seed, "PeterNeumann") == PETER_SIGNED
    pub = Ed25519PrivateKey.from_private_bytes(seed).public_key()
    vk = parse_vkey(PETER_VKEY)
    assert vk.public_raw == SigningKey(Ed25519PrivateKey.from_private_bytes(seed)).public.raw
    assert vkey("PeterNeumann", vk.public_raw) == PETER_VKEY
    assert key_id("PeterNeumann", SIG_TYPE_ED25519, vk.public_raw).hex() == "c74f20a3"
    verify_note(PETER_SIGNED, [vk])
    del pub


def test_key_id_formula_matches_the_spec_text():
    vk = parse_vkey(LOG_VKEY)
    raw = vk.public_raw
    assert hashlib.sha256(b"Log\n\x01" + raw).digest()[:4].hex() == "2271c621" == vk.key_id.hex()
    assert Ed25519PrivateKey.from_private_bytes(seed_of(LOG_SKEY)).public_key().public_bytes_raw() == raw


def test_real_sumdb_checkpoint_opens():
    cp = open_checkpoint(SUMDB_CHECKPOINT, SUMDB_VKEY)
    assert (cp.origin, cp.size, cp.root_b64) == ("go.sum database tree", 6476701, "mb8QLQIs0Z0yP5Cstq6guj87oXWeC9gEM8oVikmm9Wk=")
    with pytest.raises(JournalVerificationError, match="origin: expected"):
        open_checkpoint(SUMDB_CHECKPOINT, SUMDB_VKEY, origin="Go rocks but I might have the wrong ID")


@pytest.mark.parametrize(
    "mangle",
    [
        lambda n: n.replace("6476701", "6476702"),  # edited size
        lambda n: n.replace("mb8Q", "mb9Q"),  # edited root
        lambda n: n.replace("go.sum database tree", "go.sum database treE"),  # edited origin
        lambda n: n.replace("Az3grsLX85", "Az3grsLX86"),  # edited signature
    ],
)
def test_edited_checkpoint_fails(mangle):
    with pytest.raises(JournalVerificationError):
        open_checkpoint(mangle(SUMDB_CHECKPOINT), SUMDB_VKEY)


@pytest.mark.parametrize(
    "bad, why",
    [
        ("no blank line\n— a AAAAAAA=\n", "blank line"),
        ("text\n\n", "empty"),
        ("text\n\n— a AAAAAAAA\n— b", "newline"),
        ("text\n\nnot a signature\n", "does not start"),
        ("text\r\n\n— a AAAAAAAA\n", "control character"),
        ("text\n\n— a+b AAAAAAAA\n", "bad key name"),
        ("text\n\n— a AAAA\n", "shorter than 5"),
        ("text\n\n— a !!!!\n", "not base64"),
    ],
)
def test_malformed_notes_are_refused(bad, why):
    with pytest.raises(JournalVerificationError, match=why):
        parse_unverified_note(bad)


def test_unknown_keys_are_ignored_but_one_known_key_is_required():
    other = SigningKey.generate()
    twice = sign_note(PETER_SIGNED, other, "someone.else")
    verify_note(twice, [parse_vkey(PETER_VKEY)])  # the extra line is ignored
    with pytest.raises(JournalVerificationError, match="not signed by a trusted key: expected example.com/foo"):
        verify_note(PETER_SIGNED, [parse_vkey(C2SP_VKEY)])


def test_a_failing_known_signature_rejects_the_note():
    good = parse_unverified_note(PETER_SIGNED)
    bad_line = good.signatures[0].line().replace("S9UG/", "S9UH/")
    with pytest.raises(JournalVerificationError, match="does not verify"):
        verify_note(PETER_SIGNED + bad_line, [parse_vkey(PETER_VKEY)])


@pytest.mark.parametrize(
    "bad",
    ["a+b+c", "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "PeterNeumann+c74f20a3+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"],
)
def test_bad_vkeys_are_refused(bad):
    with pytest.raises(UsageError):
        parse_vkey(bad)


# ----------------------------------------------------------------- checkpoints
def test_checkpoint_format_is_exactly_three_lines_plus_extensions():
    root = hashlib.sha256(b"r").digest()
    text = format_checkpoint("agp.local/journal/x", 42, root)
    assert text == f"agp.local/journal/x\n42\n{base64.b64encode(root).decode()}\n"
    assert parse_checkpoint_body(text) == ("agp.local/journal/x", 42, root, ())
    text2 = format_checkpoint("o", 0, EMPTY_ROOT, ["ext one", "ext2"])
    assert text2.endswith("\next one\next2\n")
    assert parse_checkpoint_body(text2)[3] == ("ext one", "ext2")


@pytest.mark.parametrize(
    "body, why",
    [
        ("o\n042\nAAAA\n", "leading zeros"),
        ("o\n-1\nAAAA\n", "leading zeros"),
        ("o\n1\n", "at least 3 lines"),
        ("\n1\n" + base64.b64encode(EMPTY_ROOT).decode() + "\n", "origin line is empty"),
        ("o\n1\nAAAA\n", "32 bytes"),
        ("o\n1\n" + base64.b64encode(EMPTY_ROOT).decode(), "end with a newline"),
    ],
)
def test_bad_checkpoint_bodies(body, why):
    with pytest.raises(JournalVerificationError, match=why):
        parse_checkpoint_body(body)


def test_sign_and_open_with_every_key_form():
    key = SigningKey.generate()
    text = format_checkpoint(journal_origin("ab" * 32), 7, hashlib.sha256(b"x").digest())
    note = sign_checkpoint(text, key)
    assert note.startswith(text + "\n— agp.local/journal/" + "ab" * 16 + " ")
    for pub in (key.public, key.public.raw, vkey(journal_origin("ab" * 32), key.public.raw)):
        cp = open_checkpoint(note, pub)
        assert cp.size == 7 and cp.text == text
    with pytest.raises(JournalVerificationError, match="not signed by a trusted key"):
        open_checkpoint(note, SigningKey.generate().public)
    with pytest.raises(JournalVerificationError, match="not signed by a trusted key"):
        open_checkpoint(note, key.public, key_name="another.name")
    # cryptography keys and raw seeds sign too, byte-identically (Ed25519 is deterministic)
    seed = seed_of(LOG_SKEY)
    assert sign_checkpoint(text, seed, "Log") == sign_checkpoint(text, Ed25519PrivateKey.from_private_bytes(seed), "Log")
    open_checkpoint(sign_checkpoint(text, seed, "Log"), LOG_VKEY)


# ---------------------------------------------------------------- cosignatures
def test_cosignature_v1_bytes_follow_the_spec():
    log = SigningKey.generate()
    wseed = hashlib.sha256(b"witness seed").digest()
    wpriv = Ed25519PrivateKey.from_private_bytes(wseed)
    wpub = wpriv.public_key().public_bytes_raw()
    text = format_checkpoint("example.com/behind-the-sofa", 20852163, base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="))
    assert cosignature_message(text, 1679315147) == (
        b"cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    )
    signed = sign_checkpoint(text, log)
    cosigned = cosign_checkpoint(signed, wseed, "witness.example.com/w1", 1679315147)
    line = cosigned.splitlines()[-1]
    name, b64 = line.removeprefix("— ").split(" ")
    blob = base64.b64decode(b64)
    assert name == "witness.example.com/w1"
    assert blob[:4] == hashlib.sha256(b"witness.example.com/w1\n\x04" + wpub).digest()[:4]
    assert blob[:4] != key_id("witness.example.com/w1", SIG_TYPE_ED25519, wpub)
    assert struct.unpack(">Q", blob[4:12])[0] == 1679315147
    wpriv.public_key().verify(blob[12:], cosignature_message(text, 1679315147))  # raises if wrong
    assert len(blob) == 4 + 8 + 64
    wv = VerifierKey("witness.example.com/w1", SIG_TYPE_COSIGNATURE_V1, wpub)
    assert verify_cosignature(cosigned, wv.to_vkey()) == 1679315147
    assert verify_cosignature(cosigned, wpub, "witness.example.com/w1") == 1679315147
    # the log signature still opens, the cosignature line is ignored by the log verifier
    assert open_checkpoint(cosigned, log.public).size == 20852163
    # and a note verifier that trusts the witness key accepts the cosigned note
    verify_note(cosigned, [wv])


def test_cosignature_failures():
    log, w = SigningKey.generate(), SigningKey.generate()
    text = format_checkpoint("o.example/log", 3, hashlib.sha256(b"3").digest())
    cosigned = cosign_checkpoint(sign_checkpoint(text, log), w, "w.example/1", 1700000000)
    with pytest.raises(JournalVerificationError, match="no cosignature by witness w.example/2"):
        verify_cosignature(cosigned, w.public, "w.example/2")
    with pytest.raises(JournalVerificationError, match="no cosignature"):
        verify_cosignature(cosigned, SigningKey.generate().public, "w.example/1")
    # the cosignature does not carry over to another checkpoint body
    other = cosigned.replace("o.example/log\n3\n", "o.example/log\n4\n")
    with pytest.raises(JournalVerificationError, match="does not verify"):
        verify_cosignature(other, w.public, "w.example/1")
    # a changed timestamp breaks it
    n = parse_unverified_note(cosigned)
    s = n.signatures[-1]
    forged = n.text + "\n" + n.signatures[0].line() + s.__class__(s.name, s.key_id, struct.pack(">Q", 1700000001) + s.signature[8:]).line()
    with pytest.raises(JournalVerificationError, match="does not verify"):
        verify_cosignature(forged, w.public, "w.example/1")
    # an Ed25519 (type 0x01) signature by the witness key is not a cosignature
    plain = sign_note(sign_checkpoint(text, log), w, "w.example/1")
    with pytest.raises(JournalVerificationError, match="no cosignature"):
        verify_cosignature(plain, w.public, "w.example/1")


def test_journal_origin_is_a_valid_key_name():
    o = journal_origin("0f" * 32)
    assert o == "agp.local/journal/" + "0f" * 16
    with pytest.raises(UsageError):
        journal_origin("xyz")
