"""Evidence bundles: what a governed run leaves for an auditor, checked offline.

Public surface::

    build_bundle(run_dir, out_dir, signing_key) -> BundleReport   (raises EvidenceError if failed)
    verify_bundle(bundle, keyring) -> BundleReport                (raises JournalVerificationError/EvidenceError)
    check_bundle(bundle, keyring) -> BundleReport                 (every problem as data: Problem{code, message, where})
    open_bundle(path) -> BundleSource                             (a directory, run directory, .zip or .tar.gz, read in place)
    load_transcript(dir, harness) / reconcile(transcript, decisions)
"""

from agp.evidence.bundle import BUNDLE_FORMAT, BundleReport, build_bundle, check_bundle, verify_bundle
from agp.evidence.problem import Problem
from agp.evidence.reconcile import EXEMPT_TOOLS, Anomaly, DecisionRef, Reconciliation, decision_ref, reconcile
from agp.evidence.source import ArchiveError, ArchiveLimits, BundleSource, open_bundle
from agp.evidence.timeline import build_timeline, render_timeline_md
from agp.evidence.transcripts import Transcript, TranscriptCall, load_transcript

__all__ = (
    "BUNDLE_FORMAT",
    "EXEMPT_TOOLS",
    "Anomaly",
    "ArchiveError",
    "ArchiveLimits",
    "BundleReport",
    "BundleSource",
    "DecisionRef",
    "Problem",
    "Reconciliation",
    "Transcript",
    "TranscriptCall",
    "build_bundle",
    "build_timeline",
    "check_bundle",
    "decision_ref",
    "load_transcript",
    "open_bundle",
    "reconcile",
    "render_timeline_md",
    "verify_bundle",
)
