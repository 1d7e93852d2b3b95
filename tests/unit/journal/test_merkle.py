"""agp.journal.merkle against RFC 6962/9162 and the transparency-dev/merkle vectors, plus properties."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import struct
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
    consistency_proof_ranges,
    hash_children,
    hash_leaf,
    inclusion_proof,
    inclusion_proof_ranges,
    largest_power_of_two_below,
    mth,
    node_count,
    postorder_index,
    root_from_inclusion_proof,
    subtree_hash,
    verify_consistency,
    verify_inclusion,
)
from tests.support.cpu_ceiling import cpu_ceiling_fixture

VECTORS = json.loads((Path(__file__).parent / "vectors" / "transparency_dev_merkle.json").read_text())
LEAVES = [bytes.fromhex(x) for x in VECTORS["leaf_inputs_hex"]]
ROOTS = [bytes.fromhex(x) for x in VECTORS["root_hashes_hex"]]


def _b(x):
    return base64.b64decode(x) if x is not None else b""


def _all_hashes(*hs):
    return all(len(h) == 32 for h in hs)


def _proof(p):
    return [_b(x) for x in (p or [])]


# each test here fails, rather than hangs, past 5 s of its own CPU time (the slowest takes well
# under one): the verifiers loop over sizes and proofs that come from outside
_cpu_ceiling = cpu_ceiling_fixture(5.0)


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
        if not probe["wantErr"] and probe["file"].endswith("happy-path.json") and probe["size1"] > 0 and probe["size2"] <= 8:
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


# ------------------------------------------- the RFC recursion, written out as a reference
def _k(n: int) -> int:
    """RFC 6962's k: the largest power of two smaller than n, by counting up."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def _path(m: int, a: int, b: int) -> list[tuple[int, int]]:
    """RFC 9162 §2.1.3.1 PATH(m, D[a:b]) as leaf ranges, leaf upwards (m absolute)."""
    if b - a == 1:
        return []
    k = _k(b - a)
    if m < a + k:
        return [*_path(m, a, a + k), (a + k, b)]
    return [*_path(m, a + k, b), (a, a + k)]


def _subproof(m: int, a: int, b: int, complete: bool) -> list[tuple[int, int]]:
    """RFC 9162 §2.1.4.1 SUBPROOF(m, D[a:b], b) as leaf ranges (m relative to a)."""
    if m == b - a:
        return [] if complete else [(a, b)]
    k = _k(b - a)
    if m <= k:
        return [*_subproof(m, a, a + k, complete), (a + k, b)]
    return [*_subproof(m - k, a + k, b, False), (a, a + k)]


def test_largest_power_of_two_below_every_n_up_to_300():
    for n in range(2, 301):
        assert largest_power_of_two_below(n) == _k(n), n
    for n in (1, 0, -3):
        with pytest.raises(ValueError, match=f"needs n >= 2, found {n}"):
            largest_power_of_two_below(n)


def test_proof_ranges_are_the_rfc_recursion_for_every_size_up_to_40():
    for n in range(1, 41):
        for i in range(n):
            assert inclusion_proof_ranges(i, n) == _path(i, 0, n), (i, n)
        for m in range(1, n + 1):
            assert consistency_proof_ranges(m, n) == _subproof(m, 0, n, True), (m, n)


@pytest.mark.parametrize(("index", "size"), [(5, 5), (6, 5), (-1, 5), (0, 0)])
def test_inclusion_proof_ranges_refuse_a_leaf_outside_the_tree(index, size):
    with pytest.raises(ValueError, match=rf"^leaf index {index} is outside a tree of size {size}$"):
        inclusion_proof_ranges(index, size)


@pytest.mark.parametrize(("old", "new"), [(0, 0), (0, 5), (6, 5), (-1, 5)])
def test_consistency_proof_ranges_refuse_sizes_out_of_order(old, new):
    with pytest.raises(ValueError, match=rf"needs 0 < old size <= new size, found {old} and {new}$"):
        consistency_proof_ranges(old, new)


def test_subtree_hash_is_the_mth_of_every_aligned_range_and_refuses_the_others():
    leaves = _leaves(24)
    src = ListNodeSource.from_leaf_data(leaves)
    for start in range(24):
        for end in range(start + 1, 25):
            k = 1 << ((end - start).bit_length() - 1)  # the largest power of two <= the length
            if start % k == 0:
                assert subtree_hash(src, start, end) == mth(leaves[start:end]), (start, end)
            else:  # [1, 4) once came back as H(leaf 1, H(leaf 2, leaf 3)), which is not MTH(D[1:4])
                with pytest.raises(ValueError, match=rf"\[{start}, {end}\) is not a range of the RFC 6962 recursion"):
                    subtree_hash(src, start, end)
    with pytest.raises(ValueError, match="not a range of the RFC 6962 recursion"):
        subtree_hash(src, -4, 0)
    for start, end in ((3, 3), (4, 3)):
        with pytest.raises(ValueError, match=rf"^empty range \[{start}, {end}\)$"):
            subtree_hash(src, start, end)


