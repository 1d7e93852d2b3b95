"""The signed manifest: signature over the canonical manifest, and every file's sha256."""

import json
import os

import pytest

from agp.errors import EvidenceError
from agp.evidence import manifest as mf
from agp.journal import SigningKey


def bundle(tmp_path):
    b = tmp_path / "b"
    (b / "sub").mkdir(parents=True)
    (b / "a.txt").write_text("a")
    (b / "sub" / "c.json").write_text("{}")
    m = {"format": mf.MANIFEST_FORMAT, "status": "good", "files": mf.file_entries(b)}
    return b, m


def test_sign_and_verify_round_trip(tmp_path):
    key = SigningKey.generate()
    _, m = bundle(tmp_path)
    sig = mf.sign_manifest(m, key)
    mf.verify_manifest_signature(m, sig, key.public)
    # the signature is over the canonical form: key order and whitespace do not matter
    reordered = json.loads(json.dumps(dict(reversed(list(m.items())))))
    mf.verify_manifest_signature(reordered, sig, key.public)


def test_changed_manifest_fails(tmp_path):
    key = SigningKey.generate()
    _, m = bundle(tmp_path)
    sig = mf.sign_manifest(m, key)
    m["status"] = "failed"
    with pytest.raises(EvidenceError, match="manifest.sig: the signature does not verify"):
        mf.verify_manifest_signature(m, sig, key.public)


def test_other_key_fails(tmp_path):
    key, other = SigningKey.generate(), SigningKey.generate()
    _, m = bundle(tmp_path)
    with pytest.raises(EvidenceError, match=f"signed by key {other.kid}"):
        mf.verify_manifest_signature(m, mf.sign_manifest(m, other), key.public)
    forged = dict(mf.sign_manifest(m, other), kid=key.kid)  # claims the right kid
    with pytest.raises(EvidenceError, match="does not verify"):
        mf.verify_manifest_signature(m, forged, key.public)


def test_signature_is_domain_separated(tmp_path):
    key = SigningKey.generate()
    _, m = bundle(tmp_path)
    from agp.journal.canonical import canonicalize
    import base64

    bare = {"v": 1, "alg": "Ed25519", "kid": key.kid, "sig": base64.b64encode(key.sign(canonicalize(m))).decode()}
    with pytest.raises(EvidenceError):
        mf.verify_manifest_signature(m, bare, key.public)


def test_check_files_clean(tmp_path):
    b, m = bundle(tmp_path)
    assert [f["path"] for f in m["files"]] == ["a.txt", "sub/c.json"]
    assert mf.check_files(b, m) == []


def test_check_files_changed_missing_extra(tmp_path):
    b, m = bundle(tmp_path)
    (b / "a.txt").write_text("A")
    (b / "sub" / "c.json").unlink()
    (b / "new.txt").write_text("x")
    problems = [str(p) for p in mf.check_files(b, m)]
    assert any(p.startswith("a.txt: sha256") and "file changed" in p for p in problems)
    assert "sub/c.json: listed in the manifest but missing from the bundle" in problems
    assert "new.txt: in the bundle but not in the manifest (file added)" in problems


def test_check_files_symlink_and_bad_paths(tmp_path):
    b, m = bundle(tmp_path)
    os.symlink("/etc/passwd", b / "link")
    m["files"].append({"path": "../outside", "sha256": "0" * 64, "size": 1})
    problems = [str(p) for p in mf.check_files(b, m)]
    assert any(p.startswith("link: not a regular file") for p in problems)
    assert any("bad or duplicate path '../outside'" in p for p in problems)
    with pytest.raises(EvidenceError, match="non-regular"):
        mf.file_entries(b)


def test_read_manifest_names_the_file(tmp_path):
    b, m = bundle(tmp_path)
    with pytest.raises(EvidenceError, match="manifest.json: missing"):
        mf.read_manifest(b)
    (b / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(EvidenceError, match="manifest.sig: missing"):
        mf.read_manifest(b)
    (b / "manifest.sig").write_text("{}")
    with pytest.raises(EvidenceError, match="manifest.sig: expected"):
        mf.read_manifest(b)
