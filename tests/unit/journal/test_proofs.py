"""agp.journal.proofs on real journals: inclusion proofs of one entry, consistency with an old checkpoint,
witness requirements, and the <journal>.tree sidecar."""

from __future__ import annotations

import base64
import json

import pytest

from agp.errors import JournalVerificationError, UsageError
from agp.journal import Keyring, SigningKey, verify_journal
from agp.journal.checkpoint import (
    SIG_TYPE_COSIGNATURE_V1,
    VerifierKey,
    cosign_checkpoint,
    format_checkpoint,
    journal_origin,
    open_checkpoint,
    sign_checkpoint,
)
from agp.journal.head import Head, head_path_for, read_head, write_head_file
from agp.journal.merkle import CompactRange, hash_leaf, mth
from agp.journal.proofs import (
    InclusionProof,
    TreeFile,
    compact_range_for,
    journal_checkpoint,
    prove_consistency,
    prove_inclusion,
    read_checkpoint,
    require_witnesses,
    verify_consistency,
    verify_entry,
    write_checkpoint,
)
from tests.support.journal import lines, make_journal
from tests.support.transparency import entry_hashes, extend_journal, rewrite_entry


@pytest.fixture
def journal(tmp_path):
    path, key, ring = make_journal(tmp_path, 40)
    note = write_checkpoint(path, key)
    return path, key, ring, note


# ------------------------------------------------------------------ inclusion
def test_every_entry_proves_and_verifies_offline(journal):
    path, key, ring, note = journal
    hashes = entry_hashes(path)
    cp = open_checkpoint(note, key.public)
    assert cp.size == len(hashes) and cp.root == mth(hashes)
    assert cp.origin == journal_origin(hashes[0].hex())
    for seq in range(len(hashes)):
        proof = prove_inclusion(path, seq)
        text = proof.to_text()
        assert text.startswith("c2sp.org/tlog-proof@v1\nextra ")
        again = InclusionProof.from_text(text)
        assert again == proof
        v = verify_entry(lines(path)[seq], text, note, key.public)
        assert v.entry.seq == seq and v.checkpoint.size == len(hashes)
    # the entry carried in the proof, and the checkpoint carried in the proof
    assert verify_entry(None, prove_inclusion(path, 3), None, ring).entry.seq == 3


def test_forged_inclusion_proof_is_rejected(journal):
    path, key, _, note = journal
    proof = prove_inclusion(path, 11)
    for i in range(len(proof.hashes)):
        hs = list(proof.hashes)
        hs[i] = bytes([hs[i][0] ^ 1]) + hs[i][1:]
        forged = InclusionProof(proof.index, tuple(hs), proof.checkpoint, proof.entry)
        with pytest.raises(JournalVerificationError, match="inclusion: .*expected .* computed"):
            verify_entry(None, forged, note, key.public)
    # a proof of another entry does not carry this one
    other = prove_inclusion(path, 12)
    with pytest.raises(JournalVerificationError, match="the proof is for entry 12, but the entry is seq 11"):
        verify_entry(lines(path)[11], other, note, key.public)


def test_wrong_tree_size_is_rejected(journal):
    path, key, _, old_note = journal
    proof = prove_inclusion(path, 5)
    extend_journal(path, key, 20)
    new_note = write_checkpoint(path, key)
    assert open_checkpoint(new_note, key.public).size > open_checkpoint(old_note, key.public).size
    old_size = open_checkpoint(old_note, key.public).size
    with pytest.raises(JournalVerificationError, match=f"wrong tree size: the proof was made for tree size {old_size}, the checkpoint has size"):
        verify_entry(None, proof, new_note, key.public)
    # proved against the newer checkpoint it verifies again
    verify_entry(None, prove_inclusion(path, 5), new_note, key.public)


