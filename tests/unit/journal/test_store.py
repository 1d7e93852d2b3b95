"""The journal writer: recovery, refusals, redaction, group commit, faults."""

import json
import os
import subprocess
import threading

import pytest

from agp.errors import JournalError, JournalVerificationError, JournalWriteError
from agp.journal import Journal, Keyring, SecretRedactor, SigningKey, init_keys, scan_journal, verify_journal
from agp.journal.head import head_path_for
from tests.support.journal import lines, make_journal, write_lines


def test_append_returns_entries_in_order_and_they_verify(tmp_path):
    key = init_keys(tmp_path / "k")
    with Journal.open(tmp_path / "j.jsonl", key) as j:
        es = [j.append("gate.decision", "s", {"i": i}) for i in range(10)]
    assert [e.seq for e in es] == list(range(2, 12))  # 0 = journal.open, 1 = head announcement
    assert all(b.prev == a.hash for a, b in zip(es, es[1:]))
    verify_journal(tmp_path / "j.jsonl", Keyring.from_public_key(key.public))


def test_lines_on_disk_are_canonical_and_match_the_returned_entry(tmp_path):
    key = init_keys(tmp_path / "k")
    with Journal.open(tmp_path / "j.jsonl", key) as j:
        e = j.append("gate.decision", "s", {"z": 1, "a": ["é", {"y": None}]})
    raw = lines(tmp_path / "j.jsonl")[e.seq]
    assert raw == e.to_line()
    assert list(json.loads(raw)) == sorted(json.loads(raw))


def test_concurrent_appenders_lose_nothing(tmp_path):
    key = init_keys(tmp_path / "k")
    j = Journal.open(tmp_path / "j.jsonl", key)
    got: list = []
    lock = threading.Lock()

    def work(t):
        for i in range(300):
            e = j.append("gate.decision", f"t{t}", {"t": t, "i": i})
            with lock:
                got.append(e)

    ts = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    j.close()
    assert len(got) == 2400 and len({e.seq for e in got}) == 2400
    on_disk = {json.loads(ln)["seq"]: json.loads(ln)["hash"] for ln in lines(tmp_path / "j.jsonl")}
    assert all(on_disk[e.seq] == e.hash for e in got)
    r = verify_journal(tmp_path / "j.jsonl", Keyring.from_public_key(key.public))
    assert r.kinds["gate.decision"] == 2400 and r.sessions == 8


def test_registered_secret_value_never_reaches_the_file(tmp_path):
    key = init_keys(tmp_path / "k")
    red = SecretRedactor()
    secret = "sk-live-5f2a9c8e7d6b"
    red.register("API_TOKEN", secret)
    with Journal.open(tmp_path / "j.jsonl", key, redactor=red) as j:
        e = j.append("gate.decision", "s", {"call": {"input": {"command": f"curl -H 'Authorization: {secret}' x",
                                                             secret: [f"pre{secret}post"]}}})
    data = (tmp_path / "j.jsonl").read_bytes() + head_path_for(tmp_path / "j.jsonl").read_bytes()
    assert secret.encode() not in data
    assert b"{{secret:API_TOKEN}}" in data
    assert secret not in json.dumps(e.body)
    verify_journal(tmp_path / "j.jsonl", Keyring.from_public_key(key.public))


def test_reserved_kinds_are_refused(tmp_path):
    key = init_keys(tmp_path / "k")
    with Journal.open(tmp_path / "j.jsonl", key) as j:
        with pytest.raises(ValueError):
            j.append("key.rotate", "", {})


def test_a_second_writer_is_refused(tmp_path):
    key = init_keys(tmp_path / "k")
    with Journal.open(tmp_path / "j.jsonl", key):
        with pytest.raises(JournalError, match="in use"):
            Journal.open(tmp_path / "j.jsonl", key)


def test_torn_last_line_is_cut_on_open_and_the_recovery_journaled(tmp_path):
    path, key, ring = make_journal(tmp_path, 5)
    before = path.read_bytes()
    with open(path, "ab") as f:
        f.write(b'{"body":{"i":99},"hash":"ab')
    j = Journal.open(path, key)
    j.close()
    data = path.read_bytes()
    assert data.startswith(before)
    rec = [json.loads(ln) for ln in lines(path) if b'"journal.recovery"' in ln]
    assert len(rec) == 1 and rec[0]["body"]["cut_bytes"] == 27
    verify_journal(path, ring)


def test_open_refuses_a_tampered_tail(tmp_path):
    path, key, _ = make_journal(tmp_path, 5)
    ls = lines(path)
    ls[-1] = ls[-1].replace(b'"covers":"this entry"', b'"covers":"that entry"')
    write_lines(path, ls)
    with pytest.raises(JournalVerificationError, match="hash mismatch"):
        Journal.open(path, key)


