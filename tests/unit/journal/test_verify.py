"""Every tampering the journal must catch, each failing with a reason that names the line."""

import json
import shutil

import pytest

from agp.errors import JournalVerificationError
from agp.journal import Journal, Keyring, SigningKey, init_keys, verify_journal
from agp.journal import verify as verify_mod
from agp.journal.canonical import canonicalize
from agp.journal.chain import GENESIS_PREV, seal
from agp.journal.head import head_path_for
from tests.support.journal import lines, make_journal, write_lines


@pytest.fixture(params=["serial", "parallel", "threads"])
def mode(request, monkeypatch):
    """Run each case with one process, with worker processes and with worker threads (seams between chunks)."""
    if request.param in ("parallel", "threads"):
        monkeypatch.setattr(verify_mod, "_PARALLEL_MIN_BYTES", 0)
        return {"workers": 2, "pool": "thread" if request.param == "threads" else "process"}
    return {"workers": 1}


def scan(path, ring, mode):
    return verify_mod.scan_journal(path, ring, **mode)


def fails_at(path, ring, mode, line, text):
    report = scan(path, ring, mode)
    assert not report.ok, "tampering was not detected"
    hits = [e for e in report.errors if e.line == line and text in e.reason]
    assert hits, f"expected an error at line {line} containing {text!r}, got {[str(e) for e in report.errors]}"
    with pytest.raises(JournalVerificationError, match=r"line \d+"):
        verify_journal(path, ring, **mode)
    return report


def reseal(raw_lines, start, signer, *, first_prev=None):
    """Re-hash and re-sign lines[start:] with ``signer`` (an attacker rebuilding the chain)."""
    out = list(raw_lines[:start])
    prev = first_prev if first_prev is not None else (json.loads(raw_lines[start - 1])["hash"] if start else GENESIS_PREV)
    for raw in raw_lines[start:]:
        o = json.loads(raw)
        e, line = seal(signer=signer, body=o["body"], body_c=canonicalize(o["body"]), kind=o["kind"], prev=prev,
                       seq=o["seq"], session=o["session"], ts=o["ts"])
        out.append(line)
        prev = e.hash
    return out


def test_untouched_journal_verifies(tmp_path, mode):
    path, key, ring = make_journal(tmp_path, 40)
    r = scan(path, ring, mode)
    assert r.ok, r.errors
    assert r.entries == 40 + 3  # open, decisions, head announcement at open and at close
    assert r.head["covered"] is True
    assert r.kinds["gate.decision"] == 40


def test_edited_body(tmp_path, mode):
    path, _, ring = make_journal(tmp_path, 20)
    ls = lines(path)
    ls[6] = ls[6].replace(b'"decision":"deny"', b'"decision":"allow"')
    write_lines(path, ls)
    fails_at(path, ring, mode, 7, "hash mismatch")


def test_edited_ts(tmp_path, mode):
    path, _, ring = make_journal(tmp_path, 20)
    ls = lines(path)
    o = json.loads(ls[9])
    ls[9] = ls[9].replace(o["ts"].encode(), b"2001-01-01T00:00:00.000000Z")
    write_lines(path, ls)
    fails_at(path, ring, mode, 10, "hash mismatch")


def test_reordered_lines(tmp_path, mode):
    path, _, ring = make_journal(tmp_path, 20)
    ls = lines(path)
    ls[8], ls[9] = ls[9], ls[8]
    write_lines(path, ls)
    fails_at(path, ring, mode, 9, "reordered")


def test_deleted_middle_line(tmp_path, mode):
    path, _, ring = make_journal(tmp_path, 20)
    ls = lines(path)
    del ls[10]
    write_lines(path, ls)
    fails_at(path, ring, mode, 11, "removed")


def test_duplicated_line(tmp_path, mode):
    path, _, ring = make_journal(tmp_path, 20)
    ls = lines(path)
    ls.insert(5, ls[4])
    write_lines(path, ls)
    fails_at(path, ring, mode, 6, "duplicated")


