"""RFC 6962 / RFC 9162 Merkle tree over journal entry hashes: pure functions, no I/O.

The tree's leaves are the journal's entries in ``seq`` order; the data of leaf
``i`` is the 32 raw bytes of entry ``i``'s ``hash``. Hashing follows RFC 6962
§2.1 with the domain-separation prefixes sigstore's ``_internal/merkle.py``
uses::

    leaf hash = SHA-256(0x00 || data)          node hash = SHA-256(0x01 || left || right)
    MTH({})   = SHA-256("")                    (the empty tree)

What lives here:

- :class:`CompactRange`: the O(log n) state that gives the root after each
  append (one perfect-subtree hash per set bit of the size). ``append`` costs
  one leaf hash plus, amortized, one node hash. Serializable (``to_bytes``).
- proof generation (RFC 9162 §2.1.3.1 PATH, §2.1.4.1 SUBPROOF) over any
  :class:`NodeSource` (perfect-subtree hashes by level and index), so that a
  file-backed store can answer in O(log n) reads;
- proof verification (RFC 9162 §2.1.3.2 and §2.1.4.2). Verification raises
  :class:`agp.errors.JournalVerificationError` saying what was expected and
  what was found; it never returns a bool.

The file-backed node store (``<journal>.tree``) is in :mod:`agp.journal.proofs`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
from collections.abc import Iterable, Sequence
from typing import Protocol

from agp.errors import JournalVerificationError

__all__ = (
    "EMPTY_ROOT",
    "HASH_SIZE",
    "LEAF_HASH_PREFIX",
    "NODE_HASH_PREFIX",
    "CompactRange",
    "ListNodeSource",
    "NodeSource",
    "consistency_proof",
    "consistency_proof_ranges",
    "hash_children",
    "hash_leaf",
    "inclusion_proof",
    "inclusion_proof_ranges",
    "largest_power_of_two_below",
    "mth",
    "node_count",
    "postorder_index",
    "root_from_inclusion_proof",
    "subtree_hash",
    "verify_consistency",
    "verify_inclusion",
)

#: RFC 6962 §2.1 domain separation (same names and values as sigstore-python's _internal/merkle.py)
LEAF_HASH_PREFIX = 0
NODE_HASH_PREFIX = 1
HASH_SIZE = 32
_LEAF = bytes([LEAF_HASH_PREFIX])
_NODE = bytes([NODE_HASH_PREFIX])
_sha256 = hashlib.sha256
EMPTY_ROOT = _sha256(b"").digest()


def hash_leaf(data: bytes) -> bytes:
    """RFC 6962 leaf hash: SHA-256(0x00 || data)."""
    return _sha256(_LEAF + data).digest()


def hash_children(left: bytes, right: bytes) -> bytes:
    """RFC 6962 interior node hash: SHA-256(0x01 || left || right)."""
    return _sha256(_NODE + left + right).digest()


def largest_power_of_two_below(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (``n`` >= 2): RFC 6962's ``k``."""
    if n < 2:
        raise ValueError(f"needs n >= 2, found {n}")
    return 1 << ((n - 1).bit_length() - 1)


def _b64(h: bytes) -> str:
    return base64.b64encode(h).decode("ascii")


