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
    transcript/…, logs/…           the harness's own transcript and the run's logs (copies)

Fail closed: :func:`build_bundle` always writes the bundle (so the auditor can see what
happened) but marks it ``failed`` in the signed manifest and raises :class:`EvidenceError`
when the journal does not verify, no call was gated, the transcript shows a call without
a gate decision, or any other ``fail`` anomaly. :func:`verify_bundle` checks everything
again from the bundle alone and raises on the first problem; :func:`check_bundle`
returns every problem as data.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from agp.errors import AgpError, EvidenceError, JournalVerificationError
from agp.evidence import manifest as mf
from agp.evidence._entries import read_entries
from agp.evidence.aar import AarCollector, policy_rules, render_aar_md
from agp.evidence.reconcile import Anomaly, Reconciliation, decision_ref, reconcile
from agp.evidence.timeline import TimelineWriter
from agp.evidence.transcripts import HARNESSES, load_transcript
from agp.journal import Keyring, PublicKey, SecretRedactor, SigningKey
from agp.journal.chain import format_ts
from agp.journal.keys import KEYRING_FILE, PUB_FILE
from agp.journal.verify import VerifyReport, scan_journal

__all__ = ("BUNDLE_FORMAT", "BundleReport", "build_bundle", "check_bundle", "verify_bundle")

BUNDLE_FORMAT = "agp-evidence/1"
JOURNAL = "journal.jsonl"
HEAD = "journal.jsonl.head"
KEYS = "keys"
TRANSCRIPT = "transcript"
LOGS = "logs"
RECONCILIATION = "reconciliation.json"

TRUST_SUPPLIED = "supplied by the verifier"
TRUST_TOFU = "the bundle's own key (trust on first use: anyone who rewrote the bundle could have replaced it; pass --key PUB)"


@dataclass
class BundleReport:
    """What a build or a verification found. ``ok`` is False when any failure was found."""

    bundle_dir: str
    failures: list[str] = field(default_factory=list)
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
        return not self.failures

    @property
    def status(self) -> str:
        return "good" if self.ok else "failed"

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "status": self.status,
            "bundle": self.bundle_dir,
            "run_id": self.run_id,
            "harness": self.harness,
            "gated": self.gated,
            "counts": self.counts,
            "failures": self.failures,
            "warnings": self.warnings,
            "anomalies": self.anomalies,
            "trust": self.trust,
            "trusted_kids": self.trusted_kids,
            "manifest_kid": self.manifest_kid,
            "files": self.files,
            "journal": self.journal,
        }


