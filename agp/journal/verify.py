"""Offline verification of a journal with only public keys.

:func:`scan_journal` streams the file in constant memory and collects every
problem as data (``VerifyReport.errors``); :func:`verify_journal` raises
:class:`JournalVerificationError` for the first one. What is checked:

- every line is a well-formed entry; ``seq`` counts up from 0 without gaps;
- ``prev`` is the hash of the line before (64 zeros for entry 0);
- ``hash`` is SHA-256(raw(prev) || JCS(entry without hash and sig));
- ``sig`` is a valid Ed25519 signature by the key ``kid`` names;
- entry 0 is ``journal.open`` signed by a key the verifier trusts; every later
  key was introduced by a ``key.rotate`` entry signed by the key then in force,
  and a retired key signs nothing after its rotation;
- the signed head: present, signed by the key in force at the entry it covers,
  tied to this journal (genesis), not beyond the end (truncation), naming the
  right hash (rewrite), and not older than the last head the journal announced
  (rollback). Entries after the head verify but are reported as not covered.

Large journals are split into byte ranges on line boundaries and checked by a
pool of worker processes (one per core); chunk seams are checked here. This
module imports nothing from the gate or the sandbox (a test checks it).
"""

from __future__ import annotations

import itertools
import json
import multiprocessing
import os
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agp.errors import JournalVerificationError, UsageError
from agp.journal import _crypto
from agp.journal.canonical import CanonicalizationError
from agp.journal.canonical import loads as canonical_loads
from agp.journal.chain import GENESIS_PREV, EntryFormatError, parse_entry
from agp.journal.head import Head, HeadFormatError, head_path_for, read_head
from agp.journal.keys import Keyring, PublicKey

__all__ = ("VerifyError", "VerifyReport", "scan_journal", "verify_journal")

_SESSION_CAP = 100_000
_PARALLEL_MIN_BYTES = 4 << 20
#: at most this much of the file per worker task: a task's result carries 32 bytes of Merkle leaf
#: per line, so this bounds what the parent holds at once (about 256 KiB of leaves per task)
_CHUNK_BYTES = 8 << 20
_READ = 1 << 20


#: stable ``code`` of each kind of problem, by a phrase of its reason (first match wins; see docs/verify.md)
_CODES = (
    ("not a valid entry", "entry_malformed"),
    ("torn final line", "entry_torn"),
    ("the journal is empty", "journal_empty"),
    ("hash mismatch", "entry_hash_mismatch"),
    ("is not the hash of the line before", "chain_broken"),
    (" follows seq ", "seq_gap"),
    ("bad signature", "signature_invalid"),
    ("malformed key rotation", "key_rotation_invalid"),
    ("which neither the verifier trusts", "key_unknown"),
    ("which the verifier does not trust", "key_untrusted"),
    ("but the key in force is", "key_not_in_force"),
    ("the first line is not entry 0", "genesis_invalid"),
    ("entry 0 ", "genesis_invalid"),
    ("no signed head", "head_missing"),
    ("truncated or rolled back", "journal_truncated"),
    ("head rolled back", "head_rolled_back"),
    ("history rewritten", "history_rewritten"),
    ("checkpoint", "checkpoint_invalid"),
    ("head", "head_invalid"),
)


@dataclass(frozen=True, slots=True)
class VerifyError:
    seq: int | None
    line: int | None
    reason: str

    @property
    def code(self) -> str:
        """A stable name for the kind of problem (``entry_hash_mismatch``, ``head_missing``, ...)."""
        for phrase, code in _CODES:
            if phrase in self.reason:
                return code
        return "journal_invalid"

    def __str__(self) -> str:
        where = []
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.seq is not None:
            where.append(f"entry {self.seq}")
        return (", ".join(where) + ": " if where else "") + self.reason

    def to_json_dict(self, file: str) -> dict[str, Any]:
        """``{code, message, where, seq, line}``: ``where`` is ``file:line`` (or the file)."""
        message = (f"entry {self.seq}: " if self.seq is not None else "") + self.reason
        where = f"{file}:{self.line}" if self.line is not None else file
        return {"code": self.code, "message": message, "where": where, "seq": self.seq, "line": self.line}


