"""Witnesses: cosign only what extends the last cosigned checkpoint; refuse rollbacks, forks, rewrites.
Also the `agp witness` and `agp journal` commands as a user runs them."""

from __future__ import annotations

import hashlib
import json
import os
import stat

import pytest

from agp.cli import main
from agp.errors import JournalVerificationError, KeyFileError, UsageError
from agp.journal import SigningKey
from agp.journal.checkpoint import (
    SIG_TYPE_ED25519,
    VerifierKey,
    format_checkpoint,
    journal_origin,
    open_checkpoint,
    sign_checkpoint,
    verify_cosignature,
)
from agp.journal.merkle import EMPTY_ROOT
from agp.journal.proofs import prove_consistency, read_checkpoint, require_witnesses, verify_entry, write_checkpoint
from agp.journal.witness import Witness, WitnessState, init_witness
from tests.support.journal import make_journal
from tests.support.transparency import entry_hashes, extend_journal, rewrite_entry


def _clock(t=1_800_000_000):
    return lambda: t


@pytest.fixture
def setup(tmp_path):
    path, key, ring = make_journal(tmp_path, 10)
    w = init_witness(tmp_path / "w", "witness.example/w1")
    state = WitnessState.load(tmp_path / "w" / "state.json")
    origin = journal_origin(entry_hashes(path)[0].hex())
    log_key = VerifierKey(origin, SIG_TYPE_ED25519, key.public.raw)
    return path, key, ring, w, state, log_key


def test_init_writes_a_0600_key_and_refuses_to_overwrite(tmp_path):
    w = init_witness(tmp_path / "w", "witness.example/a")
    assert stat.S_IMODE(os.stat(tmp_path / "w" / "witness.key").st_mode) == 0o600
    assert (tmp_path / "w" / "witness.vkey").read_text().strip() == w.vkey
    assert w.vkey.startswith("witness.example/a+")
    with pytest.raises(KeyFileError, match="refusing to overwrite"):
        init_witness(tmp_path / "w", "witness.example/a")
    assert Witness.load(tmp_path / "w").vkey == w.vkey
    assert Witness.load(tmp_path / "w" / "witness.key").vkey == w.vkey


def test_first_checkpoint_is_pinned_then_extensions_need_a_proof(setup):
    path, key, ring, w, state, log_key = setup
    note1 = read_checkpoint(path)
    c1 = w.cosign(note1, state, log_key=log_key, now=_clock())
    assert verify_cosignature(c1, w.vkey) == 1_800_000_000
    size1 = open_checkpoint(note1, key.public).size
    assert WitnessState.load(state.path).logs[log_key.name].size == size1
    extend_journal(path, key, 15)
    note2 = read_checkpoint(path)
    with pytest.raises(JournalVerificationError, match=f"needs a consistency proof from {size1}"):
        w.cosign(note2, state)
    c2 = w.cosign(note2, state, proof=prove_consistency(path, size1).to_text(), now=_clock(1_800_000_100))
    require_witnesses(c2, [w.vkey], 1)
    # an auditor checks one entry against the witnessed checkpoint
    from agp.journal.proofs import prove_inclusion

    v = verify_entry(None, prove_inclusion(path, 4, checkpoint=c2), c2, ring)
    assert v.checkpoint.size == open_checkpoint(note2, key.public).size
    # re-presenting the same checkpoint is fine (idempotent), with an empty proof from the same size
    w.cosign(note2, state, proof=f"old {v.checkpoint.size}\n")


def test_a_fork_is_detected_and_kept_as_evidence(setup):
    path, key, ring, w, state, log_key = setup
    origin = log_key.name
    # the log signs two different trees of the same size: one shown to the witness, one to someone else
    a = sign_checkpoint(format_checkpoint(origin, 12, hashlib.sha256(b"view A").digest()), key)
    b = sign_checkpoint(format_checkpoint(origin, 12, hashlib.sha256(b"view B").digest()), key)
    open_checkpoint(a, key.public), open_checkpoint(b, key.public)  # both genuinely signed
    w.cosign(a, state, log_key=log_key, now=_clock())
    with pytest.raises(JournalVerificationError, match="fork: two checkpoints .* at tree size 12 with different roots") as exc:
        w.cosign(b, state, now=_clock())
    evidence = list((state.path.parent / "evidence").glob("fork-*"))
    assert len(evidence) == 1 and "evidence:" in str(exc.value)
    text = evidence[0].read_text()
    assert a in text and b in text
    # the state still holds view A
    assert WitnessState.load(state.path).logs[origin].root_b64 == open_checkpoint(a, key.public).root_b64


