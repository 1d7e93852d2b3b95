"""The bundler streams: files are copied in chunks, hashed while copied, and redacted across
chunk seams; the bundle's text of `agp verify` comes from the journal's plain summary."""

import subprocess
import sys

from agp.evidence import build_bundle, verify_bundle
from agp.evidence.bundle import _CHUNK
from agp.evidence import manifest as mf
from agp.journal import Keyring, SecretRedactor
from tests.unit.evidence._runs import make_run

SECRET = "s3cr3t-TOKEN-value-0123456789abcdef"


def test_a_secret_split_across_chunks_is_redacted_and_hashes_match(tmp_path):
    run, key = make_run(tmp_path)
    log = run / "logs" / "harness.stdout"
    cut = _CHUNK - len(SECRET) // 2  # the value straddles the first 1 MiB seam
    log.write_bytes(b"a" * cut + SECRET.encode() + b"\n" + b"b" * (3 * _CHUNK) + SECRET.encode() + b"\n")
    red = SecretRedactor()
    red.register("TOKEN", SECRET)
    build_bundle(run, tmp_path / "bundle", key, redactor=red)
    out = (tmp_path / "bundle" / "logs" / "harness.stdout").read_bytes()
    assert SECRET.encode() not in out and out.count(b"{{secret:TOKEN}}") == 2
    assert out == log.read_bytes().replace(SECRET.encode(), b"{{secret:TOKEN}}")
    listed = {f["path"]: f for f in mf.read_manifest(tmp_path / "bundle")[0]["files"]}
    assert listed["logs/harness.stdout"]["sha256"] == mf.file_sha256(tmp_path / "bundle" / "logs" / "harness.stdout")
    assert verify_bundle(tmp_path / "bundle", Keyring.from_public_key(key.public)).ok


def test_verify_txt_is_the_journal_summary_and_the_bundler_imports_no_command(tmp_path):
    code = ("import sys; from pathlib import Path; from tests.unit.evidence._runs import make_run; "
            "from agp.evidence import build_bundle; t = Path(sys.argv[1]); run, key = make_run(t); "
            "build_bundle(run, t / 'bundle', key); "
            "print([m for m in sys.modules if m.startswith('agp.commands')])")
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "[]", r.stdout + r.stderr
    text = (tmp_path / "bundle" / "verify.txt").read_text()
    assert text.startswith("$ agp verify journal.jsonl --key keys/agp.pub\n✓ journal verifies  journal.jsonl\n")
    assert "[" not in text.split("\n", 2)[1]  # plain text, no markup