@dataclass
class VerifyReport:
    path: str
    entries: int = 0
    sessions: int = 0
    sessions_capped: bool = False
    kinds: dict[str, int] = field(default_factory=dict)
    kids: list[str] = field(default_factory=list)
    rotations: int = 0
    first_ts: str | None = None
    last_ts: str | None = None
    last_seq: int | None = None
    last_hash: str | None = None
    head: dict[str, Any] = field(default_factory=dict)
    errors: list[VerifyError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    workers: int = 1

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "path": self.path,
            "entries": self.entries,
            "sessions": self.sessions,
            "kinds": dict(sorted(self.kinds.items())),
            "kids": self.kids,
            "rotations": self.rotations,
            "first_ts": self.first_ts,
            "last_ts": self.last_ts,
            "head": self.head,
            "errors": [e.to_json_dict(self.path) for e in self.errors],
            "notes": self.notes,
        }

    def summary_lines(self) -> list[tuple[str, str]]:
        """The plain-text summary, as ``(style, line)`` pairs: ``style`` is ``ok``, ``fail``,
        ``note`` or ``""``. The CLI colours them; the evidence bundle writes them as they are."""
        out = [
            ("ok", f"✓ journal verifies  {self.path}")
            if self.ok
            else ("fail", f"✗ journal does NOT verify  {self.path}")
        ]
        last = f" (seq 0..{self.last_seq})" if self.last_seq is not None else ""
        out.append(
            (
                "",
                f"  entries   {self.entries}{last}, {self.sessions}{'+' if self.sessions_capped else ''} sessions, "
                f"{len(self.kids)} key(s) {', '.join(self.kids)}, {self.rotations} rotation(s)",
            )
        )
        if self.kinds:
            out.append(("", "  kinds     " + " · ".join(f"{k} {v}" for k, v in sorted(self.kinds.items()))))
        if self.first_ts:
            out.append(("", f"  span      {self.first_ts} → {self.last_ts}"))
        h = self.head
        if h.get("present"):
            cov = (
                "all entries covered"
                if h.get("covered")
                else f"{h.get('uncovered_entries', '?')} entries after it not covered"
            )
            out.append(("", f"  head      entry {h['seq']} signed by {h['kid']} at {h['ts']}; {cov}"))
        else:
            out.append(("fail", "  head      missing"))
        out.extend(("note", f"  note      {n}") for n in self.notes)
        if self.errors:
            out.append(("fail", f"  error     [{self.errors[0].code}] {self.errors[0]}"))
            if len(self.errors) > 1:
                out.append(("", f"            … and {len(self.errors) - 1} more (--json lists them all)"))
        return out