def test_open_refuses_a_journal_shorter_than_its_head(tmp_path):
    path, key, _ = make_journal(tmp_path, 5)
    write_lines(path, lines(path)[:-2])
    with pytest.raises(JournalVerificationError, match="truncated"):
        Journal.open(path, key)


def test_open_refuses_an_emptied_journal_with_a_head(tmp_path):
    path, key, _ = make_journal(tmp_path, 5)
    path.write_bytes(b"")
    with pytest.raises(JournalVerificationError, match="empty but its signed head"):
        Journal.open(path, key)


def test_open_refuses_a_journal_without_its_head(tmp_path):
    path, key, _ = make_journal(tmp_path, 5)
    head_path_for(path).unlink()
    with pytest.raises(JournalVerificationError, match="no signed head"):
        Journal.open(path, key)


def test_open_refuses_another_key(tmp_path):
    path, _, _ = make_journal(tmp_path, 5)
    with pytest.raises(JournalError, match="signed by key"):
        Journal.open(path, SigningKey.generate())


@pytest.fixture
def small_tmpfs(tmp_path):
    mnt = tmp_path / "full"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)], check=True)
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_disk_full_fails_loudly_and_loses_nothing(tmp_path, small_tmpfs):
    key = init_keys(tmp_path / "k")
    path = small_tmpfs / "j.jsonl"
    j = Journal.open(path, key)
    returned = []
    with pytest.raises(JournalWriteError, match="No space left"):
        for i in range(10_000):
            returned.append(j.append("gate.decision", "s", {"i": i, "pad": "x" * 200}))
    assert len(returned) > 10
    with pytest.raises(JournalWriteError, match="failed earlier"):
        j.append("gate.decision", "s", {"after": True})
    on_disk = {json.loads(ln)["seq"]: json.loads(ln)["hash"] for ln in lines(path)}
    assert all(on_disk.get(e.seq) == e.hash for e in returned)
    assert path.read_bytes().endswith(b"\n"), "a partial line was left behind"
    report = scan_journal(path, Keyring.from_public_key(key.public))
    assert report.ok, report.errors
    assert report.last_seq == returned[-1].seq


def test_read_only_file_fails_loudly_and_loses_nothing(tmp_path):
    key = init_keys(tmp_path / "k")
    path = tmp_path / "j.jsonl"
    j = Journal.open(path, key)
    returned = [j.append("gate.decision", "s", {"i": i}) for i in range(5)]
    subprocess.run(["chattr", "+i", str(path)], check=True)
    try:
        with pytest.raises(JournalWriteError, match="not permitted"):
            j.append("gate.decision", "s", {"i": 5})
        with pytest.raises(JournalWriteError):
            j.append("gate.decision", "s", {"i": 6})
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)
    on_disk = {json.loads(ln)["seq"] for ln in lines(path)}
    assert {e.seq for e in returned} <= on_disk


def test_read_only_file_system_refuses_to_open(tmp_path, small_tmpfs):
    key = init_keys(tmp_path / "k")
    path = small_tmpfs / "j.jsonl"
    make = Journal.open(path, key)
    make.append("gate.decision", "s", {"i": 1})
    make.close()
    subprocess.run(["mount", "-o", "remount,ro", str(small_tmpfs)], check=True)
    with pytest.raises(JournalWriteError, match="Read-only file system"):
        Journal.open(path, key)
    verify_journal(path, Keyring.from_public_key(key.public))


def test_head_write_failure_poisons_the_journal(tmp_path):
    key = init_keys(tmp_path / "k")
    d = tmp_path / "d"
    d.mkdir()
    j = Journal.open(d / "j.jsonl", key)
    j.append("gate.decision", "s", {"i": 1})
    subprocess.run(["chattr", "+i", str(d)], check=True)  # no new files: the head's temp file cannot be made
    try:
        with pytest.raises(JournalWriteError, match="signed head"):
            j.write_head()
        with pytest.raises(JournalWriteError, match="failed earlier"):
            j.append("gate.decision", "s", {"i": 2})
    finally:
        subprocess.run(["chattr", "-i", str(d)], check=True)


def test_periodic_head_covers_new_entries(tmp_path):
    key = init_keys(tmp_path / "k")
    path = tmp_path / "j.jsonl"
    j = Journal.open(path, key, head_every=0.05)
    e = j.append("gate.decision", "s", {"i": 1})
    import time

    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        head = json.loads(head_path_for(path).read_text())
        if head["seq"] > e.seq:
            break
        time.sleep(0.02)
    j.close()
    assert head["seq"] > e.seq
