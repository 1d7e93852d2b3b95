"""`agp keys` and `agp verify` as a user runs them: exit codes, JSON, messages."""

import json
import os
import stat
import subprocess
import sys

import pytest

from tests.support.journal import lines, make_journal, write_lines

AGP = [sys.executable, "-m", "agp.cli"]


def agp(*args, **kw):
    return subprocess.run([*AGP, *map(str, args)], capture_output=True, text=True, **kw)


def test_keys_init_writes_a_0600_key_and_refuses_to_overwrite(tmp_path):
    r = agp("keys", "init", "--dir", tmp_path / "k", "--json")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert stat.S_IMODE(os.stat(info["private_key"]).st_mode) == 0o600
    assert (tmp_path / "k" / "agp.pub").read_text().startswith("-----BEGIN PUBLIC KEY-----")
    again = agp("keys", "init", "--dir", tmp_path / "k")
    assert again.returncode == 2 and "refusing to overwrite" in again.stderr


def test_a_group_readable_key_is_refused(tmp_path):
    agp("keys", "init", "--dir", tmp_path / "k")
    os.chmod(tmp_path / "k" / "agp.key", 0o640)
    r = agp("keys", "show", "--dir", tmp_path / "k")
    assert r.returncode == 2 and "chmod 600" in r.stderr


def test_verify_exit_codes_and_json(tmp_path):
    path, _, _ = make_journal(tmp_path, 12)
    pub = tmp_path / "keys" / "agp.pub"
    ok = agp("verify", path, "--key", pub, "--json")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    doc = json.loads(ok.stdout)
    assert doc["ok"] is True and doc["entries"] == 15 and doc["head"]["covered"] is True and doc["errors"] == []
    ls = lines(path)
    ls[4] = ls[4].replace(b'"i":', b'"j":')
    write_lines(path, ls)
    bad = agp("verify", path, "--key", pub, "--json")
    assert bad.returncode == 1
    doc = json.loads(bad.stdout)
    assert doc["ok"] is False and doc["errors"][0]["line"] == 5 and "hash mismatch" in doc["errors"][0]["message"] and doc["errors"][0]["code"] == "entry_hash_mismatch"
    human = agp("verify", path, "--key", pub)
    assert human.returncode == 1 and "line 5" in human.stdout and "does NOT verify" in human.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["verify", "/nonexistent/journal.jsonl", "--key", "{pub}"], "no journal or bundle"),
        (["verify", "{journal}"], "--key"),
        (["verify", "{journal}", "--key", "/nonexistent.pub"], "no public key"),
        (["verify", "{journal}", "--key", "{journal}"], "base64"),
    ],
)
def test_verify_usage_errors_exit_2(tmp_path, args, message):
    path, _, _ = make_journal(tmp_path, 2)
    pub = tmp_path / "keys" / "agp.pub"
    r = agp(*[a.format(pub=pub, journal=path) for a in args])
    assert r.returncode == 2, r.stdout + r.stderr
    assert message in r.stderr


def test_rotate_then_verify_with_the_first_key_and_with_the_keyring(tmp_path):
    path, _, _ = make_journal(tmp_path, 3)
    first_pub = (tmp_path / "first.pub")
    first_pub.write_bytes((tmp_path / "keys" / "agp.pub").read_bytes())
    r = agp("keys", "rotate", "--dir", tmp_path / "keys", "--journal", path, "--json")
    assert r.returncode == 0, r.stderr
    rot = json.loads(r.stdout)
    assert rot["old_kid"] != rot["new_kid"]
    assert agp("verify", path, "--key", first_pub).returncode == 0
    assert agp("verify", path, "--keyring", tmp_path / "keys" / "keyring.json").returncode == 0
    # the new key alone does not vouch for entry 0
    assert agp("verify", path, "--key", tmp_path / "keys" / "agp.pub").returncode == 1


def test_every_command_has_help():
    from agp.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    for name, p in sub.choices.items():
        assert p.description or p.format_help(), name
        r = agp(name, "--help")
        assert r.returncode == 0 and "usage:" in r.stdout, name