# ---------------------------------------------------------------- worker side
def _scan_chunk(args: tuple[str, int, int, dict[str, bytes], int | None, int]) -> dict[str, Any]:
    path, start, end, kid_raw, head_seq, max_errors = args
    keys: dict[str, PublicKey] = {}
    for kid, raw in kid_raw.items():
        keys[kid] = PublicKey.from_raw(raw)
    res: dict[str, Any] = {  # and, once the range is read: "lines", "tail", "leaves"
        "first": None,
        "last": None,
        "errors": [],
        "kinds": Counter(),
        "sessions": set(),
        "runs": [],
        "rotations": [],
        "markers": [],
        "at_head": None,
        "genesis": None,
        "first_ts": None,
        "last_ts": None,
    }
    leaves = bytearray()  # each line's raw hash in order (zeros for an unreadable line): the Merkle leaves
    errors = res["errors"]
    kinds = res["kinds"]
    sessions = res["sessions"]
    runs = res["runs"]
    prev_hash: str | None = None
    prev_seq: int | None = None
    local = 0

    def err(seq: int | None, reason: str) -> None:
        if len(errors) < max_errors:
            errors.append((seq, local, reason))

    with open(path, "rb") as f:
        f.seek(start)
        remaining = end - start
        pending = b""
        while remaining > 0:
            block = f.read(min(_READ, remaining))
            remaining = remaining - len(block) if block else 0  # a file cut short ends the range here
            lines = (pending + block).split(b"\n")
            torn = None
            if remaining > 0:
                pending = lines.pop()
            else:
                torn = lines.pop() or None  # empty after a final newline
            for raw in lines:
                local += 1
                try:
                    obj, plain = canonical_loads(raw)
                    entry, unsigned, signed, sig = parse_entry(obj, plain=plain)
                except (ValueError, EntryFormatError, CanonicalizationError, RecursionError) as exc:
                    err(None, f"not a valid entry: {exc}")
                    leaves += bytes(32)
                    prev_hash = None
                    prev_seq = None if prev_seq is None else prev_seq + 1
                    continue
                seq = entry.seq
                leaves += bytes.fromhex(entry.hash)
                if res["first"] is None:
                    res["first"] = (seq, entry.prev, local)
                    res["first_ts"] = entry.ts
                res["last_ts"] = entry.ts
                expect = _crypto.sha256(bytes.fromhex(entry.prev) + unsigned).hex()
                if expect != entry.hash:
                    err(
                        seq,
                        f"hash mismatch: the entry hashes to {expect[:16]}…, its hash member says {entry.hash[:16]}… (entry edited)",
                    )
                if prev_hash is not None and entry.prev != prev_hash:
                    err(
                        seq,
                        f"prev {entry.prev[:16]}… is not the hash of the line before ({prev_hash[:16]}…): lines removed, inserted or reordered",
                    )
                if prev_seq is not None and seq != prev_seq + 1:
                    err(seq, f"seq {seq} follows seq {prev_seq}: lines removed, duplicated or reordered")
                pub = keys.get(entry.kid)
                if pub is None:
                    err(
                        seq, f"signed by key {entry.kid}, which neither the verifier trusts nor any rotation introduced"
                    )
                else:
                    try:
                        pub.verify(sig, signed)
                    except _crypto.InvalidSignature:
                        err(seq, f"bad signature for key {entry.kid}")
                kind = entry.kind
                kinds[kind] += 1
                if entry.session and len(sessions) < _SESSION_CAP:
                    sessions.add(entry.session)  # past the cap the parent reports the count with a "+"
                if runs and runs[-1][0] == entry.kid and runs[-1][2] == seq - 1:
                    runs[-1][2] = seq
                else:
                    runs.append([entry.kid, seq, seq, local])
                if kind == "key.rotate":
                    body = entry.body
                    try:
                        new = PublicKey.from_b64(body["new_public_key"])
                        if new.kid != body.get("new_kid"):
                            raise ValueError("new_kid does not match new_public_key")
                    except Exception as exc:  # noqa: BLE001 - any malformed rotation is an error
                        err(seq, f"malformed key rotation: {exc}")
                    else:  # its key is in ``keys`` already: the parent's byte scan found every rotation
                        res["rotations"].append((seq, entry.kid, new.kid))
                elif kind == "journal.head":
                    res["markers"].append((seq, local))
                if seq == 0 and res["genesis"] is None:  # the first entry 0, as the parent takes the first range's
                    res["genesis"] = (entry.kind, entry.kid, entry.prev, entry.hash, entry.body.get("public_key"))
                if head_seq is not None and seq == head_seq:
                    res["at_head"] = (entry.hash, entry.kid, entry.kind, entry.body.get("new_kid"), local)
                prev_hash = entry.hash
                prev_seq = seq
                res["last"] = (seq, entry.hash)
            if torn is not None:
                local += 1
                err(
                    None,
                    f"torn final line ({len(torn)} bytes, no newline): the writer crashed mid-append; agp cuts it when it reopens the journal",
                )
    res["lines"] = local
    res["tail"] = (prev_seq, prev_hash)  # what the line after this range is checked against
    res["leaves"] = bytes(leaves)
    return res