# --------------------------------------------------------------- compact range
class CompactRange:
    """The right border of a Merkle tree: enough state to append and to compute the root.

    ``nodes`` holds the roots of the perfect subtrees that make up the tree,
    largest (leftmost) first: one per set bit of ``size``. Appending a leaf
    pushes its hash and merges equal-sized neighbours, exactly as adding 1 to
    a binary counter carries.
    """

    __slots__ = ("_nodes", "_size")

    _MAGIC = b"agp-cr1\n"

    def __init__(self, size: int = 0, nodes: Sequence[bytes] = ()) -> None:
        if size < 0:
            raise ValueError("size must be non-negative")
        nodes = list(nodes)
        if len(nodes) != bin(size).count("1"):
            raise ValueError(f"a compact range of size {size} has {bin(size).count('1')} nodes, found {len(nodes)}")
        for n in nodes:
            if type(n) is not bytes or len(n) != HASH_SIZE:
                raise ValueError("every node must be 32 bytes")
        self._size = size
        self._nodes = nodes

    @property
    def size(self) -> int:
        return self._size

    @property
    def nodes(self) -> tuple[bytes, ...]:
        return tuple(self._nodes)

    def append(self, leaf_data: bytes) -> bytes:
        """Append one leaf (its data, e.g. an entry's raw 32-byte hash); return its leaf hash.

        One SHA-256 for the leaf plus one per carry (amortized one): the hot path
        of ``Journal.append``, so it is written out rather than calling ``append_hash``.
        """
        leaf = h = _sha256(_LEAF + leaf_data).digest()
        size = self._size
        nodes = self._nodes
        while size & 1:
            h = _sha256(_NODE + nodes.pop() + h).digest()
            size >>= 1
        nodes.append(h)
        self._size += 1
        return leaf

    def append_hash(self, leaf_hash: bytes) -> list[bytes]:
        """Append a leaf by its leaf hash; return the interior nodes this completed (bottom-up)."""
        nodes = self._nodes
        size = self._size
        h = leaf_hash
        done: list[bytes] = []
        while size & 1:  # merge with equal-sized subtrees on the left (binary carry)
            h = _sha256(_NODE + nodes.pop() + h).digest()
            done.append(h)
            size >>= 1
        nodes.append(h)
        self._size += 1
        return done

    def root(self) -> bytes:
        """MTH of the leaves so far (SHA-256 of the empty string for an empty tree)."""
        nodes = self._nodes
        if not nodes:
            return EMPTY_ROOT
        h = nodes[-1]
        for n in reversed(nodes[:-1]):
            h = _sha256(_NODE + n + h).digest()
        return h

    def copy(self) -> CompactRange:
        return CompactRange(self._size, self._nodes)

    def to_bytes(self) -> bytes:
        """``b"agp-cr1\\n"`` || u64 big-endian size || the nodes (32 bytes each)."""
        return self._MAGIC + struct.pack(">Q", self._size) + b"".join(self._nodes)

    @classmethod
    def from_bytes(cls, data: bytes) -> CompactRange:
        m = cls._MAGIC
        if data[: len(m)] != m or len(data) < len(m) + 8:
            raise ValueError("not a serialized compact range (bad magic or too short)")
        (size,) = struct.unpack(">Q", data[len(m) : len(m) + 8])
        body = data[len(m) + 8 :]
        want = bin(size).count("1") * HASH_SIZE
        if len(body) != want:
            raise ValueError(f"a compact range of size {size} needs {want} bytes of nodes, found {len(body)}")
        return cls(size, [body[i : i + HASH_SIZE] for i in range(0, want, HASH_SIZE)])

    @classmethod
    def from_leaf_data(cls, leaves: Iterable[bytes]) -> CompactRange:
        cr = cls()
        for leaf in leaves:
            cr.append(leaf)
        return cr

    __hash__ = None  # type: ignore[assignment]  # mutable, so unhashable (as __eq__ alone already made it)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CompactRange) and self._size == other._size and self._nodes == other._nodes

    def __repr__(self) -> str:
        return f"CompactRange(size={self._size}, root={self.root().hex()[:16]}…)"


# ----------------------------------------------------------------- node sources
class NodeSource(Protocol):
    """Perfect-subtree hashes: ``node(level, index)`` covers leaves [index·2^level, (index+1)·2^level)."""

    def node(self, level: int, index: int) -> bytes: ...


class ListNodeSource:
    """An in-memory node source over a list of leaf hashes (for tests and small trees).

    Builds every level once: O(n) memory. The journal uses the file-backed
    store in :mod:`agp.journal.proofs` instead.
    """

    def __init__(self, leaf_hashes: Sequence[bytes]) -> None:
        levels = [list(leaf_hashes)]
        while len(levels[-1]) > 1:
            below = levels[-1]
            levels.append([hash_children(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)])
        self._levels = levels

    @classmethod
    def from_leaf_data(cls, leaves: Iterable[bytes]) -> ListNodeSource:
        return cls([hash_leaf(d) for d in leaves])

    @property
    def size(self) -> int:
        return len(self._levels[0])

    def node(self, level: int, index: int) -> bytes:
        if level < 0 or index < 0:  # a negative list index would answer with a node from the other end
            raise ValueError(f"no node at level {level} index {index}: both must be non-negative")
        try:
            return self._levels[level][index]
        except IndexError:
            raise ValueError(f"no complete node at level {level} index {index}") from None


def node_count(leaves: int) -> int:
    """Number of perfect-subtree nodes (leaves included) in a tree of ``leaves`` leaves: 2n − popcount(n)."""
    return 2 * leaves - bin(leaves).count("1")


