"""The append-only journal file: durable appends with group commit, recovery.

Append path (thread-safe; called from many threads, e.g. the gate's workers):

1. redact secret values, canonicalize the body          (no lock)
2. take the chain lock: assign seq, ts, prev; hash      (microseconds)
3. sign                                                 (no lock; the GIL is released)
4. queue the line for the writer thread, which writes every contiguous queued line
   with one ``write`` and one ``fdatasync`` (group commit), then wakes their appenders
5. return only when the entry's line is durable (its ``fdatasync`` has returned)

The writer holds a batch open, never longer than its last sync took, while other
appends are under way or while fewer appenders are queued than the last sync woke
(see ``Journal._writer``): appenders that append again as soon as they return share
one sync instead of alternating in two halves. ``append_many`` takes several entries
through one chain-lock section and one wait. See adr/0015.

A failed write or sync (disk full, read-only file system, I/O error) poisons
the journal: that append and every later one raise :class:`JournalWriteError`
until the journal is reopened, and the file is cut back to the last durable
byte where possible. Reopening cuts a torn last line (a crash mid-write) and
journals the recovery as a ``journal.recovery`` entry.

One writer at a time: ``open`` takes an exclusive ``flock`` on the file.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agp.errors import JournalError, JournalVerificationError, JournalWriteError, UsageError
from agp.journal import _crypto
from agp.journal.canonical import CanonicalizationError, canonicalize
from agp.journal.canonical import loads as canonical_loads
from agp.journal.chain import GENESIS_PREV, Entry, EntryFormatError, finish, format_ts, jstr, parse_entry
from agp.journal.head import Head, HeadFormatError, head_path_for, read_head, write_head_file
from agp.journal.keys import KEY_FILE, PUB_FILE, KeyRotation, PublicKey, SigningKey
from agp.journal.merkle import CompactRange
from agp.journal.redact import SecretRedactor

__all__ = ("FORMAT", "Journal", "RotatedKey", "read_first_entry", "read_last_entries", "rotate_key")

FORMAT = "agp-journal/1"
_BLOCK = 1 << 16
#: a batch is never held open for appends under way longer than this (nor than the last sync took)
_MAX_HOLD_S = 0.002


def _read_block(fd: int, offset: int, size: int) -> bytes:
    return os.pread(fd, size, offset)


def read_last_entries(fd: int, size: int, count: int) -> list[tuple[int, bytes]]:
    """The last ``count`` complete lines before ``size`` as (offset, line-without-newline), oldest first."""
    out: list[tuple[int, bytes]] = []
    end = size
    buf = b""
    pos = size
    while pos > 0 and len(out) < count:
        start = max(0, pos - _BLOCK)
        buf = _read_block(fd, start, pos - start) + buf
        pos = start
        # peel complete lines off the end of buf
        while len(out) < count:
            nl = buf.rfind(b"\n", 0, len(buf) - 1) if buf.endswith(b"\n") else -2
            if nl == -2:
                raise JournalError("internal: tail read without trailing newline")
            if nl == -1 and pos > 0:
                break  # need more bytes
            line = buf[nl + 1 : -1]
            out.append((pos + nl + 1, line))
            buf = buf[: nl + 1]
            if nl == -1:
                break
        end = pos
    del end
    out.reverse()
    return out


def read_first_entry(fd: int) -> bytes:
    data = b""
    off = 0
    while True:
        chunk = _read_block(fd, off, _BLOCK)
        if not chunk:
            return data
        nl = chunk.find(b"\n")
        if nl >= 0:
            return data + chunk[:nl]
        data += chunk
        off += len(chunk)


class Journal:
    """An open, writable journal. Create with :meth:`Journal.open`."""

    # set by open() (the constructor refuses: a Journal exists only once it has verified its tail)
    path: Path
    head_path: Path
    _key: SigningKey
    _redactor: SecretRedactor
    _clock: Callable[[], float]
    _on_append: Callable[[Entry], None] | None
    _chain_lock: threading.Lock
    _wcv: threading.Condition
    _stop_writer: bool
    _head_lock: threading.RLock
    _ready: dict[int, tuple[bytes, Entry, threading.Lock | None]]
    _preparing: int
    _queued: int
    _holding: bool
    _target: int
    _sync_s: float
    _local: threading.local
    _head_seq: int
    _tree: CompactRange
    _tree_at: dict[int, CompactRange]
    _failed: JournalWriteError | None
    _closed: bool
    _head_thread: threading.Thread | None
    _stop_head: threading.Event
    _fd: int
    _next_write: int
    _durable_seq: int
    _durable_size: int
    _writer_thread: threading.Thread
    _next_seq: int
    _prev: str
    _prev_raw: bytes
    _genesis: str | None

    def __init__(self, *_a: Any, **_k: Any) -> None:
        raise TypeError("use Journal.open(path, key)")

    # ------------------------------------------------------------------ open
    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        key: SigningKey,
        *,
        redactor: SecretRedactor | None = None,
        head_every: float | None = None,
        clock: Callable[[], float] = time.time,
        on_append: Callable[[Entry], None] | None = None,
    ) -> Journal:
        """Open (creating if absent) the journal at ``path`` for appending with ``key``.

        Refuses (``JournalVerificationError``) when the last entries or the head
        do not verify, and (``JournalError``) when another process holds it.
        ``head_every`` (seconds) writes the signed head in the background when
        new entries have arrived. ``on_append`` is called with each durable entry
        (in commit order) from the committing thread; it must be quick.
        """
        self = object.__new__(cls)
        self.path = Path(path)
        self.head_path = head_path_for(self.path)
        self._key = key
        self._redactor = redactor or SecretRedactor()
        self._clock = clock
        self._on_append = on_append
        self._chain_lock = threading.Lock()
        self._wcv = threading.Condition(threading.Lock())
        self._stop_writer = False
        self._head_lock = threading.RLock()  # rotate() holds it across its entry and the head
        self._ready = {}
        self._local = threading.local()
        self._preparing = 0  # appends between their start and their lines' queueing
        self._queued = 0  # appends whose lines are queued, not yet taken by the writer
        self._holding = False  # the writer holds a batch open (see _writer)
        self._target = 0  # appends the writer expects in its next batch
        self._sync_s = 0.0  # how long the last fdatasync took (bounds how long a batch is held open)
        self._head_seq = -1
        self._tree = CompactRange()  # RFC 6962 tree over every entry's raw hash
        self._tree_at = {}  # snapshots at head announcements
        self._failed = None
        self._closed = False
        self._head_thread = None
        self._stop_head = threading.Event()
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o640)
        except OSError as exc:
            raise JournalWriteError(f"cannot open journal {self.path}: {exc.strerror}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            raise JournalError(f"journal {self.path} is in use by another process (its writer holds the lock)") from exc
        self._fd = fd
        self._next_write = 0
        self._durable_seq = -1
        self._writer_thread = threading.Thread(target=self._writer, name="agp-journal-writer", daemon=True)
        try:
            self._recover_and_load()
        except BaseException:
            self._stop_writer_thread()
            os.close(fd)
            raise
        if head_every:
            self._head_thread = threading.Thread(
                target=self._head_loop, args=(head_every,), name="agp-journal-head", daemon=True
            )
            self._head_thread.start()
        return self

    def _recover_and_load(self) -> None:
        fd = self._fd
        self._writer_thread.start()
        size = os.fstat(fd).st_size
        head = self._read_head_or_refuse()
        recovery: dict[str, Any] | None = None
        if size > 0 and _read_block(fd, size - 1, 1) != b"\n":
            # torn final line: cut back to the last newline
            tail_start = self._last_newline_before(size) + 1
            cut = _read_block(fd, tail_start, size - tail_start)
            try:
                os.ftruncate(fd, tail_start)
                os.fsync(fd)
            except OSError as exc:
                raise JournalWriteError(f"cannot cut the torn last line of {self.path}: {exc.strerror}") from exc
            recovery = {"cut_bytes": len(cut), "cut_sha256": _crypto.sha256(cut).hex(), "at_offset": tail_start}
            size = tail_start
        self._durable_size = size
        if size == 0:
            if head is not None:
                raise JournalVerificationError(
                    f"journal {self.path} is empty but its signed head covers entry {head.seq}: truncated", line=1
                )
            self._next_seq = 0
            self._prev = GENESIS_PREV
            self._prev_raw = bytes(32)
            self._genesis = None
            if recovery is not None:  # a torn first line: nothing else was ever written
                self._append("journal.recovery", "", recovery)
            self._append_open(reopened=False)
            self.write_head()
            return
        tail = read_last_entries(fd, size, 2)
        entries = [self._check_line(off, line) for off, line in tail]
        if len(entries) == 2 and entries[1].prev != entries[0].hash:
            raise JournalVerificationError(
                f"the last entry's prev {entries[1].prev[:12]}… is not the hash of the entry before it "
                f"({entries[0].hash[:12]}…)",
                seq=entries[1].seq,
            )
        last = entries[-1]
        current_kid = last.body.get("new_kid") if last.kind == "key.rotate" else last.kid
        if current_kid != self._key.kid:
            raise JournalError(
                f"journal {self.path} is signed by key {current_kid} now, but the key given is {self._key.kid}"
                " (after a rotation, use the new key)"
            )
        first = self._check_line(0, read_first_entry(fd))
        self._genesis = first.hash
        if head is not None:
            self._check_head(head, last)
        else:
            raise JournalVerificationError(
                f"journal {self.path} has entries but no signed head ({self.head_path}); "
                "it may have been truncated. Verify it with `agp verify` before appending"
            )
        self._next_seq = last.seq + 1
        self._prev = last.hash
        self._prev_raw = bytes.fromhex(last.hash)
        self._tree = self._restore_tree(head, last)
        with self._wcv:
            self._next_write = self._next_seq
            self._durable_seq = last.seq
        if recovery is not None:
            self._append("journal.recovery", "", recovery)
        self._append_open(reopened=True)

    def _restore_tree(self, head: Head, last: Entry) -> CompactRange:
        """The compact range after ``last``: the signed head's state plus the entries after the head.

        A head without tree state (written before the tree existed) means one pass over the file.
        """
        extra = dict(head.extra)
        if "tree" in extra:
            try:
                tree = CompactRange.from_bytes(base64.b64decode(extra["tree"], validate=True))
            except ValueError as exc:
                raise JournalVerificationError(f"{self.head_path}: bad tree state: {exc}") from exc
            if tree.size != head.seq + 1:
                raise JournalVerificationError(
                    f"{self.head_path}: tree state has {tree.size} leaves, the head covers {head.seq + 1} entries"
                )
            after = last.seq - head.seq
            if after:
                size = os.fstat(self._fd).st_size
                for off, line in read_last_entries(self._fd, size, after):
                    tree.append(bytes.fromhex(self._check_line(off, line).hash))
            return tree
        tree = CompactRange()
        with open(self.path, "rb") as f:
            for line in f:
                tree.append(bytes.fromhex(json.loads(line)["hash"]))
        return tree

    def _last_newline_before(self, size: int) -> int:
        pos = size
        while pos > 0:
            start = max(0, pos - _BLOCK)
            block = _read_block(self._fd, start, pos - start)
            i = block.rfind(b"\n")
            if i >= 0:
                return start + i
            pos = start
        return -1

    def _check_line(self, offset: int, line: bytes) -> Entry:
        """Check one line's shape, hash and (when the key is ours) signature."""
        try:
            obj, plain = canonical_loads(line)
            entry, unsigned, signed, sig = parse_entry(obj, plain=plain)
        except (ValueError, EntryFormatError, CanonicalizationError) as exc:
            raise JournalVerificationError(f"entry at byte {offset} is not a valid entry: {exc}") from exc
        expect = _crypto.sha256(bytes.fromhex(entry.prev) + unsigned).hex()
        if not _crypto.digest_eq(expect, entry.hash):
            raise JournalVerificationError(
                f"hash mismatch: expected {expect[:16]}…, found {entry.hash[:16]}…", seq=entry.seq
            )
        if entry.kid == self._key.kid:
            try:
                self._key.public.verify(sig, signed)
            except _crypto.InvalidSignature:
                raise JournalVerificationError("bad signature", seq=entry.seq) from None
        return entry

    def _read_head_or_refuse(self) -> Head | None:
        try:
            head = read_head(self.head_path)
        except HeadFormatError as exc:
            raise JournalVerificationError(f"{self.head_path}: {exc}") from exc
        return head

    def _check_head(self, head: Head, last: Entry) -> None:
        if head.genesis != self._genesis:
            raise JournalVerificationError(f"{self.head_path} belongs to another journal (genesis differs)")
        if head.kid == self._key.kid:
            try:
                head.verify(self._key.public)
            except Exception:  # noqa: BLE001 - whatever stops the check, the head is not vouched for
                raise JournalVerificationError(f"{self.head_path}: bad signature") from None
        if head.seq > last.seq:
            raise JournalVerificationError(
                f"journal ends at entry {last.seq} but its signed head covers entry {head.seq}: truncated",
                seq=last.seq,
            )
        if head.seq == last.seq and head.hash != last.hash:
            raise JournalVerificationError(
                f"entry {head.seq} hash differs from the signed head: rewritten", seq=head.seq
            )
        # head.seq < last.seq: entries after the head; the full verifier checks them.

    def _append_open(self, *, reopened: bool) -> None:
        body = {"format": FORMAT, "public_key": self._key.public.to_b64(), "reopened": reopened, "pid": os.getpid()}
        entry = self._append("journal.open", "", body)
        if entry.seq == 0:
            self._genesis = entry.hash

    # ---------------------------------------------------------------- append
    @property
    def kid(self) -> str:
        return self._key.kid

    @property
    def public_key(self) -> PublicKey:
        return self._key.public

    @property
    def last_seq(self) -> int:
        """seq of the last durable entry (-1 if none)."""
        return self._durable_seq

    @property
    def genesis(self) -> str | None:
        return self._genesis

    @property
    def redactor(self) -> SecretRedactor:
        return self._redactor

    #: kinds only the journal itself writes
    RESERVED_KINDS = frozenset({"journal.open", "journal.head", "journal.recovery", "key.rotate"})

    def append(self, kind: str, session: str, body: Mapping[str, Any]) -> Entry:
        """Append one entry; return it once its line is durable. Raises JournalWriteError."""
        if kind in self.RESERVED_KINDS:
            raise ValueError(f"kind {kind!r} is written by the journal itself")
        return self._append_batch(((kind, session, body),))[0]

    def append_many(self, items: Iterable[tuple[str, str, Mapping[str, Any]]]) -> list[Entry]:
        """Append several ``(kind, session, body)`` entries as consecutive entries of the chain (no
        other append comes between them); return them once all their lines are durable.

        One chain-lock section and one wait for the whole list: for a caller that has several
        entries at once this costs about one append's overhead plus the signatures. Durability
        is per entry as with :meth:`append`: a crash before this returns may keep a prefix of
        the list (the journal stays valid). Nothing is appended if any item is refused before
        sealing (a reserved kind, a body that cannot be canonicalized). Raises JournalWriteError.
        """
        items = tuple(items)
        for kind, _, _ in items:
            if kind in self.RESERVED_KINDS:
                raise ValueError(f"kind {kind!r} is written by the journal itself")
        return self._append_batch(items)

    def _append(self, kind: str, session: str, body: Mapping[str, Any], rotate_to: SigningKey | None = None) -> Entry:
        return self._append_batch(((kind, session, body),), rotate_to)[0]

    def _append_batch(
        self, items: tuple[tuple[str, str, Mapping[str, Any]], ...], rotate_to: SigningKey | None = None
    ) -> list[Entry]:
        if self._failed is not None:
            raise JournalWriteError(f"journal {self.path} failed earlier ({self._failed}); reopen it")
        if self._closed:
            raise JournalWriteError(f"journal {self.path} is closed")
        if not items:
            return []
        wcv = self._wcv
        with wcv:  # the writer may hold a batch open for appends under way (see _writer)
            self._preparing += 1
        queued = placed = False
        try:
            prepared = []
            redact = self._redactor.redact
            for kind, session, given in items:
                if type(kind) is not str or not kind or type(session) is not str:
                    raise JournalWriteError("kind must be a non-empty string and session a string")
                body = redact(dict(given))
                try:
                    body_c = canonicalize(body)
                except CanonicalizationError as exc:
                    raise JournalWriteError(f"body cannot be canonicalized: {exc}") from exc
                prepared.append((kind, session, body, b'{"body":' + body_c, jstr(kind), jstr(session)))
            sealed = []
            sha256 = hashlib.sha256
            with self._chain_lock:  # keep this section short: it is the only serial part of an append
                if self._failed is not None:
                    raise JournalWriteError(f"journal {self.path} failed earlier ({self._failed}); reopen it")
                key = self._key
                kid_c = b',"kid":"' + key.kid.encode() + b'","kind":'
                for kind, session, body, head, kind_c, session_c in prepared:
                    seq = self._next_seq
                    prev = self._prev
                    ts = format_ts(self._clock())
                    unsigned = (
                        head
                        + kid_c
                        + kind_c
                        + b',"prev":"'
                        + prev.encode()
                        + b'","seq":'
                        + str(seq).encode()
                        + b',"session":'
                        + session_c
                        + b',"ts":"'
                        + ts.encode()
                        + b'"}'
                    )
                    digest = sha256(self._prev_raw + unsigned).digest()
                    self._prev_raw = digest
                    self._prev = h = digest.hex()
                    self._next_seq = seq + 1
                    self._tree.append(digest)
                    if kind == "journal.head":
                        self._tree_at[seq] = self._tree.copy()
                    sealed.append((kind, session, body, head, unsigned, ts, seq, prev, h))
                placed = True
                if rotate_to is not None:
                    self._key = rotate_to  # entries after the rotation entry use the new key
            done = []
            for kind, session, body, head, unsigned, ts, seq, prev, h in sealed:
                # ts_c is the fixed-shape tail ,"ts":"...Z"} of the canonical text
                cut = len(unsigned) - len(ts) - 9  # len(b',"ts":""}') == 9
                tail, ts_c = unsigned[len(head) : cut], unsigned[cut:]
                done.append(
                    finish(key, body, head, tail, ts_c, h, kind=kind, prev=prev, seq=seq, session=session, ts=ts)
                )
            last = sealed[-1][6]
            w = self._waiter()
            with wcv:
                self._preparing -= 1
                queued = True
                if self._failed is not None:
                    raise JournalWriteError(f"journal append failed: {self._failed}")
                ready = self._ready
                for entry, line in done:
                    ready[entry.seq] = (line, entry, w if entry.seq == last else None)
                self._queued += 1
                if sealed[0][6] == self._next_write or (self._holding and self._batch_complete()):
                    wcv.notify()
        except BaseException as exc:
            if placed and not queued:
                # our seqs are taken but will never be queued: no later entry can be written
                self._abandon(exc)
                if not isinstance(exc, JournalWriteError) and isinstance(exc, Exception):
                    raise JournalWriteError(
                        f"journal append failed after taking its place in the chain: {exc!r}"
                    ) from exc
            raise
        finally:
            if not queued:
                with wcv:
                    self._preparing -= 1
                    if self._holding and self._batch_complete():
                        wcv.notify()
        # The writer releases w once it has settled our last entry (durable or failed). A
        # release left over from an interrupted wait cannot end this one early: the loop re-checks.
        while self._durable_seq < last and self._failed is None:
            w.acquire()
        if self._durable_seq < last:
            raise JournalWriteError(f"journal append failed: {self._failed}")
        return [entry for entry, _ in done]

    def _abandon(self, exc: BaseException) -> None:
        """Poison the journal after an append took seqs it will never queue (the chain has a gap
        from there on): entries queued behind the gap fail instead of waiting forever. Nothing
        past the gap was written, so the file needs no cut."""
        with self._wcv:
            if self._failed is None:
                self._failed = JournalWriteError(
                    f"an append to {self.path} failed after taking its place in the chain ({exc!r}); reopen it"
                )
            stranded = list(self._ready.values())
            self._ready.clear()
            self._queued = 0
            self._wcv.notify()
        for _, _, w in stranded:
            if w is not None:
                _wake(w)

    def _batch_complete(self) -> bool:
        """No append is under way and as many are queued as the writer expects (hold ``_wcv``)."""
        return not self._preparing and self._queued >= self._target

    def _waiter(self) -> threading.Lock:
        """This thread's wake-up lock: held by the thread between appends; the writer releases
        it once the thread's entry is durable (a bare lock costs far less than an Event)."""
        w: threading.Lock | None = getattr(self._local, "waiter", None)
        if w is None:
            w = threading.Lock()
            w.acquire()
            self._local.waiter = w
        return w

    def _writer(self) -> None:
        """The committing thread: one write and one fdatasync per batch of contiguous entries.

        Before it writes a batch it may hold it open, at most as long as the last sync took,
        while appends are under way (between their start and their queueing) or until as many
        appenders are queued as were woken by the last sync plus those already waiting then:
        appenders that call again as soon as they return then share one sync instead of
        splitting into two halves that alternate. A lone appender never waits for this.
        """
        wcv = self._wcv
        while True:
            with wcv:
                while self._next_write not in self._ready and not self._stop_writer:
                    wcv.wait()
                if self._next_write not in self._ready:
                    return  # stopping and nothing left to write
                if not self._batch_complete() and not self._stop_writer:
                    deadline = time.monotonic() + self._sync_s
                    self._holding = True
                    while not self._batch_complete() and not self._stop_writer:
                        left = deadline - time.monotonic()
                        if left <= 0:
                            break
                        wcv.wait(left)
                    self._holding = False
                batch = []
                s = self._next_write
                ready = self._ready
                while s in ready:
                    batch.append(ready.pop(s))
                    s += 1
                woken = sum(1 for _, _, w in batch if w is not None)
                self._queued -= woken
            try:
                self._write_durably(b"".join(line for line, _, _ in batch))
            except BaseException as exc:  # noqa: BLE001 - every failure poisons the journal
                with wcv:
                    self._poison(exc)
                    stranded = list(self._ready.values())
                    self._ready.clear()
                    self._queued = 0
                for _, _, w in batch + stranded:
                    if w is not None:
                        _wake(w)
                continue
            with wcv:
                self._next_write = s
                self._durable_seq = s - 1
                self._target = woken + self._queued
            on_append = self._on_append
            for _, entry, w in batch:
                if on_append is not None:
                    with contextlib.suppress(Exception):  # an observer must never break the journal
                        on_append(entry)
                if w is not None:
                    _wake(w)

    def _write_durably(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]
        t = time.monotonic()
        os.fdatasync(self._fd)
        self._sync_s = min(time.monotonic() - t, _MAX_HOLD_S)
        self._durable_size += len(data)

    def _poison(self, exc: BaseException) -> None:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else repr(exc)
        self._failed = JournalWriteError(f"write to {self.path} failed: {reason}")
        # cut any partial batch so no line the writer did not confirm stays behind
        try:
            os.ftruncate(self._fd, self._durable_size)
            os.fsync(self._fd)
        except OSError:
            pass

    # ------------------------------------------------------------------ head
    def write_head(self) -> Head:
        """Announce (``journal.head`` entry) and write the signed head covering it. Raises JournalWriteError."""
        with self._head_lock:
            e = self._append("journal.head", "", {"covers": "this entry"})
            if self._genesis is None:
                raise RuntimeError("internal error: self._genesis is not set")
            tree = self._tree_at.pop(e.seq)
            head = Head.create(
                self._key,
                genesis=self._genesis,
                seq=e.seq,
                hash=e.hash,
                ts=e.ts,
                extra=checkpoint_fields(self._key, self._genesis, tree),
            )
            try:
                write_head_file(self.head_path, head)
            except OSError as exc:
                self._poison(exc)
                raise JournalWriteError(f"cannot write the signed head {self.head_path}: {exc.strerror}") from exc
            self._head_seq = e.seq
            return head

    def _head_loop(self, every: float) -> None:
        last = self._durable_seq
        while not self._stop_head.wait(every):
            if self._failed is not None or self._closed:
                return
            if self._durable_seq != last:
                try:
                    self.write_head()
                except JournalWriteError:
                    return  # poisoned: every append now fails, which is what callers see
                last = self._durable_seq

    # ---------------------------------------------------------------- rotate
    def rotate(self, new_key: SigningKey) -> Entry:
        """Append a ``key.rotate`` entry signed by the current key introducing ``new_key``.

        Entries after it are signed by ``new_key``; the head is rewritten with it.
        """
        if new_key.kid == self._key.kid:
            raise JournalError("the new key is the current key")
        with self._head_lock:  # no head may be written between the rotation and the new key's head
            body = {"new_kid": new_key.kid, "new_public_key": new_key.public.to_b64(), "previous_kid": self._key.kid}
            entry = self._append("key.rotate", "", body, rotate_to=new_key)
            self.write_head()
        return entry

    # ----------------------------------------------------------------- close
    def close(self) -> None:
        """Write the head (if anything is new) and release the journal."""
        if self._closed:
            return
        self._stop_head.set()
        if self._head_thread is not None:
            self._head_thread.join()
        try:
            if self._failed is None and self._head_seq != self._durable_seq:
                self.write_head()
        finally:
            self._closed = True
            self._stop_writer_thread()
            try:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            finally:
                os.close(self._fd)

    def _stop_writer_thread(self) -> None:
        with self._wcv:
            self._stop_writer = True
            self._wcv.notify()
        if self._writer_thread.is_alive():
            self._writer_thread.join()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _wake(w: threading.Lock) -> None:
    with contextlib.suppress(RuntimeError):  # already released: the waiter re-checks anyway
        w.release()