def test_list_node_source_answers_only_complete_nodes():
    leaves = _leaves(5)
    src = ListNodeSource.from_leaf_data(leaves)
    assert src.size == 5
    assert src.node(2, 0) == mth(leaves[:4]) and src.node(0, 4) == hash_leaf(leaves[4])
    for level, index in ((3, 0), (2, 1), (0, 5)):
        with pytest.raises(ValueError, match=rf"^no complete node at level {level} index {index}$"):
            src.node(level, index)
    for level, index in ((-1, 0), (0, -1)):  # a negative list index would answer from the other end
        with pytest.raises(ValueError, match=rf"^no node at level {level} index {index}: both must be non-negative$"):
            src.node(level, index)
    one = ListNodeSource.from_leaf_data(leaves[:1])
    assert one.node(0, 0) == hash_leaf(leaves[0])
    with pytest.raises(ValueError, match="no complete node at level 1 index 0"):
        one.node(1, 0)


# ---------------------------------------------------- the compact range's own checks
def test_compact_range_refuses_inconsistent_state():
    h = hash_leaf(b"x")
    with pytest.raises(ValueError, match=r"^size must be non-negative$"):
        CompactRange(-1)
    with pytest.raises(ValueError, match=r"^a compact range of size 3 has 2 nodes, found 1$"):
        CompactRange(3, [h])
    for bad in (bytearray(h), h[:31], h + b"\0", "x" * 32):
        with pytest.raises(ValueError, match=r"^every node must be 32 bytes$"):
            CompactRange(1, [bad])


def test_compact_range_equality_needs_the_same_size_and_nodes():
    three = CompactRange.from_leaf_data(LEAVES[:3])
    assert three == three.copy() == CompactRange.from_bytes(three.to_bytes())
    assert three != CompactRange.from_leaf_data(LEAVES[:4])
    assert three != CompactRange.from_leaf_data([LEAVES[0], LEAVES[2], LEAVES[1]])
    h = hash_leaf(b"x")
    assert CompactRange(1, [h]) != CompactRange(2, [h])  # the same nodes, another size
    for other in ("not a compact range", None, three.to_bytes()):
        assert three != other


def test_compact_range_repr_shows_size_and_root_prefix():
    cr = CompactRange.from_leaf_data(LEAVES[:3])
    assert repr(cr) == f"CompactRange(size=3, root={ROOTS[3].hex()[:16]}…)"


def test_compact_range_serialization_edges():
    empty = CompactRange().to_bytes()
    assert empty == b"agp-cr1\n" + bytes(8)
    assert CompactRange.from_bytes(empty) == CompactRange()
    # the size is an unsigned 64-bit field: the top bit is a size, not a sign
    big = CompactRange(1 << 63, [hash_leaf(b"x")])
    blob = big.to_bytes()
    assert blob[8:16] == struct.pack(">Q", 1 << 63)
    assert CompactRange.from_bytes(blob) == big
    for bad in (b"agp-cr0\n" + bytes(8), b"Xgp-cr1\n" + bytes(40), b"agp-cr1\n" + bytes(7), b"agp-cr1\n"):
        with pytest.raises(ValueError, match=r"^not a serialized compact range \(bad magic or too short\)$"):
            CompactRange.from_bytes(bad)
    three = CompactRange.from_leaf_data(LEAVES[:3]).to_bytes()
    with pytest.raises(ValueError, match=r"^a compact range of size 3 needs 64 bytes of nodes, found 63$"):
        CompactRange.from_bytes(three[:-1])
    with pytest.raises(ValueError, match=r"^a compact range of size 3 needs 64 bytes of nodes, found 65$"):
        CompactRange.from_bytes(three + b"\0")


# ------------------------------------------------------- what the verifiers say, exactly
def _b64s(h: bytes) -> str:
    return base64.b64encode(h).decode()


@pytest.mark.parametrize(("index", "size"), [("0", 1), (0, "1"), (True, 2), (0, 1.0), (-1, 5), (0, -1), (-2, -1)])
def test_inclusion_refuses_sizes_that_are_not_non_negative_integers(index, size):
    with pytest.raises(JournalVerificationError,
                       match=rf"^leaf index and tree size must be non-negative integers, found {index!r} and {size!r}$"):
        verify_inclusion(index, size, hash_leaf(LEAVES[0]), [], ROOTS[1])


def test_inclusion_in_an_empty_tree_is_refused_as_outside():
    with pytest.raises(JournalVerificationError, match=r"^leaf index 0 is not inside a tree of size 0$"):
        root_from_inclusion_proof(0, 0, hash_leaf(LEAVES[0]), [])