def test_edited_entry_and_unknown_signer_are_rejected(journal):
    path, key, _, note = journal
    proof = prove_inclusion(path, 7)
    edited = proof.entry.replace(b'"i":', b'"j":')
    with pytest.raises(JournalVerificationError, match="entry hash: the entry hashes to"):
        verify_entry(edited, proof, note, key.public)
    # a stranger's key: the checkpoint is not signed by it
    with pytest.raises(JournalVerificationError, match="not signed by a trusted key"):
        verify_entry(None, proof, note, SigningKey.generate().public)
    # a checkpoint signed by another key over the same tree is refused too
    other = SigningKey.generate()
    fake = journal_checkpoint(path, other)
    with pytest.raises(JournalVerificationError, match="not signed by a trusted key"):
        verify_entry(None, proof, fake, key.public)


def test_an_entry_beyond_the_checkpoint_cannot_be_proved(journal):
    path, key, _, note = journal
    size = open_checkpoint(note, key.public).size
    extend_journal(path, key, 3)
    with pytest.raises(UsageError, match="not covered by the checkpoint"):
        prove_inclusion(path, size, checkpoint=note)
    prove_inclusion(path, size - 1, checkpoint=note)


def test_no_checkpoint_is_a_usage_error(tmp_path):
    path, key, _ = make_journal(tmp_path, 3)
    head = read_head(head_path_for(path))  # a head written before heads carried checkpoints
    write_head_file(head_path_for(path), Head.create(key, genesis=head.genesis, seq=head.seq, hash=head.hash, ts=head.ts))
    with pytest.raises(UsageError, match="no checkpoint"):
        prove_inclusion(path, 0)


def test_checkpoint_in_the_head_is_used(tmp_path):
    path, key, _ = make_journal(tmp_path, 10)
    head = read_head(head_path_for(path))
    cp = journal_checkpoint(path, key, size=head.seq + 1)
    write_head_file(head_path_for(path), Head.create(key, genesis=head.genesis, seq=head.seq, hash=head.hash, ts=head.ts, extra={"checkpoint": cp}))
    assert read_checkpoint(path) == cp
    verify_entry(None, prove_inclusion(path, 4), None, key.public)


# ----------------------------------------------------------------- the sidecar
def test_sidecar_matches_reference_and_resumes(tmp_path):
    path, key, _ = make_journal(tmp_path, 25)
    with TreeFile.open(path) as t:
        assert t.leaves == len(entry_hashes(path))
        assert t.root_at(t.leaves) == mth(entry_hashes(path))
    extend_journal(path, key, 30)
    with TreeFile.open(path) as t:
        hashes = entry_hashes(path)
        assert not t.rebuilt and t.leaves == len(hashes)
        for n in range(1, len(hashes) + 1):
            assert t.root_at(n) == mth(hashes[:n])
        assert t.entry_line(17) == lines(path)[17].rstrip(b"\n")
    cr = compact_range_for(path)
    assert cr == CompactRange.from_leaf_data(entry_hashes(path))


def test_sidecar_is_rebuilt_when_stale_or_corrupt(journal):
    path, key, _, note = journal
    tree = path.with_name(path.name + ".tree")
    TreeFile.open(path).close()
    data = bytearray(tree.read_bytes())
    data[64 + 32 * 3] ^= 0xFF  # corrupt an early node
    tree.write_bytes(bytes(data))
    verify_entry(None, prove_inclusion(path, 2), note, key.public)  # rebuilt from the journal, then proved
    tree.unlink()
    verify_entry(None, prove_inclusion(path, 9), note, key.public)
    # a sidecar from another journal is not used
    (path.parent / "other").mkdir()
    other, _, _ = make_journal(path.parent / "other", 40, key=key)
    TreeFile.open(other).close()
    tree.write_bytes(other.with_name(other.name + ".tree").read_bytes())
    with TreeFile.open(path) as t:
        assert t.rebuilt and t.root_at(40) == mth(entry_hashes(path)[:40])


