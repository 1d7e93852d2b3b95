"""Group commit: an append returns only after the sync that covers its line; append_many;
a failure between taking a place in the chain and queueing the line poisons, never hangs."""

import json
import os
import threading
import time

import pytest

import agp.journal.store as store
from agp.errors import JournalWriteError
from agp.journal import Journal, Keyring, init_keys, verify_journal
from tests.support.journal import lines


def _line_ends(path):
    """seq -> byte offset just past that entry's line."""
    ends, off = {}, 0
    for ln in lines(path):
        off += len(ln)
        ends[json.loads(ln)["seq"]] = off
    return ends


def test_no_append_returns_before_the_sync_that_covers_its_line(tmp_path, monkeypatch):
    """Every fdatasync of the journal records how many bytes it covered (the file size when it
    was called) once it returns; each append then checks, as it returns, that its line ends
    within what a returned sync covered. An append woken before its sync fails this."""
    key = init_keys(tmp_path / "k")
    path = tmp_path / "j.jsonl"
    j = Journal.open(path, key)
    ino = os.stat(path).st_ino
    real = os.fdatasync
    covered = [0]

    def fdatasync(fd):
        st = os.fstat(fd)
        if st.st_ino != ino:
            return real(fd)
        time.sleep(0.002)  # a slow disk widens the window an early wake-up would fall into
        real(fd)
        covered[0] = max(covered[0], st.st_size)
        return None

    monkeypatch.setattr(os, "fdatasync", fdatasync)
    seen: list[tuple[int, int]] = []
    lock = threading.Lock()

    def work(t):
        for i in range(60):
            if t % 3 == 0:
                es = j.append_many([("gate.decision", f"t{t}", {"t": t, "i": i, "k": k}) for k in range(1 + i % 4)])
            else:
                es = [j.append("gate.decision", f"t{t}", {"t": t, "i": i})]
            at_return = covered[0]
            with lock:
                seen.extend((e.seq, at_return) for e in es)

    ts = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    j.close()
    ends = _line_ends(path)
    early = [(seq, ends[seq], cov) for seq, cov in seen if ends[seq] > cov]
    assert not early, f"appends returned before a sync covered their line (seq, line end, covered): {early[:5]}"
    assert len(seen) == len({s for s, _ in seen})
    verify_journal(path, Keyring.from_public_key(key.public))


def test_concurrent_appenders_share_syncs(tmp_path, monkeypatch):
    """With 8 appenders and a slow disk, a sync covers several entries (group commit works)."""
    key = init_keys(tmp_path / "k")
    j = Journal.open(tmp_path / "j.jsonl", key)
    sizes: list[int] = []
    real = store.Journal._write_durably

    def counting(self, data):
        time.sleep(0.001)
        sizes.append(data.count(b"\n"))
        return real(self, data)

    monkeypatch.setattr(store.Journal, "_write_durably", counting)

    def work(t):
        for i in range(100):
            j.append("gate.decision", f"t{t}", {"t": t, "i": i})

    ts = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    j.close()
    entries = sum(sizes)
    assert entries >= 800
    assert entries / len(sizes) > 2, f"{len(sizes)} syncs for {entries} entries"


def test_append_many_entries_are_consecutive_in_the_chain(tmp_path):
    key = init_keys(tmp_path / "k")
    path = tmp_path / "j.jsonl"
    j = Journal.open(path, key)
    groups: list[list] = []
    lock = threading.Lock()

    def work(t):
        for i in range(40):
            if t % 2:
                es = j.append_many([("gate.decision", f"t{t}", {"t": t, "i": i, "k": k}) for k in range(1 + i % 7)])
            else:
                es = [j.append("gate.decision", f"t{t}", {"t": t, "i": i})]
            with lock:
                groups.append(es)

    ts = [threading.Thread(target=work, args=(t,)) for t in range(6)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    j.close()
    on_disk = {json.loads(ln)["seq"]: json.loads(ln) for ln in lines(path)}
    for es in groups:
        assert [e.seq for e in es] == list(range(es[0].seq, es[0].seq + len(es)))
        assert all(b.prev == a.hash for a, b in zip(es, es[1:]))
        assert all(on_disk[e.seq]["hash"] == e.hash and on_disk[e.seq]["body"] == e.body for e in es)
    total = sum(len(es) for es in groups)
    r = verify_journal(path, Keyring.from_public_key(key.public))
    assert r.kinds["gate.decision"] == total


def test_append_many_refuses_a_reserved_kind_and_appends_nothing(tmp_path):
    key = init_keys(tmp_path / "k")
    with Journal.open(tmp_path / "j.jsonl", key) as j:
        before = j.last_seq
        with pytest.raises(ValueError, match=r"journal\.head"):
            j.append_many([("gate.decision", "s", {"i": 1}), ("journal.head", "", {})])
        with pytest.raises(JournalWriteError, match="canonicalized"):
            j.append_many([("gate.decision", "s", {"i": 1}), ("gate.decision", "s", {"f": float("nan")})])
        assert j.last_seq == before
        assert j.append_many([]) == []
        (e,) = j.append_many(iter([("gate.decision", "s", {"i": 2})]))
        assert e.seq == before + 1


def test_a_failure_after_taking_a_place_in_the_chain_poisons_instead_of_hanging(tmp_path, monkeypatch):
    """If an append fails between taking its seq and queueing its line (here: signing raises),
    the lines after it can never be written: every append then fails, none waits forever, the
    journal closes, and it reopens and verifies with every returned entry in it."""
    key = init_keys(tmp_path / "k")
    path = tmp_path / "j.jsonl"
    j = Journal.open(path, key)
    real_finish = store.finish
    calls = [0]

    def finish(*a, **k):
        calls[0] += 1
        if calls[0] == 150:
            raise RuntimeError("signing device unplugged")
        return real_finish(*a, **k)

    monkeypatch.setattr(store, "finish", finish)
    returned: list = []
    errors: list = []
    lock = threading.Lock()

    def work(t):
        for i in range(100):
            try:
                e = j.append("gate.decision", f"t{t}", {"t": t, "i": i})
            except JournalWriteError as exc:
                with lock:
                    errors.append(str(exc))
                return
            with lock:
                returned.append(e)

    ts = [threading.Thread(target=work, args=(t,), daemon=True) for t in range(4)]
    [t.start() for t in ts]
    for t in ts:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in ts), "an appender hung after the chain got a gap"
    assert len(errors) == 4
    assert any("after taking its place in the chain" in m and "signing device unplugged" in m for m in errors)
    with pytest.raises(JournalWriteError, match="reopen"):
        j.append("gate.decision", "late", {})
    j.close()
    monkeypatch.setattr(store, "finish", real_finish)
    Journal.open(path, key).close()
    on_disk = {json.loads(ln)["seq"]: json.loads(ln)["hash"] for ln in lines(path)}
    assert all(on_disk.get(e.seq) == e.hash for e in returned)
    verify_journal(path, Keyring.from_public_key(key.public))
