"""Inclusion and consistency proofs for a journal file, and their offline verification.

The journal's Merkle tree (see :mod:`agp.journal.merkle`): leaf ``i`` is the
32 raw bytes of line ``i``'s ``hash`` member (= entry ``seq`` ``i`` in a valid
journal); the log's checkpoint origin and key name is
:func:`agp.journal.checkpoint.journal_origin` of entry 0's hash.

Sidecar ``<journal>.tree`` (a cache, never a trust anchor; delete it and it is
rebuilt from the journal on the next proof)::

    bytes 0..15   b"agp-tree/v1\\n\\0\\0\\0\\0"
    bytes 16..47  raw hash of entry 0 (ties the file to one journal)
    bytes 48..63  zero
    then every perfect-subtree node, 32 bytes each, in post-order: the order
    in which appending leaves completes them (leaf, then the parents it
    completes). Node (level, index) is at 64 + 32 · postorder_index(level, index).

and ``<journal>.tree.idx``: one u64 big-endian per entry, the byte offset in
the journal just past that entry's newline (to read entry ``seq`` back).

A tree of ``n`` leaves takes 2n − popcount(n) nodes (≈ 64 bytes an entry) plus
8 bytes of index. Proof generation reads O(log n) nodes with ``pread``.
:meth:`TreeFile.sync` appends what the journal gained since the last call (it
reads only complete lines, so it can run while the journal is being written)
and rebuilds from scratch when the journal no longer matches (another genesis,
a shorter file, a different last entry). Every proof is checked against a
signed checkpoint before anyone trusts it, so a stale or forged sidecar can
make proving fail, never make a verifier accept.

Verification functions raise :class:`agp.errors.JournalVerificationError`
(expected vs. found) and return data about what they verified, never a bool.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import json
import os
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agp.errors import JournalVerificationError, UsageError
from agp.journal import _crypto
from agp.journal.canonical import CanonicalizationError
from agp.journal.canonical import loads as canonical_loads
from agp.journal.chain import GENESIS_PREV, Entry, EntryFormatError, parse_entry
from agp.journal.checkpoint import (
    SIG_TYPE_COSIGNATURE_V1,
    SIG_TYPE_ED25519,
    Checkpoint,
    VerifierKey,
    _public_raw,
    format_checkpoint,
    journal_origin,
    parse_checkpoint_body,
    parse_unverified_note,
    parse_vkey,
    sign_checkpoint,
    verify_cosignature,
    verify_note,
)
from agp.journal.head import head_path_for, read_head
from agp.journal.merkle import (
    HASH_SIZE,
    CompactRange,
    consistency_proof,
    consistency_proof_ranges,
    hash_leaf,
    inclusion_proof,
    node_count,
    postorder_index,
    subtree_hash,
    verify_inclusion,
)
from agp.journal.merkle import (
    verify_consistency as merkle_verify_consistency,
)

__all__ = (
    "CHECKPOINT_SUFFIX",
    "TLOG_PROOF_HEADER",
    "TREE_SUFFIX",
    "ConsistencyProof",
    "ConsistencyReport",
    "InclusionProof",
    "TreeFile",
    "VerifiedEntry",
    "WitnessReport",
    "compact_range_for",
    "journal_checkpoint",
    "prove_consistency",
    "prove_inclusion",
    "read_checkpoint",
    "read_checkpoints",
    "require_witnesses",
    "verify_consistency",
    "verify_entry",
    "write_checkpoint",
)

TREE_SUFFIX = ".tree"
CHECKPOINT_SUFFIX = ".checkpoint"
TLOG_PROOF_HEADER = "c2sp.org/tlog-proof@v1"
_MAGIC = b"agp-tree/v1\n\0\0\0\0"
_HEADER = 64
_READ = 1 << 20
_FLUSH = 1 << 20


# ------------------------------------------------------------------ the sidecar
def _line_hash(line: bytes, lineno: int) -> bytes:
    """The raw 32-byte ``hash`` member of one journal line (parsed as JSON, as the verifier does)."""
    try:
        obj = json.loads(line)
        h = obj["hash"]
        if type(h) is not str or len(h) != 64 or h != h.lower():
            raise ValueError("hash is not 64 lowercase hex digits")
        return bytes.fromhex(h)
    except (ValueError, KeyError, TypeError) as exc:
        raise JournalVerificationError(f"not a journal entry ({exc})", line=lineno) from None


def _leaves_for_nodes(n_nodes: int) -> int:
    """The largest leaf count m with node_count(m) <= n_nodes (node_count is strictly increasing)."""
    lo, hi = 0, n_nodes
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if node_count(mid) <= n_nodes:
            lo = mid
        else:
            hi = mid - 1
    return lo


class TreeFile:
    """The file-backed Merkle tree of one journal (a :class:`agp.journal.merkle.NodeSource`)."""

    def __init__(self, journal_path: str | os.PathLike[str]) -> None:
        self.journal_path = Path(journal_path)
        self.path = Path(str(journal_path) + TREE_SUFFIX)
        self.idx_path = Path(str(journal_path) + TREE_SUFFIX + ".idx")
        self._fd: int | None = None
        self._idx_fd: int | None = None
        self.leaves = 0
        self.rebuilt = False

    # -- lifecycle
    @classmethod
    def open(cls, journal_path: str | os.PathLike[str], *, sync: bool = True) -> TreeFile:
        t = cls(journal_path)
        if not t.journal_path.is_file():
            raise UsageError(f"no journal file at {t.journal_path}")
        try:
            t._fd = os.open(t.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            t._idx_fd = os.open(t.idx_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            t.close()
            raise JournalVerificationError(f"cannot open the proof sidecar {t.path}: {exc.strerror}") from exc
        if sync:
            try:
                t.sync()
            except BaseException:
                t.close()
                raise
        return t

    def close(self) -> None:
        for name in ("_fd", "_idx_fd"):
            fd = getattr(self, name)
            if fd is not None:
                os.close(fd)
                setattr(self, name, None)

    def __enter__(self) -> TreeFile:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- reading
    def node(self, level: int, index: int) -> bytes:
        if (index + 1) << level > self.leaves:
            raise ValueError(f"node ({level}, {index}) is beyond the {self.leaves} leaves in {self.path}")
        if self._fd is None:
            raise RuntimeError("internal error: self._fd is not set")
        b = os.pread(self._fd, HASH_SIZE, _HEADER + HASH_SIZE * postorder_index(level, index))
        if len(b) != HASH_SIZE:
            raise JournalVerificationError(f"{self.path} is truncated at node ({level}, {index})")
        return b

    def root_at(self, size: int) -> bytes:
        if not 0 <= size <= self.leaves:
            raise ValueError(f"size {size} is outside 0..{self.leaves}")
        return subtree_hash(self, 0, size) if size else CompactRange().root()

    def compact_range(self, size: int | None = None) -> CompactRange:
        """The compact range (right border) at ``size`` leaves (default: all)."""
        size = self.leaves if size is None else size
        nodes, a = [], 0
        for level in range(size.bit_length() - 1, -1, -1):
            if size >> level & 1:
                nodes.append(self.node(level, a >> level))
                a += 1 << level
        return CompactRange(size, nodes)

    def _offset(self, i: int) -> int:
        """Byte offset just past line ``i``'s newline (``_offset(-1)`` = 0)."""
        if i < 0:
            return 0
        if self._idx_fd is None:
            raise RuntimeError("internal error: self._idx_fd is not set")
        b = os.pread(self._idx_fd, 8, 8 * i)
        if len(b) != 8:
            raise JournalVerificationError(f"{self.idx_path} is truncated at entry {i}")
        return int.from_bytes(b, "big")  # uint64, big-endian

    def entry_line(self, seq: int) -> bytes:
        """Line ``seq`` of the journal (without its newline), read through the index."""
        if not 0 <= seq < self.leaves:
            raise UsageError(f"entry {seq} is not in the journal (it has {self.leaves} entries)")
        start, end = self._offset(seq - 1), self._offset(seq)
        with open(self.journal_path, "rb") as f:
            f.seek(start)
            data = f.read(end - start)
        if len(data) != end - start or not data.endswith(b"\n"):
            raise JournalVerificationError(f"the journal changed under its index at entry {seq}", seq=seq)
        return data[:-1]

    # -- writing
    def _reset(self, genesis: bytes) -> None:
        if self._fd is None or self._idx_fd is None:
            raise RuntimeError("internal error: the tree files are not open")
        os.ftruncate(self._fd, 0)
        os.ftruncate(self._idx_fd, 0)
        os.pwrite(self._fd, _MAGIC + genesis + bytes(16), 0)
        self.leaves = 0
        self.rebuilt = True

    def sync(self, *, rebuild: bool = False) -> int:
        """Bring the sidecar up to date with the journal's complete lines; return the leaf count.

        ``rebuild`` first empties it, so every node is recomputed from the journal.
        """
        if self._fd is None or self._idx_fd is None:
            raise RuntimeError("internal error: the tree files are not open")
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            if not rebuild:
                return self._sync_locked()
            self._reset(bytes.fromhex(_journal_genesis_hex(self.journal_path)))
            n = self._sync_locked()
            self.rebuilt = True  # _sync_locked reports only the rebuilds it decided on itself
            return n
        except OSError as exc:
            raise JournalVerificationError(f"cannot update the proof sidecar {self.path}: {exc.strerror}") from exc
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _sync_locked(self) -> int:
        fd, ifd = self._fd, self._idx_fd
        if fd is None or ifd is None:
            raise RuntimeError("internal error: the tree files are not open")
        self.rebuilt = False
        with open(self.journal_path, "rb") as jf:
            jsize = os.fstat(jf.fileno()).st_size
            first = jf.readline()
            if not first.endswith(b"\n"):
                self.leaves = 0
                os.ftruncate(fd, 0)
                os.ftruncate(ifd, 0)
                return 0
            genesis = _line_hash(first[:-1], 1)
            header = os.pread(fd, _HEADER, 0)
            if header[:16] != _MAGIC or header[16:48] != genesis:
                self._reset(genesis)
            tsize, isize = os.fstat(fd).st_size, os.fstat(ifd).st_size
            m = min(_leaves_for_nodes(max(0, tsize - _HEADER) // HASH_SIZE), isize // 8)
            self.leaves = m
            if m:
                end = self._offset(m - 1)
                ok = end <= jsize
                if ok:
                    start = self._offset(m - 2)
                    jf.seek(start)
                    line = jf.read(end - start)
                    ok = line.endswith(b"\n") and hash_leaf(_line_hash(line[:-1], m)) == self.node(0, m - 1)
                if not ok:
                    self._reset(genesis)
                    m = 0
            os.ftruncate(fd, _HEADER + HASH_SIZE * node_count(m))
            os.ftruncate(ifd, 8 * m)
            cr = self.compact_range(m)
            offset = self._offset(m - 1)
            jf.seek(offset)
            nodes_out, idx_out = bytearray(), bytearray()
            npos, ipos = _HEADER + HASH_SIZE * node_count(m), 8 * m
            pending = b""
            lineno = m
            while True:
                block = jf.read(_READ)
                if not block:
                    break
                data = pending + block
                cut = data.rfind(b"\n") + 1
                if cut == 0:
                    pending = data
                    continue
                pending = data[cut:]
                pos = 0
                for line in data[:cut].split(b"\n")[:-1]:
                    lineno += 1
                    lh = hash_leaf(_line_hash(line, lineno))
                    nodes_out += lh
                    for n in cr.append_hash(lh):
                        nodes_out += n
                    pos += len(line) + 1
                    idx_out += struct.pack(">Q", offset + pos)
                offset += cut
                if len(nodes_out) >= _FLUSH:
                    npos, ipos = self._flush(nodes_out, idx_out, npos, ipos)
            self._flush(nodes_out, idx_out, npos, ipos)
            self.leaves = cr.size
            return self.leaves

    def _flush(self, nodes_out: bytearray, idx_out: bytearray, npos: int, ipos: int) -> tuple[int, int]:
        if self._fd is None or self._idx_fd is None:
            raise RuntimeError("internal error: the tree files are not open")
        if nodes_out:
            _pwrite_all(self._fd, bytes(nodes_out), npos)
            npos += len(nodes_out)
            nodes_out.clear()
        if idx_out:
            _pwrite_all(self._idx_fd, bytes(idx_out), ipos)
            ipos += len(idx_out)
            idx_out.clear()
        return npos, ipos


def _pwrite_all(fd: int, data: bytes, pos: int) -> None:
    view = memoryview(data)
    while view:
        n = os.pwrite(fd, view, pos)
        view = view[n:]
        pos += n


def compact_range_for(journal_path: str | os.PathLike[str]) -> CompactRange:
    """The compact range over every complete line of the journal (syncs the sidecar; for Journal.open)."""
    with TreeFile.open(journal_path) as t:
        return t.compact_range()


# ------------------------------------------------------------------ checkpoints
def _journal_genesis_hex(journal_path: Path) -> str:
    with open(journal_path, "rb") as f:
        first = f.readline()
    if not first.endswith(b"\n"):
        raise JournalVerificationError(f"journal {journal_path} has no complete first entry", line=1)
    return _line_hash(first[:-1], 1).hex()


def read_checkpoints(journal_path: str | os.PathLike[str]) -> list[str]:
    """Every checkpoint note the journal keeps (unverified): the head's ``checkpoint`` member, ``<journal>.checkpoint``."""
    out: list[str] = []
    try:
        head = read_head(head_path_for(journal_path))
    except ValueError:
        head = None
    if head is not None:
        note = dict(head.extra).get("checkpoint")
        if isinstance(note, str):
            out.append(note)
    p = Path(str(journal_path) + CHECKPOINT_SUFFIX)
    if p.is_file():
        out.append(p.read_text(encoding="utf-8"))
    return out


def read_checkpoint(journal_path: str | os.PathLike[str]) -> str | None:
    """The journal's newest checkpoint note (unverified), from its head or ``<journal>.checkpoint``."""
    notes = read_checkpoints(journal_path)
    return max(notes, key=_unverified_size) if notes else None


def _unverified_size(note: str) -> int:
    try:
        return parse_checkpoint_body(parse_unverified_note(note).text)[1]
    except JournalVerificationError:
        return -1


def _roots_from_journal(journal_path: Path, sizes: Iterable[int] = ()) -> tuple[CompactRange, dict[int, bytes]]:
    """Stream the journal itself (never the sidecar): the final compact range and the roots at ``sizes``."""
    want = set(sizes)
    roots: dict[int, bytes] = {}
    cr = CompactRange()
    if 0 in want:
        roots[0] = cr.root()
    for _, _, raw in _stream_entries(journal_path):
        cr.append(raw)
        if cr.size in want:
            roots[cr.size] = cr.root()
    return cr, roots


def journal_checkpoint(
    journal_path: str | os.PathLike[str], key: Any, *, size: int | None = None, extensions: Iterable[str] = ()
) -> str:
    """Sign a checkpoint of the journal's tree (at ``size``, default: every complete line) with the log key.

    The root is computed from the journal (every entry's hash and chain link
    rechecked), never from the sidecar: a log signs only what it recomputed.
    """
    p = Path(journal_path)
    cr, roots = _roots_from_journal(p, [size] if size is not None else [])
    n = cr.size if size is None else size
    if not 0 < n <= cr.size:
        raise UsageError(f"checkpoint size {n} is outside 1..{cr.size}")
    root = cr.root() if size is None else roots[n]
    origin = journal_origin(_journal_genesis_hex(p))
    return sign_checkpoint(format_checkpoint(origin, n, root, tuple(extensions)), key, origin)


def write_checkpoint(journal_path: str | os.PathLike[str], key: Any) -> str:
    """Sign the current tree and replace ``<journal>.checkpoint`` atomically.

    Refuses (JournalVerificationError) when the journal is not consistent with
    a checkpoint it already keeps (head or file): a log must never sign two
    inconsistent views.
    """
    p = Path(journal_path)
    out = Path(str(p) + CHECKPOINT_SUFFIX)
    previous = []
    for note in read_checkpoints(p):
        # our own earlier statements (perhaps under a key since rotated)
        _, size, root, _ = parse_checkpoint_body(parse_unverified_note(note).text)
        previous.append((size, root))
    cr, roots = _roots_from_journal(p, [s for s, _ in previous])
    for size, root in previous:
        if size > cr.size:
            raise JournalVerificationError(
                f"the journal has {cr.size} entries but its last checkpoint covers {size}: truncated; refusing to sign"
            )
        if roots[size] != root:
            raise JournalVerificationError(
                f"the journal's first {size} entries have Merkle root {_b64(roots[size])}, but its last checkpoint "
                f"says {_b64(root)}: history was rewritten; refusing to sign"
            )
    origin = journal_origin(_journal_genesis_hex(p))
    note = sign_checkpoint(format_checkpoint(origin, cr.size, cr.root()), key, origin)
    tmp = out.with_name(out.name + f".tmp.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, note.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, out)
    return note


def _b64(h: bytes) -> str:
    return base64.b64encode(h).decode("ascii")


# --------------------------------------------------------------------- proofs
@dataclass(frozen=True)
class InclusionProof:
    """An inclusion proof in the C2SP tlog-proof format, carrying the entry line as its ``extra`` data.

    ``index`` is the entry's seq; ``checkpoint`` is the signed note the proof
    leads to (unverified until :func:`verify_entry` opens it).
    """

    index: int
    hashes: tuple[bytes, ...]
    checkpoint: str
    entry: bytes | None = None

    @property
    def tree_size(self) -> int:
        return _unverified_size(self.checkpoint)

    def to_text(self) -> str:
        lines = [TLOG_PROOF_HEADER]
        if self.entry is not None:
            lines.append("extra " + _b64(self.entry))
        lines.append(f"index {self.index}")
        lines += [_b64(h) for h in self.hashes]
        return "\n".join(lines) + "\n\n" + self.checkpoint

    @classmethod
    def from_text(cls, text: str) -> InclusionProof:
        head, sep, note = text.partition("\n\n")
        lines = head.split("\n")
        if not sep or not lines or lines[0] != TLOG_PROOF_HEADER:
            raise JournalVerificationError(
                f"not a tlog-proof: the first line must be {TLOG_PROOF_HEADER!r} and a blank line must precede the checkpoint"
            )
        i = 1
        entry = None
        try:
            if i < len(lines) and lines[i].startswith("extra "):
                entry = base64.b64decode(lines[i][6:], validate=True)
                i += 1
            if i >= len(lines) or not lines[i].startswith("index "):
                raise ValueError("missing 'index N' line")
            idx_s = lines[i][6:]
            if not idx_s.isdigit() or (len(idx_s) > 1 and idx_s[0] == "0"):
                raise ValueError(f"bad index {idx_s!r}")
            hashes = tuple(base64.b64decode(h, validate=True) for h in lines[i + 1 :])
        except (ValueError, binascii.Error) as exc:
            raise JournalVerificationError(f"malformed tlog-proof: {exc}") from None
        if any(len(h) != HASH_SIZE for h in hashes):
            raise JournalVerificationError("malformed tlog-proof: every proof line must be a 32-byte hash")
        return cls(index=int(idx_s), hashes=hashes, checkpoint=note, entry=entry)


@dataclass(frozen=True)
class ConsistencyProof:
    """A consistency proof; text form is the tlog-witness add-checkpoint prefix ``old N`` + hash lines."""

    old_size: int
    new_size: int
    hashes: tuple[bytes, ...]

    def to_text(self) -> str:
        return f"old {self.old_size}\n" + "".join(_b64(h) + "\n" for h in self.hashes)

    @classmethod
    def from_text(cls, text: str, new_size: int) -> ConsistencyProof:
        lines = text.rstrip("\n").split("\n") if text.strip() else []
        if not lines or not lines[0].startswith("old "):
            raise JournalVerificationError("malformed consistency proof: the first line must be 'old N'")
        s = lines[0][4:]
        if not s.isdigit() or (len(s) > 1 and s[0] == "0"):
            raise JournalVerificationError(f"malformed consistency proof: bad old size {s!r}")
        try:
            hashes = tuple(base64.b64decode(h, validate=True) for h in lines[1:])
        except (ValueError, binascii.Error):
            raise JournalVerificationError("malformed consistency proof: a hash line is not base64") from None
        if len(hashes) > 63 or any(len(h) != HASH_SIZE for h in hashes):
            raise JournalVerificationError("malformed consistency proof: at most 63 lines of 32-byte hashes")
        return cls(int(s), new_size, hashes)


def prove_inclusion(journal_path: str | os.PathLike[str], seq: int, *, checkpoint: str | None = None) -> InclusionProof:
    """An inclusion proof of entry ``seq`` against the journal's newest checkpoint (or the one given).

    Raises UsageError when there is no checkpoint or it does not cover ``seq``,
    JournalVerificationError when the journal does not match the checkpoint.
    """
    p = Path(journal_path)
    note = checkpoint if checkpoint is not None else read_checkpoint(p)
    if note is None:
        raise UsageError(
            f"no checkpoint for {p}: neither its head nor {p}{CHECKPOINT_SUFFIX} has one "
            f"(write one with `agp journal checkpoint --journal {p} --key-dir DIR`)"
        )
    _origin, size, root, _ = parse_checkpoint_body(parse_unverified_note(note).text)
    if type(seq) is not int or seq < 0:
        raise UsageError(f"entry seq must be a non-negative integer, found {seq!r}")
    if seq >= size:
        raise UsageError(f"entry {seq} is not covered by the checkpoint (tree size {size}); write a newer checkpoint")
    with TreeFile.open(p) as t:
        for attempt in (1, 2):
            if t.leaves < size:
                raise JournalVerificationError(
                    f"the journal has {t.leaves} entries but the checkpoint covers {size}: truncated"
                )
            got = t.root_at(size)
            if got == root:
                break
            if attempt == 1 and not t.rebuilt:  # a stale sidecar: rebuild once from the journal
                t._reset(bytes.fromhex(_journal_genesis_hex(p)))
                t.sync()
                continue
            raise JournalVerificationError(
                f"the journal's first {size} entries have Merkle root {_b64(got)}, the checkpoint says {_b64(root)}"
            )
        hashes = inclusion_proof(t, seq, size)
        line = t.entry_line(seq)
    return InclusionProof(index=seq, hashes=tuple(hashes), checkpoint=note, entry=line)


def prove_consistency(
    journal_path: str | os.PathLike[str], old_size: int, new_size: int | None = None, *, rebuild: bool = False
) -> ConsistencyProof:
    """A consistency proof from ``old_size`` to ``new_size`` (default: the newest checkpoint's size)."""
    p = Path(journal_path)
    if new_size is None:
        note = read_checkpoint(p)
        if note is None:
            raise UsageError(f"no checkpoint for {p}; give the new size or write a checkpoint")
        new_size = _unverified_size(note)
    if not 0 <= old_size <= new_size:
        raise UsageError(f"a consistency proof needs 0 <= old size <= new size, found {old_size} and {new_size}")
    if old_size in (0, new_size):
        return ConsistencyProof(old_size, new_size, ())
    with TreeFile.open(p, sync=False) as t:
        if rebuild:
            t._reset(bytes.fromhex(_journal_genesis_hex(p)))
        t.sync()
        if t.leaves < new_size:
            raise JournalVerificationError(f"the journal has {t.leaves} entries, fewer than the new size {new_size}")
        return ConsistencyProof(old_size, new_size, tuple(consistency_proof(t, old_size, new_size)))


# ---------------------------------------------------------------- verification
def _log_keys(pubkey: Any, origin: str) -> list[VerifierKey]:
    """The log's public key(s) as note verifiers named after ``origin``.

    Accepts an agp PublicKey, raw bytes, a cryptography key, a vkey, or an
    iterable of these / a Keyring (every key of a rotated journal).
    """
    if isinstance(pubkey, VerifierKey):
        return [pubkey]
    if isinstance(pubkey, str):
        return [parse_vkey(pubkey)]
    if hasattr(pubkey, "values") and callable(pubkey.values):  # a Keyring (Mapping kid -> PublicKey)
        pubkey = list(pubkey.values())
    if isinstance(pubkey, (list, tuple)):
        out: list[VerifierKey] = []
        for k in pubkey:
            out += _log_keys(k, origin)
        if not out:
            raise UsageError("no log public key given")
        return out
    return [VerifierKey(origin, SIG_TYPE_ED25519, _public_raw(pubkey))]


def _entry_keys(pubkey: Any) -> dict[str, Any]:
    """kid -> agp PublicKey for checking entry signatures."""
    from agp.journal.keys import PublicKey

    if hasattr(pubkey, "values") and callable(pubkey.values):
        return {k.kid: k for k in pubkey.values()}
    keys = pubkey if isinstance(pubkey, (list, tuple)) else [pubkey]
    out = {}
    for k in keys:
        if isinstance(k, (str, VerifierKey)):
            continue  # a vkey names the log key for notes; entries need the agp key
        pk = k if isinstance(k, PublicKey) else PublicKey.from_raw(_public_raw(k))
        out[pk.kid] = pk
    return out


def _open_log_checkpoint(note: str, pubkey: Any, origin: str | None = None) -> Checkpoint:
    """Open a checkpoint signed by any of the log's keys (a rotated journal has several)."""
    parsed = parse_unverified_note(note)
    o, size, root, ext = parse_checkpoint_body(parsed.text)
    if origin is not None and o != origin:
        raise JournalVerificationError(f"checkpoint origin: expected {origin!r}, found {o!r}")
    verify_note(parsed.to_text(), _log_keys(pubkey, o))
    return Checkpoint(origin=o, size=size, root=root, extensions=ext, text=parsed.text, note=parsed.to_text())


@dataclass(frozen=True)
class VerifiedEntry:
    entry: Entry
    checkpoint: Checkpoint


def verify_entry(
    entry_line: bytes | str | None, proof: InclusionProof | str, checkpoint_text: str | None, pubkey: Any
) -> VerifiedEntry:
    """Verify one entry without the rest of the journal. Raises JournalVerificationError.

    1. the checkpoint (``checkpoint_text``, else the one inside the proof) is
       signed by the log key (``pubkey``: PublicKey, Keyring, list, raw, vkey);
    2. the entry line parses, its ``hash`` is SHA-256(prev || JCS(entry without
       hash and sig)) and its ``sig`` verifies with the key its ``kid`` names;
    3. the proof is for this entry's seq and this checkpoint's tree size, and
       leads from the entry's leaf hash to the checkpoint's root.
    ``entry_line`` None uses the entry carried in the proof's ``extra`` line.
    """
    if isinstance(proof, str):
        proof = InclusionProof.from_text(proof)
    if checkpoint_text is None:
        checkpoint_text = proof.checkpoint
    cp = _open_log_checkpoint(checkpoint_text, pubkey)
    if entry_line is None:
        entry_line = proof.entry
        if entry_line is None:
            raise UsageError("no entry given and the proof carries none")
    if isinstance(entry_line, str):
        entry_line = entry_line.encode("utf-8")
    entry_line = entry_line.rstrip(b"\n")
    try:
        obj, plain = canonical_loads(entry_line)
        entry, unsigned, signed, sig = parse_entry(obj, plain=plain)
    except (ValueError, EntryFormatError, CanonicalizationError) as exc:
        raise JournalVerificationError(f"not a valid journal entry: {exc}") from None
    expect = _crypto.sha256(bytes.fromhex(entry.prev) + unsigned).hex()
    if not _crypto.digest_eq(expect, entry.hash):
        raise JournalVerificationError(
            f"entry hash: the entry hashes to {expect}, its hash member says {entry.hash} (edited)", seq=entry.seq
        )
    keys = _entry_keys(pubkey)
    k = keys.get(entry.kid)
    if k is None:
        raise JournalVerificationError(
            f"the entry is signed by key {entry.kid}, which the verifier does not trust (expected {', '.join(keys) or 'a key'}; "
            "give the keyring after a rotation)",
            seq=entry.seq,
        )
    try:
        k.verify(sig, signed)
    except _crypto.InvalidSignature:
        raise JournalVerificationError(f"bad signature for key {entry.kid}", seq=entry.seq) from None
    if proof.index != entry.seq:
        raise JournalVerificationError(
            f"the proof is for entry {proof.index}, but the entry is seq {entry.seq}", seq=entry.seq
        )
    proof_size = proof.tree_size
    if proof_size != cp.size:
        raise JournalVerificationError(
            f"wrong tree size: the proof was made for tree size {proof_size}, the checkpoint has size {cp.size}",
            seq=entry.seq,
        )
    if entry.seq >= cp.size:
        raise JournalVerificationError(
            f"entry {entry.seq} is beyond the checkpoint's tree size {cp.size}", seq=entry.seq
        )
    try:
        verify_inclusion(entry.seq, cp.size, hash_leaf(bytes.fromhex(entry.hash)), list(proof.hashes), cp.root)
    except JournalVerificationError as exc:
        raise JournalVerificationError(f"inclusion: {exc.reason}", seq=entry.seq) from None
    return VerifiedEntry(entry=entry, checkpoint=cp)


@dataclass
class ConsistencyReport:
    old_size: int
    old_root: str
    size: int
    root: str
    checkpoint_size: int | None = None
    notes: list[str] = field(default_factory=list)

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "old": {"size": self.old_size, "root": self.old_root},
            "journal": {"size": self.size, "root": self.root},
            "checkpoint_size": self.checkpoint_size,
            "notes": self.notes,
        }


def _stream_entries(journal_path: Path, *, recheck: bool = True) -> Iterator[tuple[int, bytes, bytes]]:
    """(line number, line, raw hash) for each complete line, checking seq, the prev link and (``recheck``)
    that each entry hashes to its ``hash`` member. Without ``recheck`` only the JSON members are read:
    for callers that have just run ``verify_journal`` on the same file, which checks the hashes."""
    prev = GENESIS_PREV
    lineno = 0
    with open(journal_path, "rb") as f:
        pending = b""
        while True:
            block = f.read(_READ)
            if not block:
                break
            data = pending + block
            cut = data.rfind(b"\n") + 1
            pending = data[cut:]
            for line in data[:cut].split(b"\n")[:-1]:
                lineno += 1
                seq = lineno - 1
                try:
                    obj, plain = canonical_loads(line)
                    if recheck:
                        entry, unsigned, _, _ = parse_entry(obj, plain=plain)
                        e_seq, e_prev, e_hash = entry.seq, entry.prev, entry.hash
                    else:
                        e_seq, e_prev, e_hash = obj["seq"], obj["prev"], obj["hash"]
                        if type(e_hash) is not str or len(e_hash) != 64 or e_hash != e_hash.lower():
                            raise ValueError("member 'hash' must be 64 lowercase hex digits")
                    raw = bytes.fromhex(e_hash)
                except (
                    ValueError,
                    KeyError,
                    TypeError,
                    EntryFormatError,
                    CanonicalizationError,
                    RecursionError,
                ) as exc:
                    raise JournalVerificationError(f"not a valid entry: {exc}", line=lineno) from None
                if e_seq != seq:
                    raise JournalVerificationError(
                        f"seq {e_seq} on line {lineno}: expected {seq}", seq=seq, line=lineno
                    )
                if e_prev != prev:
                    raise JournalVerificationError(
                        f"prev {str(e_prev)[:16]}… is not the hash of the line before ({prev[:16]}…)",
                        seq=seq,
                        line=lineno,
                    )
                if recheck and _crypto.sha256(bytes.fromhex(e_prev) + unsigned) != raw:
                    raise JournalVerificationError(
                        "the entry does not hash to its hash member (edited)", seq=seq, line=lineno
                    )
                prev = e_hash
                yield lineno, line, raw


def verify_consistency(
    journal_path: str | os.PathLike[str], old_checkpoint_text: str, pubkey: Any, *, recheck_entries: bool = True
) -> ConsistencyReport:
    """Check that the journal extends the old checkpoint (append-only). Raises JournalVerificationError.

    Streams the journal in constant memory, recomputing each entry's hash from
    its content and the chain link, and the Merkle tree over the hashes: the
    root at the old checkpoint's size must be the old root (else history before
    it was rewritten or cut). If the journal carries a newer signed checkpoint,
    it must be the root at its size, and the RFC 9162 consistency proof between
    the two checkpoints (computed in the same pass: it writes nothing, so a
    read-only copy verifies) must verify. Entry
    signatures are ``verify_journal``'s job; run both (``agp verify --since``).
    ``recheck_entries=False`` skips recomputing each entry's hash (about 3x
    faster) for a caller that has just verified the same file with ``verify_journal``.
    """
    p = Path(journal_path)
    if not p.is_file():
        raise UsageError(f"no journal file at {p}")
    old = _open_log_checkpoint(old_checkpoint_text, pubkey)
    origin = journal_origin(_journal_genesis_hex(p))
    if old.origin != origin:
        raise JournalVerificationError(f"the old checkpoint is for log {old.origin!r}, this journal is {origin!r}")
    current_note = read_checkpoint(p)
    current: Checkpoint | None = None
    if current_note is not None:
        current = _open_log_checkpoint(current_note, pubkey, origin=origin)
    cr = CompactRange()
    at_old: bytes | None = old.root if old.size == 0 else None
    at_cur: bytes | None = None
    # the RFC 9162 proof between the two checkpoints, computed in the same pass (its ranges are
    # disjoint), so verifying needs no sidecar and no write access
    ranges: list[tuple[int, int]] = []
    if current is not None and 0 < old.size <= current.size:
        ranges = consistency_proof_ranges(old.size, current.size)
    pending = sorted(range(len(ranges)), key=lambda i: ranges[i][0])
    range_roots: dict[int, bytes] = {}
    open_range: tuple[int, CompactRange] | None = None
    for _, _, raw in _stream_entries(p, recheck=recheck_entries):
        i = cr.size  # this leaf's index
        if open_range is None and pending and ranges[pending[0]][0] == i:
            open_range = (pending.pop(0), CompactRange())
        if open_range is not None:
            ri, rcr = open_range
            rcr.append(raw)
            if i + 1 == ranges[ri][1]:
                range_roots[ri] = rcr.root()
                open_range = None
        cr.append(raw)
        if cr.size == old.size:
            at_old = cr.root()
            if at_old != old.root:
                raise JournalVerificationError(
                    f"history before the old checkpoint was rewritten: the journal's first {old.size} entries have Merkle root "
                    f"{_b64(at_old)}, the old checkpoint says {_b64(old.root)}"
                )
        if current is not None and cr.size == current.size:
            at_cur = cr.root()
    if at_old is None:
        raise JournalVerificationError(
            f"the journal has {cr.size} entries but the old checkpoint covers {old.size}: truncated (or rolled back)"
        )
    report = ConsistencyReport(old.size, old.root_b64, cr.size, _b64(cr.root()))
    if current is not None:
        report.checkpoint_size = current.size
        if at_cur is None:
            raise JournalVerificationError(
                f"the journal has {cr.size} entries but its own checkpoint covers {current.size}: truncated"
            )
        if at_cur != current.root:
            raise JournalVerificationError(
                f"the journal's checkpoint says root {current.root_b64} at size {current.size}, the entries give {_b64(at_cur)}"
            )
        if current.size < old.size:
            report.notes.append(
                f"the journal's own checkpoint (size {current.size}) is older than the one given ({old.size})"
            )
        else:  # both roots came from the entries; the RFC 9162 proof between them must verify as well
            proof = [range_roots[i] for i in range(len(ranges))]
            merkle_verify_consistency(old.size, current.size, proof, old.root, current.root)
    else:
        report.notes.append("the journal carries no checkpoint of its own; checked by recomputing the tree")
    return report


# ------------------------------------------------------------------- witnesses
@dataclass(frozen=True)
class WitnessReport:
    required: int
    valid: tuple[tuple[str, int], ...]  # (witness name, cosignature timestamp)
    missing: tuple[str, ...]


def _witness_keys(witness_pubkeys: Iterable[Any]) -> list[VerifierKey]:
    out: list[VerifierKey] = []
    for w in witness_pubkeys:
        if isinstance(w, VerifierKey):
            vk = w
        elif isinstance(w, str):
            vk = parse_vkey(w)
        elif isinstance(w, tuple) and len(w) == 2:
            vk = VerifierKey(w[0], SIG_TYPE_COSIGNATURE_V1, _public_raw(w[1]))
        else:
            raise UsageError(f"a witness key is a vkey or (name, public key), found {type(w).__name__}")
        if vk.sig_type != SIG_TYPE_COSIGNATURE_V1:
            raise UsageError(f"witness key {vk.name} is not a cosignature/v1 (type 0x04) key")
        out.append(vk)
    return out


def require_witnesses(checkpoint_text: str, witness_pubkeys: Iterable[Any], min_k: int) -> WitnessReport:
    """Require valid cosignatures from at least ``min_k`` distinct trusted witnesses. Raises.

    Only cosignatures are checked here; open the checkpoint with the log key
    too (``verify_entry`` / ``verify_consistency`` do). A present but invalid
    cosignature from a trusted witness rejects the checkpoint outright.
    """
    keys = _witness_keys(witness_pubkeys)
    distinct = {(k.name, k.key_id): k for k in keys}
    if type(min_k) is not int or min_k < 1:
        raise UsageError(f"--min-witnesses must be at least 1, found {min_k!r}")
    if min_k > len(distinct):
        raise UsageError(f"{min_k} witnesses required but only {len(distinct)} distinct witness keys given")
    valid: list[tuple[str, int]] = []
    missing: list[str] = []
    for k in distinct.values():
        try:
            ts = verify_cosignature(checkpoint_text, k)
        except JournalVerificationError as exc:
            if "no cosignature by witness" in str(exc):
                missing.append(k.name)
                continue
            raise
        valid.append((k.name, ts))
    if len(valid) < min_k:
        raise JournalVerificationError(
            f"witnesses: expected at least {min_k} valid cosignature(s), found {len(valid)}"
            + (f" ({', '.join(n for n, _ in valid)})" if valid else "")
            + (f"; missing: {', '.join(missing)}" if missing else "")
        )
    return WitnessReport(required=min_k, valid=tuple(valid), missing=tuple(missing))