def test_prove_refuses_a_journal_that_does_not_match_its_checkpoint(journal):
    path, key, _, note = journal
    rewrite_entry(path, key, 5, {"i": 5, "decision": "allow", "rewritten": True})
    with pytest.raises(JournalVerificationError, match="Merkle root .* the checkpoint says"):
        prove_inclusion(path, 5, checkpoint=note)


# ----------------------------------------------------------------- consistency
def test_appending_is_consistent_with_an_old_checkpoint(journal):
    path, key, ring, old = journal
    extend_journal(path, key, 33)
    new = write_checkpoint(path, key)
    assert verify_consistency(path, old, ring, recheck_entries=False).to_json_dict() == verify_consistency(path, old, ring).to_json_dict()
    rep = verify_consistency(path, old, ring)
    assert rep.old_size == open_checkpoint(old, key.public).size and rep.size == len(entry_hashes(path)) and rep.checkpoint_size == open_checkpoint(new, key.public).size
    proof = prove_consistency(path, rep.old_size)
    assert proof.new_size == rep.checkpoint_size and proof.hashes


def test_verifying_consistency_writes_nothing(journal):
    """An auditor's copy may be read-only: the consistency proof is computed in the streaming pass."""
    path, key, ring, old = journal
    extend_journal(path, key, 9)
    write_checkpoint(path, key)
    for suffix in (".tree", ".tree.idx"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    before = sorted(p.name for p in path.parent.iterdir())
    rep = verify_consistency(path, old, ring)
    assert rep.checkpoint_size == rep.size > rep.old_size
    assert sorted(p.name for p in path.parent.iterdir()) == before


def test_rewritten_prefix_is_caught_even_when_everything_is_re_signed(journal):
    path, key, ring, old = journal
    extend_journal(path, key, 5)
    rewrite_entry(path, key, 12, {"i": 12, "decision": "allow", "note": "quietly changed"})
    path.with_name(path.name + ".checkpoint").unlink()  # the operator drops its own record too
    verify_journal(path, ring)  # the journal on its own still verifies: only an outside record can tell
    for recheck in (True, False):
        with pytest.raises(JournalVerificationError, match="history before the old checkpoint was rewritten"):
            verify_consistency(path, old, ring, recheck_entries=recheck)
    # and the log refuses to sign a checkpoint inconsistent with one it kept
    path2, key2, ring2 = make_journal(path.parent / "b", 20)
    write_checkpoint(path2, key2)
    rewrite_entry(path2, key2, 3, {"x": 1})
    with pytest.raises(JournalVerificationError, match="refusing to sign"):
        write_checkpoint(path2, key2)


def test_truncation_below_the_old_checkpoint_is_caught(journal):
    path, key, ring, old = journal
    path.with_name(path.name + ".checkpoint").unlink()
    path.write_bytes(b"".join(lines(path)[:30]))
    with pytest.raises(JournalVerificationError, match="30 entries but the old checkpoint covers 4[0-9]: truncated"):
        verify_consistency(path, old, ring)


def test_edited_hash_member_is_caught_by_the_consistency_stream(journal):
    path, key, ring, old = journal
    ls = lines(path)
    obj = json.loads(ls[8])
    obj["body"]["i"] = 999  # content changed, hash member kept: the stream recomputes every hash
    ls[8] = json.dumps(obj, separators=(",", ":"), sort_keys=True).encode() + b"\n"
    path.write_bytes(b"".join(ls))
    with pytest.raises(JournalVerificationError, match="does not hash to its hash member"):
        verify_consistency(path, old, ring)
    # without the recheck only the tree is compared: that is what verify_journal is for
    verify_consistency(path, old, ring, recheck_entries=False)
    with pytest.raises(JournalVerificationError, match="hash mismatch"):
        verify_journal(path, ring)


def test_old_checkpoint_of_another_journal_is_refused(journal, tmp_path):
    path, key, ring, _ = journal
    (tmp_path / "o").mkdir()
    other, _, _ = make_journal(tmp_path / "o", 5, key=key)
    with pytest.raises(JournalVerificationError, match="is for log"):
        verify_consistency(path, write_checkpoint(other, key), ring)


# ------------------------------------------------------------------- witnesses
def _witness(name):
    k = SigningKey.generate()
    return k, VerifierKey(name, SIG_TYPE_COSIGNATURE_V1, k.public.raw)


def test_require_witnesses_counts_distinct_valid_cosignatures():
    log = SigningKey.generate()
    note = sign_checkpoint(format_checkpoint("o.example/l", 4, mth([b"a", b"b", b"c", b"d"])), log)
    (k1, v1), (k2, v2), (_, v3) = _witness("w1.example"), _witness("w2.example"), _witness("w3.example")
    one = cosign_checkpoint(note, k1, "w1.example", 1700000000)
    rep = require_witnesses(one, [v1.to_vkey(), v2, v3], 1)
    assert rep.valid == (("w1.example", 1700000000),) and set(rep.missing) == {"w2.example", "w3.example"}
    with pytest.raises(JournalVerificationError, match="expected at least 2 valid cosignature.*found 1 .*missing: w2.example, w3.example"):
        require_witnesses(one, [v1, v2, v3], 2)
    two = cosign_checkpoint(one, k2, "w2.example", 1700000001)
    assert len(require_witnesses(two, [v1, v2, v3], 2).valid) == 2
    # the same witness twice is one witness
    with pytest.raises(UsageError, match="only 1 distinct"):
        require_witnesses(two, [v1, v1], 2)
    with pytest.raises(UsageError, match="at least 1"):
        require_witnesses(two, [v1], 0)
    # a present but invalid cosignature from a trusted witness rejects the checkpoint
    bad = two.replace("\n4\n", "\n5\n", 1)
    with pytest.raises(JournalVerificationError, match="does not verify"):
        require_witnesses(bad, [v1], 1)
    # a cosignature by an untrusted key under a trusted name does not count
    k_evil, _ = _witness("w1.example")
    evil = cosign_checkpoint(note, k_evil, "w1.example", 1700000002)
    with pytest.raises(JournalVerificationError, match="found 0"):
        require_witnesses(evil, [v1], 1)


def test_leaf_is_the_raw_entry_hash(journal):
    path, key, _, note = journal
    proof = prove_inclusion(path, 0)
    h = bytes.fromhex(json.loads(proof.entry)["hash"])
    cp = open_checkpoint(note, key.public)
    # recompute the root by hand from the leaf hash and the proof, RFC 9162 style, with no agp code
    from agp.journal.merkle import root_from_inclusion_proof

    assert root_from_inclusion_proof(0, cp.size, hash_leaf(h), list(proof.hashes)) == cp.root
    assert base64.b64encode(cp.root).decode() in note


def test_keyring_verifies_after_rotation(tmp_path):
    from agp.journal import Journal

    path, key, _ = make_journal(tmp_path, 5)
    new = SigningKey.generate()
    j = Journal.open(path, key)
    j.rotate(new)
    j.append("gate.decision", "s", {"after": "rotation"})
    j.close()
    note = write_checkpoint(path, new)
    ring = Keyring([key.public, new.public])
    last = len(entry_hashes(path)) - 1
    verify_entry(None, prove_inclusion(path, last), note, ring)
    verify_entry(None, prove_inclusion(path, 1), note, ring)  # signed by the old key
    with pytest.raises(JournalVerificationError, match="does not trust"):
        verify_entry(None, prove_inclusion(path, 1), note, [new.public])


def test_tree_rebuild_recomputes_every_node_and_says_so(tmp_path):
    from agp.journal import TreeFile
    from tests.support.journal import make_journal as _make

    path, _, _ = _make(tmp_path, 9)
    with TreeFile.open(path) as t:
        root = t.root_at(t.leaves)
        n = t.leaves
    with TreeFile.open(path, sync=False) as t:
        assert t.sync(rebuild=True) == n
        assert t.rebuilt and t.root_at(n) == root
