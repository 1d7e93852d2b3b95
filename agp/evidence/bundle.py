"""Build and verify evidence bundles.

A bundle is a directory an auditor can check offline with the public key alone::

    manifest.json, manifest.sig    sha256 of every other file; Ed25519 by the journal's key
    journal.jsonl, journal.jsonl.head
    keys/agp.pub (+ keys/keyring.json after rotations)    public keys only
    verify.txt, verify.json        `agp verify` of the journal, as text and JSON
    timeline.md, timeline.json     every journal event
    aar.md, aar.json               the after-action report
    reconciliation.json            the harness's transcript against the gate decisions
    run.json, policy.toml          the run's metadata and the policy in force (copies)
    changes.patch                  clone mode: the agent's change (digest journaled as workspace.result)
    transcript/…, logs/…           the harness's own transcript and the run's logs (copies)

Fail closed: :func:`build_bundle` always writes the bundle (so the auditor can see what
happened) but marks it ``failed`` in the signed manifest and raises :class:`EvidenceError`
when the journal does not verify, no call was gated, the transcript shows a call without
a gate decision, or any other ``fail`` anomaly. :func:`verify_bundle` checks everything
again from the bundle alone and raises on the first problem; :func:`check_bundle`
returns every problem as data (:class:`~agp.evidence.problem.Problem`: ``{code, message,
where}``). Both read the bundle through :mod:`agp.evidence.source`, so a bundle directory,
a run directory, a ``.zip`` (a CI artifact) and a ``.tar.gz`` are checked alike.

The builder streams every file (copied in 1 MiB chunks, hashed while copied, secrets
redacted across chunk seams): memory does not grow with a log's or a transcript's size.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import shutil
import stat
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agp.errors import AgpError, EvidenceError, JournalVerificationError, UsageError
from agp.evidence import manifest as mf
from agp.evidence._entries import read_entries
from agp.evidence.aar import AarCollector, policy_rules, render_aar_md
from agp.evidence.problem import Problem
from agp.evidence.reconcile import Anomaly, Reconciliation, decision_ref, reconcile
from agp.evidence.source import ArchiveError, BundleSource, open_bundle
from agp.evidence.timeline import TimelineWriter
from agp.evidence.transcripts import HARNESSES, load_transcript, load_transcript_from
from agp.journal import Keyring, PublicKey, SecretRedactor, SigningKey
from agp.journal.chain import format_ts
from agp.journal.keys import KEYRING_FILE, PUB_FILE
from agp.journal.verify import VerifyError, VerifyReport, scan_journal

__all__ = ("BUNDLE_FORMAT", "BundleReport", "build_bundle", "bundle_keys", "check_bundle", "verify_bundle")

BUNDLE_FORMAT = "agp-evidence/1"
JOURNAL = "journal.jsonl"
HEAD = "journal.jsonl.head"
KEYS = "keys"
TRANSCRIPT = "transcript"
#: clone mode: the agent's change, as a binary git patch (its sha256 is in the journal's workspace.result)
PATCH = "changes.patch"
LOGS = "logs"
RECONCILIATION = "reconciliation.json"

TRUST_SUPPLIED = "supplied by the verifier"
TRUST_TOFU = (
    "the bundle's own key (trust on first use: anyone who rewrote the bundle could have replaced it; pass --key PUB)"
)
_CHUNK = 1 << 20
_SMALL = 64 << 20  # run.json, keys, the reports: read whole, so capped


@dataclass
class BundleReport:
    """What a build or a verification found. ``ok`` is False when any error was found."""

    bundle_dir: str
    errors: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    anomalies: list[dict[str, Any]] = field(default_factory=list)
    gated: int = 0
    counts: dict[str, Any] = field(default_factory=dict)
    journal: dict[str, Any] = field(default_factory=dict)
    journal_ok: bool = False
    trust: str | None = None
    trusted_kids: list[str] = field(default_factory=list)
    manifest_kid: str | None = None
    files: int = 0
    harness: str | None = None
    run_id: str | None = None

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def failures(self) -> list[str]:
        """The errors as one line each (``[code] where: message``), as the manifest and the report list them."""
        return [f"[{p.code}] {p}" for p in self.errors]

    def fail(self, code: str, message: str, where: str = "") -> None:
        self.errors.append(Problem(code, message, where))

    @property
    def status(self) -> str:
        return "good" if self.ok else "failed"

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "kind": "bundle",
            "status": self.status,
            "bundle": self.bundle_dir,
            "errors": [p.to_json_dict() for p in self.errors],
            "warnings": self.warnings,
            "run_id": self.run_id,
            "harness": self.harness,
            "gated": self.gated,
            "counts": self.counts,
            "anomalies": self.anomalies,
            "trust": self.trust,
            "trusted_kids": self.trusted_kids,
            "manifest_kid": self.manifest_kid,
            "files": self.files,
            "journal": self.journal,
        }


# --------------------------------------------------------------------- helpers
def _open_regular(path: Path) -> Any:
    """Open a regular file for reading without following a symlink (O_NOFOLLOW)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    f = os.fdopen(fd, "rb")
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        f.close()
        raise EvidenceError(f"{path}: not a regular file")
    return f


