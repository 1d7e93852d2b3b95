"""What a verification reports, value by value: the JSON document, the plain summary, the session
count and its cap, each error's text. Expected values are read from the journal file itself (or built
by hand), never from the report under test."""

import base64
import json
from collections import Counter

import pytest

from agp.errors import JournalVerificationError
from agp.journal import Journal, Keyring, init_keys, verify_journal
from agp.journal import verify as verify_mod
from agp.journal.head import head_path_for
from agp.journal.merkle import CompactRange
from agp.journal.verify import VerifyError, VerifyReport, scan_journal
from tests.support.cpu_ceiling import cpu_ceiling_fixture
from tests.support.journal import lines, make_journal, write_lines

# a read loop of the verifier that never ends fails the test instead of hanging it
_cpu_ceiling = cpu_ceiling_fixture(30.0)


@pytest.fixture(params=["serial", "threads", "line-ranges"])
def split(request, monkeypatch):
    """One range, or many small ranges checked by threads (the seams are merged by the parent);
    line-ranges: ranges of about one line each."""
    if request.param != "serial":
        monkeypatch.setattr(verify_mod, "_PARALLEL_MIN_BYTES", 0)
        monkeypatch.setattr(verify_mod, "_CHUNK_BYTES", 1024 if request.param == "threads" else 100)
        return {"workers": 2, "pool": "thread"}
    return {"workers": 1}


def _expected_doc(path, objs):
    head = json.loads(head_path_for(path).read_text())
    tree = CompactRange.from_leaf_data(bytes.fromhex(o["hash"]) for o in objs[: head["seq"] + 1])
    return {
        "ok": True,
        "path": str(path),
        "entries": len(objs),
        "sessions": len({o["session"] for o in objs if o["session"]}),
        "kinds": dict(sorted(Counter(o["kind"] for o in objs).items())),
        "kids": [objs[0]["kid"]],
        "rotations": 0,
        "first_ts": objs[0]["ts"],
        "last_ts": objs[-1]["ts"],
        "head": {
            "present": True,
            "seq": head["seq"],
            "hash": head["hash"],
            "kid": head["kid"],
            "ts": head["ts"],
            "covered": head["seq"] == len(objs) - 1,
            "uncovered_entries": len(objs) - 1 - head["seq"],
            "checkpoint": {
                "origin": f"agp.local/journal/{objs[0]['hash'][:32]}",
                "size": head["seq"] + 1,
                "root": base64.b64encode(tree.root()).decode(),
            },
        },
        "errors": [],
        "notes": [],
    }


def test_the_report_of_an_untouched_journal_value_by_value(tmp_path, split):
    path, key, ring = make_journal(tmp_path, 40)
    objs = [json.loads(ln) for ln in lines(path)]
    r = scan_journal(path, ring, **split)
    doc = r.to_json_dict()
    assert doc == _expected_doc(path, objs)
    assert list(doc) == ["ok", "path", "entries", "sessions", "kinds", "kids", "rotations", "first_ts", "last_ts",
                         "head", "errors", "notes"]
    assert list(doc["kinds"]) == sorted(doc["kinds"])
    assert (r.last_seq, r.last_hash, r.sessions_capped) == (len(objs) - 1, objs[-1]["hash"], False)
    assert r.workers == (1 if split["workers"] == 1 else 2)
    head = doc["head"]
    kinds = " · ".join(f"{k} {v}" for k, v in doc["kinds"].items())
    assert r.summary_lines() == [
        ("ok", f"✓ journal verifies  {path}"),
        ("", f"  entries   {len(objs)} (seq 0..{len(objs) - 1}), 3 sessions, 1 key(s) {key.kid}, 0 rotation(s)"),
        ("", f"  kinds     {kinds}"),
        ("", f"  span      {objs[0]['ts']} → {objs[-1]['ts']}"),
        ("", f"  head      entry {head['seq']} signed by {key.kid} at {head['ts']}; all entries covered"),
    ]
    assert verify_journal(path, ring, **split).to_json_dict() == doc


def _reopen_and_restore_head(path, key, times):
    """Append under ``times`` later openings, then put back the head file as it was before them."""
    saved = head_path_for(path).read_bytes()
    for _ in range(times):
        j = Journal.open(path, key)
        for i in range(2):
            j.append("gate.decision", "late", {"i": i})
        j.close()  # announces a head at the end of the chain
    head_path_for(path).write_bytes(saved)
    return json.loads(saved), [json.loads(ln) for ln in lines(path)]


def test_entries_after_the_head_are_reported_as_not_covered(tmp_path, split):
    path, key, ring = make_journal(tmp_path, 10)
    head, objs = _reopen_and_restore_head(path, key, 1)
    late = len(objs) - 1 - head["seq"]
    mark = objs[-1]["seq"]
    assert objs[-1]["kind"] == "journal.head" and late >= 3
    r = scan_journal(path, ring, **split)
    doc = r.to_json_dict()
    assert doc["ok"] is True and doc["errors"] == []
    assert doc["head"]["covered"] is False and doc["head"]["uncovered_entries"] == late
    assert doc["sessions"] == 4  # s0, s1, s2 and late; the open and head entries have none
    assert doc["notes"] == [
        f"{late} entries after the head (seq {head['seq'] + 1}..{len(objs) - 1}) verify but are not covered by the signed head",
        f"the head announced at entry {mark} was not written (crash during the head write?)",
    ]
    out = r.summary_lines()
    assert out[0] == ("ok", f"✓ journal verifies  {path}")
    assert out[1] == ("", f"  entries   {len(objs)} (seq 0..{len(objs) - 1}), 4 sessions, 1 key(s) {key.kid}, 0 rotation(s)")
    assert out[4:] == [
        ("", f"  head      entry {head['seq']} signed by {key.kid} at {head['ts']}; {late} entries after it not covered"),
        ("note", f"  note      {doc['notes'][0]}"),
        ("note", f"  note      {doc['notes'][1]}"),
    ]


