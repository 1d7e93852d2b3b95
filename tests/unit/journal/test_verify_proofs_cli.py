"""`agp verify` with transparency proofs: one entry alone, --since an old checkpoint, witnesses."""

import json
import subprocess
import sys

from agp.journal import Journal, init_keys
from agp.journal.canonical import canonicalize
from agp.journal.chain import GENESIS_PREV, seal
from agp.journal.head import Head, head_path_for, read_head, write_head_file
from agp.journal.store import checkpoint_fields
from agp.journal.merkle import CompactRange
from tests.support.journal import lines

AGP = [sys.executable, "-m", "agp.cli"]


def agp(*args, cwd=None):
    return subprocess.run([*AGP, *map(str, args)], capture_output=True, text=True, cwd=cwd)


def grow(path, key, n, start=0):
    with Journal.open(path, key) as j:
        for i in range(start, start + n):
            j.append("gate.decision", "s", {"i": i})


def current_checkpoint(path):
    return json.loads(head_path_for(path).read_text())["checkpoint"]


def test_one_entry_verifies_without_the_journal_and_a_wrong_one_fails(tmp_path):
    key = init_keys(tmp_path / "k")
    j = tmp_path / "j.jsonl"
    grow(j, key, 10)
    r = agp("journal", "prove", "4", "--journal", j, "--out", tmp_path / "p4.txt")
    assert r.returncode == 0, r.stderr
    ls = lines(j)
    (tmp_path / "e4.json").write_bytes(ls[4])
    (tmp_path / "e5.json").write_bytes(ls[5])
    ok = agp("verify", "--entry", tmp_path / "e4.json", "--proof", tmp_path / "p4.txt", "--key", tmp_path / "k" / "agp.pub", "--json")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert json.loads(ok.stdout)["entry"]["seq"] == 4
    bad = agp("verify", "--entry", tmp_path / "e5.json", "--proof", tmp_path / "p4.txt", "--key", tmp_path / "k" / "agp.pub")
    assert bad.returncode == 1 and "does NOT verify" in bad.stdout
    # a forged proof: flip one hash
    text = (tmp_path / "p4.txt").read_text().splitlines()
    idx = next(i for i, ln in enumerate(text) if len(ln) == 44 and ln.endswith("="))
    text[idx] = ("A" if text[idx][0] != "A" else "B") + text[idx][1:]
    (tmp_path / "forged.txt").write_text("\n".join(text) + "\n")
    forged = agp("verify", "--entry", tmp_path / "e4.json", "--proof", tmp_path / "forged.txt", "--key", tmp_path / "k" / "agp.pub")
    assert forged.returncode == 1


def test_since_accepts_an_extension_and_catches_a_rewritten_prefix(tmp_path):
    key = init_keys(tmp_path / "k")
    j = tmp_path / "j.jsonl"
    grow(j, key, 10)
    (tmp_path / "old.cp").write_text(current_checkpoint(j))
    grow(j, key, 10, start=10)
    ok = agp("verify", j, "--key", tmp_path / "k" / "agp.pub", "--since", tmp_path / "old.cp")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    # the key holder rewrites entry 3 and re-signs everything, head included: the chain and
    # signatures verify, only the old checkpoint shows the history changed
    ls = lines(j)
    out, prev, tree = [], GENESIS_PREV, CompactRange()
    for raw in ls:
        o = json.loads(raw)
        body = dict(o["body"])
        if o["seq"] == 3:
            body["i"] = 999
        e, line = seal(signer=key, body=body, body_c=canonicalize(body), kind=o["kind"], prev=prev, seq=o["seq"],
                       session=o["session"], ts=o["ts"])
        out.append(line)
        prev = e.hash
        tree.append(bytes.fromhex(e.hash))
    j.write_bytes(b"".join(out))
    last = json.loads(out[-1])
    first = json.loads(out[0])
    head = Head.create(key, genesis=first["hash"], seq=last["seq"], hash=last["hash"], ts=last["ts"],
                       extra=checkpoint_fields(key, first["hash"], tree))
    write_head_file(head_path_for(j), head)
    assert agp("verify", j, "--key", tmp_path / "k" / "agp.pub").returncode == 0  # the rewrite is self-consistent
    bad = agp("verify", j, "--key", tmp_path / "k" / "agp.pub", "--since", tmp_path / "old.cp", "--json")
    assert bad.returncode == 1, bad.stdout
    assert any(e["where"].startswith("--since") and e["code"] == "not_extending_checkpoint" for e in json.loads(bad.stdout)["errors"])


def test_witness_cosignatures_are_required(tmp_path):
    key = init_keys(tmp_path / "k")
    pub = tmp_path / "k" / "agp.pub"
    j = tmp_path / "j.jsonl"
    grow(j, key, 5)
    (tmp_path / "cp").write_text(current_checkpoint(j))
    for w in ("w1", "w2"):
        assert agp("witness", "init", "--dir", tmp_path / w).returncode == 0
        (tmp_path / f"{w}.vkey").write_text(agp("witness", "show", "--dir", tmp_path / w).stdout.strip())
    r = agp("witness", "cosign", tmp_path / "cp", "--key", tmp_path / "w1", "--log-key", pub, "--out", tmp_path / "cp.cosigned")
    assert r.returncode == 0, r.stderr
    ok = agp("verify", j, "--key", pub, "--witness", tmp_path / "w1.vkey", "--checkpoint", tmp_path / "cp.cosigned")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    missing = agp("verify", j, "--key", pub, "--witness", tmp_path / "w2.vkey", "--checkpoint", tmp_path / "cp.cosigned")
    assert missing.returncode == 1 and "w2" in missing.stdout
    both = agp("verify", j, "--key", pub, "--witness", tmp_path / "w1.vkey", "--witness", tmp_path / "w2.vkey",
               "--min-witnesses", "2", "--checkpoint", tmp_path / "cp.cosigned")
    assert both.returncode == 1