# ------------------------------------------------------------------ main side
def _rotation_keys(path: str) -> dict[str, bytes]:
    """Public keys introduced by rotation entries anywhere in the file (a fast byte scan).

    Used only so that workers can check signatures; whether a key was legitimately
    in force is decided afterwards from the key timeline.
    """
    found: dict[str, bytes] = {}
    needle = b"key.rotate"
    with open(path, "rb") as f:
        carry = b""
        while True:
            block = f.read(_READ)
            if not block:
                break
            data = carry + block
            cut = data.rfind(b"\n") + 1
            scan, carry = data[:cut], data[cut:]
            i = scan.find(needle)
            while i >= 0:
                s = scan.rfind(b"\n", 0, i) + 1
                e = scan.find(b"\n", i)
                try:
                    obj = json.loads(scan[s:e])
                    if obj.get("kind") == "key.rotate":
                        pk = PublicKey.from_b64(obj["body"]["new_public_key"])
                        found[pk.kid] = pk.raw
                except Exception:  # noqa: BLE001, S110 - the worker reports malformed lines
                    pass
                i = scan.find(needle, e)
    return found


def _chunks(path: str, size: int, n: int) -> list[tuple[int, int]]:
    if n <= 1 or size < _PARALLEL_MIN_BYTES:
        return [(0, size)]
    bounds = [0]
    with open(path, "rb") as f:
        for k in range(1, n):
            off = size * k // n
            if off <= bounds[-1]:
                continue
            f.seek(off)
            f.readline()
            pos = f.tell()  # > off > bounds[-1]: readline from inside the file reads a byte at least
            if pos < size:
                bounds.append(pos)
    bounds.append(size)
    return list(itertools.pairwise(bounds))


