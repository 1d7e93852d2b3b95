"""Each kind of journal problem carries its stable code, and the plain summary agrees with ``ok``."""

import json

from agp.journal import SigningKey, Keyring
from agp.journal.head import head_path_for
from agp.journal.verify import scan_journal
from tests.support.journal import lines, make_journal, write_lines


def codes(path, ring):
    r = scan_journal(path, ring, workers=1)
    return r, [e.code for e in r.errors]


def test_each_tampering_has_its_code(tmp_path):
    cases = {}
    for name, edit in {
        "entry_hash_mismatch": lambda ls: ls.__setitem__(6, ls[6].replace(b'"decision":"deny"', b'"decision":"allow"')),
        "chain_broken": lambda ls: ls.__setitem__(slice(8, 10), [ls[9], ls[8]]),
        "journal_truncated": lambda ls: ls.__delitem__(slice(15, None)),
        "entry_torn": lambda ls: ls.append(b'{"seq": 99'),
        "entry_malformed": lambda ls: ls.__setitem__(3, b"not json\n"),
    }.items():
        path, _, ring = make_journal(tmp_path / name, 20)
        ls = lines(path)
        edit(ls)
        write_lines(path, ls)
        cases[name] = codes(path, ring)
    for code, (report, found) in cases.items():
        assert code in found, (code, [str(e) for e in report.errors])
    path, _, ring = make_journal(tmp_path / "nohead", 5)
    head_path_for(path).unlink()
    assert codes(path, ring)[1] == ["head_missing"]
    path, _, _ = make_journal(tmp_path / "otherkey", 5)
    assert "key_untrusted" in codes(path, Keyring.from_public_key(SigningKey.generate().public))[1]


def test_json_errors_have_one_shape_and_summary_lines_agree(tmp_path):
    path, _, ring = make_journal(tmp_path, 10)
    good = scan_journal(path, ring)
    assert good.summary_lines()[0] == ("ok", f"✓ journal verifies  {path}")
    ls = lines(path)
    ls[4] = ls[4].replace(b'"decision":"deny"', b'"decision":"allow"')
    write_lines(path, ls)
    bad = scan_journal(path, ring)
    doc = bad.to_json_dict()
    assert doc["ok"] is False
    e = doc["errors"][0]
    assert (e["code"], e["where"], e["seq"], e["line"]) == ("entry_hash_mismatch", f"{path}:5", 4, 5)
    assert e["message"].startswith("entry 4: hash mismatch")
    lines_ = bad.summary_lines()
    assert lines_[0] == ("fail", f"✗ journal does NOT verify  {path}")
    assert any(style == "fail" and "[entry_hash_mismatch]" in text for style, text in lines_)
    json.dumps(doc)