def test_truncated_tail_with_head(tmp_path, mode):
    path, _, ring = make_journal(tmp_path, 20)
    ls = lines(path)
    write_lines(path, ls[:15])
    fails_at(path, ring, mode, 15, "truncated")


def test_truncated_tail_and_head_removed(tmp_path, mode):
    path, _, ring = make_journal(tmp_path, 20)
    write_lines(path, lines(path)[:15])
    head_path_for(path).unlink()
    fails_at(path, ring, mode, 15, "no signed head")


def test_head_rolled_back_to_an_older_signed_head(tmp_path, mode):
    key = init_keys(tmp_path / "keys")
    path = tmp_path / "j.jsonl"
    j = Journal.open(path, key)
    for i in range(5):
        j.append("gate.decision", "s", {"i": i})
    j.write_head()
    old_head = head_path_for(path).read_bytes()
    for i in range(5):
        j.append("gate.decision", "s", {"i": i})
    j.write_head()
    for i in range(5):
        j.append("gate.decision", "s", {"i": i})
    j.close()
    head_path_for(path).write_bytes(old_head)
    ring = Keyring.from_public_key(key.public)
    report = scan(path, ring, mode)
    assert not report.ok
    assert any("rolled back" in e.reason and e.line is not None for e in report.errors), report.errors


def test_head_from_another_journal(tmp_path, mode):
    key = init_keys(tmp_path / "keys")
    a, _, ring = make_journal(tmp_path, 10, key=key, name="a.jsonl")
    b, _, _ = make_journal(tmp_path, 10, key=key, name="b.jsonl")
    shutil.copy(head_path_for(b), head_path_for(a))
    report = scan(a, ring, mode)
    assert not report.ok
    assert any("another journal" in e.reason for e in report.errors)


def test_entry_resigned_with_unknown_key(tmp_path, mode):
    path, _, ring = make_journal(tmp_path, 20)
    attacker = SigningKey.generate()
    write_lines(path, reseal(lines(path), 12, attacker))
    fails_at(path, ring, mode, 13, "neither the verifier trusts nor any rotation introduced")


def test_forged_rotation_signed_by_the_new_key(tmp_path, mode):
    path, key, ring = make_journal(tmp_path, 10)
    attacker = SigningKey.generate()
    ls = lines(path)
    last = json.loads(ls[-1])
    body = {"new_kid": attacker.kid, "new_public_key": attacker.public.to_b64(), "previous_kid": key.kid}
    e, rot = seal(signer=attacker, body=body, body_c=canonicalize(body), kind="key.rotate", prev=last["hash"],
                  seq=last["seq"] + 1, session="", ts=last["ts"])
    ls.append(rot)
    ls += reseal([json.dumps({**json.loads(ls[1]), "seq": last["seq"] + 2}).encode() + b"\n"], 0, attacker, first_prev=e.hash)
    write_lines(path, ls)
    fails_at(path, ring, mode, len(ls) - 1, "key in force")


def test_forged_rotation_claiming_the_current_key(tmp_path, mode):
    path, key, ring = make_journal(tmp_path, 10)
    attacker = SigningKey.generate()
    ls = lines(path)
    last = json.loads(ls[-1])
    body = {"new_kid": attacker.kid, "new_public_key": attacker.public.to_b64(), "previous_kid": key.kid}
    _, rot = seal(signer=attacker, body=body, body_c=canonicalize(body), kind="key.rotate", prev=last["hash"],
                  seq=last["seq"] + 1, session="", ts=last["ts"])
    o = json.loads(rot)
    o["kid"] = key.kid  # pretend the legitimate key signed it
    ls.append(json.dumps(o).encode() + b"\n")
    write_lines(path, ls)
    report = scan(path, ring, mode)
    assert not report.ok
    assert any(e.line == len(ls) for e in report.errors), report.errors


def test_valid_chain_signed_by_the_wrong_key(tmp_path, mode):
    path, _, ring = make_journal(tmp_path, 10)
    attacker = SigningKey.generate()
    write_lines(path, reseal(lines(path), 0, attacker))
    fails_at(path, ring, mode, 1, "does not trust")


