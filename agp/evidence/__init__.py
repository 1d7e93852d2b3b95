"""Evidence bundles: what a governed run leaves for an auditor, checked offline.

Public surface::

    build_bundle(run_dir, out_dir, signing_key) -> BundleReport   (raises EvidenceError if failed)
    verify_bundle(bundle_dir, keyring=None) -> BundleReport       (raises JournalVerificationError/EvidenceError)
    check_bundle(bundle_dir, keyring=None) -> BundleReport        (every problem as data)
    load_transcript(dir, harness) / reconcile(transcript, decisions)
"""

from agp.evidence.bundle import BUNDLE_FORMAT, BundleReport, build_bundle, check_bundle, verify_bundle
from agp.evidence.reconcile import EXEMPT_TOOLS, Anomaly, DecisionRef, Reconciliation, decision_ref, reconcile
from agp.evidence.timeline import build_timeline, render_timeline_md
from agp.evidence.transcripts import Transcript, TranscriptCall, load_transcript

__all__ = (
    "BUNDLE_FORMAT",
    "EXEMPT_TOOLS",
    "Anomaly",
    "BundleReport",
    "DecisionRef",
    "Reconciliation",
    "Transcript",
    "TranscriptCall",
    "build_bundle",
    "build_timeline",
    "check_bundle",
    "decision_ref",
    "load_transcript",
    "reconcile",
    "render_timeline_md",
    "verify_bundle",
)
