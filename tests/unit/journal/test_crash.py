"""SIGKILL a child that appends in a loop, at random moments, at least 50 times.

After each kill the journal reopens (cutting a torn line, if any), verifies,
and still holds every entry whose append had returned in the child.
"""

import json
import os
import random
import signal
import subprocess
import sys
import time

from agp.journal import Journal, Keyring, init_keys, verify_journal
from tests.support.journal import lines

CHILD = r"""
import sys, threading
from agp.journal import Journal, load_signing_key
j = Journal.open(sys.argv[1], load_signing_key(sys.argv[2]), head_every=0.003)
out = sys.stdout
lock = threading.Lock()
def work(t):
    i = 0
    while True:
        e = j.append("gate.decision", f"t{t}", {"t": t, "i": i, "pad": "p" * (i % 97)})
        with lock:
            out.write(f"{e.seq} {e.hash}\n"); out.flush()
        i += 1
ts = [threading.Thread(target=work, args=(t,), daemon=True) for t in range(4)]
[t.start() for t in ts]
[t.join() for t in ts]
"""

KILLS = 55


def test_sigkill_at_random_moments_loses_no_returned_entry(tmp_path):
    key = init_keys(tmp_path / "k")
    path = tmp_path / "j.jsonl"
    Journal.open(path, key).close()
    ring = Keyring.from_public_key(key.public)
    rng = random.Random(1234)
    confirmed: dict[int, str] = {}
    torn_seen = 0
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    for k in range(KILLS):
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(path), str(tmp_path / "k")],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        # wait until it is appending, then kill it at a random moment
        first = child.stdout.readline()
        assert first, child.stderr.read().decode()
        time.sleep(rng.uniform(0.0, 0.08))
        os.kill(child.pid, signal.SIGKILL)
        out, _ = child.communicate()
        for raw in (first + out).splitlines():
            parts = raw.split()
            if len(parts) == 2 and len(parts[1]) == 64:
                confirmed[int(parts[0])] = parts[1].decode()
        if not path.read_bytes().endswith(b"\n"):
            torn_seen += 1
        # reopen: cuts a torn line (journaled), then the journal verifies
        Journal.open(path, key).close()
        report = verify_journal(path, ring)
        on_disk = {json.loads(ln)["seq"]: json.loads(ln)["hash"] for ln in lines(path)}
        missing = [s for s, h in confirmed.items() if on_disk.get(s) != h]
        assert not missing, f"kill {k}: entries whose append returned are missing: {missing[:5]}"
        assert report.ok
    assert len(confirmed) > KILLS * 5
    print(f"{KILLS} kills, {len(confirmed)} confirmed entries, {torn_seen} torn tails recovered")


CHILD_MANY = r"""
import sys, threading
from agp.journal import Journal, load_signing_key
j = Journal.open(sys.argv[1], load_signing_key(sys.argv[2]), head_every=0.003)
out = sys.stdout
lock = threading.Lock()
def work(t):
    i = 0
    while True:
        if t % 2:
            es = j.append_many([("gate.decision", f"t{t}", {"t": t, "i": i, "k": k, "pad": "p" * (k * 31 % 97)})
                                for k in range(1 + i % 9)])
        else:
            es = [j.append("gate.decision", f"t{t}", {"t": t, "i": i})]
        with lock:
            out.write("".join(f"{e.seq} {e.hash}\n" for e in es)); out.flush()
        i += 1
ts = [threading.Thread(target=work, args=(t,), daemon=True) for t in range(4)]
[t.start() for t in ts]
[t.join() for t in ts]
"""


def test_sigkill_during_append_many_loses_no_returned_entry(tmp_path):
    """The same with two of the four appenders writing lists of 1 to 9 entries at a time."""
    key = init_keys(tmp_path / "k")
    path = tmp_path / "j.jsonl"
    Journal.open(path, key).close()
    ring = Keyring.from_public_key(key.public)
    rng = random.Random(4321)
    confirmed: dict[int, str] = {}
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    for k in range(20):
        child = subprocess.Popen([sys.executable, "-c", CHILD_MANY, str(path), str(tmp_path / "k")],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        first = child.stdout.readline()
        assert first, child.stderr.read().decode()
        time.sleep(rng.uniform(0.0, 0.08))
        os.kill(child.pid, signal.SIGKILL)
        out, _ = child.communicate()
        for raw in (first + out).splitlines():
            parts = raw.split()
            if len(parts) == 2 and len(parts[1]) == 64:
                confirmed[int(parts[0])] = parts[1].decode()
        Journal.open(path, key).close()
        report = verify_journal(path, ring)
        on_disk = {json.loads(ln)["seq"]: json.loads(ln)["hash"] for ln in lines(path)}
        missing = [s for s, h in confirmed.items() if on_disk.get(s) != h]
        assert not missing, f"kill {k}: entries whose append returned are missing: {missing[:5]}"
        assert report.ok
    assert len(confirmed) > 20 * 5