def test_torn_final_line(tmp_path, mode):
    path, _, ring = make_journal(tmp_path, 10)
    ls = lines(path)
    ls.append(ls[-1][:40])  # a crash mid-append: no newline
    write_lines(path, ls)
    fails_at(path, ring, mode, len(ls), "torn final line")


def test_rotation_verifies_with_only_the_first_public_key(tmp_path, mode):
    key = init_keys(tmp_path / "keys")
    path = tmp_path / "j.jsonl"
    j = Journal.open(path, key)
    j.append("gate.decision", "s", {"i": 1})
    new = SigningKey.generate()
    j.rotate(new)
    j.append("gate.decision", "s", {"i": 2})
    j.close()
    j = Journal.open(path, new)  # reopening with the new key works; with the old one it is refused
    j.append("gate.decision", "s", {"i": 3})
    j.close()
    r = scan(path, Keyring.from_public_key(key.public), mode)
    assert r.ok, r.errors
    assert r.kids == [key.kid, new.kid] and r.rotations == 1
    # only the new key: entry 0 is signed by a key the verifier does not hold
    r2 = scan(path, Keyring.from_public_key(new.public), mode)
    assert not r2.ok and r2.errors[0].line == 1


def test_retired_key_signing_after_rotation_is_rejected(tmp_path, mode):
    key = init_keys(tmp_path / "keys")
    path = tmp_path / "j.jsonl"
    j = Journal.open(path, key)
    new = SigningKey.generate()
    j.rotate(new)
    j.close()
    ls = lines(path)
    # the old key keeps signing after its rotation: rebuild the tail with it
    rot_idx = next(i for i, ln in enumerate(ls) if b'"kind":"key.rotate"' in ln)
    write_lines(path, reseal(ls, rot_idx + 1, key))
    report = scan(path, Keyring.from_public_key(key.public), mode)
    assert not report.ok
    assert any(e.line == rot_idx + 2 and "key in force" in e.reason for e in report.errors), report.errors