def _read_regular(path: Path, cap: int = _SMALL) -> bytes:
    """Read a small regular file whole (without following a symlink), refused past ``cap``."""
    with _open_regular(path) as f:
        data = f.read(cap + 1)
    if len(data) > cap:
        raise EvidenceError(f"{path}: larger than {cap} bytes")
    return data


def _chunks(f: Any) -> Any:
    while block := f.read(_CHUNK):
        yield block


def _sink(path: Path, chunks: Any, hashes: dict[str, tuple[str, int]] | None, rel: str | None) -> None:
    """Write ``chunks`` to ``path`` (fsync'd), hashing as it goes; record (sha256, size) under ``rel``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    h = hashlib.sha256()
    n = 0
    with open(path, "wb") as out:
        for block in chunks:
            out.write(block)
            h.update(block)
            n += len(block)
        out.flush()
        os.fsync(out.fileno())
    if hashes is not None and rel is not None:
        hashes[rel] = (h.hexdigest(), n)


def _write(path: Path, data: bytes | str) -> None:
    _sink(path, [data.encode("utf-8") if isinstance(data, str) else data], None, None)


def _copy(
    src: Path, dst: Path, hashes: dict[str, tuple[str, int]], rel: str, redactor: SecretRedactor | None = None
) -> None:
    """Stream one regular file from the run into the bundle: 1 MiB at a time, hashed while copied."""
    with _open_regular(src) as f:
        chunks = _chunks(f)
        if redactor is not None and redactor.names:
            chunks = redactor.redact_chunks(chunks)
        _sink(dst, chunks, hashes, rel)


def _json_bytes(obj: Any) -> bytes:
    return (json.dumps(obj, indent=2, sort_keys=False, ensure_ascii=False) + "\n").encode("utf-8")


def _copy_tree(
    src: Path,
    dst: Path,
    warnings: list[str],
    redactor: SecretRedactor | None,
    hashes: dict[str, tuple[str, int]],
    bundle: Path,
) -> int:
    """Copy regular files only (symlinks and special files are skipped and reported)."""
    n = 0
    if not src.is_dir():
        return 0
    for dirpath, dirnames, filenames in os.walk(src, followlinks=False):
        d = Path(dirpath)
        for name in list(dirnames):
            if (d / name).is_symlink():
                warnings.append(f"skipped symlinked directory {(d / name).relative_to(src.parent)}")
                dirnames.remove(name)
        for name in sorted(filenames):
            p = d / name
            rel = p.relative_to(src)
            if p.is_symlink() or not p.is_file():
                warnings.append(f"skipped {src.name}/{rel}: not a regular file")
                continue
            try:
                _copy(p, dst / rel, hashes, (dst / rel).relative_to(bundle).as_posix(), redactor)
            except (OSError, EvidenceError) as exc:
                warnings.append(f"skipped {src.name}/{rel}: {getattr(exc, 'strerror', None) or exc}")
                continue
            n += 1
    return n


def _private_markers(key: SigningKey) -> list[bytes]:
    """Byte strings whose presence means private key material: PEM markers and this key's seed."""
    pem = key.to_pem()
    body = b"".join(line for line in pem.splitlines() if line and not line.startswith(b"-----"))
    seed = base64.b64decode(body)[-32:]  # PKCS#8 Ed25519: the 32-byte seed ends the DER
    return [b"PRIVATE KEY-----", body, seed, seed.hex().encode(), base64.b64encode(seed).rstrip(b"=")]


