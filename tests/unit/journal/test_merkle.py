"""agp.journal.merkle against RFC 6962/9162 and the transparency-dev/merkle vectors, plus properties."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agp.errors import JournalVerificationError
from agp.journal.merkle import (
    EMPTY_ROOT,
    LEAF_HASH_PREFIX,
    NODE_HASH_PREFIX,
    CompactRange,
    ListNodeSource,
    consistency_proof,
    hash_children,
    hash_leaf,
    inclusion_proof,
    mth,
    node_count,
    postorder_index,
    root_from_inclusion_proof,
    verify_consistency,
    verify_inclusion,
)

VECTORS = json.loads((Path(__file__).parent / "vectors" / "transparency_dev_merkle.json").read_text())
LEAVES = [bytes.fromhex(x) for x in VECTORS["leaf_inputs_hex"]]
ROOTS = [bytes.fromhex(x) for x in VECTORS["root_hashes_hex"]]


def _b(x):
    return base64.b64decode(x) if x is not None else b""


def _all_hashes(*hs):
    return all(len(h) == 32 for h in hs)


def _proof(p):
    return [_b(x) for x in (p or [])]


# ------------------------------------------------------------------ RFC basics
def test_domain_separation_constants_match_rfc6962():
    assert LEAF_HASH_PREFIX == 0 and NODE_HASH_PREFIX == 1
    assert hash_leaf(b"abc") == hashlib.sha256(b"\x00abc").digest()
    assert hash_children(b"l" * 32, b"r" * 32) == hashlib.sha256(b"\x01" + b"l" * 32 + b"r" * 32).digest()


def test_empty_tree_root_is_sha256_of_empty_string():
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert CompactRange().root() == EMPTY_ROOT == mth([])


def test_single_leaf_root_is_its_leaf_hash():
    cr = CompactRange()
    cr.append(b"")
    assert cr.root().hex() == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"


def test_reference_tree_roots_for_every_size():
    cr = CompactRange()
    assert cr.root() == ROOTS[0]
    for n, leaf in enumerate(LEAVES, start=1):
        cr.append(leaf)
        assert cr.size == n
        assert cr.root() == ROOTS[n], f"size {n}"
        assert mth(LEAVES[:n]) == ROOTS[n]


def test_compact_range_serializes_and_resumes():
    cr = CompactRange.from_leaf_data(LEAVES[:5])
    again = CompactRange.from_bytes(cr.to_bytes())
    assert again == cr and again.root() == ROOTS[5]
    for leaf in LEAVES[5:]:
        again.append(leaf)
    assert again.root() == ROOTS[8]


@pytest.mark.parametrize("blob", [b"", b"nope" * 4, CompactRange.from_leaf_data(LEAVES[:3]).to_bytes()[:-1]])
def test_compact_range_rejects_bad_bytes(blob):
    with pytest.raises(ValueError):
        CompactRange.from_bytes(blob)


# --------------------------------------------------- transparency-dev vectors
@pytest.mark.parametrize("probe", VECTORS["inclusion"], ids=lambda p: p["file"].removeprefix("testdata/"))
def test_inclusion_vectors(probe):
    args = (probe["leafIdx"], probe["treeSize"], _b(probe["leafHash"]), _proof(probe["proof"]), _b(probe["root"]))
    if not _all_hashes(args[2], *args[3], args[4]):
        # agp is stricter than the Go library: every hash must be 32 bytes, even where the vector "doesn't care"
        with pytest.raises(JournalVerificationError, match=None if probe["wantErr"] else "32-byte"):
            verify_inclusion(*args)
        return
    if probe["wantErr"]:
        with pytest.raises(JournalVerificationError):
            verify_inclusion(*args)
    else:
        verify_inclusion(*args)


@pytest.mark.parametrize("probe", VECTORS["consistency"], ids=lambda p: p["file"].removeprefix("testdata/"))
def test_consistency_vectors(probe):
    args = (probe["size1"], probe["size2"], _proof(probe["proof"]), _b(probe["root1"]), _b(probe["root2"]))
    if not _all_hashes(*args[2], args[3], args[4]):
        with pytest.raises(JournalVerificationError, match=None if probe["wantErr"] else "32-byte"):
            verify_consistency(*args)
        return
    if probe["wantErr"]:
        with pytest.raises(JournalVerificationError):
            verify_consistency(*args)
    else:
        verify_consistency(*args)


def test_generated_proofs_equal_the_vector_proofs():
    src = ListNodeSource.from_leaf_data(LEAVES)
    checked = 0
    for probe in VECTORS["inclusion"]:
        if not probe["wantErr"] and probe["file"].endswith("happy-path.json") and probe["treeSize"] <= 8:
            assert inclusion_proof(src, probe["leafIdx"], probe["treeSize"]) == _proof(probe["proof"])
            checked += 1
    for probe in VECTORS["consistency"]:
        if not probe["wantErr"] and probe["file"].endswith("happy-path.json") and 0 < probe["size1"] and probe["size2"] <= 8:
            assert consistency_proof(src, probe["size1"], probe["size2"]) == _proof(probe["proof"])
            checked += 1
    assert checked >= 8


def test_rfc6962_example_tree_proof_shapes():
    # RFC 6962 §2.1.3: the 7-leaf example tree; PATH(d0) = [b, h, i], PROOF(3, D[7]) = [c, d, g, l]
    src = ListNodeSource.from_leaf_data(LEAVES[:7])
    lh = [hash_leaf(x) for x in LEAVES[:7]]
    a, b, c, d, e, f, j = lh
    g, h, i = hash_children(a, b), hash_children(c, d), hash_children(e, f)
    k, l = hash_children(g, h), hash_children(i, j)
    assert inclusion_proof(src, 0, 7) == [b, h, l]
    assert inclusion_proof(src, 3, 7) == [c, g, l]
    assert inclusion_proof(src, 4, 7) == [f, j, k]
    assert inclusion_proof(src, 6, 7) == [i, k]
    assert consistency_proof(src, 3, 7) == [c, d, g, l]
    assert consistency_proof(src, 4, 7) == [l]
    assert consistency_proof(src, 6, 7) == [i, j, k]


# ------------------------------------------------------------- failure paths
def test_forged_inclusion_proof_is_rejected_with_expected_and_found():
    src = ListNodeSource.from_leaf_data(LEAVES)
    proof = inclusion_proof(src, 2, 8)
    forged = [proof[0], hashlib.sha256(b"forged").digest(), proof[2]]
    with pytest.raises(JournalVerificationError, match="expected .* computed"):
        verify_inclusion(2, 8, hash_leaf(LEAVES[2]), forged, ROOTS[8])


def test_wrong_tree_size_is_rejected():
    src = ListNodeSource.from_leaf_data(LEAVES)
    proof = inclusion_proof(src, 2, 8)
    for size in (3, 4, 9, 16, 100):  # a different path shape: too short or too long
        with pytest.raises(JournalVerificationError, match="too (short|long)|needs"):
            verify_inclusion(2, size, hash_leaf(LEAVES[2]), proof, ROOTS[8])
    # RFC 6962 paths do not bind the size by themselves (leaf 2 has the same path shape in
    # trees of 5..8 leaves): the size is bound by the signed checkpoint, see test_proofs.py
    verify_inclusion(2, 7, hash_leaf(LEAVES[2]), proof, ROOTS[8])
    with pytest.raises(JournalVerificationError, match="not inside a tree of size 2"):
        root_from_inclusion_proof(2, 2, hash_leaf(LEAVES[2]), [])


def test_wrong_leaf_and_wrong_index_are_rejected():
    src = ListNodeSource.from_leaf_data(LEAVES)
    proof = inclusion_proof(src, 5, 8)
    with pytest.raises(JournalVerificationError):
        verify_inclusion(5, 8, hash_leaf(LEAVES[4]), proof, ROOTS[8])
    with pytest.raises(JournalVerificationError):
        verify_inclusion(4, 8, hash_leaf(LEAVES[5]), proof, ROOTS[8])


def test_rewritten_prefix_breaks_consistency():
    src = ListNodeSource.from_leaf_data(LEAVES)
    rewritten = list(LEAVES)
    rewritten[1] = b"rewritten"
    src2 = ListNodeSource.from_leaf_data(rewritten)
    proof = consistency_proof(src2, 3, 8)
    with pytest.raises(JournalVerificationError, match="old root of size 3"):
        verify_consistency(3, 8, proof, ROOTS[3], mth(rewritten))
    verify_consistency(3, 8, consistency_proof(src, 3, 8), ROOTS[3], ROOTS[8])


def test_same_size_different_roots_is_a_fork():
    with pytest.raises(JournalVerificationError, match="fork"):
        verify_consistency(8, 8, [], ROOTS[8], ROOTS[7])


def test_shrinking_tree_is_refused():
    with pytest.raises(JournalVerificationError, match="smaller"):
        verify_consistency(8, 7, [], ROOTS[8], ROOTS[7])


def test_bad_hash_lengths_are_refused():
    with pytest.raises(JournalVerificationError, match="32-byte"):
        verify_inclusion(0, 1, b"short", [], ROOTS[1])
    with pytest.raises(JournalVerificationError, match="32-byte"):
        verify_consistency(1, 2, [b"x"], ROOTS[1], ROOTS[2])


def test_proof_ranges_are_disjoint_and_cover_what_the_proof_needs():
    from agp.journal.merkle import consistency_proof_ranges, inclusion_proof_ranges

    for n in range(1, 70):
        for m in range(1, n + 1):
            rs = sorted(consistency_proof_ranges(m, n))
            assert all(b1 <= a2 for (_, b1), (a2, _) in zip(rs, rs[1:])), (m, n, rs)
        for i in range(n):
            rs = inclusion_proof_ranges(i, n)
            assert all(not a <= i < b for a, b in rs)
            assert sum(b - a for a, b in rs) == n - 1


# ------------------------------------------------------------ post-order layout
def test_postorder_positions_match_append_order():
    order: list[tuple[int, int]] = []
    cr = CompactRange()
    for i in range(37):
        order.append((0, i))
        done = cr.append_hash(hash_leaf(bytes([i])))
        for lvl in range(1, len(done) + 1):
            order.append((lvl, (i + 1 >> lvl) - 1))
    assert len(order) == node_count(37)
    for pos, (lvl, idx) in enumerate(order):
        assert postorder_index(lvl, idx) == pos


# ---------------------------------------------------------------- properties
def _leaves(n: int) -> list[bytes]:
    return [hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(n)]


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_property_inclusion_proofs_verify_and_break_on_any_flip(data):
    n = data.draw(st.integers(min_value=1, max_value=300), label="size")
    leaves = _leaves(n)
    src = ListNodeSource.from_leaf_data(leaves)
    root = CompactRange.from_leaf_data(leaves).root()
    assert root == mth(leaves)
    i = data.draw(st.integers(min_value=0, max_value=n - 1), label="index")
    proof = inclusion_proof(src, i, n)
    lh = hash_leaf(leaves[i])
    verify_inclusion(i, n, lh, proof, root)
    if proof:
        which = data.draw(st.integers(min_value=0, max_value=len(proof) - 1))
        byte = data.draw(st.integers(min_value=0, max_value=31))
        bad = list(proof)
        bad[which] = bad[which][:byte] + bytes([bad[which][byte] ^ 0x01]) + bad[which][byte + 1 :]
        with pytest.raises(JournalVerificationError):
            verify_inclusion(i, n, lh, bad, root)
    byte = data.draw(st.integers(min_value=0, max_value=31))
    bad_leaf = lh[:byte] + bytes([lh[byte] ^ 0x80]) + lh[byte + 1 :]
    with pytest.raises(JournalVerificationError):
        verify_inclusion(i, n, bad_leaf, proof, root)


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_property_consistency_proofs_verify_and_break_on_any_flip(data):
    n = data.draw(st.integers(min_value=1, max_value=300), label="new size")
    m = data.draw(st.integers(min_value=1, max_value=n), label="old size")
    leaves = _leaves(n)
    src = ListNodeSource.from_leaf_data(leaves)
    r1, r2 = mth(leaves[:m]), mth(leaves)
    proof = consistency_proof(src, m, n)
    verify_consistency(m, n, proof, r1, r2)
    if proof:
        which = data.draw(st.integers(min_value=0, max_value=len(proof) - 1))
        byte = data.draw(st.integers(min_value=0, max_value=31))
        bad = list(proof)
        bad[which] = bad[which][:byte] + bytes([bad[which][byte] ^ 0x04]) + bad[which][byte + 1 :]
        with pytest.raises(JournalVerificationError):
            verify_consistency(m, n, bad, r1, r2)
        # a proof for the wrong sizes does not verify either
        if m < n - 1:
            with pytest.raises(JournalVerificationError):
                verify_consistency(m + 1, n, proof, mth(leaves[: m + 1]), r2)
    byte = data.draw(st.integers(min_value=0, max_value=31))
    with pytest.raises(JournalVerificationError):
        verify_consistency(m, n, proof, r1[:byte] + bytes([r1[byte] ^ 1]) + r1[byte + 1 :], r2)


def test_all_sizes_up_to_200_exhaustive_roots_and_proofs():
    leaves = _leaves(200)
    src = ListNodeSource.from_leaf_data(leaves)
    cr = CompactRange()
    roots = [cr.root()]
    for leaf in leaves:
        cr.append(leaf)
        roots.append(cr.root())
    for n in range(1, 201, 7):
        assert roots[n] == mth(leaves[:n])
        for i in range(0, n, max(1, n // 9)):
            verify_inclusion(i, n, hash_leaf(leaves[i]), inclusion_proof(src, i, n), roots[n])
        for m in range(1, n + 1, max(1, n // 9)):
            verify_consistency(m, n, consistency_proof(src, m, n), roots[m], roots[n])