def test_inclusion_says_which_hash_is_malformed_and_what_it_was():
    src = ListNodeSource.from_leaf_data(LEAVES)
    lh, proof = hash_leaf(LEAVES[2]), inclusion_proof(src, 2, 8)
    verify_inclusion(2, 8, lh, proof, ROOTS[8])
    cases = [
        ((2, 8, b"short", proof, ROOTS[8]), "the leaf hash must be a 32-byte SHA-256 hash, found 5"),
        ((2, 8, lh, [proof[0], b"x", proof[2]], ROOTS[8]), "inclusion proof hash 1 must be a 32-byte SHA-256 hash, found 1"),
        ((2, 8, lh, proof, None), "the root hash must be a 32-byte SHA-256 hash, found NoneType"),
        ((2, 8, lh, proof, bytearray(ROOTS[8])), "the root hash must be a 32-byte SHA-256 hash, found 32"),
        ((2, 8, lh, proof, ROOTS[8].hex()), "the root hash must be a 32-byte SHA-256 hash, found str"),
    ]
    for args, msg in cases:
        with pytest.raises(JournalVerificationError, match=f"^{msg}$"):
            verify_inclusion(*args)


@pytest.mark.parametrize(("s1", "s2"), [("3", 5), (3, "5"), (-1, 5), (3, -1), (True, 2), (1, 2.0)])
def test_consistency_refuses_sizes_that_are_not_non_negative_integers(s1, s2):
    with pytest.raises(JournalVerificationError,
                       match=rf"^tree sizes must be non-negative integers, found {s1!r} and {s2!r}$"):
        verify_consistency(s1, s2, [], ROOTS[1], ROOTS[2])


def test_consistency_from_the_empty_tree():
    verify_consistency(0, 0, [], EMPTY_ROOT, EMPTY_ROOT)
    for n in (1, 2, 5, 8):
        verify_consistency(0, n, [], EMPTY_ROOT, ROOTS[n])
    with pytest.raises(JournalVerificationError,
                       match=re.escape(f"a tree of size 0 has root {_b64s(EMPTY_ROOT)}, found {_b64s(ROOTS[1])}")):
        verify_consistency(0, 5, [], ROOTS[1], ROOTS[5])
    with pytest.raises(JournalVerificationError,
                       match=r"^a consistency proof from the empty tree must be empty, found 1 hashes$"):
        verify_consistency(0, 5, [ROOTS[5]], EMPTY_ROOT, ROOTS[5])


def test_consistency_says_which_hash_is_malformed():
    src = ListNodeSource.from_leaf_data(LEAVES)
    proof = consistency_proof(src, 3, 8)
    verify_consistency(3, 8, proof, ROOTS[3], ROOTS[8])
    cases = [
        ((3, 8, proof, b"short", ROOTS[8]), "the old root must be a 32-byte SHA-256 hash, found 5"),
        ((3, 8, proof, ROOTS[3], None), "the new root must be a 32-byte SHA-256 hash, found NoneType"),
        ((3, 8, [proof[0], b"xy", *proof[2:]], ROOTS[3], ROOTS[8]),
         "consistency proof hash 1 must be a 32-byte SHA-256 hash, found 2"),
    ]
    for args, msg in cases:
        with pytest.raises(JournalVerificationError, match=f"^{msg}$"):
            verify_consistency(*args)


def test_rewritten_history_is_named_as_such():
    rewritten = list(LEAVES)
    rewritten[0] = b"rewritten"
    proof = consistency_proof(ListNodeSource.from_leaf_data(rewritten), 3, 8)
    with pytest.raises(JournalVerificationError) as e:
        verify_consistency(3, 8, proof, ROOTS[3], mth(rewritten))
    assert str(e.value).endswith("(history before the old checkpoint was rewritten, or the proof is forged)")


def test_verifiers_answer_every_size_and_proof_shape_up_to_33():
    """Valid proofs pass, and proofs one hash short, one hash long, or meant for a neighbouring
    size are refused (the autouse CPU ceiling turns a verifier loop that never ends into a failure)."""
    leaves = _leaves(33)
    src = ListNodeSource.from_leaf_data(leaves)
    roots = [mth(leaves[:n]) for n in range(34)]
    extra = hashlib.sha256(b"extra").digest()
    for n in range(1, 34):
        for i in range(n):
            proof = inclusion_proof(src, i, n)
            verify_inclusion(i, n, hash_leaf(leaves[i]), proof, roots[n])
            for bad in (proof[:-1], [*proof, extra]):
                if bad != proof:
                    with pytest.raises(JournalVerificationError):
                        verify_inclusion(i, n, hash_leaf(leaves[i]), bad, roots[n])
        for m in range(n + 1):
            proof = consistency_proof(src, m, n) if m else []
            verify_consistency(m, n, proof, roots[m], roots[n])
            for bad in (proof[:-1], [*proof, extra]):
                if bad != proof:
                    with pytest.raises(JournalVerificationError):
                        verify_consistency(m, n, bad, roots[m], roots[n])