def checkpoint_fields(key: SigningKey, genesis: str, tree: CompactRange) -> dict[str, str]:
    """The head's transparency fields: a C2SP signed checkpoint (origin = the journal's
    origin, size = entries covered, RFC 6962 root) and the compact range to resume from."""
    from agp.journal.checkpoint import format_checkpoint, journal_origin, sign_checkpoint

    origin = journal_origin(genesis)
    note = sign_checkpoint(format_checkpoint(origin, tree.size, tree.root()), key, origin)
    return {"checkpoint": note, "tree": base64.b64encode(tree.to_bytes()).decode("ascii")}


@dataclass(frozen=True, slots=True)
class RotatedKey:
    """What :func:`rotate_key` did."""

    old_kid: str
    new_kid: str
    rotation_seq: int
    key_file: Path
    public_key: Path
    keyring: Path
    retired: Path


def _kid_in_force(path: Path) -> str | None:
    """The key the journal at ``path`` expects next (its last entry's, or the one it rotated to)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        size = os.fstat(fd).st_size
        if size == 0:
            return None
        end = size
        while end > 0 and _read_block(fd, end - 1, 1) != b"\n":  # a torn last line is not an entry
            end -= 1
        if end == 0:
            return None
        ((_, line),) = read_last_entries(fd, end, 1)
        obj = json.loads(line)
        if obj.get("kind") == "key.rotate" and isinstance(obj.get("body"), dict):
            kid = obj["body"].get("new_kid")
        else:
            kid = obj.get("kid")
        return kid if isinstance(kid, str) else None
    finally:
        os.close(fd)


def rotate_key(journal_path: str | os.PathLike[str], key_dir: str | os.PathLike[str]) -> RotatedKey:
    """Rotate the key in ``key_dir``: the journal records a ``key.rotate`` entry signed by the old
    key introducing a new one, then the key directory switches to the new key (the old one is
    kept in ``retired/``, ``keyring.json`` lists both).

    The journal must not be open elsewhere. If recording the rotation fails, the key directory
    is left as it was; if the journal recorded it but the head could not be written, the new
    key is still installed (the journal expects it now) and the error is raised afterwards.
    """
    jp = Path(journal_path)
    if not jp.is_file():
        raise UsageError(f"no journal at {jp}; a rotation is recorded in a journal")
    rotation = KeyRotation.stage(key_dir)
    try:
        journal = Journal.open(jp, rotation.old)
    except BaseException:
        rotation.abandon()
        raise
    failure: BaseException | None = None
    entry: Entry | None = None
    try:
        entry = journal.rotate(rotation.new)
    except BaseException as exc:  # noqa: BLE001 - decided below from what the journal holds
        failure = exc
    try:
        journal.close()
    except BaseException as exc:  # noqa: BLE001
        failure = failure or exc
    if entry is None and _kid_in_force(jp) != rotation.new.kid:
        rotation.abandon()
        if failure is None:
            raise RuntimeError("internal error: failure is not set")
        raise failure
    keyring = rotation.install()
    if failure is not None:
        raise failure
    if entry is None:
        raise RuntimeError("internal error: entry is not set")
    d = rotation.directory
    return RotatedKey(
        old_kid=rotation.old.kid,
        new_kid=rotation.new.kid,
        rotation_seq=entry.seq,
        key_file=d / KEY_FILE,
        public_key=d / PUB_FILE,
        keyring=keyring,
        retired=rotation.retired,
    )