# --------------------------------------------------------------------- helpers
def _read_regular(path: Path) -> bytes:
    """Read a regular file without following a symlink (O_NOFOLLOW)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        with os.fdopen(fd, "rb", closefd=False) as f:
            return f.read()
    finally:
        os.close(fd)


def _write(path: Path, data: bytes | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _json_bytes(obj: Any) -> bytes:
    return (json.dumps(obj, indent=2, sort_keys=False, ensure_ascii=False) + "\n").encode("utf-8")


def _copy_tree(src: Path, dst: Path, warnings: list[str], transform: Callable[[bytes], bytes] | None) -> int:
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
            data = _read_regular(p)
            _write(dst / rel, transform(data) if transform else data)
            n += 1
    return n


def _redacting(redactor: SecretRedactor | None) -> Callable[[bytes], bytes] | None:
    if redactor is None or not redactor.names:
        return None

    def t(data: bytes) -> bytes:
        return redactor.redact_text(data.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape")

    return t


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
    from agp.commands.verify import render_report  # the exact `agp verify` rendering

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        render_report(report)
    return f"$ {command}\n{buf.getvalue()}"


def _guess_harness(run: dict[str, Any], harnesses: Counter[str]) -> str | None:
    h = run.get("harness") or run.get("intendant")
    if h in HARNESSES:
        return h
    for name, _ in harnesses.most_common():
        if name in HARNESSES:
            return name
    return None


def _journal_failure(report: VerifyReport) -> str:
    first = report.errors[0]
    more = f" (and {len(report.errors) - 1} more)" if len(report.errors) > 1 else ""
    return f"{JOURNAL}: does not verify: {first}{more}"


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
        err = EvidenceError(
            f"evidence bundle written to {out} but marked FAILED: " + "; ".join(report.failures)
        )
        err.report = report  # type: ignore[attr-defined]
        raise err
    return report


def _build_into(
    run: Path, b: Path, key: SigningKey, redactor: SecretRedactor | None, include_logs: bool, clock: Callable[[], float]
) -> BundleReport:
    rep = BundleReport(bundle_dir=str(b))
    failures, warnings = rep.failures, rep.warnings
    redact = _redacting(redactor)

    # 1. the journal, its head and the public keys, as they are now
    _write(b / JOURNAL, _read_regular(run / JOURNAL))
    if (run / HEAD).is_file():
        _write(b / HEAD, _read_regular(run / HEAD))
    keys_src = run / KEYS
    copied_keys = 0
    for name in (PUB_FILE, KEYRING_FILE):
        p = keys_src / name
        if p.is_file() and not p.is_symlink():
            data = _read_regular(p)
            if b"PRIVATE KEY" in data:
                failures.append(f"{KEYS}/{name} in the run holds private key material; not copied")
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
        from agp.journal.verify import VerifyError

        vreport.errors.append(VerifyError(None, None, exc.diagnostics()))
    vreport.path = JOURNAL
    rep.journal_ok = vreport.ok
    rep.journal = vreport.to_json_dict()
    key_opt = f"--keyring {KEYS}/{KEYRING_FILE}" if (b / KEYS / KEYRING_FILE).is_file() else f"--key {KEYS}/{PUB_FILE}"
    _write(b / "verify.txt", _render_verify_text(vreport, f"agp verify {JOURNAL} {key_opt}"))
    _write(b / "verify.json", _json_bytes(rep.journal))
    if not vreport.ok:
        failures.append(_journal_failure(vreport))
    head_kid = vreport.head.get("kid") if vreport.head.get("present") else None
    if head_kid is not None and head_kid != key.kid:
        failures.append(
            f"the signing key {key.kid} is not the key in force at the journal's head ({head_kid}); "
            "the manifest signature would not verify"
        )

    # 3. run metadata, policy, transcript, logs
    run_meta: dict[str, Any] = {}
    if (run / "run.json").is_file():
        raw = _read_regular(run / "run.json")
        if redact:
            raw = redact(raw)
        _write(b / "run.json", raw)
        try:  # the bundle's copy: what verify will read
            loaded = json.loads(raw)
            run_meta = loaded if isinstance(loaded, dict) else {}
            if not run_meta:
                warnings.append("run.json is not a JSON object")
        except (ValueError, RecursionError) as exc:
            warnings.append(f"run.json is not JSON: {exc}")
    else:
        warnings.append("the run has no run.json; the report uses the journal alone")
    if (run / "policy.toml").is_file():
        _write(b / "policy.toml", _read_regular(run / "policy.toml"))
    n_transcript = _copy_tree(run / TRANSCRIPT, b / TRANSCRIPT, warnings, redact)
    if include_logs:
        _copy_tree(run / LOGS, b / LOGS, warnings, redact)

    # 4. one pass over the journal: timeline, report counters, gate decisions
    rep.run_id = run_meta.get("run_id") if isinstance(run_meta.get("run_id"), str) else None
    note = None if vreport.ok else f"**The journal does not verify** ({_journal_failure(vreport)}); these rows are unverified."
    collector = AarCollector()
    decisions = []
    with TimelineWriter(b / "timeline.json", b / "timeline.md", verified=vreport.ok,
                        title=f"Timeline of run {rep.run_id or '?'}", note=note) as timeline:
        for _, e in read_entries(b / JOURNAL):
            if e is None:
                continue
            timeline.add(e)
            collector.add(e)
            if e.get("kind") == "gate.decision":
                decisions.append(decision_ref(e))
    rep.gated = len(decisions)

    # 5. reconciliation of the harness's transcript with the decisions
    harness = _guess_harness(run_meta, collector.harnesses)
    rep.harness = harness
    extra: list[Anomaly] = []
    if harness is None:
        extra.append(Anomaly("fail", "harness_unknown", "neither run.json nor the journal names a known harness; the transcript cannot be read"))
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
        run=run_meta, verify=rep.journal, reconciliation=rec, policy=policy_rules(b / "policy.toml"), anomalies=extra,
    )
    aar["harness_reported"] = transcript_meta or None
    if rep.gated == 0:
        failures.append("zero tool calls were gated (no gate.decision entries in the journal)")
    for a in anomalies:
        (failures if a.severity == "fail" else warnings).append(f"{a.code}: {a.message}")
    rep.anomalies = [a.to_json_dict() for a in anomalies]
    rep.counts = aar["counts"]

    # 6. no private key material anywhere in the bundle
    markers = _private_markers(key)
    files, odd = mf.list_files(b)
    for rel in odd:
        failures.append(f"{rel}: not a regular file; removed")
        (b / rel).unlink()
    for rel in files:
        if _contains_any(b / rel, markers):
            failures.append(f"{rel}: holds private key material; removed from the bundle")
            (b / rel).unlink()

    # 7. the reports carry the final status, then the signed manifest over everything
    aar["status"] = rep.status
    aar["failures"] = list(failures)
    aar["anomalies"] = rep.anomalies
    _write(b / "aar.json", _json_bytes(aar))
    _write(b / "aar.md", render_aar_md(aar))
    file_list = mf.file_entries(b)
    rep.files = len(file_list)
    manifest = {
        "format": mf.MANIFEST_FORMAT,
        "bundle_format": BUNDLE_FORMAT,
        "status": rep.status,
        "failures": list(failures),
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
def check_bundle(bundle_dir: str | os.PathLike[str], keyring: Keyring | None = None) -> BundleReport:
    """Check a bundle offline; return a report listing every problem (never raises for a bad bundle).

    ``keyring``: the public key(s) the verifier trusts. Without it the bundle's own
    ``keys/`` are used, which is trust on first use; the report says so.
    """
    b = Path(bundle_dir)
    rep = BundleReport(bundle_dir=str(b))
    failures = rep.failures
    if not b.is_dir():
        failures.append(f"{b}: not a directory")
        return rep

    # keys
    if keyring is not None:
        rep.trust = TRUST_SUPPLIED
        try:
            bundled = _bundle_keyring(b)
            if not set(bundled) & set(keyring):
                rep.warnings.append(f"the bundle's {KEYS}/ holds keys {sorted(bundled)}, none of them the supplied key(s)")
        except AgpError:
            pass
    else:
        rep.trust = TRUST_TOFU
        rep.warnings.append("no key supplied: " + TRUST_TOFU)
        try:
            keyring = _bundle_keyring(b)
        except AgpError as exc:
            failures.append(exc.diagnostics())
            return rep
    rep.trusted_kids = sorted(keyring)

    # manifest (parsed; its signature needs the journal's key in force, below)
    try:
        manifest, sig = mf.read_manifest(b)
    except EvidenceError as exc:
        failures.append(str(exc))
        manifest, sig = None, None

    # the journal, with the journal's own verifier
    jpath = b / JOURNAL
    if not jpath.is_file():
        failures.append(f"{JOURNAL}: missing from the bundle")
        vreport = None
    else:
        try:
            vreport = scan_journal(jpath, keyring, head_path=b / HEAD)
        except AgpError as exc:
            failures.append(f"{JOURNAL}: {exc.diagnostics()}")
            vreport = None
    if vreport is not None:
        vreport.path = JOURNAL
        rep.journal = vreport.to_json_dict()
        rep.journal_ok = vreport.ok
        if not vreport.ok:
            failures.insert(0, _journal_failure(vreport))

    if manifest is None or sig is None:
        return rep
    rep.run_id = manifest.get("run_id")
    rep.manifest_kid = sig.get("kid")

    # the manifest signature: by the key in force at the journal's head
    decisions: list[Any] = []
    collector = AarCollector()
    if vreport is not None and vreport.ok:
        decisions, rotated = _decisions_and_rotations(jpath, collector)
        known = dict(keyring.items())
        known.update(rotated)
        head_kid = vreport.head.get("kid")
        if sig.get("kid") != head_kid:
            failures.append(f"{mf.SIGNATURE}: signed by key {sig.get('kid')}, but the journal's key in force is {head_kid}")
        else:
            try:
                mf.verify_manifest_signature(manifest, sig, known[head_kid])
            except EvidenceError as exc:
                failures.append(str(exc))
    elif vreport is not None:
        failures.append(f"{mf.SIGNATURE}: not checked, because the journal that vouches for the key does not verify")

    # every file against the manifest
    failures.extend(mf.check_files(b, manifest))
    rep.files = len(manifest.get("files", []))

    if manifest.get("status") != "good":
        reasons = manifest.get("failures") or []
        failures.append(
            f"{mf.MANIFEST}: the bundle was marked {manifest.get('status')!r} when it was built"
            + (": " + "; ".join(map(str, reasons)) if reasons else "")
        )

    # recompute what the bundle claims from the bundle itself
    if vreport is not None and vreport.ok:
        rep.gated = len(decisions)
        if rep.gated == 0:
            failures.append(f"{JOURNAL}: zero tool calls were gated (no gate.decision entries)")
        if manifest.get("gated") != rep.gated:
            failures.append(f"{mf.MANIFEST}: says {manifest.get('gated')} gated calls, the journal has {rep.gated}")
        harness = manifest.get("harness")
        rep.harness = harness
        if harness not in HARNESSES:
            failures.append(f"{mf.MANIFEST}: harness {harness!r} is not one whose transcript can be reconciled")
        else:
            rec = reconcile(load_transcript(b / TRANSCRIPT, harness), decisions)
            # the report's checks and counts, recomputed from the journal, run.json and policy.toml
            run_meta = _load_json_object(b / "run.json")
            aar, anomalies = collector.finish(run=run_meta, verify=rep.journal, reconciliation=rec,
                                              policy=policy_rules(b / "policy.toml"))
            rep.counts = aar["counts"]
            rep.anomalies = [a.to_json_dict() for a in anomalies]
            for a in anomalies:
                if a.severity == "fail":
                    where = RECONCILIATION if a in rec.anomalies else "aar.json"
                    failures.append(f"{where}: {a.code}: {a.message}")
                else:
                    rep.warnings.append(f"{a.code}: {a.message}")
            try:
                stored = json.loads((b / RECONCILIATION).read_text(encoding="utf-8"))
            except (OSError, ValueError, RecursionError) as exc:
                failures.append(f"{RECONCILIATION}: not readable: {exc}")
            else:
                if stored != json.loads(json.dumps(rec.to_json_dict())):
                    failures.append(f"{RECONCILIATION}: differs from a recomputation from {JOURNAL} and {TRANSCRIPT}/")
            stored_aar = _load_json_object(b / "aar.json")
            if stored_aar.get("counts") != json.loads(json.dumps(aar["counts"])):
                failures.append(f"aar.json: its counts differ from a recomputation from {JOURNAL}")
    return rep


def _load_json_object(path: Path) -> dict[str, Any]:
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return {}
    return obj if isinstance(obj, dict) else {}


def verify_bundle(bundle_dir: str | os.PathLike[str], keyring: Keyring | None = None) -> BundleReport:
    """Verify a bundle offline. Return the report when it is good; raise otherwise.

    Raises :class:`JournalVerificationError` when the journal does not verify and
    :class:`EvidenceError` for any other problem; messages name the file. The report is
    attached to the exception as ``report``.
    """
    rep = check_bundle(bundle_dir, keyring)
    if rep.ok:
        return rep
    more = f" (and {len(rep.failures) - 1} more)" if len(rep.failures) > 1 else ""
    if rep.journal and not rep.journal_ok:
        err: AgpError = JournalVerificationError(f"bundle {rep.bundle_dir}: {rep.failures[0]}{more}")
    else:
        err = EvidenceError(f"bundle {rep.bundle_dir}: {rep.failures[0]}{more}")
    err.report = rep  # type: ignore[attr-defined]
    raise err