def _contains_any(path: Path, markers: list[bytes]) -> bool:
    """Whether any marker occurs in the file (streamed in blocks that overlap by the longest marker)."""
    keep = max(len(m) for m in markers) - 1
    tail = b""
    with open(path, "rb") as f:
        while True:
            block = f.read(1 << 20)
            if not block:
                return False
            data = tail + block
            if any(m in data for m in markers):
                return True
            tail = data[-keep:] if keep else b""


def _bundle_keyring(bundle: Path) -> Keyring:
    ring = bundle / KEYS / KEYRING_FILE
    pub = bundle / KEYS / PUB_FILE
    if ring.is_file():
        return Keyring.load(ring)
    if pub.is_file():
        return Keyring.load(pub)
    raise EvidenceError(f"{KEYS}/: no public key ({PUB_FILE} or {KEYRING_FILE}) in the bundle; pass --key PUB")


def _decisions_and_rotations(journal: Path, collector: AarCollector) -> tuple[list[Any], dict[str, PublicKey]]:
    """One streaming pass: the gate decisions, the keys key.rotate entries introduced, the report counters.

    Only call after the journal verified: the verifier has already checked every rotation.
    """
    decisions = []
    keys: dict[str, PublicKey] = {}
    for _, e in read_entries(journal):
        if not e:
            continue
        collector.add(e)
        kind = e.get("kind")
        if kind == "gate.decision":
            decisions.append(decision_ref(e))
        elif kind == "key.rotate" and isinstance(e.get("body"), dict):
            try:
                k = PublicKey.from_b64(e["body"]["new_public_key"])
            except (AgpError, KeyError, TypeError):
                continue
            keys[k.kid] = k
    return decisions, keys


def _render_verify_text(report: VerifyReport, command: str) -> str:
    """`agp verify`'s summary of the journal, as plain text (the CLI prints the same lines in colour)."""
    return f"$ {command}\n" + "".join(line + "\n" for _, line in report.summary_lines())


def _guess_harness(run: dict[str, Any], harnesses: Counter[str]) -> str | None:
    h = run.get("harness") or run.get("intendant")
    if h in HARNESSES:
        return h
    for name, _ in harnesses.most_common():
        if name in HARNESSES:
            return name
    return None


def _journal_failure(report: VerifyReport) -> Problem:
    first = report.errors[0]
    more = f" (and {len(report.errors) - 1} more)" if len(report.errors) > 1 else ""
    return Problem(first.code, f"does not verify: {first}{more}", JOURNAL)


def _journal_problems(report: VerifyReport) -> list[Problem]:
    """Each problem the journal's verifier found, in the one shape."""
    return [
        Problem(**{k: v for k, v in e.to_json_dict(JOURNAL).items() if k in ("code", "message", "where")})
        for e in report.errors
    ]


