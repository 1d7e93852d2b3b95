"""A witness: cosigns a log's checkpoint only if it is consistent with the last one it cosigned.

A witness directory (``agp witness init --dir D``)::

    D/witness.key     Ed25519 private key, PKCS#8 PEM, mode 0600 (keep this machine offline)
    D/witness.pub     the public key, PEM
    D/witness.vkey    the verifier key to hand out: <name>+<key id>+base64(0x04 || key)
    D/witness.json    {"name": ...}
    D/state.json      per log origin: the last cosigned checkpoint (size, root, note) and the pinned log key
    D/evidence/       signed checkpoints that contradict what was cosigned (a fork or a rewrite)

Rules, as in c2sp.org/tlog-witness (add-checkpoint), without the network:

- the checkpoint must carry a valid signature by the pinned log key (pinned on
  first use with ``log_key``; a different key later is refused);
- the consistency proof's old size must be the size the witness last cosigned
  for that origin (0 if never): anything else is refused, saying which size;
- a smaller size is a rollback; the same size with another root is a fork;
  a bigger size needs a consistency proof from the old size that verifies;
- only then is the state replaced (atomically, fsynced) and the cosignature
  (c2sp.org/tlog-cosignature, cosignature/v1) returned.

Refusals raise :class:`agp.errors.JournalVerificationError`; a fork or a
failed consistency proof also writes both signed notes to ``D/evidence/``:
two checkpoints signed by the same log key that cannot both be true are
proof of misbehaviour anyone can check with the log's public key.
"""

from __future__ import annotations

import base64
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agp.errors import JournalVerificationError, KeyFileError, UsageError
from agp.journal.checkpoint import (
    SIG_TYPE_COSIGNATURE_V1,
    SIG_TYPE_ED25519,
    Checkpoint,
    VerifierKey,
    _public_raw,
    cosign_checkpoint,
    open_checkpoint,
    parse_checkpoint_body,
    parse_unverified_note,
    parse_vkey,
    vkey,
)
from agp.journal.keys import SigningKey, _write_new, load_public_key, load_signing_key
from agp.journal.merkle import EMPTY_ROOT, verify_consistency
from agp.journal.proofs import ConsistencyProof

__all__ = (
    "STATE_FILE",
    "WITNESS_KEY_FILE",
    "WITNESS_VKEY_FILE",
    "LogRecord",
    "Witness",
    "WitnessState",
    "init_witness",
    "load_log_key",
    "split_add_checkpoint",
)

WITNESS_KEY_FILE = "witness.key"
WITNESS_PUB_FILE = "witness.pub"
WITNESS_VKEY_FILE = "witness.vkey"
WITNESS_CONFIG_FILE = "witness.json"
STATE_FILE = "state.json"
EVIDENCE_DIR = "evidence"