def test_a_rewritten_history_is_refused(setup):
    path, key, ring, w, state, log_key = setup
    note1 = read_checkpoint(path)
    size1 = open_checkpoint(note1, key.public).size
    w.cosign(note1, state, log_key=log_key, now=_clock())
    extend_journal(path, key, 6)
    rewrite_entry(path, key, 3, {"i": 3, "decision": "allow", "changed": "after the fact"})
    for p in (path.with_name(path.name + ".checkpoint"), path.with_name(path.name + ".tree")):
        p.unlink(missing_ok=True)
    note2 = write_checkpoint(path, key)  # the log signs the rewritten tree
    proof = prove_consistency(path, size1)  # an honest proof of the rewritten tree
    with pytest.raises(JournalVerificationError, match="not consistent with the checkpoint this witness cosigned") as exc:
        w.cosign(note2, state, proof=proof)
    assert "evidence" in str(exc.value)
    assert WitnessState.load(state.path).logs[log_key.name].size == size1


def test_rollback_wrong_old_size_and_bad_signatures_are_refused(setup):
    path, key, ring, w, state, log_key = setup
    origin = log_key.name
    big = sign_checkpoint(format_checkpoint(origin, 50, hashlib.sha256(b"50").digest()), key)
    small = sign_checkpoint(format_checkpoint(origin, 40, hashlib.sha256(b"40").digest()), key)
    w.cosign(big, state, log_key=log_key)
    with pytest.raises(JournalVerificationError, match="rollback: the checkpoint has tree size 40, .* already cosigned size 50"):
        w.cosign(small, state, proof="old 50\n")
    with pytest.raises(JournalVerificationError, match="starts at size 12, but this witness last cosigned size 50"):
        w.cosign(small, state, proof="old 12\n")
    # signed by another key: refused, and the pinned key cannot be swapped
    other = SigningKey.generate()
    forged = sign_checkpoint(format_checkpoint(origin, 60, hashlib.sha256(b"60").digest()), other)
    with pytest.raises(JournalVerificationError, match="not signed by a trusted key"):
        w.cosign(forged, state, proof="old 50\n" + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n")
    with pytest.raises(JournalVerificationError, match="pinned to key"):
        w.cosign(forged, state, log_key=VerifierKey(origin, SIG_TYPE_ED25519, other.public.raw))
    # an unknown log needs its key
    with pytest.raises(UsageError, match="never seen log"):
        w.cosign(sign_checkpoint(format_checkpoint("other.example/log", 1, hashlib.sha256(b"x").digest()), key), state)
    # size 0 must carry the empty root
    with pytest.raises(JournalVerificationError, match="empty tree"):
        w.cosign(sign_checkpoint(format_checkpoint("zero.example/log", 0, hashlib.sha256(b"x").digest()), key), state,
                 log_key=VerifierKey("zero.example/log", SIG_TYPE_ED25519, key.public.raw))
    w.cosign(sign_checkpoint(format_checkpoint("zero.example/log", 0, EMPTY_ROOT), key), state,
             log_key=VerifierKey("zero.example/log", SIG_TYPE_ED25519, key.public.raw))


# ------------------------------------------------------------------------ CLI
def test_cli_round_trip(tmp_path, capsys):
    path, key, ring = make_journal(tmp_path, 8)
    pub = tmp_path / "keys" / "agp.pub"
    wdir = tmp_path / "w"
    assert main(["witness", "init", "--dir", str(wdir), "--name", "witness.example/cli", "--json"]) == 0
    vkey = json.loads(capsys.readouterr().out)["vkey"]
    assert main(["journal", "consistency", "--journal", str(path), "--old", "0", "--out", str(tmp_path / "req0")]) == 0
    assert main(["witness", "cosign", str(tmp_path / "req0"), "--key", str(wdir), "--log-key", str(pub), "--out", str(tmp_path / "cos0")]) == 0
    cos0 = (tmp_path / "cos0").read_text()
    require_witnesses(cos0, [vkey], 1)
    extend_journal(path, key, 5)
    # a proof from 0 is refused now (exit 1), one from the cosigned checkpoint is accepted
    assert main(["journal", "consistency", "--journal", str(path), "--old", "0", "--out", str(tmp_path / "bad")]) == 0
    assert main(["witness", "cosign", str(tmp_path / "bad"), "--key", str(wdir)]) == 1
    assert "last cosigned size" in capsys.readouterr().err.replace("\n", " ")
    assert main(["journal", "consistency", "--journal", str(path), "--old-checkpoint", str(tmp_path / "cos0"), "--out", str(tmp_path / "req1")]) == 0
    assert main(["witness", "cosign", str(tmp_path / "req1"), "--key", str(wdir), "--out", str(tmp_path / "cos1")]) == 0
    cos1 = (tmp_path / "cos1").read_text()
    # prove one entry against the witnessed checkpoint and check it offline
    assert main(["journal", "prove", "6", "--journal", str(path), "--checkpoint", str(tmp_path / "cos1"),
                 "--out", str(tmp_path / "p6"), "--entry-out", str(tmp_path / "e6")]) == 0
    v = verify_entry((tmp_path / "e6").read_bytes(), (tmp_path / "p6").read_text(), cos1, ring)
    assert v.entry.seq == 6
    require_witnesses(v.checkpoint.note, [vkey], 1)
    # the other subcommands
    assert main(["journal", "tree", "--journal", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["leaves"] == len(entry_hashes(path))
    assert main(["journal", "checkpoint", "--journal", str(path), "--key-dir", str(tmp_path / "keys")]) == 0
    assert main(["witness", "show", "--dir", str(wdir)]) == 0
    assert vkey in capsys.readouterr().out
    # usage errors exit 2
    assert main(["journal", "prove", "999", "--journal", str(path)]) == 2
    assert main(["witness", "cosign", str(tmp_path / "nope"), "--key", str(wdir)]) == 2


@pytest.mark.parametrize("group", ["journal", "witness"])
def test_help(group, capsys):
    with pytest.raises(SystemExit) as e:
        main([group, "--help"])
    assert e.value.code == 0 and "checkpoint" in capsys.readouterr().out


def test_cli_verify_since_and_witness_requirements(tmp_path, capsys):
    """The verifier's flags (agp/commands/verify.py) on top of these proofs, as an auditor runs them."""
    path, key, ring = make_journal(tmp_path, 12)
    pub = str(tmp_path / "keys" / "agp.pub")
    old = tmp_path / "old.checkpoint"
    old.write_text(read_checkpoint(path))
    w1, w2 = init_witness(tmp_path / "w1", "w1.example/w"), init_witness(tmp_path / "w2", "w2.example/w")
    st = WitnessState.load(tmp_path / "w1" / "state.json")
    origin = open_checkpoint(old.read_text(), key.public).origin
    cos = tmp_path / "cos"
    cos.write_text(w1.cosign(old.read_text(), st, log_key=VerifierKey(origin, SIG_TYPE_ED25519, key.public.raw)))
    v1, v2 = tmp_path / "w1" / "witness.vkey", tmp_path / "w2" / "witness.vkey"
    assert main(["journal", "prove", "3", "--journal", str(path), "--checkpoint", str(cos), "--out", str(tmp_path / "p3"),
                 "--entry-out", str(tmp_path / "e3")]) == 0
    entry_args = ["verify", "--entry", str(tmp_path / "e3"), "--proof", str(tmp_path / "p3"), "--checkpoint", str(cos), "--key", pub]
    assert main(entry_args + ["--witness", str(v1)]) == 0
    capsys.readouterr()
    assert main(entry_args + ["--witness", str(v1), "--witness", str(v2), "--min-witnesses", "2"]) == 1
    assert "expected at least 2" in capsys.readouterr().out.replace("\n", " ")
    # the journal grows: --since the old checkpoint passes
    extend_journal(path, key, 4)
    assert main(["verify", str(path), "--key", pub, "--since", str(old)]) == 0
    capsys.readouterr()
    # a key holder rewrites entry 5 and re-signs everything after it: the journal verifies on its own,
    # --since the old checkpoint does not
    rewrite_entry(path, key, 5, {"i": 5, "decision": "allow", "rewritten": True})
    assert main(["verify", str(path), "--key", pub]) == 0
    capsys.readouterr()
    assert main(["verify", str(path), "--key", pub, "--since", str(old), "--json"]) == 1
    assert "rewritten" in capsys.readouterr().out
    del w2
