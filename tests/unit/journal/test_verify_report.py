"""What a verification reports, value by value: the JSON document, the plain summary, the session
count and its cap, each error's text. Expected values are read from the journal file itself (or built
by hand), never from the report under test."""

import base64
import json
from collections import Counter

import pytest

from agp.errors import JournalVerificationError
from agp.journal import Journal, init_keys, verify_journal
from agp.journal import verify as verify_mod
from agp.journal.head import head_path_for
from agp.journal.merkle import CompactRange
from agp.journal.verify import VerifyError, VerifyReport, scan_journal
from tests.support.journal import lines, make_journal, write_lines


@pytest.fixture(params=["serial", "threads"])
def split(request, monkeypatch):
    """One range, or many small ranges checked by threads (the seams are merged by the parent)."""
    if request.param == "threads":
        monkeypatch.setattr(verify_mod, "_PARALLEL_MIN_BYTES", 0)
        monkeypatch.setattr(verify_mod, "_CHUNK_BYTES", 1024)
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


def test_a_head_file_older_than_two_announcements_is_a_rollback(tmp_path, split):
    path, key, ring = make_journal(tmp_path, 10)
    head, objs = _reopen_and_restore_head(path, key, 2)
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