def postorder_index(level: int, index: int) -> int:
    """Position of node (level, index) when the nodes are stored in post-order as leaves are appended.

    The nodes before it are those of the perfect subtrees left of its first
    leaf, plus its own descendants: ``node_count(index << level) + 2^(level+1) − 2``.
    """
    first = index << level
    return node_count(first) + (1 << (level + 1)) - 2


def subtree_hash(src: NodeSource, start: int, end: int) -> bytes:
    """MTH(D[start:end]) for a range that RFC 6962's recursion produces (``start`` aligned).

    The range splits into perfect subtrees, largest first; they fold right to
    left, as the RFC's unbalanced split does. That equals MTH(D[start:end]) only
    when ``start`` is a multiple of the largest power of two <= ``end - start``
    (as every range of the recursion is); any other range is refused, since no
    fold of the tree's nodes gives its MTH.
    """
    if end <= start:
        raise ValueError(f"empty range [{start}, {end})")
    if start < 0 or start & ((1 << ((end - start).bit_length() - 1)) - 1):
        raise ValueError(f"[{start}, {end}) is not a range of the RFC 6962 recursion (start not aligned)")
    parts: list[bytes] = []
    a = start
    while a < end:  # each part is aligned: a stays a multiple of the (shrinking) part size
        level = (end - a).bit_length() - 1
        parts.append(src.node(level, a >> level))
        a += 1 << level
    h = parts[-1]
    for p in reversed(parts[:-1]):
        h = hash_children(p, h)
    return h


def mth(leaf_data: Sequence[bytes]) -> bytes:
    """Reference MTH straight from RFC 6962 §2.1 (recursive; for tests)."""
    n = len(leaf_data)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return hash_leaf(leaf_data[0])
    k = largest_power_of_two_below(n)
    return hash_children(mth(leaf_data[:k]), mth(leaf_data[k:]))


# ------------------------------------------------------------ proof generation
def inclusion_proof_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The leaf ranges [a, b) whose MTH make up PATH(index, D[0:size]), in proof order (leaf upwards)."""
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is outside a tree of size {size}")
    out: list[tuple[int, int]] = []
    a, b = 0, size
    while b - a > 1:
        k = largest_power_of_two_below(b - a)
        if index < a + k:
            out.append((a + k, b))
            b = a + k
        else:
            out.append((a, a + k))
            a = a + k
    out.reverse()
    return out


def consistency_proof_ranges(old_size: int, new_size: int) -> list[tuple[int, int]]:
    """The leaf ranges [a, b) whose MTH make up PROOF(old_size, D[0:new_size]), in proof order.

    The ranges are disjoint, so a streaming verifier can compute them in one pass.
    """
    if not 0 < old_size <= new_size:
        raise ValueError(f"a consistency proof needs 0 < old size <= new size, found {old_size} and {new_size}")
    out: list[tuple[int, int]] = []
    a, b, complete = 0, new_size, True
    while True:
        if old_size == b:
            if not complete:
                out.append((a, b))
            break
        k = largest_power_of_two_below(b - a)
        if old_size <= a + k:
            out.append((a + k, b))
            b = a + k
        else:
            out.append((a, a + k))
            a = a + k
            complete = False
    out.reverse()
    return out


def inclusion_proof(src: NodeSource, index: int, size: int) -> list[bytes]:
    """RFC 9162 §2.1.3.1 PATH(index, D[0:size]): sibling hashes from the leaf up."""
    return [subtree_hash(src, a, b) for a, b in inclusion_proof_ranges(index, size)]


def consistency_proof(src: NodeSource, old_size: int, new_size: int) -> list[bytes]:
    """RFC 9162 §2.1.4.1 PROOF(old_size, D[0:new_size]) = SUBPROOF(m, D[n], true)."""
    return [subtree_hash(src, a, b) for a, b in consistency_proof_ranges(old_size, new_size)]


# ---------------------------------------------------------------- verification
def _check_hash(h: object, what: str) -> bytes:
    if type(h) is not bytes or len(h) != HASH_SIZE:
        n = len(h) if isinstance(h, (bytes, bytearray)) else type(h).__name__
        raise JournalVerificationError(f"{what} must be a 32-byte SHA-256 hash, found {n}")
    return h


def root_from_inclusion_proof(index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes]) -> bytes:
    """The root an inclusion proof implies (RFC 9162 §2.1.3.2 steps 1–4). Raises on a malformed proof."""
    if type(index) is not int or type(size) is not int or index < 0 or size < 0:
        raise JournalVerificationError(
            f"leaf index and tree size must be non-negative integers, found {index!r} and {size!r}"
        )
    if index >= size:
        raise JournalVerificationError(f"leaf index {index} is not inside a tree of size {size}")
    _check_hash(leaf_hash, "the leaf hash")
    fn, sn = index, size - 1
    r = leaf_hash
    for i, p in enumerate(proof):
        _check_hash(p, f"inclusion proof hash {i}")
        if sn == 0:
            raise JournalVerificationError(
                f"inclusion proof has {len(proof)} hashes, but a leaf at index {index} of a tree of size {size} needs {i}"
            )
        if fn & 1 or fn == sn:
            r = _sha256(_NODE + p + r).digest()
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = _sha256(_NODE + r + p).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise JournalVerificationError(
            f"inclusion proof for leaf {index} of a tree of size {size} is too short ({len(proof)} hashes)"
        )
    return r


def verify_inclusion(index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes], root: bytes) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree of ``size`` leaves with ``root``. Raises."""
    _check_hash(root, "the root hash")
    got = root_from_inclusion_proof(index, size, leaf_hash, proof)
    if not hmac.compare_digest(got, root):
        raise JournalVerificationError(
            f"inclusion proof for leaf {index} of tree size {size} does not lead to the root: "
            f"expected {_b64(root)}, computed {_b64(got)}"
        )


