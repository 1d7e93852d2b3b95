"""The bundle manifest: the SHA-256 of every file, signed with the journal's key.

``manifest.json``::

    {"format": "agp-evidence-manifest/1", "status": "good" | "failed", "failures": [...],
     "run_id": ..., "created": ..., "gated": N, "kid": ..., "journal": {...},
     "files": [{"path": "journal.jsonl", "sha256": "…", "size": N}, ...]}   # sorted by path

``manifest.sig``::

    {"v": 1, "alg": "Ed25519", "domain": "agp-evidence-manifest/v1", "kid": ..., "sig": <base64>}

``sig`` is Ed25519 over ``b"agp-evidence-manifest/v1\\n" + JCS(manifest)`` (RFC 8785, the
journal's canonicalizer; the prefix keeps a manifest signature from ever passing as a
journal entry or head signature). The two manifest files are the only ones not listed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from agp.errors import EvidenceError
from agp.evidence.problem import Problem
from agp.evidence.source import BundleSource, DirectorySource
from agp.journal.canonical import CanonicalizationError, canonicalize
from agp.journal.keys import PublicKey, SigningKey

__all__ = (
    "MANIFEST",
    "MANIFEST_DOMAIN",
    "MANIFEST_FORMAT",
    "SIGNATURE",
    "check_files",
    "file_entries",
    "file_sha256",
    "list_files",
    "read_manifest",
    "sign_manifest",
    "verify_manifest_signature",
)

MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
MANIFEST_FORMAT = "agp-evidence-manifest/1"
MANIFEST_DOMAIN = b"agp-evidence-manifest/v1\n"
_SELF = frozenset({MANIFEST, SIGNATURE})
_MANIFEST_CAP = 256 << 20


def file_sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def list_files(root: Path) -> tuple[list[str], list[str]]:
    """(regular files, anything else: symlinks, sockets, ...) under ``root`` as sorted posix paths."""
    files, odd = [], []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        d = Path(dirpath)
        for name in list(dirnames):
            if (d / name).is_symlink():
                odd.append((d / name).relative_to(root).as_posix())
                dirnames.remove(name)
        for name in filenames:
            p = d / name
            rel = p.relative_to(root).as_posix()
            if p.is_symlink() or not p.is_file():
                odd.append(rel)
            elif rel not in _SELF:
                files.append(rel)
    return sorted(files), sorted(odd)


def file_entries(root: Path, known: Mapping[str, tuple[str, int]] | None = None) -> list[dict[str, Any]]:
    """The manifest's file list. ``known``: (sha256, size) computed while a file was written,
    used when the file still has that size (the bundle is agp's own directory while it builds)."""
    files, odd = list_files(root)
    if odd:
        raise EvidenceError(f"refusing to list non-regular files in a bundle: {', '.join(odd)}")
    out = []
    for rel in files:
        size = (root / rel).stat().st_size
        k = (known or {}).get(rel)
        digest = k[0] if k is not None and k[1] == size else file_sha256(root / rel)
        out.append({"path": rel, "sha256": digest, "size": size})
    return out


def _signed_bytes(manifest: Mapping[str, Any]) -> bytes:
    try:
        return MANIFEST_DOMAIN + canonicalize(manifest)
    except CanonicalizationError as exc:
        raise EvidenceError(f"{MANIFEST}: cannot be canonicalized (RFC 8785): {exc}") from exc


def sign_manifest(manifest: Mapping[str, Any], key: SigningKey) -> dict[str, Any]:
    sig = key.sign(_signed_bytes(manifest))
    return {
        "v": 1,
        "alg": "Ed25519",
        "domain": MANIFEST_DOMAIN.decode().strip(),
        "kid": key.kid,
        "sig": base64.b64encode(sig).decode("ascii"),
    }


def read_manifest(bundle: Path | BundleSource) -> tuple[dict[str, Any], dict[str, Any]]:
    """Parse manifest.json and manifest.sig; raise EvidenceError naming the file."""
    src = DirectorySource(bundle) if isinstance(bundle, Path) else bundle
    out = []
    for name in (MANIFEST, SIGNATURE):
        if not src.is_file(name):
            raise EvidenceError(f"{name}: missing from the bundle")
        try:
            doc = json.loads(src.read_bytes(name, _MANIFEST_CAP).decode("utf-8"))
        except EvidenceError:
            raise
        except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise EvidenceError(f"{name}: not readable JSON: {exc}") from exc
        if not isinstance(doc, dict):
            raise EvidenceError(f"{name}: not a JSON object")
        out.append(doc)
    manifest, sig = out
    if manifest.get("format") != MANIFEST_FORMAT:
        raise EvidenceError(f"{MANIFEST}: unknown format {manifest.get('format')!r} (expected {MANIFEST_FORMAT})")
    if not isinstance(manifest.get("files"), list):
        raise EvidenceError(f"{MANIFEST}: no files list")
    if (
        sig.get("v") != 1
        or sig.get("alg") != "Ed25519"
        or not isinstance(sig.get("kid"), str)
        or not isinstance(sig.get("sig"), str)
    ):
        raise EvidenceError(f"{SIGNATURE}: expected {{v: 1, alg: Ed25519, kid, sig}}")
    return manifest, sig


def verify_manifest_signature(manifest: Mapping[str, Any], sig: Mapping[str, Any], key: PublicKey) -> None:
    """Raise EvidenceError unless ``key`` signed ``manifest``."""
    if sig.get("kid") != key.kid:
        raise EvidenceError(f"{SIGNATURE}: signed by key {sig.get('kid')}, expected the journal's key {key.kid}")
    try:
        raw = base64.b64decode(sig["sig"], validate=True)
    except (binascii.Error, ValueError, KeyError) as exc:
        raise EvidenceError(f"{SIGNATURE}: signature is not base64") from exc
    try:
        key.verify(raw, _signed_bytes(manifest))
    except Exception as exc:  # InvalidSignature, or a malformed signature length
        raise EvidenceError(
            f"{SIGNATURE}: the signature does not verify with key {key.kid}: {MANIFEST} was changed or signed by another key"
        ) from exc


def check_files(bundle: Path | BundleSource, manifest: Mapping[str, Any]) -> list[Problem]:
    """Every problem with the files against the manifest: missing, changed, extra, odd entries."""
    src = DirectorySource(bundle) if isinstance(bundle, Path) else bundle
    problems: list[Problem] = []
    listed: dict[str, Mapping[str, Any]] = {}
    for item in manifest.get("files", []):
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("path"), str)
            or not isinstance(item.get("sha256"), str)
        ):
            problems.append(Problem("manifest_invalid", f"malformed file entry {item!r}", MANIFEST))
            continue
        rel = item["path"]
        pp = PurePosixPath(rel)
        if pp.is_absolute() or ".." in pp.parts or rel in _SELF or rel in listed:
            problems.append(Problem("manifest_invalid", f"bad or duplicate path {rel!r}", MANIFEST))
            continue
        listed[rel] = item
    present, odd = src.files()
    for rel in odd:
        problems.append(Problem("file_not_regular", "not a regular file (symlink or special file) in the bundle", rel))
    present_set = set(present) - _SELF
    for rel, item in sorted(listed.items()):
        if rel not in present_set:
            problems.append(Problem("file_missing", "listed in the manifest but missing from the bundle", rel))
            continue
        digest, size = src.digest(rel)
        if digest != item["sha256"]:
            problems.append(
                Problem(
                    "file_changed",
                    f"sha256 {digest[:16]}… differs from the manifest's {item['sha256'][:16]}… (file changed)",
                    rel,
                )
            )
        elif item.get("size") is not None and size != item["size"]:
            problems.append(Problem("file_changed", "size differs from the manifest", rel))
    for rel in sorted(present_set - set(listed)):
        problems.append(Problem("file_added", "in the bundle but not in the manifest (file added)", rel))
    return problems