@pytest.mark.parametrize("times", [2, 3])
def test_a_head_file_older_than_two_announcements_is_a_rollback(tmp_path, split, times):
    """The error names the last announcement the head file does not cover."""
    path, key, ring = make_journal(tmp_path, 10)
    head, objs = _reopen_and_restore_head(path, key, times)
    late = len(objs) - 1 - head["seq"]
    mark = objs[-1]["seq"]
    r = scan_journal(path, ring, **split)
    doc = r.to_json_dict()
    assert doc["ok"] is False
    assert doc["errors"] == [{
        "code": "head_rolled_back",
        "message": f"entry {mark}: head rolled back: entry {mark} announces a head covering it, but the "
                   f"head file covers only entry {head['seq']}",
        "where": f"{path}:{mark + 1}",
        "seq": mark,
        "line": mark + 1,
    }]
    assert doc["notes"] == [
        f"{late} entries after the head (seq {head['seq'] + 1}..{len(objs) - 1}) verify but are not covered by the signed head"
    ]
    assert r.summary_lines()[-1] == ("fail", f"  error     [head_rolled_back] line {mark + 1}, entry {mark}: {r.errors[0].reason}")


def test_a_normal_journal_is_not_reported_with_a_capped_session_count(tmp_path, split):
    path, _, ring = make_journal(tmp_path, 30)
    r = scan_journal(path, ring, **split)
    assert r.ok and r.sessions == 3 and r.sessions_capped is False
    assert ", 3 sessions, " in r.summary_lines()[1][1]


def test_sessions_are_counted_up_to_the_cap_and_then_marked_with_a_plus(tmp_path, split, monkeypatch):
    path, _, ring = make_journal(tmp_path, 30)  # sessions s0, s1, s2
    monkeypatch.setattr(verify_mod, "_SESSION_CAP", 2)
    r = scan_journal(path, ring, **split)
    assert r.ok, r.errors
    assert r.sessions_capped is True
    if split["workers"] == 1:
        assert r.sessions == 2
    else:  # each range stops at the cap, the union stops adding once it reaches it
        assert r.sessions in (2, 3)
    assert f", {r.sessions}+ sessions, " in r.summary_lines()[1][1]
    monkeypatch.setattr(verify_mod, "_SESSION_CAP", 4)
    r = scan_journal(path, ring, **split)
    assert (r.sessions, r.sessions_capped) == (3, False)