# ----------------------------------------------------------------------- build
def build_bundle(
    run_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    signing_key: SigningKey,
    *,
    redactor: SecretRedactor | None = None,
    include_logs: bool = True,
    clock: Callable[[], float] = time.time,
) -> BundleReport:
    """Write the evidence bundle of ``run_dir`` to ``out_dir`` (which must not exist or be empty).

    ``signing_key`` is the journal's key in force at the end of the run; it signs the
    manifest. Returns the report of a good bundle; for a failed one, writes it, marks it
    failed and raises :class:`EvidenceError` (its ``report`` attribute holds the report).
    """
    run = Path(run_dir)
    out = Path(out_dir)
    if not (run / JOURNAL).is_file():
        raise EvidenceError(f"{run}: no {JOURNAL}; not a run directory")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise EvidenceError(f"{out} exists and is not empty; refusing to overwrite a bundle")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.partial-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(mode=0o755)
    try:
        report = _build_into(run, tmp, signing_key, redactor, include_logs, clock)
        if out.exists():
            out.rmdir()
        os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    try:
        fd = os.open(out.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass
    report.bundle_dir = str(out)
    if not report.ok:
        err = EvidenceError(f"evidence bundle written to {out} but marked FAILED: " + "; ".join(report.failures))
        err.report = report  # type: ignore[attr-defined]
        raise err
    return report


def _build_into(
    run: Path, b: Path, key: SigningKey, redactor: SecretRedactor | None, include_logs: bool, clock: Callable[[], float]
) -> BundleReport:
    rep = BundleReport(bundle_dir=str(b))
    warnings = rep.warnings
    hashes: dict[str, tuple[str, int]] = {}  # rel -> (sha256, size), computed while copying

    # 1. the journal, its head and the public keys, as they are now
    _copy(run / JOURNAL, b / JOURNAL, hashes, JOURNAL)
    if (run / HEAD).is_file():
        _copy(run / HEAD, b / HEAD, hashes, HEAD)
    keys_src = run / KEYS
    copied_keys = 0
    for name in (PUB_FILE, KEYRING_FILE):
        p = keys_src / name
        if p.is_file() and not p.is_symlink():
            data = _read_regular(p)
            if b"PRIVATE KEY" in data:
                rep.fail("private_key_material", "in the run holds private key material; not copied", f"{KEYS}/{name}")
                continue
            _write(b / KEYS / name, data)
            copied_keys += 1
    if keys_src.is_dir():
        for p in sorted(keys_src.iterdir()):
            if p.name not in (PUB_FILE, KEYRING_FILE):
                warnings.append(f"{KEYS}/{p.name} in the run was not copied (only public key files go into a bundle)")
    if copied_keys == 0:
        _write(b / KEYS / PUB_FILE, key.public.to_pem())
        warnings.append(f"the run has no public key files; {KEYS}/{PUB_FILE} is the signing key's public key")

    # 2. verify the copied journal with the journal's own verifier
    try:
        keyring = _bundle_keyring(b)
        vreport = scan_journal(b / JOURNAL, keyring, head_path=b / HEAD)
    except AgpError as exc:
        vreport = VerifyReport(path=JOURNAL)
        vreport.errors.append(VerifyError(None, None, exc.diagnostics()))
    vreport.path = JOURNAL
    rep.journal_ok = vreport.ok
    rep.journal = vreport.to_json_dict()
    key_opt = f"--keyring {KEYS}/{KEYRING_FILE}" if (b / KEYS / KEYRING_FILE).is_file() else f"--key {KEYS}/{PUB_FILE}"
    _write(b / "verify.txt", _render_verify_text(vreport, f"agp verify {JOURNAL} {key_opt}"))
    _write(b / "verify.json", _json_bytes(rep.journal))
    if not vreport.ok:
        rep.errors.append(_journal_failure(vreport))
    head_kid = vreport.head.get("kid") if vreport.head.get("present") else None
    if head_kid is not None and head_kid != key.kid:
        rep.fail(
            "manifest_key_not_in_force",
            f"the signing key {key.kid} is not the key in force at the journal's "
            f"head ({head_kid}); the manifest signature would not verify",
            mf.SIGNATURE,
        )

    # 3. run metadata, policy, transcript, logs
    run_meta: dict[str, Any] = {}
    if (run / "run.json").is_file():
        _copy(run / "run.json", b / "run.json", hashes, "run.json", redactor)
        try:  # the bundle's copy: what verify will read
            loaded = json.loads(_read_regular(b / "run.json"))
            run_meta = loaded if isinstance(loaded, dict) else {}
            if not run_meta:
                warnings.append("run.json is not a JSON object")
        except (ValueError, RecursionError, EvidenceError) as exc:
            warnings.append(f"run.json is not JSON: {exc}")
    else:
        warnings.append("the run has no run.json; the report uses the journal alone")
    if (run / "policy.toml").is_file():
        _copy(run / "policy.toml", b / "policy.toml", hashes, "policy.toml")
    if (run / PATCH).is_file():  # never redacted: its digest is journaled (workspace.result)
        _copy(run / PATCH, b / PATCH, hashes, PATCH)
    n_transcript = _copy_tree(run / TRANSCRIPT, b / TRANSCRIPT, warnings, redactor, hashes, b)
    if include_logs:
        _copy_tree(run / LOGS, b / LOGS, warnings, redactor, hashes, b)

    # 4. one pass over the journal: timeline, report counters, gate decisions
    rep.run_id = run_meta.get("run_id") if isinstance(run_meta.get("run_id"), str) else None
    note = (
        None
        if vreport.ok
        else f"**The journal does not verify** ({_journal_failure(vreport)}); these rows are unverified."
    )
    collector = AarCollector()
    decisions = []
    with TimelineWriter(
        b / "timeline.json",
        b / "timeline.md",
        verified=vreport.ok,
        title=f"Timeline of run {rep.run_id or '?'}",
        note=note,
    ) as timeline:
        for _, e in read_entries(b / JOURNAL):
            if e is None:
                continue
            timeline.add(e)
            collector.add(e)
            if e.get("kind") == "gate.decision":
                decisions.append(decision_ref(e))
    rep.gated = len(decisions)
    for problem in check_workspace_patch(
        lambda: read_entries(b / JOURNAL), b / PATCH if (b / PATCH).is_file() else None
    ):
        rep.fail(problem.code, problem.message, problem.where)

    # 5. reconciliation of the harness's transcript with the decisions
    harness = _guess_harness(run_meta, collector.harnesses)
    rep.harness = harness
    extra: list[Anomaly] = []
    if harness is None:
        extra.append(
            Anomaly(
                "fail",
                "harness_unknown",
                "neither run.json nor the journal names a known harness; the transcript cannot be read",
            )
        )
        rec = Reconciliation(harness="unknown", transcript_files=[], gated=len(decisions))
        transcript_meta: dict[str, Any] = {}
    else:
        transcript = load_transcript(b / TRANSCRIPT, harness)
        rec = reconcile(transcript, decisions)
        transcript_meta = transcript.meta
        del transcript
    if n_transcript and not rec.transcript_files:
        warnings.append(f"{TRANSCRIPT}/ holds {n_transcript} file(s), none of them a {harness} transcript")
    _write(b / RECONCILIATION, _json_bytes(rec.to_json_dict()))

    # the after-action report
    aar, anomalies = collector.finish(
        run=run_meta,
        verify=rep.journal,
        reconciliation=rec,
        policy=policy_rules(b / "policy.toml"),
        anomalies=extra,
    )
    aar["harness_reported"] = transcript_meta or None
    if rep.gated == 0:
        rep.fail("zero_gated", "zero tool calls were gated (no gate.decision entries in the journal)", JOURNAL)
    for a in anomalies:
        if a.severity == "fail":
            rep.fail(a.code, a.message, RECONCILIATION if a in rec.anomalies else "aar.json")
        else:
            warnings.append(f"{a.code}: {a.message}")
    rep.anomalies = [a.to_json_dict() for a in anomalies]
    rep.counts = aar["counts"]

    # 6. no private key material anywhere in the bundle
    markers = _private_markers(key)
    files, odd = mf.list_files(b)
    for rel in odd:
        rep.fail("file_not_regular", "not a regular file; removed", rel)
        (b / rel).unlink()
    for rel in files:
        if _contains_any(b / rel, markers):
            rep.fail("private_key_material", "holds private key material; removed from the bundle", rel)
            (b / rel).unlink()
            hashes.pop(rel, None)

    # 7. the reports carry the final status, then the signed manifest over everything
    aar["status"] = rep.status
    aar["failures"] = rep.failures
    aar["anomalies"] = rep.anomalies
    _write(b / "aar.json", _json_bytes(aar))
    _write(b / "aar.md", render_aar_md(aar))
    file_list = mf.file_entries(b, hashes)
    rep.files = len(file_list)
    manifest = {
        "format": mf.MANIFEST_FORMAT,
        "bundle_format": BUNDLE_FORMAT,
        "status": rep.status,
        "failures": rep.failures,
        "run_id": rep.run_id,
        "harness": harness,
        "created": format_ts(clock()),
        "gated": rep.gated,
        "kid": key.kid,
        "journal": {
            "entries": vreport.entries,
            "verified": vreport.ok,
            "head_seq": vreport.head.get("seq"),
            "head_hash": vreport.head.get("hash"),
        },
        "files": file_list,
    }
    _write(b / mf.MANIFEST, _json_bytes(manifest))
    _write(b / mf.SIGNATURE, _json_bytes(mf.sign_manifest(manifest, key)))
    rep.manifest_kid = key.kid
    rep.trust = "the run directory's public keys"
    rep.trusted_kids = sorted(keyring) if vreport.ok else []
    return rep


# ---------------------------------------------------------------------- verify
def check_bundle(
    bundle: str | os.PathLike[str] | BundleSource,
    keyring: Keyring | None = None,
    *,
    unsafe_trust_bundle_keys: bool = False,
    workers: int | None = None,
) -> BundleReport:
    """Check a bundle offline; return a report listing every problem (never raises for a bad bundle).

    ``bundle``: a bundle directory, a run directory or a demo's output holding one, a ``.zip`` or
    ``.tar.gz`` bundle, or an open :class:`~agp.evidence.source.BundleSource`.
    ``keyring``: the public key(s) the verifier trusts. Without it, :class:`UsageError`, unless
    ``unsafe_trust_bundle_keys``: then the bundle's own ``keys/`` are used, which is trust on
    first use (anyone who rewrote the bundle could have replaced them); the report says so.
    """
    if keyring is None and not unsafe_trust_bundle_keys:
        raise UsageError(
            "no trust root: give the public key(s) to verify the bundle with "
            "(or, knowingly, trust the bundle's own keys)"
        )
    if isinstance(bundle, (str, os.PathLike)):
        try:
            src = open_bundle(bundle)
        except ArchiveError as exc:
            rep = BundleReport(bundle_dir=str(bundle))
            rep.fail(exc.code, exc.message, exc.where)
            return rep
        with contextlib.closing(src):
            return check_bundle(src, keyring, unsafe_trust_bundle_keys=unsafe_trust_bundle_keys, workers=workers)
    src = bundle
    rep = BundleReport(bundle_dir=src.location)
    try:
        _check(src, rep, keyring, workers)
    except ArchiveError as exc:  # a member that cannot be read as declared (corrupt, bomb)
        rep.fail(exc.code, exc.message, exc.where)
    return rep


def bundle_keys(src: BundleSource) -> Keyring:
    """The public keys the bundle carries (``keys/keyring.json``, else ``keys/agp.pub``): trust on first use."""
    for name in (f"{KEYS}/{KEYRING_FILE}", f"{KEYS}/{PUB_FILE}"):
        if src.is_file(name):
            return Keyring.load(src.local_path(name))
    raise EvidenceError(f"{KEYS}/: no public key ({PUB_FILE} or {KEYRING_FILE}) in the bundle; pass --key PUB")


def _check(src: BundleSource, rep: BundleReport, keyring: Keyring | None, workers: int | None) -> None:
    outside = getattr(src, "outside", None)
    if outside:
        rep.warnings.append(
            f"{len(outside)} archive member(s) outside the bundle were not checked: "
            + ", ".join(outside[:5])
            + (" …" if len(outside) > 5 else "")
        )
    # keys
    if keyring is not None:
        rep.trust = TRUST_SUPPLIED
        try:
            bundled = bundle_keys(src)
            if not set(bundled) & set(keyring):
                rep.warnings.append(
                    f"the bundle's {KEYS}/ holds keys {sorted(bundled)}, none of them the supplied key(s)"
                )
        except AgpError:
            pass
    else:
        rep.trust = TRUST_TOFU
        rep.warnings.append("no key supplied: " + TRUST_TOFU)
        try:
            keyring = bundle_keys(src)
        except AgpError as exc:
            rep.fail("key_missing", exc.diagnostics(), KEYS + "/")
            return
    rep.trusted_kids = sorted(keyring)

    # manifest (parsed; its signature needs the journal's key in force, below)
    try:
        manifest, sig = mf.read_manifest(src)
    except EvidenceError as exc:
        missing = "missing from the bundle" in str(exc)
        name, _, msg = str(exc).partition(": ")
        rep.fail("manifest_missing" if missing else "manifest_invalid", msg, name)
        manifest, sig = None, None

    # the journal, with the journal's own verifier
    vreport = None
    if not src.is_file(JOURNAL):
        rep.fail("journal_missing", "missing from the bundle", JOURNAL)
    else:
        head = src.local_path(HEAD) if src.is_file(HEAD) else src.absent_path(HEAD)
        try:
            vreport = scan_journal(src.local_path(JOURNAL), keyring, head_path=head, workers=workers)
        except AgpError as exc:
            rep.fail("journal_invalid", exc.diagnostics(), JOURNAL)
    if vreport is not None:
        vreport.path = JOURNAL
        rep.journal = vreport.to_json_dict()
        rep.journal_ok = vreport.ok
        rep.errors[:0] = _journal_problems(vreport)

    if manifest is None or sig is None:
        return
    rep.run_id = manifest.get("run_id")
    rep.manifest_kid = sig.get("kid")

    # the manifest signature: by the key in force at the journal's head
    decisions: list[Any] = []
    collector = AarCollector()
    if vreport is not None and vreport.ok:
        decisions, rotated = _decisions_and_rotations(src.local_path(JOURNAL), collector)
        known = dict(keyring.items())
        known.update(rotated)
        head_kid = vreport.head.get("kid")
        if not isinstance(head_kid, str) or sig.get("kid") != head_kid:
            rep.fail(
                "manifest_signature_invalid",
                f"signed by key {sig.get('kid')}, but the journal's key in force is {head_kid}",
                mf.SIGNATURE,
            )
        else:
            try:
                mf.verify_manifest_signature(manifest, sig, known[head_kid])
            except EvidenceError as exc:
                rep.fail("manifest_signature_invalid", str(exc).partition(": ")[2], mf.SIGNATURE)
    elif vreport is not None:
        rep.fail(
            "manifest_signature_unchecked",
            "not checked, because the journal that vouches for the key does not verify",
            mf.SIGNATURE,
        )

    # every file against the manifest
    rep.errors.extend(mf.check_files(src, manifest))
    rep.files = len(manifest.get("files", []))

    if manifest.get("status") != "good":
        reasons = manifest.get("failures") or []
        rep.fail(
            "bundle_marked_failed",
            f"the bundle was marked {manifest.get('status')!r} when it was built"
            + (": " + "; ".join(map(str, reasons)) if reasons else ""),
            mf.MANIFEST,
        )

    # recompute what the bundle claims from the bundle itself
    if vreport is not None and vreport.ok:
        for problem in check_workspace_patch(
            lambda: read_entries(src.local_path(JOURNAL)), src.local_path(PATCH) if src.is_file(PATCH) else None
        ):
            rep.fail(problem.code, problem.message, problem.where)
        rep.gated = len(decisions)
        if rep.gated == 0:
            rep.fail("zero_gated", "zero tool calls were gated (no gate.decision entries)", JOURNAL)
        if manifest.get("gated") != rep.gated:
            rep.fail(
                "manifest_mismatch",
                f"says {manifest.get('gated')} gated calls, the journal has {rep.gated}",
                mf.MANIFEST,
            )
        harness = manifest.get("harness")
        rep.harness = harness
        if harness not in HARNESSES:
            rep.fail(
                "harness_unknown", f"harness {harness!r} is not one whose transcript can be reconciled", mf.MANIFEST
            )
        else:
            names, _ = src.files()
            rec = reconcile(load_transcript_from(names, src.open, harness, under=TRANSCRIPT + "/"), decisions)
            # the report's checks and counts, recomputed from the journal, run.json and policy.toml
            run_meta = _load_json_object(src, "run.json")
            policy = src.local_path("policy.toml") if src.is_file("policy.toml") else src.absent_path("policy.toml")
            aar, anomalies = collector.finish(
                run=run_meta, verify=rep.journal, reconciliation=rec, policy=policy_rules(policy, "policy.toml")
            )
            rep.counts = aar["counts"]
            rep.anomalies = [a.to_json_dict() for a in anomalies]
            for a in anomalies:
                if a.severity == "fail":
                    rep.fail(a.code, a.message, RECONCILIATION if a in rec.anomalies else "aar.json")
                else:
                    rep.warnings.append(f"{a.code}: {a.message}")
            try:
                stored = json.loads(src.read_bytes(RECONCILIATION, _SMALL))
            except (OSError, ValueError, RecursionError, EvidenceError) as exc:
                rep.fail("reconciliation_mismatch", f"not readable: {exc}", RECONCILIATION)
            else:
                if stored != json.loads(json.dumps(rec.to_json_dict())):
                    rep.fail(
                        "reconciliation_mismatch",
                        f"differs from a recomputation from {JOURNAL} and {TRANSCRIPT}/",
                        RECONCILIATION,
                    )
            stored_aar = _load_json_object(src, "aar.json")
            if stored_aar.get("counts") != json.loads(json.dumps(aar["counts"])):
                rep.fail("report_mismatch", f"its counts differ from a recomputation from {JOURNAL}", "aar.json")


def check_workspace_patch(entries: Callable[[], Any], patch: Path | None) -> list[Problem]:
    """Clone mode: the bundle's ``changes.patch`` against the digest its ``workspace.result`` entry journaled
    (the last one). A journaled result without the patch, a patch without a journaled result, or a
    different digest is a problem."""
    want = None
    for _, e in entries():
        if e is not None and e.get("kind") == "workspace.result" and isinstance(e.get("body"), dict):
            want = e["body"].get("patch_sha256")
    if want is None and patch is None:
        return []
    if want is None:
        return [
            Problem(
                "workspace_patch_unjournaled", "the bundle holds a patch no workspace.result entry vouches for", PATCH
            )
        ]
    if patch is None:
        return [
            Problem(
                "workspace_patch_missing",
                f"the journal records a workspace result (sha256 {want}) but the bundle has no patch",
                PATCH,
            )
        ]
    h = hashlib.sha256()
    with open(patch, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    if h.hexdigest() != want:
        return [
            Problem(
                "workspace_patch_mismatch", f"sha256 {h.hexdigest()}, the journal's workspace.result says {want}", PATCH
            )
        ]
    return []


def _load_json_object(src: BundleSource, rel: str) -> dict[str, Any]:
    try:
        obj = json.loads(src.read_bytes(rel, _SMALL))
    except (OSError, ValueError, RecursionError, EvidenceError):
        return {}
    return obj if isinstance(obj, dict) else {}


def verify_bundle(
    bundle: str | os.PathLike[str] | BundleSource,
    keyring: Keyring | None = None,
    *,
    unsafe_trust_bundle_keys: bool = False,
) -> BundleReport:
    """Verify a bundle offline. Return the report when it is good; raise otherwise.

    Raises :class:`JournalVerificationError` when the journal does not verify and
    :class:`EvidenceError` for any other problem; messages name the file. The report is
    attached to the exception as ``report``.
    """
    rep = check_bundle(bundle, keyring, unsafe_trust_bundle_keys=unsafe_trust_bundle_keys)
    if rep.ok:
        return rep
    more = f" (and {len(rep.failures) - 1} more)" if len(rep.failures) > 1 else ""
    if rep.journal and not rep.journal_ok:
        err: AgpError = JournalVerificationError(f"bundle {rep.bundle_dir}: {rep.failures[0]}{more}")
    else:
        err = EvidenceError(f"bundle {rep.bundle_dir}: {rep.failures[0]}{more}")
    err.report = rep  # type: ignore[attr-defined]
    raise err