def _write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    tmp = path.with_name(path.name + f".tmp.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dfd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


@dataclass(frozen=True)
class LogRecord:
    """What a witness remembers about one log: the last checkpoint it cosigned and the pinned log key."""

    origin: str
    size: int
    root_b64: str
    log_vkey: str
    checkpoint: str
    cosigned_at: int

    def to_json(self) -> dict[str, Any]:
        return {
            "size": self.size,
            "root": self.root_b64,
            "log_vkey": self.log_vkey,
            "checkpoint": self.checkpoint,
            "cosigned_at": self.cosigned_at,
        }


class WitnessState:
    """The witness's memory, one record per log origin; saved atomically."""

    def __init__(self, path: Path, logs: dict[str, LogRecord] | None = None) -> None:
        self.path = path
        self.logs = logs or {}

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> WitnessState:
        p = Path(path)
        try:
            doc = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls(p)
        except (OSError, ValueError) as exc:
            raise UsageError(f"cannot read witness state {p}: {exc}") from exc
        try:
            logs = {
                o: LogRecord(o, int(r["size"]), r["root"], r["log_vkey"], r["checkpoint"], int(r["cosigned_at"]))
                for o, r in doc["logs"].items()
            }
        except (KeyError, TypeError, ValueError) as exc:
            raise UsageError(f"witness state {p} is malformed: {exc}") from exc
        return cls(p, logs)

    def save(self) -> None:
        doc = {"version": 1, "logs": {o: r.to_json() for o, r in sorted(self.logs.items())}}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _write_atomic(self.path, (json.dumps(doc, indent=1) + "\n").encode("utf-8"), 0o600)


def split_add_checkpoint(text: str) -> tuple[str | None, str]:
    """Split a tlog-witness add-checkpoint body (``old N``, proof lines, blank line, note) into (proof text, note).

    A bare signed checkpoint gives (None, note).
    """
    if not text.startswith("old "):
        return None, text
    head, sep, note = text.partition("\n\n")
    if not sep:
        raise JournalVerificationError("add-checkpoint body: no blank line between the proof and the checkpoint")
    return head + "\n", note


def load_log_key(path_or_text: str | os.PathLike[str], origin: str) -> VerifierKey:
    """The log key as a note verifier: a vkey (file or text) or an agp public key file (named after ``origin``)."""
    s = str(path_or_text)
    p = Path(s)
    if p.is_file():
        data = p.read_text(encoding="utf-8").strip()
        if "BEGIN" not in data and "+" in data.split("\n")[0] and not data.startswith("{"):
            return parse_vkey(data)
        return VerifierKey(origin, SIG_TYPE_ED25519, load_public_key(p).raw)
    if "+" in s:
        return parse_vkey(s)
    raise KeyFileError(f"no log key at {s} (give agp.pub or a vkey)")


class Witness:
    """A witness identity: a name and an Ed25519 key used only for cosignature/v1."""

    def __init__(self, name: str, key: Any, directory: Path | None = None) -> None:
        self.name = name
        self.key = key
        self.directory = directory
        self.verifier = VerifierKey(name, SIG_TYPE_COSIGNATURE_V1, _public_raw(key.public))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Witness:
        """From a witness directory or its witness.key (the name comes from witness.json next to it)."""
        p = Path(path)
        d = p if p.is_dir() else p.parent
        keyfile = p / WITNESS_KEY_FILE if p.is_dir() else p
        try:
            cfg = json.loads((d / WITNESS_CONFIG_FILE).read_text(encoding="utf-8"))
            name = cfg["name"]
        except FileNotFoundError as exc:
            raise KeyFileError(
                f"no {WITNESS_CONFIG_FILE} in {d} (create the witness with `agp witness init --dir {d}`)"
            ) from exc
        except (ValueError, KeyError, OSError) as exc:
            raise KeyFileError(f"{d / WITNESS_CONFIG_FILE} is not a witness config: {exc}") from exc
        return cls(name, load_signing_key(keyfile), d)

    @property
    def vkey(self) -> str:
        return self.verifier.to_vkey()

    # ------------------------------------------------------------- cosigning
    def cosign(
        self,
        note: str,
        state: WitnessState,
        *,
        log_key: VerifierKey | None = None,
        proof: ConsistencyProof | str | None = None,
        now: Callable[[], float] = time.time,
    ) -> str:
        """Check ``note`` against ``state`` and return it with this witness's cosignature appended.

        The state is updated and saved before the cosignature is returned.
        """
        unverified = parse_unverified_note(note)
        origin, size, root, _ = parse_checkpoint_body(unverified.text)
        record = state.logs.get(origin)
        if record is not None:
            pinned = parse_vkey(record.log_vkey)
            if log_key is not None and (log_key.public_raw != pinned.public_raw or log_key.name != pinned.name):
                raise JournalVerificationError(
                    f"log {origin!r} is pinned to key {pinned.to_vkey()}, but {log_key.to_vkey()} was given; "
                    "a witness does not change a log's key silently"
                )
            log_key = pinned
        elif log_key is None:
            raise UsageError(f"the witness has never seen log {origin!r}: give its public key (--log-key) to pin it")
        if log_key.sig_type != SIG_TYPE_ED25519:
            raise UsageError("the log key must be an Ed25519 (type 0x01) key")
        cp = open_checkpoint(note, log_key, origin=origin)
        if size == 0 and root != EMPTY_ROOT:
            raise JournalVerificationError("a checkpoint of size 0 must have the empty tree's root")
        if isinstance(proof, str):
            proof = ConsistencyProof.from_text(proof, size)
        old_size = record.size if record is not None else 0
        if proof is not None and proof.old_size != old_size:
            raise JournalVerificationError(
                f"the consistency proof starts at size {proof.old_size}, but this witness last cosigned size {old_size} "
                f"of {origin!r}: make a proof from {old_size}"
            )
        if record is not None:
            old_root = base64.b64decode(record.root_b64)
            if size < record.size:
                self._evidence(state, record, cp, "rollback")
                raise JournalVerificationError(
                    f"rollback: the checkpoint has tree size {size}, but this witness already cosigned size {record.size} of {origin!r}"
                )
            if size == record.size:
                if root != old_root:
                    ev = self._evidence(state, record, cp, "fork")
                    raise JournalVerificationError(
                        f"fork: two checkpoints of {origin!r} at tree size {size} with different roots, both signed by the log: "
                        f"cosigned {record.root_b64}, now {cp.root_b64}" + (f" (evidence: {ev})" if ev else "")
                    )
            else:
                hashes = list(proof.hashes) if proof is not None else []
                if proof is None:
                    raise JournalVerificationError(
                        f"the witness last cosigned size {record.size} of {origin!r}; a checkpoint of size {size} needs a "
                        f"consistency proof from {record.size} (agp journal consistency --old {record.size})"
                    )
                try:
                    verify_consistency(record.size, size, hashes, old_root, root)
                except JournalVerificationError as exc:
                    ev = self._evidence(state, record, cp, "inconsistent")
                    raise JournalVerificationError(
                        f"not consistent with the checkpoint this witness cosigned (size {record.size}): {exc.reason}"
                        + (f" (evidence: {ev})" if ev else "")
                    ) from None
        elif proof is not None and proof.hashes:
            raise JournalVerificationError("a consistency proof from size 0 must be empty")
        ts = int(now())
        cosigned = cosign_checkpoint(cp.note, self.key, self.name, ts)
        if record is None or size > record.size or record.checkpoint != cp.note:
            state.logs[origin] = LogRecord(origin, size, cp.root_b64, log_key.to_vkey(), cp.note, ts)
            state.save()
        return cosigned

    def _evidence(self, state: WitnessState, record: LogRecord, cp: Checkpoint, what: str) -> str | None:
        """Keep both signed notes: together they show the log signed two views that cannot both hold."""
        try:
            d = state.path.parent / EVIDENCE_DIR
            d.mkdir(parents=True, exist_ok=True)
            safe = re.sub(r"[^A-Za-z0-9._-]+", "_", cp.origin)
            p = d / f"{what}-{safe}-{record.size}-{cp.size}-{int(time.time())}.txt"
            body = (
                f"# {what}: two checkpoints of {cp.origin} signed by {record.log_vkey}\n"
                f"# cosigned earlier (size {record.size}):\n{record.checkpoint}\n"
                f"# presented now (size {cp.size}):\n{cp.note}"
            )
            _write_atomic(p, body.encode("utf-8"))
            return str(p)
        except OSError:
            return None


def init_witness(directory: str | os.PathLike[str], name: str) -> Witness:
    """Create a witness: key (0600), public key, vkey, config. Refuses to overwrite."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    for f in (WITNESS_KEY_FILE, WITNESS_PUB_FILE, WITNESS_VKEY_FILE, WITNESS_CONFIG_FILE):
        if (d / f).exists():
            raise KeyFileError(f"{d / f} already exists; refusing to overwrite a witness")
    key = SigningKey.generate()
    w = Witness(name, key, d)  # validates the name
    _write_new(d / WITNESS_KEY_FILE, key.to_pem(), 0o600)
    _write_new(d / WITNESS_PUB_FILE, key.public.to_pem(), 0o644)
    _write_new(d / WITNESS_VKEY_FILE, (vkey(name, key.public.raw, SIG_TYPE_COSIGNATURE_V1) + "\n").encode(), 0o644)
    _write_new(d / WITNESS_CONFIG_FILE, (json.dumps({"name": name}) + "\n").encode(), 0o644)
    return w