def test_the_session_cap_holds_across_ranges(tmp_path, monkeypatch):
    """Ranges that each stay under the cap: the parent's union stops at it and marks the count."""
    key = init_keys(tmp_path / "keys")
    path = tmp_path / "j.jsonl"
    j = Journal.open(path, key)
    for i in range(60):
        j.append("gate.decision", f"s{i // 10}", {"i": i, "pad": "x" * 200})  # 6 sessions, in runs of 10
    j.close()
    ring = verify_mod.Keyring.from_public_key(key.public)
    monkeypatch.setattr(verify_mod, "_PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(verify_mod, "_CHUNK_BYTES", 1024)
    monkeypatch.setattr(verify_mod, "_SESSION_CAP", 3)
    r = scan_journal(path, ring, workers=2, pool="thread")
    assert r.ok, r.errors
    assert r.workers == 2
    assert r.sessions_capped is True and 3 <= r.sessions < 6
    serial = scan_journal(path, ring, workers=1)
    assert (serial.sessions, serial.sessions_capped) == (3, True)


def test_verify_error_text_and_json_for_each_place_it_can_name():
    full = VerifyError(4, 5, "hash mismatch: x")
    assert str(full) == "line 5, entry 4: hash mismatch: x"
    assert full.to_json_dict("j.jsonl") == {"code": "entry_hash_mismatch", "message": "entry 4: hash mismatch: x",
                                           "where": "j.jsonl:5", "seq": 4, "line": 5}
    line_only = VerifyError(None, 7, "not a valid entry: y")
    assert str(line_only) == "line 7: not a valid entry: y"
    assert line_only.to_json_dict("j.jsonl") == {"code": "entry_malformed", "message": "not a valid entry: y",
                                                "where": "j.jsonl:7", "seq": None, "line": 7}
    seq_only = VerifyError(0, None, "entry 0 must have prev = 64 zeros")
    assert str(seq_only) == "entry 0: entry 0 must have prev = 64 zeros"
    assert seq_only.to_json_dict("j.jsonl") == {"code": "genesis_invalid", "message": "entry 0: entry 0 must have prev = 64 zeros",
                                               "where": "j.jsonl", "seq": 0, "line": None}
    nowhere = VerifyError(None, None, "something else")
    assert str(nowhere) == "something else"
    assert nowhere.code == "journal_invalid"
    assert nowhere.to_json_dict("j.jsonl") == {"code": "journal_invalid", "message": "something else",
                                              "where": "j.jsonl", "seq": None, "line": None}


def test_the_summary_of_a_report_without_head_entries_or_span():
    r = VerifyReport(path="p.jsonl", head={"present": False},
                     errors=[VerifyError(None, 1, "no signed head at p.head: truncation cannot be ruled out")])
    assert r.summary_lines() == [
        ("fail", "✗ journal does NOT verify  p.jsonl"),
        ("", "  entries   0, 0 sessions, 0 key(s) , 0 rotation(s)"),
        ("fail", "  head      missing"),
        ("fail", "  error     [head_missing] line 1: no signed head at p.head: truncation cannot be ruled out"),
    ]
    assert VerifyReport(path="p").summary_lines()[-1] == ("fail", "  head      missing")


def test_the_summary_counts_the_errors_it_does_not_show():
    errs = [VerifyError(3, 4, "bad signature for key k"), VerifyError(5, 6, "hash mismatch: z"),
            VerifyError(None, 9, "torn final line (3 bytes, no newline)")]
    head = {"present": True, "seq": 9, "kid": "k1", "ts": "T", "covered": None}
    r = VerifyReport(path="p", entries=2, sessions=5, sessions_capped=True, kinds={"b": 1, "a": 2},
                     kids=["k1", "k2"], rotations=1, first_ts="T0", last_ts="T1", last_seq=1, head=head,
                     errors=errs, notes=["n1", "n2"])
    assert r.summary_lines() == [
        ("fail", "✗ journal does NOT verify  p"),
        ("", "  entries   2 (seq 0..1), 5+ sessions, 2 key(s) k1, k2, 1 rotation(s)"),
        ("", "  kinds     a 2 · b 1"),
        ("", "  span      T0 → T1"),
        ("", "  head      entry 9 signed by k1 at T; ? entries after it not covered"),
        ("note", "  note      n1"),
        ("note", "  note      n2"),
        ("fail", "  error     [signature_invalid] line 4, entry 3: bad signature for key k"),
        ("", "            … and 2 more (--json lists them all)"),
    ]
    r.errors = errs[:2]
    assert r.summary_lines()[-1] == ("", "            … and 1 more (--json lists them all)")
    r.errors = errs[1:2]
    assert r.summary_lines()[-1] == ("fail", "  error     [entry_hash_mismatch] line 6, entry 5: hash mismatch: z")
    head["uncovered_entries"] = 7
    assert r.summary_lines()[4] == ("", "  head      entry 9 signed by k1 at T; 7 entries after it not covered")
    head["covered"] = True
    assert r.summary_lines()[4] == ("", "  head      entry 9 signed by k1 at T; all entries covered")
    doc = r.to_json_dict()
    assert doc == {"ok": False, "path": "p", "entries": 2, "sessions": 5, "kinds": {"a": 2, "b": 1},
                   "kids": ["k1", "k2"], "rotations": 1, "first_ts": "T0", "last_ts": "T1", "head": head,
                   "errors": [errs[1].to_json_dict("p")], "notes": ["n1", "n2"]}
    assert list(doc["kinds"]) == ["a", "b"]


def test_verify_journal_raises_the_first_error_and_counts_the_rest(tmp_path):
    path, _, ring = make_journal(tmp_path, 10)
    ls = lines(path)
    for i in (3, 5):
        ls[i] = ls[i].replace(b'"decision":"', b'"decision":"x')
    write_lines(path, ls)
    report = scan_journal(path, ring, workers=1)
    assert len(report.errors) >= 2
    first = report.errors[0]
    with pytest.raises(JournalVerificationError) as exc:
        verify_journal(path, ring, workers=1)
    assert (exc.value.reason, exc.value.seq, exc.value.line) == (
        f"{first.reason} (and {len(report.errors) - 1} more)", 3, 4)
    path, _, ring = make_journal(tmp_path / "one", 10)
    head_path_for(path).unlink()
    with pytest.raises(JournalVerificationError) as exc:
        verify_journal(path, ring, workers=1)
    assert exc.value.reason == f"no signed head at {head_path_for(path)}: truncation cannot be ruled out"


# ------------------------------------------------------------------ each message, exactly
def _errors(path, ring, **kw):
    r = scan_journal(path, ring, workers=1, **kw)
    return r, [str(e) for e in r.errors]


def _obj(raw):
    return json.loads(raw)


def _raw(obj):
    return (json.dumps(obj, separators=(",", ":")) + "\n").encode()


def test_messages_for_entries_edited_removed_or_unreadable(tmp_path):
    from tests.unit.journal.test_verify import reseal

    path, key, ring = make_journal(tmp_path / "sig", 6)
    ls = lines(path)
    ls[3] = _raw({**_obj(ls[3]), "sig": _obj(ls[4])["sig"]})
    write_lines(path, ls)
    assert _errors(path, ring)[1] == [f"line 4, entry 3: bad signature for key {key.kid}"]

    path, key, ring = make_journal(tmp_path / "del", 6)
    ls = lines(path)
    gone, after = _obj(ls[4]), _obj(ls[5])
    del ls[4]
    write_lines(path, ls)
    assert _errors(path, ring)[1] == [
        f"line 5, entry 5: prev {after['prev'][:16]}… is not the hash of the line before ({gone['prev'][:16]}…): "
        "lines removed, inserted or reordered",
        "line 5, entry 5: seq 5 follows seq 3: lines removed, duplicated or reordered",
        "line 8, entry 8: the head's checkpoint root is not the Merkle root of entries 0..8: history rewritten",
    ]

    path, key, ring = make_journal(tmp_path / "edit", 6)
    ls = lines(path)
    was = _obj(ls[5])
    ls[5] = ls[5].replace(b'"decision":"allow"', b'"decision":"deny"')
    write_lines(path, ls)
    only, sig = _errors(path, ring)[1]
    assert sig == f"line 6, entry 5: bad signature for key {key.kid}"
    import re

    assert re.fullmatch(rf"line 6, entry 5: hash mismatch: the entry hashes to [0-9a-f]{{16}}…, its hash member says "
                        rf"{was['hash'][:16]}… \(entry edited\)", only), only
    assert not only.startswith(f"line 6, entry 5: hash mismatch: the entry hashes to {was['hash'][:16]}")

    path, key, ring = make_journal(tmp_path / "junk", 6)
    ls = lines(path)
    ls[3] = b"not json\n"
    write_lines(path, ls)
    assert _errors(path, ring)[1] == [
        "line 4: not a valid entry: Expecting value: line 1 column 1 (char 0)",
        "line 9, entry 8: the head's checkpoint root is not the Merkle root of entries 0..8: history rewritten",
    ]

    path, key, ring = make_journal(tmp_path / "torn", 6)
    ls = lines(path)
    ls.append(ls[-1][:40])
    write_lines(path, ls)
    assert _errors(path, ring)[1] == [
        "line 10: torn final line (40 bytes, no newline): the writer crashed mid-append; agp cuts it when it reopens the journal"
    ]

    path, key, ring = make_journal(tmp_path / "empty", 6)
    path.write_bytes(b"")
    r, errs = _errors(path, ring)
    assert errs == ["line 1: the journal is empty"] and r.head == {} and r.entries == 0

    path, key, ring = make_journal(tmp_path / "first", 6)
    write_lines(path, lines(path)[1:])
    assert _errors(path, ring)[1] == [
        "line 1, entry 1: the first line is not entry 0",
        "line 8, entry 8: the head's checkpoint root is not the Merkle root of entries 0..8: history rewritten",
    ]

    path, key, ring = make_journal(tmp_path / "trunc", 6)
    ls = lines(path)
    write_lines(path, ls[:5])
    assert _errors(path, ring)[1] == [
        "line 5, entry 4: the journal ends at entry 4 but its signed head covers entry 8: truncated or rolled back"
    ]
    head_path_for(path).unlink()
    assert _errors(path, ring)[1] == [
        f"line 5, entry 4: no signed head at {head_path_for(path)}: truncation cannot be ruled out"
    ]
    assert scan_journal(path, ring, workers=1).head == {"present": False}

    path, key, ring = make_journal(tmp_path / "many", 6)
    ls = lines(path)
    for i in (2, 3, 4, 5):
        ls[i] = b"{}\n"
    write_lines(path, ls)
    r, errs = _errors(path, ring, max_errors=2)
    assert [e.line for e in r.errors] == [3, 4]
    r, errs = _errors(path, ring, max_errors=5)
    assert [e.line for e in r.errors] == [3, 4, 5, 6, 9]


def test_messages_for_a_forged_entry_0(tmp_path):
    from tests.unit.journal.test_verify import reseal

    from agp.journal import Keyring, SigningKey

    other = "the head belongs to another journal (its genesis is not this journal's entry 0)"
    path, key, ring = make_journal(tmp_path / "kind", 6)
    ls = lines(path)
    ls[0] = _raw({**_obj(ls[0]), "kind": "gate.decision"})
    write_lines(path, reseal(ls, 0, key))
    assert _errors(path, ring)[1] == ["line 1, entry 0: entry 0 is 'gate.decision', not 'journal.open'", f"line 1, entry 0: {other}"]

    path, key, ring = make_journal(tmp_path / "pub", 6)
    ls = lines(path)
    o = _obj(ls[0])
    o["body"]["public_key"] = SigningKey.generate().public.to_b64()
    ls[0] = _raw(o)
    write_lines(path, reseal(ls, 0, key))
    assert _errors(path, ring)[1] == [
        "line 1, entry 0: entry 0 names a public key other than the one that signed it", f"line 1, entry 0: {other}"]

    path, key, ring = make_journal(tmp_path / "prev", 6)
    write_lines(path, reseal(lines(path), 0, key, first_prev="11" * 32))
    assert _errors(path, ring)[1] == ["line 1, entry 0: entry 0 must have prev = 64 zeros", f"line 1, entry 0: {other}"]

    path, key, ring = make_journal(tmp_path / "trust", 3)
    stranger = SigningKey.generate()
    ring2 = Keyring.from_public_key(stranger.public)
    unknown = "which neither the verifier trusts nor any rotation introduced"
    assert _errors(path, ring2)[1] == [
        f"line 1, entry 0: signed by key {key.kid}, {unknown}",
        f"line 1, entry 0: entry 0 is signed by key {key.kid}, which the verifier does not trust (expected {stranger.kid})",
        *(f"line {n + 1}, entry {n}: signed by key {key.kid}, {unknown}" for n in range(1, 6)),
        f"line 6, entry 5: the head is signed by unknown key {key.kid}",
        f"line 6, entry 5: the head's checkpoint does not verify: {key.kid!r}",
    ]


def test_messages_for_a_head_that_does_not_fit(tmp_path):
    from agp.journal import SigningKey
    from agp.journal.head import Head, read_head, write_head_file

    def rewrite(path, signer, **changes):
        h = read_head(head_path_for(path))
        fields = {"genesis": h.genesis, "seq": h.seq, "hash": h.hash, "ts": h.ts, "extra": dict(h.extra), **changes}
        write_head_file(head_path_for(path), Head.create(signer, **fields))

    path, key, ring = make_journal(tmp_path / "on", 6)
    rewrite(path, key, seq=5, hash=_obj(lines(path)[5])["hash"])
    r, errs = _errors(path, ring)
    assert errs == [
        "line 6, entry 5: the head covers entry 5, which is a 'gate.decision' entry, not a head announcement",
        "line 6, entry 5: the head's checkpoint covers 9 entries, the head 6",
    ]
    assert r.notes == ["3 entries after the head (seq 6..8) verify but are not covered by the signed head",
                       "the head announced at entry 8 was not written (crash during the head write?)"]

    path, key, ring = make_journal(tmp_path / "hash", 6)
    real = _obj(lines(path)[8])["hash"]
    rewrite(path, key, hash="ab" * 32)
    assert _errors(path, ring)[1] == [
        f"line 9, entry 8: entry 8 has hash {real[:16]}…, the signed head says abababababababab…: history rewritten"]

    path, key, ring = make_journal(tmp_path / "kid", 6)
    stranger = SigningKey.generate()
    rewrite(path, stranger)
    assert _errors(path, ring)[1] == [
        f"line 9, entry 8: the head is signed by key {stranger.kid}, but entry 8 was under key {key.kid}",
        f"line 9, entry 8: the head's checkpoint does not verify: {stranger.kid!r}",
    ]

    # a checkpoint the same key signed for another journal (same size): its origin names that journal
    path, key, ring = make_journal(tmp_path / "origin", 6)
    (tmp_path / "origin-other").mkdir()
    other, _, _ = make_journal(tmp_path / "origin-other", 6, key=key)
    rewrite(path, key, extra=dict(read_head(head_path_for(other)).extra))
    origin = f"agp.local/journal/{_obj(lines(path)[0])['hash'][:32]}"
    [msg] = _errors(path, ring)[1]
    assert msg.startswith("line 9, entry 8: the head's checkpoint does not verify: ") and origin in msg, msg

    path, key, ring = make_journal(tmp_path / "nocp", 6)
    rewrite(path, key, extra={})
    r, errs = _errors(path, ring)
    assert errs == [] and r.notes == ["the head carries no Merkle checkpoint (written before heads carried checkpoints)"]
    assert "checkpoint" not in r.head and r.head["covered"] is True

    path, key, ring = make_journal(tmp_path / "sig", 6)
    d = json.loads(head_path_for(path).read_text())
    d["ts"] = "2000-01-01T00:00:00.000000Z"
    head_path_for(path).write_text(json.dumps(d))
    assert _errors(path, ring)[1] == ["line 9, entry 8: the signature of the head covering this entry does not verify"]

    path, key, ring = make_journal(tmp_path / "fmt", 6)
    head_path_for(path).write_text("{}")
    (only,) = _errors(path, ring)[1]
    assert only.startswith(f"line 9, entry 8: head {head_path_for(path)}: ") and "lacks" in only


def test_a_rotation_is_reported_and_a_malformed_one_is_refused(tmp_path):
    from agp.journal import Keyring, SigningKey
    from tests.unit.journal.test_verify import reseal

    key = init_keys(tmp_path / "keys")
    path = tmp_path / "j.jsonl"
    j = Journal.open(path, key)
    j.append("gate.decision", "s", {"i": 1})
    new = SigningKey.generate()
    j.rotate(new)
    j.append("gate.decision", "s", {"i": 2})
    j.close()
    ring = Keyring.from_public_key(key.public)
    r = scan_journal(path, ring, workers=1)
    assert r.ok, r.errors
    assert (r.kids, r.rotations, r.sessions, r.head["kid"]) == ([key.kid, new.kid], 1, 1, new.kid)
    assert r.summary_lines()[1] == ("", f"  entries   7 (seq 0..6), 1 sessions, 2 key(s) {key.kid}, {new.kid}, 1 rotation(s)")
    ls = lines(path)
    idx = next(i for i, ln in enumerate(ls) if b'"kind":"key.rotate"' in ln)
    o = _obj(ls[idx])
    o["body"]["new_kid"] = "0" * 16
    ls[idx] = _raw(o)
    ls = reseal(ls, idx, key)
    head = json.loads(head_path_for(path).read_text())
    ls = reseal(ls, idx + 1, new)
    write_lines(path, ls)
    assert _errors(path, ring)[1] == [
        f"line {idx + 1}, entry {idx}: malformed key rotation: new_kid does not match new_public_key",
        f"line {idx + 2}, entry {idx + 1}: signed by key {new.kid}, but the key in force is {key.kid} "
        "(a key no rotation introduced, or one already retired)",
        f"line 7, entry 6: entry 6 has hash {_obj(ls[6])['hash'][:16]}…, the signed head says {head['hash'][:16]}…: "
        "history rewritten",
        "line 7, entry 6: the head's checkpoint root is not the Merkle root of entries 0..6: history rewritten",
    ]


@pytest.mark.parametrize(
    "edit", ["delete", "swap", "junk", "junk-run", "junk-long", "junk-first", "second-zero", "first", "dup"]
)
def test_small_ranges_report_exactly_what_one_range_reports(tmp_path, monkeypatch, edit):
    """Problems at the seams between ranges are found by the parent: the same report, line for line
    (an unreadable line at the end or start of a range adds no error about the line next to it,
    as in one range)."""
    path, key, ring = make_journal(tmp_path, 40)
    ls = lines(path)
    if edit == "delete":
        del ls[20]
    elif edit == "swap":
        ls[20], ls[21] = ls[21], ls[20]
    elif edit == "junk":
        ls[20] = b"[]\n"
    elif edit == "junk-run":  # some ranges hold nothing readable
        ls[20:23] = [b"[]\n", b"{}\n", b"x\n"]
        ls[30:31] = [b"{}\n"]
    elif edit == "junk-long":  # lines longer than a range: ranges holding only them
        ls[20:22] = [b"x" * 2500 + b"\n", b"[" + b"1," * 1500 + b"1]\n"]
        ls[30:31] = [b"{" * 3000 + b"\n"]
    elif edit == "junk-first":  # line 1 unreadable, and a range of its own
        ls[0] = b"x" * 2500 + b"\n"
    elif edit == "second-zero":  # a second entry 0 further on: the first one is entry 0 in every split
        from agp.journal.canonical import canonicalize
        from agp.journal.chain import GENESIS_PREV, seal

        body = {"forged": True}
        _, forged = seal(signer=key, body=body, body_c=canonicalize(body), kind="gate.decision", prev=GENESIS_PREV,
                         seq=0, session="", ts=_obj(ls[0])["ts"])
        ls.insert(25, forged)
    elif edit == "first":
        del ls[0]
    else:
        ls.insert(20, ls[19])
    write_lines(path, ls)
    serial = scan_journal(path, ring, workers=1)
    monkeypatch.setattr(verify_mod, "_PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(verify_mod, "_CHUNK_BYTES", 512)
    for cut in range(200, 2000, 300):  # seams at different places
        monkeypatch.setattr(verify_mod, "_CHUNK_BYTES", cut)
        split = scan_journal(path, ring, workers=2, pool="thread")
        assert split.workers == 2
        assert [str(e) for e in split.errors] == [str(e) for e in serial.errors]
        assert split.to_json_dict() == serial.to_json_dict()
        assert (split.last_seq, split.last_hash) == (serial.last_seq, serial.last_hash)
    assert not serial.ok


def test_each_reason_maps_to_its_code():
    table = {
        "not a valid entry: x": "entry_malformed",
        "torn final line (3 bytes, no newline)": "entry_torn",
        "the journal is empty": "journal_empty",
        "hash mismatch: a": "entry_hash_mismatch",
        "prev a… is not the hash of the line before (b…): lines removed": "chain_broken",
        "seq 5 follows seq 3: lines removed": "seq_gap",
        "bad signature for key k": "signature_invalid",
        "malformed key rotation: x": "key_rotation_invalid",
        "signed by key k, which neither the verifier trusts nor any rotation introduced": "key_unknown",
        "entry 0 is signed by key k, which the verifier does not trust (expected j)": "key_untrusted",
        "signed by key k, but the key in force is j (a key no rotation introduced)": "key_not_in_force",
        "the first line is not entry 0": "genesis_invalid",
        "entry 0 must have prev = 64 zeros": "genesis_invalid",
        "no signed head at h: truncation cannot be ruled out": "head_missing",
        "the journal ends at entry 4 but its signed head covers entry 8: truncated or rolled back": "journal_truncated",
        "head rolled back: entry 9 announces a head": "head_rolled_back",
        "entry 8 has hash a…, the signed head says b…: history rewritten": "history_rewritten",
        "the head's checkpoint covers 9 entries, the head 6": "checkpoint_invalid",
        "the head is signed by unknown key k": "head_invalid",
        "something else": "journal_invalid",
    }
    assert {reason: VerifyError(None, None, reason).code for reason in table} == table


def test_usage_errors_name_the_problem(tmp_path):
    from agp.errors import UsageError

    path, _, ring = make_journal(tmp_path, 2)
    with pytest.raises(UsageError) as exc:
        scan_journal(path, ring, pool="fibers")
    assert str(exc.value) == "pool must be 'process' or 'thread', not 'fibers'"
    with pytest.raises(UsageError) as exc:
        scan_journal(tmp_path / "nope.jsonl", ring)
    assert str(exc.value) == f"no journal file at {tmp_path / 'nope.jsonl'}"
    with pytest.raises(UsageError):
        scan_journal(tmp_path, ring)  # a directory
    assert scan_journal(path, ring, pool="thread").ok and scan_journal(path, ring, pool="process").ok


def test_ranges_split_on_line_boundaries_and_cover_the_file(tmp_path, monkeypatch):
    path, _, _ = make_journal(tmp_path, 60)
    data = path.read_bytes()
    size = len(data)
    assert verify_mod._chunks(str(path), size, 1) == [(0, size)]
    assert verify_mod._chunks(str(path), size, 8) == [(0, size)]  # smaller than _PARALLEL_MIN_BYTES
    monkeypatch.setattr(verify_mod, "_PARALLEL_MIN_BYTES", size)
    for n in (2, 3, 7, 50, 1000):
        ranges = verify_mod._chunks(str(path), size, n)
        assert ranges[0][0] == 0 and ranges[-1][1] == size
        assert all(a < b for a, b in ranges)
        assert all(b == c for (_, b), (c, _) in zip(ranges, ranges[1:], strict=False))
        assert all(data[a - 1 : a] == b"\n" for a, _ in ranges[1:])
        assert len(ranges) == min(n, data.count(b"\n"))
    monkeypatch.setattr(verify_mod, "_PARALLEL_MIN_BYTES", size + 1)
    assert verify_mod._chunks(str(path), size, 4) == [(0, size)]


def test_rotation_keys_are_found_by_a_byte_scan(tmp_path, monkeypatch):
    from agp.journal import SigningKey

    key = init_keys(tmp_path / "keys")
    path = tmp_path / "j.jsonl"
    j = Journal.open(path, key)
    j.append("gate.decision", "s", {"note": "key.rotate", "new_public_key": SigningKey.generate().public.to_b64()})
    new = SigningKey.generate()
    j.rotate(new)
    j.append("gate.decision", "s", {"pad": "y" * 300})
    newer = SigningKey.generate()
    j.rotate(newer)
    j.close()
    expect = {new.kid: new.public.raw, newer.kid: newer.public.raw}
    assert verify_mod._rotation_keys(str(path)) == expect
    for block in (7, 64, 333):  # rotation lines cut across reads
        monkeypatch.setattr(verify_mod, "_READ", block)
        assert verify_mod._rotation_keys(str(path)) == expect
    ls = lines(path)
    idx = max(i for i, ln in enumerate(ls) if b'"kind":"key.rotate"' in ln)
    ls[idx] = ls[idx].replace(b'"new_public_key":"', b'"new_public_key":"!')
    write_lines(path, ls)
    assert verify_mod._rotation_keys(str(path)) == {new.kid: new.public.raw}


@pytest.mark.parametrize("torn", [None, 50, 1])
def test_reading_in_small_blocks_changes_nothing(tmp_path, monkeypatch, torn):
    """Blocks that end anywhere, one byte ones too (then the last read of a one-byte torn line
    starts just after the newline before it)."""
    path, _, ring = make_journal(tmp_path, 20)
    ls = lines(path)
    ls[7] = b"{}\n"
    if torn:
        ls.append(ls[-1][:torn])
    write_lines(path, ls)
    whole = scan_journal(path, ring, workers=1)
    for block in (1, 50, 333, 4096):
        monkeypatch.setattr(verify_mod, "_READ", block)
        assert scan_journal(path, ring, workers=1).to_json_dict() == whole.to_json_dict()
    monkeypatch.setattr(verify_mod, "_PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(verify_mod, "_CHUNK_BYTES", 700)
    assert scan_journal(path, ring, workers=2, pool="thread").to_json_dict() == whole.to_json_dict()
    assert [e.code for e in whole.errors] == ["entry_malformed", "history_rewritten"] + (["entry_torn"] if torn else [])


def test_worker_processes_started_fresh_from_a_threaded_process_report_the_same(tmp_path, monkeypatch):
    """With other threads running, worker processes are spawned, not forked: the same report."""
    import threading

    path, _, ring = make_journal(tmp_path, 30)
    ls = lines(path)
    ls[12] = ls[12].replace(b'"decision":"', b'"decision":"x')
    write_lines(path, ls)
    whole = scan_journal(path, ring, workers=1)
    monkeypatch.setattr(verify_mod, "_PARALLEL_MIN_BYTES", 0)
    stop = threading.Event()
    t = threading.Thread(target=stop.wait)
    t.start()
    try:
        r = scan_journal(path, ring, workers=2, pool="process")
    finally:
        stop.set()
        t.join()
    assert r.workers == 2
    assert r.to_json_dict() == whole.to_json_dict()


def test_a_head_on_a_rotation_entry_is_checked_against_the_new_key(tmp_path):
    from agp.journal import Keyring, SigningKey
    from agp.journal.head import Head, read_head, write_head_file

    key = init_keys(tmp_path / "keys")
    path = tmp_path / "j.jsonl"
    j = Journal.open(path, key)
    new = SigningKey.generate()
    j.rotate(new)
    j.close()
    objs = [json.loads(ln) for ln in lines(path)]
    idx = next(i for i, o in enumerate(objs) if o["kind"] == "key.rotate")
    h = read_head(head_path_for(path))
    write_head_file(head_path_for(path), Head.create(new, genesis=h.genesis, seq=idx, hash=objs[idx]["hash"], ts=h.ts))
    r, errs = _errors(path, Keyring.from_public_key(key.public))
    assert errs == [f"line {idx + 1}, entry {idx}: the head covers entry {idx}, which is a 'key.rotate' entry, not a head announcement"]


@pytest.mark.parametrize("block", [1, 64, 4096])
def test_a_journal_cut_short_under_the_verifier_ends_the_range_at_its_last_line(tmp_path, monkeypatch, block):
    """The file shrank after its size was read (cut by another process): the range's read ends where
    the file does, its last partial line is reported torn, and nothing is read twice or invented."""
    path, key, _ = make_journal(tmp_path, 12)
    ls = lines(path)
    size = path.stat().st_size
    keep = b"".join(ls[:5]) + ls[5][:40]
    path.write_bytes(keep)
    monkeypatch.setattr(verify_mod, "_READ", block)
    res = verify_mod._scan_chunk((str(path), 0, size, {key.kid: key.public.raw}, None, 100))
    objs = [json.loads(ln) for ln in ls[:5]]
    assert res["lines"] == 6
    assert res["last"] == (4, objs[4]["hash"])
    assert res["tail"] == (4, objs[4]["hash"])
    assert res["leaves"] == b"".join(bytes.fromhex(o["hash"]) for o in objs)
    assert [r for _, _, r in res["errors"]] == [
        "torn final line (40 bytes, no newline): the writer crashed mid-append; agp cuts it when it reopens the journal"
    ]
    assert sum(res["kinds"].values()) == 5


def test_bodies_outside_the_plain_subset_verify_in_every_split(tmp_path, split):
    """Numbers with fractions, large floats, non-ASCII and astral keys (sorted by UTF-16 units, not code
    points), \\u escapes: the verifier takes the full canonicalization for them and the journal verifies;
    a body written with plain JSON next to them is checked the quick way and verifies too."""
    key = init_keys(tmp_path / "keys")
    path = tmp_path / "j.jsonl"
    bodies = [
        {"n": 1e16, "f": 0.1, "big": 1e30, "neg": -2.5e-7},
        {"\U0001F600": 1, "\ufb33": 2, "é": "ü", "\u20ac": "\U0001F4A9"},
        {"ctl": "a\u0001b\u001fc", "quote": '"\\'},
        {"plain": ["x", 1, True, None, {"k": -9007199254740991}]},
    ]
    with Journal.open(path, key) as j:
        for i, b in enumerate(bodies * 5):
            j.append("gate.decision", f"s{i % 2}", b)
    raw = path.read_bytes()
    assert b'"n":10000000000000000' in raw  # ES6 form, not repr's 1e+16
    assert '"\U0001F600":1,"\ufb33":2}'.encode() in raw  # UTF-16 order: the emoji's high surrogate first
    r = scan_journal(path, Keyring.from_public_key(key.public), **split)
    assert r.errors == [] and r.ok
    assert r.to_json_dict()["kinds"]["gate.decision"] == 20


def test_a_journal_of_no_readable_line_reports_each_line_and_no_last_entry(tmp_path, split):
    path = tmp_path / "j.jsonl"
    path.write_bytes(b"x\n" + b"{}\n" + b"[" * 3000 + b"\n")
    ring = Keyring.from_public_key(init_keys(tmp_path / "keys").public)
    r = scan_journal(path, ring, **split)
    assert (r.last_seq, r.last_hash, r.entries) == (None, None, 0)
    assert [(e.code, e.line, e.seq) for e in r.errors] == [
        ("entry_malformed", 1, None),
        ("genesis_invalid", 1, None),
        ("entry_malformed", 2, None),
        ("entry_malformed", 3, None),
        ("head_missing", 3, None),
    ]


def test_the_trust_message_lists_every_trusted_key(tmp_path):
    from agp.journal import SigningKey

    path, key, _ = make_journal(tmp_path, 2)
    a, b = SigningKey.generate(), SigningKey.generate()
    ring = Keyring([a.public, b.public])
    msgs = [str(e) for e in scan_journal(path, ring, workers=1).errors]
    assert f"line 1, entry 0: entry 0 is signed by key {key.kid}, which the verifier does not trust (expected {a.kid}, {b.kid})" in msgs


def test_two_errors_say_one_more_and_the_default_cap_is_a_hundred(tmp_path):
    path, _, ring = make_journal(tmp_path, 10)
    head_path_for(path).unlink()
    write_lines(path, [*lines(path), b"y"])  # a torn final line, and no head
    report = scan_journal(path, ring, workers=1)
    assert [e.code for e in report.errors] == ["entry_torn", "head_missing"]
    with pytest.raises(JournalVerificationError) as exc:
        verify_journal(path, ring, workers=1)
    assert exc.value.reason == f"{report.errors[0].reason} (and 1 more)"

    path, _, ring = make_journal(tmp_path / "many", 150)
    ls = lines(path)
    write_lines(path, ls[:2] + [b"x\n"] * 140 + ls[2:])
    assert len(scan_journal(path, ring, workers=1).errors) == 100
    assert len(scan_journal(path, ring, workers=1, max_errors=7).errors) == 7


def test_a_head_named_elsewhere_is_the_one_checked(tmp_path):
    path, _, ring = make_journal(tmp_path, 5)
    elsewhere = tmp_path / "kept" / "the.head"
    elsewhere.parent.mkdir()
    head_path_for(path).rename(elsewhere)
    assert scan_journal(path, ring, workers=1).errors[-1].code == "head_missing"
    r = scan_journal(path, ring, workers=1, head_path=elsewhere)
    assert r.ok and r.head["present"] is True
    assert verify_journal(path, ring, workers=1, head_path=elsewhere).head["covered"] is True


def test_a_head_over_an_unreadable_line_leaves_that_line_the_only_error(tmp_path, split):
    """The line the head covers is unreadable: that line is the error, and the head's own
    checks (its entry's hash, its checkpoint) have nothing to compare against."""
    path, key, ring = make_journal(tmp_path, 10)
    head, objs = _reopen_and_restore_head(path, key, 1)
    ls = lines(path)
    ls[head["seq"]] = b"[]\n"
    write_lines(path, ls)
    r = scan_journal(path, ring, **split)
    assert [str(e) for e in r.errors] == [
        f"line {head['seq'] + 1}: not a valid entry: line is not a JSON object"
    ]
    assert r.head == {"present": True, "seq": head["seq"], "hash": head["hash"], "kid": key.kid, "ts": head["ts"],
                      "covered": None}


@pytest.mark.parametrize("junk", [b"[]\n", b"x" * 2500 + b"\n"])
def test_a_seq_gap_after_an_unreadable_line_is_reported_wherever_the_ranges_fall(tmp_path, monkeypatch, junk):
    """An unreadable line counts as one seq: the entry after it is checked against the seq before
    it plus one, in one range, at the start of a range and after a range of nothing readable."""
    path, key, ring = make_journal(tmp_path, 40)
    ls = lines(path)
    ls[20] = junk
    del ls[21]  # entry 21 removed: the next line is entry 22
    write_lines(path, ls)
    serial = scan_journal(path, ring, workers=1)
    errs = [str(e) for e in serial.errors]
    assert errs[0].startswith("line 21: not a valid entry: ")
    assert errs[1] == "line 22, entry 22: seq 22 follows seq 20: lines removed, duplicated or reordered"
    monkeypatch.setattr(verify_mod, "_PARALLEL_MIN_BYTES", 0)
    starts = set()
    chunks = verify_mod._chunks

    def recorded(*args):  # the ranges each scan below really used
        ranges = chunks(*args)
        starts.update(a for a, _ in ranges)
        return ranges

    monkeypatch.setattr(verify_mod, "_chunks", recorded)
    for cut in range(60, 1600, 23):
        monkeypatch.setattr(verify_mod, "_CHUNK_BYTES", cut)
        split = scan_journal(path, ring, workers=2, pool="thread")
        assert split.to_json_dict() == serial.to_json_dict(), cut
    at_junk = sum(len(ln) for ln in ls[:20])
    assert at_junk in starts  # some split put the unreadable line first in its range


def test_two_ranges_are_both_checked(tmp_path, monkeypatch):
    """A journal that splits into exactly two ranges: the second is checked too."""
    path, _, ring = make_journal(tmp_path, 0)
    ls = lines(path)[:1] + [b"x\n"]
    write_lines(path, ls)
    monkeypatch.setattr(verify_mod, "_PARALLEL_MIN_BYTES", 0)
    size = path.stat().st_size
    assert verify_mod._chunks(str(path), size, 8) == [(0, len(ls[0])), (len(ls[0]), size)]
    r = scan_journal(path, ring, workers=2, pool="thread")
    assert r.workers == 2
    assert [str(e) for e in r.errors][:1] == ["line 2: not a valid entry: Expecting value: line 1 column 1 (char 0)"]


def test_without_a_worker_count_every_core_is_used(tmp_path, monkeypatch):
    import os

    path, _, ring = make_journal(tmp_path, 40)
    monkeypatch.setattr(verify_mod, "_PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(verify_mod, "_CHUNK_BYTES", 100)
    r = scan_journal(path, ring, pool="thread")
    assert r.ok and r.workers == os.cpu_count()


def test_a_journal_whose_first_line_is_a_rotation_still_knows_the_new_key(tmp_path):
    """Entry 0 removed and line 1 a rotation: the entries under the new key still verify their
    signatures (the rotation is found on line 1 too); the errors are about entry 0."""
    from agp.journal import SigningKey

    key = init_keys(tmp_path / "keys")
    path = tmp_path / "j.jsonl"
    j = Journal.open(path, key)
    new = SigningKey.generate()
    j.rotate(new)
    j.append("gate.decision", "s", {"i": 1})
    j.close()
    ls = lines(path)
    idx = next(i for i, ln in enumerate(ls) if b'"kind":"key.rotate"' in ln)
    write_lines(path, ls[idx:])
    r, errs = _errors(path, Keyring.from_public_key(key.public))
    assert "the first line is not entry 0" in errs[0]
    assert not [e for e in errs if "neither the verifier trusts" in e or "bad signature" in e], errs


def test_a_head_over_entry_0_leaves_no_entry_uncovered(tmp_path):
    from agp.journal.head import Head, write_head_file

    path, key, ring = make_journal(tmp_path, 0)
    ls = lines(path)[:1]
    write_lines(path, ls)
    e0 = _obj(ls[0])
    write_head_file(head_path_for(path), Head.create(key, genesis=e0["hash"], seq=0, hash=e0["hash"], ts=e0["ts"]))
    r, errs = _errors(path, ring)
    assert errs == ["line 1, entry 0: the head covers entry 0, which is a 'journal.open' entry, not a head announcement"]
    assert r.head["covered"] is True and r.head["uncovered_entries"] == 0
    assert not [n for n in r.notes if "after the head" in n], r.notes


def test_an_unreadable_line_after_the_head_leaves_the_checkpoint_verifying(tmp_path, split):
    """The Merkle leaves are the lines in order, an unreadable one counted as a zero leaf: one
    after the head changes nothing the head's checkpoint covers."""
    path, key, ring = make_journal(tmp_path, 10)
    head, objs = _reopen_and_restore_head(path, key, 1)
    ls = lines(path)
    ls[head["seq"] + 2] = b"[]\n"
    write_lines(path, ls)
    r = scan_journal(path, ring, **split)
    assert [str(e) for e in r.errors] == [f"line {head['seq'] + 3}: not a valid entry: line is not a JSON object"]
    assert r.head["checkpoint"]["size"] == head["seq"] + 1