def test_journal_verify_module_imports_nothing_from_gate_or_sandbox():
    import subprocess
    import sys

    code = (
        "import sys, agp.journal.verify; "
        "bad=[m for m in sys.modules if m.startswith(('agp.gate','agp.sandbox','agp.policy','agp.run','agp.approvers'))]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_parallel_verify_from_a_threaded_process(tmp_path, monkeypatch):
    """`agp run` verifies while its gate and journal threads run: workers must not be forked there."""
    import threading

    monkeypatch.setattr(verify_mod, "_PARALLEL_MIN_BYTES", 0)
    path, _, ring = make_journal(tmp_path, 200)
    stop = threading.Event()
    t = threading.Thread(target=stop.wait)
    t.start()
    try:
        r = verify_mod.scan_journal(path, ring, workers=2)
    finally:
        stop.set()
        t.join()
    assert r.ok and r.workers == 2


def _resign_head_with_checkpoint(path, key, note):
    from agp.journal.head import Head, read_head, write_head_file

    h = read_head(head_path_for(path))
    extra = dict(h.extra)
    extra["checkpoint"] = note
    write_head_file(head_path_for(path), Head.create(key, genesis=h.genesis, seq=h.seq, hash=h.hash, ts=h.ts, extra=extra))
    return h


def test_head_checkpoint_with_a_wrong_root_is_caught(tmp_path, mode):
    from agp.journal.checkpoint import format_checkpoint, journal_origin, sign_checkpoint

    path, key, ring = make_journal(tmp_path, 10)
    h = json.loads(head_path_for(path).read_text())
    origin = journal_origin(h["genesis"])
    bogus = sign_checkpoint(format_checkpoint(origin, h["seq"] + 1, b"\x07" * 32), key, origin)
    _resign_head_with_checkpoint(path, key, bogus)
    report = scan(path, ring, mode)
    assert not report.ok
    assert any("not the Merkle root" in e.reason and e.line == h["seq"] + 1 for e in report.errors), report.errors


def test_head_checkpoint_signed_by_another_key_is_caught(tmp_path, mode):
    from agp.journal.checkpoint import format_checkpoint, journal_origin, sign_checkpoint
    from agp.journal.merkle import CompactRange

    path, key, ring = make_journal(tmp_path, 10)
    h = json.loads(head_path_for(path).read_text())
    origin = journal_origin(h["genesis"])
    tree = CompactRange.from_leaf_data(bytes.fromhex(json.loads(ln)["hash"]) for ln in lines(path)[: h["seq"] + 1])
    note = sign_checkpoint(format_checkpoint(origin, tree.size, tree.root()), SigningKey.generate(), origin)
    _resign_head_with_checkpoint(path, key, note)
    report = scan(path, ring, mode)
    assert not report.ok
    assert any("checkpoint does not verify" in e.reason for e in report.errors), report.errors


def test_head_checkpoint_is_reported(tmp_path, mode):
    path, _, ring = make_journal(tmp_path, 10)
    r = scan(path, ring, mode)
    assert r.ok and r.head["checkpoint"]["size"] == r.head["seq"] + 1


def test_checkpoint_root_is_folded_task_by_task(tmp_path, monkeypatch):
    """Verification folds each worker task's Merkle leaves into the tree as results arrive and drops
    them (the parent holds O(log n) tree state, not 32 bytes per entry). With tasks of ~2 KiB, the
    head's checkpoint still checks against exactly the first head.seq + 1 lines, entries written
    after the head do not enter that root, and one rewritten line in any task is caught."""
    import base64

    from agp.journal.merkle import CompactRange

    monkeypatch.setattr(verify_mod, "_PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(verify_mod, "_CHUNK_BYTES", 2048)
    path, key, ring = make_journal(tmp_path, 120)
    head = json.loads(head_path_for(path).read_text())
    j = Journal.open(path, key)  # entries after the head: the next open writes a head, so keep a copy
    saved = head_path_for(path).read_bytes()
    for i in range(15):
        j.append("gate.decision", "late", {"i": i})
    j.close()
    head_path_for(path).write_bytes(saved)  # the head as it was before those entries
    all_lines = lines(path)
    assert len(all_lines) > head["seq"] + 1 + 15
    tree = CompactRange.from_leaf_data(bytes.fromhex(json.loads(raw)["hash"]) for raw in all_lines[: head["seq"] + 1])
    r = verify_mod.scan_journal(path, ring, workers=2)
    assert r.ok, r.errors
    assert len(verify_mod._chunks(str(path), path.stat().st_size, 4 * 2)) >= 8
    assert r.head["checkpoint"]["size"] == head["seq"] + 1
    assert r.head["checkpoint"]["root"] == base64.b64encode(tree.root()).decode()
    assert r.head["covered"] is False and r.head["uncovered_entries"] > 15
    # an attacker rewrites one covered entry deep in the file and re-seals the chain after it
    ls = lines(path)
    k = head["seq"] // 2
    o = json.loads(ls[k])
    o["body"] = {**o["body"], "tampered": True}
    ls[k] = (json.dumps(o, separators=(",", ":")) + "\n").encode()
    write_lines(path, reseal(ls, k, key))
    r2 = verify_mod.scan_journal(path, ring, workers=2)
    assert any("not the Merkle root" in e.reason for e in r2.errors), r2.errors


def test_an_unknown_pool_is_a_usage_error(tmp_path):
    from agp.errors import UsageError

    path, _, ring = make_journal(tmp_path, 2)
    with pytest.raises(UsageError, match="pool"):
        verify_mod.scan_journal(path, ring, pool="fibers")


def test_threads_report_workers_and_find_the_same_errors(tmp_path, monkeypatch):
    monkeypatch.setattr(verify_mod, "_PARALLEL_MIN_BYTES", 0)
    path, _, ring = make_journal(tmp_path, 40)
    ls = lines(path)
    ls[17] = ls[17].replace(b'"decision":"', b'"decision":"x')
    write_lines(path, ls)
    by_thread = verify_mod.scan_journal(path, ring, workers=2, pool="thread")
    by_process = verify_mod.scan_journal(path, ring, workers=2, pool="process")
    assert by_thread.workers == 2
    assert by_thread.to_json_dict() == by_process.to_json_dict()
    assert not by_thread.ok