def verify_consistency(size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes) -> None:
    """Check that the tree (size2, root2) extends the tree (size1, root1): RFC 9162 §2.1.4.2. Raises.

    Edge cases as in transparency-dev/merkle: equal sizes need an empty proof
    and equal roots; an old size of 0 is consistent with anything only with an
    empty proof (tlog-witness); size1 > size2 is refused.
    """
    for s in (size1, size2):
        if type(s) is not int or s < 0:
            raise JournalVerificationError(f"tree sizes must be non-negative integers, found {size1!r} and {size2!r}")
    _check_hash(root1, "the old root")
    _check_hash(root2, "the new root")
    if size2 < size1:
        raise JournalVerificationError(
            f"the new tree size {size2} is smaller than the old size {size1}: not an extension"
        )
    if size1 == size2:
        if proof:
            raise JournalVerificationError(
                f"both trees have size {size1}, so the consistency proof must be empty, found {len(proof)} hashes"
            )
        if not hmac.compare_digest(root1, root2):
            raise JournalVerificationError(
                f"two different roots for the same tree size {size1}: expected {_b64(root1)}, found {_b64(root2)} (a fork)"
            )
        return
    if size1 == 0:
        if proof:
            raise JournalVerificationError(
                f"a consistency proof from the empty tree must be empty, found {len(proof)} hashes"
            )
        if not hmac.compare_digest(root1, EMPTY_ROOT):
            raise JournalVerificationError(f"a tree of size 0 has root {_b64(EMPTY_ROOT)}, found {_b64(root1)}")
        return
    if not proof:
        raise JournalVerificationError(f"the consistency proof from size {size1} to {size2} is empty")
    path = list(proof)
    for i, p in enumerate(path):
        _check_hash(p, f"consistency proof hash {i}")
    if size1 & (size1 - 1) == 0:  # an exact power of two: the old root is itself a node of the new tree
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise JournalVerificationError(
                f"consistency proof from size {size1} to {size2} is too long ({len(proof)} hashes)"
            )
        if fn & 1 or fn == sn:
            fr = _sha256(_NODE + c + fr).digest()
            sr = _sha256(_NODE + c + sr).digest()
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = _sha256(_NODE + sr + c).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise JournalVerificationError(
            f"consistency proof from size {size1} to {size2} is too short ({len(proof)} hashes)"
        )
    if not hmac.compare_digest(fr, root1):
        raise JournalVerificationError(
            f"consistency proof does not reproduce the old root of size {size1}: expected {_b64(root1)}, computed {_b64(fr)} "
            "(history before the old checkpoint was rewritten, or the proof is forged)"
        )
    if not hmac.compare_digest(sr, root2):
        raise JournalVerificationError(
            f"consistency proof does not reproduce the new root of size {size2}: expected {_b64(root2)}, computed {_b64(sr)}"
        )