def scan_journal(
    path: str | os.PathLike[str],
    keyring: Keyring,
    *,
    head_path: str | os.PathLike[str] | None = None,
    workers: int | None = None,
    max_errors: int = 100,
    pool: str = "process",
) -> VerifyReport:
    """Check everything; return a report whose ``errors`` list every problem found.

    ``pool`` is how ranges are checked in parallel: ``"process"`` (one worker process per
    core) or ``"thread"`` (threads in this process: libsodium releases the GIL while it
    checks a signature, the parsing holds it). bench/journal.py measures both.
    """
    if pool not in ("process", "thread"):
        raise UsageError(f"pool must be 'process' or 'thread', not {pool!r}")
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"no journal file at {p}")
    hp = Path(head_path) if head_path is not None else head_path_for(p)
    report = VerifyReport(path=str(p))
    head: Head | str  # the signed head, or why there is none
    try:
        head = read_head(hp) or f"no signed head at {hp}: truncation cannot be ruled out"
    except HeadFormatError as exc:
        head = f"head {hp}: {exc}"
    size = p.stat().st_size
    if size == 0:
        report.errors.append(VerifyError(None, 1, "the journal is empty"))
        return report
    nproc = workers or os.cpu_count() or 1
    kid_raw = {kid: keyring[kid].raw for kid in keyring}
    for kid, raw in _rotation_keys(str(p)).items():
        kid_raw.setdefault(kid, raw)
    ranges = _chunks(str(p), size, max(nproc * 4, -(-size // _CHUNK_BYTES)))
    head_seq = head.seq if isinstance(head, Head) else None
    args = [(str(p), a, b, kid_raw, head_seq, max_errors) for a, b in ranges]
    fold = _LeafFold(head_seq + 1 if head_seq is not None else 0)

    def collect(it: Any) -> list[dict[str, Any]]:
        out = []
        for r in it:  # in file order: fold each task's leaves in, then drop them
            fold.add(r.pop("leaves"))
            out.append(r)
        return out

    if len(args) == 1:
        results = collect([_scan_chunk(args[0])])
        report.workers = 1
    elif pool == "thread":
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(nproc, len(args)), thread_name_prefix="agp-verify") as ex:
            results = collect(ex.map(_scan_chunk, args))
        report.workers = min(nproc, len(args))
    else:
        # fork is fast, but unsafe in a process that already runs threads (a gate, a
        # journal writer): there the workers start fresh instead
        ctx = multiprocessing.get_context("fork" if threading.active_count() == 1 else "spawn")
        with ctx.Pool(processes=min(nproc, len(args))) as procs:
            results = collect(procs.imap(_scan_chunk, args))
        report.workers = min(nproc, len(args))
    _merge(report, results, keyring, kid_raw, head, max_errors, fold)
    return report


class _LeafFold:
    """The RFC 6962 compact range of the first ``need`` lines' hashes, folded in task by task as
    results arrive in file order, so verification holds O(log n) tree state, not every leaf."""

    def __init__(self, need: int) -> None:
        from agp.journal.merkle import CompactRange

        self.need = need
        self.tree = CompactRange()

    def add(self, blob: bytes) -> None:
        tree = self.tree
        room = self.need - tree.size  # <= 0 once the head's entries are in: nothing more is folded
        append = tree.append
        for i in range(0, min(len(blob), room * 32), 32):
            append(blob[i : i + 32])


def verify_journal(path: str | os.PathLike[str], keyring: Keyring, **kwargs: Any) -> VerifyReport:
    """Verify ``path``; return the report, or raise JournalVerificationError for the first problem."""
    report = scan_journal(path, keyring, **kwargs)
    if report.errors:
        first = report.errors[0]
        more = f" (and {len(report.errors) - 1} more)" if len(report.errors) > 1 else ""
        raise JournalVerificationError(first.reason + more, seq=first.seq, line=first.line)
    return report


def _merge(
    report: VerifyReport,
    results: list[dict[str, Any]],
    keyring: Keyring,
    kid_raw: dict[str, bytes],
    head: Head | str,
    max_errors: int,
    fold: _LeafFold,
) -> None:
    errors: list[VerifyError] = []
    base = 0
    kinds: Counter[str] = Counter()
    sessions: set[str] = set()
    runs: list[tuple[str, int, int, int]] = []
    rotations: list[tuple[int, str, str]] = []
    markers: list[tuple[int, int]] = []
    prev_last: tuple[int, str] | None = None
    # (seq, hash) the next line is checked against, as a one-range scan does: an unreadable line
    # leaves no hash to check the next prev against, and counts as one seq
    state: tuple[int | None, str | None] = (None, None)
    genesis = None
    at_head = None
    for r in results:
        for seq, local, reason in r["errors"]:
            errors.append(VerifyError(seq, base + local, reason))
        pseq, phash = state
        if r["first"] is not None:
            fseq, fprev, flocal = r["first"]
            if flocal > 1:  # unreadable lines open this range
                pseq, phash = (None if pseq is None else pseq + flocal - 1), None
            if phash is not None and fprev != phash:
                errors.append(
                    VerifyError(
                        fseq,
                        base + flocal,
                        f"prev {fprev[:16]}… is not the hash of the line before ({phash[:16]}…): lines removed, inserted or reordered",
                    )
                )
            if pseq is not None and fseq != pseq + 1:
                errors.append(
                    VerifyError(
                        fseq,
                        base + flocal,
                        f"seq {fseq} follows seq {pseq}: lines removed, duplicated or reordered",
                    )
                )
            state = r["tail"]
        else:  # not one readable line
            state = (None if pseq is None else pseq + r["lines"], None)
        if r["last"] is not None:
            prev_last = r["last"]
        kinds.update(r["kinds"])
        if len(sessions) < _SESSION_CAP:
            sessions.update(r["sessions"])
        runs.extend((kid, a, b, base + line) for kid, a, b, line in r["runs"])
        rotations.extend(r["rotations"])
        markers.extend((seq, base + line) for seq, line in r["markers"])
        if r["genesis"] is not None and genesis is None:
            genesis = r["genesis"]
        if r["at_head"] is not None:
            h, kid, kind, new_kid, line = r["at_head"]
            at_head = (h, kid, kind, new_kid, base + line)
        if report.first_ts is None:
            report.first_ts = r["first_ts"]
        if r["last_ts"] is not None:
            report.last_ts = r["last_ts"]
        base += r["lines"]
    report.entries = sum(kinds.values())
    report.kinds = dict(kinds)
    report.sessions = len(sessions)
    report.sessions_capped = len(sessions) >= _SESSION_CAP
    report.rotations = len(rotations)
    if prev_last is not None:
        report.last_seq, report.last_hash = prev_last

    # entry 0: journal.open, genesis prev, signed by a trusted key
    first = results[0]["first"]  # the first readable line of the first range
    line1 = first if first is not None and first[2] == 1 else None  # line 1, when it is readable
    if line1 is None or line1[0] != 0:
        errors.append(VerifyError(line1[0] if line1 is not None else None, 1, "the first line is not entry 0"))
    if genesis is not None:
        kind, kid, prev, _ghash, pub = genesis
        if kind != "journal.open":
            errors.append(VerifyError(0, 1, f"entry 0 is {kind!r}, not 'journal.open'"))
        if prev != GENESIS_PREV:
            errors.append(VerifyError(0, 1, "entry 0 must have prev = 64 zeros"))
        if kid not in keyring:
            errors.append(
                VerifyError(
                    0,
                    1,
                    f"entry 0 is signed by key {kid}, which the verifier does not trust (expected {', '.join(keyring)})",
                )
            )
        elif pub is not None and pub != keyring[kid].to_b64():
            errors.append(VerifyError(0, 1, "entry 0 names a public key other than the one that signed it"))

    # key timeline: who was allowed to sign which entry
    kids_seen: list[str] = []
    rot_iter = sorted(rotations)
    current = genesis[1] if genesis is not None else None
    ri = 0
    for kid, a, b, line in sorted(runs, key=lambda t: t[1]):
        if kid not in kids_seen:
            kids_seen.append(kid)
        s = a
        while s <= b:
            while ri < len(rot_iter) and rot_iter[ri][0] < s:
                _rseq, old, new = rot_iter[ri]
                if old == current:
                    current = new
                ri += 1
            nxt = rot_iter[ri][0] if ri < len(rot_iter) else None
            seg_end = b if nxt is None or nxt > b else nxt
            if current is not None and kid != current:
                errors.append(
                    VerifyError(
                        s,
                        line + (s - a),
                        f"signed by key {kid}, but the key in force is {current} (a key no rotation introduced, or one already retired)",
                    )
                )
                break
            s = seg_end + 1
    report.kids = kids_seen

    # the signed head
    if isinstance(head, Head):
        report.head = {
            "present": True,
            "seq": head.seq,
            "hash": head.hash,
            "kid": head.kid,
            "ts": head.ts,
            "covered": None,
        }
        if genesis is not None and head.genesis != genesis[3]:
            errors.append(
                VerifyError(0, 1, "the head belongs to another journal (its genesis is not this journal's entry 0)")
            )
        elif report.last_seq is not None and head.seq > report.last_seq:
            errors.append(
                VerifyError(
                    report.last_seq,
                    base,
                    f"the journal ends at entry {report.last_seq} but its signed head covers entry {head.seq}: truncated or rolled back",
                )
            )
        elif at_head is not None:
            h, kid, kind, new_kid, line = at_head
            if h != head.hash:
                errors.append(
                    VerifyError(
                        head.seq,
                        line,
                        f"entry {head.seq} has hash {h[:16]}…, the signed head says {head.hash[:16]}…: history rewritten",
                    )
                )
            signer = new_kid if kind == "key.rotate" else kid
            if head.kid != signer:
                errors.append(
                    VerifyError(
                        head.seq,
                        line,
                        f"the head is signed by key {head.kid}, but entry {head.seq} was under key {signer}",
                    )
                )
            else:
                key = PublicKey.from_raw(kid_raw[signer]) if signer in kid_raw else None
                if key is None:
                    errors.append(VerifyError(head.seq, line, f"the head is signed by unknown key {head.kid}"))
                else:
                    try:
                        head.verify(key)
                    except (_crypto.InvalidSignature, ValueError):
                        errors.append(
                            VerifyError(head.seq, line, "the signature of the head covering this entry does not verify")
                        )
            if kind != "journal.head":
                errors.append(
                    VerifyError(
                        head.seq,
                        line,
                        f"the head covers entry {head.seq}, which is a {kind!r} entry, not a head announcement",
                    )
                )
            _check_checkpoint(errors, report, head, fold, genesis, kid_raw, line)
            uncovered = (report.last_seq or 0) - head.seq
            report.head["covered"] = uncovered == 0
            report.head["uncovered_entries"] = uncovered
            if uncovered:
                report.notes.append(
                    f"{uncovered} entries after the head (seq {head.seq + 1}..{report.last_seq}) verify but are not covered by the signed head"
                )
            later = [m for m in markers if m[0] > head.seq]
            if len(later) >= 2:
                mseq, mline = later[-1]
                errors.append(
                    VerifyError(
                        mseq,
                        mline,
                        f"head rolled back: entry {mseq} announces a head covering it, but the head file covers only entry {head.seq}",
                    )
                )
            elif len(later) == 1:
                report.notes.append(
                    f"the head announced at entry {later[0][0]} was not written (crash during the head write?)"
                )
    else:
        report.head = {"present": False}
        errors.append(VerifyError(report.last_seq, base, head))
    errors.sort(key=lambda e: e.line or 0)  # every error found here names its line
    report.errors = errors[:max_errors]


def _check_checkpoint(
    errors: list[VerifyError],
    report: VerifyReport,
    head: Head,
    fold: _LeafFold,
    genesis: Any,
    kid_raw: dict[str, bytes],
    line: int,
) -> None:
    """The head's C2SP checkpoint: signed by the head's key under this journal's origin, covering
    exactly entries 0..head.seq, with the RFC 6962 root of their hashes."""
    extra = dict(head.extra)
    note = extra.get("checkpoint")
    if note is None:
        report.notes.append("the head carries no Merkle checkpoint (written before heads carried checkpoints)")
        return
    from agp.journal.checkpoint import journal_origin, open_checkpoint

    try:
        origin = journal_origin(genesis[3]) if genesis is not None else None
        cp = open_checkpoint(note, kid_raw[head.kid], origin=origin)
    except (JournalVerificationError, KeyError, ValueError) as exc:
        errors.append(VerifyError(head.seq, line, f"the head's checkpoint does not verify: {exc}"))
        return
    if cp.size != head.seq + 1:
        errors.append(
            VerifyError(head.seq, line, f"the head's checkpoint covers {cp.size} entries, the head {head.seq + 1}")
        )
        return
    tree = fold.tree  # the first head.seq + 1 == cp.size lines' hashes
    if tree.size != cp.size or tree.root() != cp.root:
        errors.append(
            VerifyError(
                head.seq,
                line,
                f"the head's checkpoint root is not the Merkle root of entries 0..{head.seq}: history rewritten",
            )
        )
        return
    report.head["checkpoint"] = {"origin": cp.origin, "size": cp.size, "root": cp.root_b64}
