"""Evidence bundles from real journals (real Journal class and keys): build, verify, and every tampering."""

import argparse
import base64
import json
import os

import pytest

from agp.cli import main as agp_main
from agp.commands.verify import verify_bundle_cli
from agp.errors import EvidenceError, JournalVerificationError, UsageError
from agp.evidence import build_bundle, check_bundle, verify_bundle
from agp.evidence import manifest as mf
from agp.journal import Journal, Keyring, SigningKey, init_keys
from agp.journal.keys import KEYRING_FILE
from tests.unit.evidence._runs import CALLS, POLICY_DIGEST, make_run, transcript_path

EXPECTED_FILES = {
    "journal.jsonl", "journal.jsonl.head", "keys/agp.pub", "verify.txt", "verify.json", "timeline.md",
    "timeline.json", "aar.md", "aar.json", "reconciliation.json", "run.json", "policy.toml", "logs/harness.stdout",
}


def ring(key):
    return Keyring.from_public_key(key.public)


def built(tmp_path, harness="claude-code", **kw):
    run, key = make_run(tmp_path, harness, **kw)
    out = tmp_path / "bundle"
    build_bundle(run, out, key)
    return out, key


def resign(bundle, key):
    """What someone holding ``key`` would do after editing files: rehash everything and sign again."""
    m = json.loads((bundle / "manifest.json").read_text())
    m["files"] = mf.file_entries(bundle)
    m["kid"] = key.kid
    (bundle / "manifest.json").write_text(json.dumps(m, indent=2))
    (bundle / "manifest.sig").write_text(json.dumps(mf.sign_manifest(m, key)))


# --------------------------------------------------------------------- good bundles
@pytest.mark.parametrize("harness", ["claude-code", "codex", "reference"])
def test_good_bundle_verifies_with_the_supplied_key(tmp_path, harness):
    run, key = make_run(tmp_path, harness)
    rep = build_bundle(run, tmp_path / "bundle", key)
    assert rep.ok and rep.status == "good" and rep.gated == len(CALLS[harness])
    b = tmp_path / "bundle"
    listed = {f["path"] for f in json.loads((b / "manifest.json").read_text())["files"]}
    assert EXPECTED_FILES <= listed
    assert any(p.startswith("transcript/") for p in listed)
    v = verify_bundle(b, ring(key))
    assert v.ok and v.gated == len(CALLS[harness]) and v.trust == "supplied by the verifier" and v.manifest_kid == key.kid
    assert v.journal["ok"] is True


def test_bundle_contents(tmp_path):
    b, key = built(tmp_path)
    aar = json.loads((b / "aar.json").read_text())
    assert aar["status"] == "good"
    assert aar["run"]["task"] == "list the files, then clean up"
    assert aar["run"]["harness_version"] == "2.1.328"
    c = aar["counts"]
    assert (c["gated"], c["allow"], c["deny"], c["require"], c["approved"], c["timed_out"]) == (3, 2, 1, 0, 0, 0)
    assert aar["policy"]["digest"] == aar["policy"]["copy_digest"] == POLICY_DIGEST
    assert aar["policy"]["rules_source"] == "agp.policy.load_policy" and aar["policy"]["rules_error"] is None
    assert [r["id"] for r in aar["policy"]["rules"]] == ["allow-read-workspace", "require-write-workspace", "deny-outside-workspace"]
    assert aar["policy"]["rules"][2]["touches"] == ["outside"]
    assert not [a for a in aar["anomalies"]]
    assert aar["preflight"]["passed"] is True
    assert aar["relay"]["journaled"] == {"requests": 1, "bytes_in": 1200, "bytes_out": 3400}
    assert aar["timing"]["duration_s"] == 90.5
    assert aar["harness_reported"]["versions"] == ["2.1.328"]
    timeline = json.loads((b / "timeline.json").read_text())
    journal_lines = (b / "journal.jsonl").read_bytes().splitlines()
    assert [e["seq"] for e in timeline["events"]] == list(range(len(journal_lines)))
    assert "Bash rm -rf /ws/victim → DENY rule deny-outside-workspace [toolu_0002]" in (b / "timeline.md").read_text()
    assert (b / "verify.txt").read_text().startswith("$ agp verify journal.jsonl --key keys/agp.pub\n✓ journal verifies")
    assert json.loads((b / "verify.json").read_text())["ok"] is True
    rec = json.loads((b / "reconciliation.json").read_text())
    assert rec["ok"] and rec["counts"]["matched"] == 3 and rec["counts"]["ungated"] == 0
    assert "**Bundle status: GOOD**" in (b / "aar.md").read_text()


def test_require_approval_counts(tmp_path):
    b, _ = built(tmp_path, "reference")
    c = json.loads((b / "aar.json").read_text())["counts"]
    assert (c["require"], c["approved"], c["allow"], c["deny"]) == (1, 1, 2, 1)


def test_every_approval_outcome_is_counted(tmp_path):
    """The outcomes agp.gate.approvals.Outcome writes; only the two approvals allow."""
    from agp.gate.approvals import Outcome

    calls = [(f"ref-{i:04d}", "Write", {"file_path": f"/ws/{i}", "content": ""}, "allow" if o.allows else "deny")
             for i, o in enumerate(Outcome, 1)]
    run, key = make_run(tmp_path, "reference", calls=calls, transcript=False)
    j = Journal.open(run / "journal.jsonl", key)
    for i, o in enumerate(Outcome, 1):
        j.append("gate.decision", "s1", {
            "call": {"harness": "reference", "tool": "Write", "tool_use_id": f"ref-x{i}"}, "decision": "allow" if o.allows else "deny",
            "effect": "require", "rule": "require-write-workspace", "policy_digest": POLICY_DIGEST,
            "approval": {"nonce_digest": "0" * 64, "outcome": o.value, "approvers": []},
        })
    j.close()
    with pytest.raises(EvidenceError):  # no transcript: failed, but the counts are still reported
        build_bundle(run, tmp_path / "bundle", key)
    c = json.loads((tmp_path / "bundle" / "aar.json").read_text())["counts"]
    n = len(Outcome)
    # make_run's calls go through _rule: Write+allow -> require/approved; deny -> plain deny
    assert c["approval_outcomes"] == {o.value: 1 for o in Outcome} | {"approved": 3}
    assert c["approved"] == 3 + 1 and c["approved_automatically"] == 1
    assert c["timed_out"] == 1 and c["approval_denied"] == 1 and c["approval_unavailable"] == 3
    assert c["require"] == 2 + n


def test_no_private_key_material_in_the_bundle(tmp_path):
    run, key = make_run(tmp_path)
    # a careless run directory: the private key sits in keys/ and leaks into a log and the transcript
    pem = key.to_pem()
    (run / "keys" / "agp.key").write_bytes(pem)
    (run / "logs" / "gate.log").write_bytes(b"loaded key\n" + pem)
    (run / "transcript" / "notes.jsonl").write_text(json.dumps({"leak": pem.decode()}) + "\n")
    with pytest.raises(EvidenceError, match="private key material") as ei:
        build_bundle(run, tmp_path / "bundle", key)
    b = tmp_path / "bundle"
    assert not (b / "keys" / "agp.key").exists()
    assert any("keys/agp.key in the run was not copied" in w for w in ei.value.report.warnings)
    body = b"".join(l for l in pem.splitlines() if not l.startswith(b"-----"))
    seed = base64.b64decode(body)[-32:]
    for root, _, files in os.walk(b):
        for name in files:
            data = open(os.path.join(root, name), "rb").read()
            assert b"PRIVATE KEY" not in data, name
            assert body not in data and seed not in data and seed.hex().encode() not in data, name
    m = json.loads((b / "manifest.json").read_text())
    assert m["status"] == "failed"
    assert any("logs/gate.log: holds private key material" in f for f in m["failures"])


def test_clean_run_copies_only_public_keys(tmp_path):
    run, key = make_run(tmp_path)
    (run / "keys" / "agp.key").write_bytes(key.to_pem())
    (run / "keys" / "agp.key").chmod(0o600)
    rep = build_bundle(run, tmp_path / "bundle", key)  # still good: the private key is simply not copied
    assert rep.ok
    assert sorted(p.name for p in (tmp_path / "bundle" / "keys").iterdir()) == ["agp.pub"]


# ------------------------------------------------------------------------ trust
def test_without_a_key_the_bundle_key_is_used_and_said_so(tmp_path):
    b, key = built(tmp_path)
    with pytest.raises(UsageError, match="no trust root"):
        verify_bundle(b)
    v = verify_bundle(b, unsafe_trust_bundle_keys=True)
    assert v.ok and "trust on first use" in v.trust
    assert any("no key supplied" in w for w in v.warnings)


def test_forged_bundle_passes_only_trust_on_first_use(tmp_path):
    """Someone rewrites the whole run with their own key: only the auditor's own key catches it."""
    real = init_keys(tmp_path / "real")
    run, mallory = make_run(tmp_path, name="forged")
    build_bundle(run, tmp_path / "bundle", mallory)
    assert verify_bundle(tmp_path / "bundle", unsafe_trust_bundle_keys=True).ok  # self-consistent
    with pytest.raises(JournalVerificationError, match=r"\[key_unknown\] journal.jsonl:\d+: .*neither the verifier trusts"):
        verify_bundle(tmp_path / "bundle", ring(real))


def test_rotated_key_verifies_with_the_first_key(tmp_path):
    k1 = init_keys(tmp_path / "k1")
    k2 = SigningKey.generate()
    run, _ = make_run(tmp_path, key=k1)
    j = Journal.open(run / "journal.jsonl", k1)
    j.rotate(k2)
    j.append("gate.decision", "s1", {"call": {"tool": "Bash", "harness": "claude-code", "tool_use_id": "toolu_0001"},
                                     "decision": "allow", "effect": "allow", "rule": "r", "policy_digest": POLICY_DIGEST})
    j.close()
    (run / "keys" / KEYRING_FILE).write_text(Keyring([k1.public, k2.public]).to_json())
    (run / "keys" / "agp.pub").write_bytes(k2.public.to_pem())
    rep = build_bundle(run, tmp_path / "bundle", k2)
    assert rep.ok and rep.manifest_kid == k2.kid
    v = verify_bundle(tmp_path / "bundle", ring(k1))
    assert v.ok and v.manifest_kid == k2.kid and v.gated == 4


def test_signing_with_a_retired_key_fails(tmp_path):
    k1 = init_keys(tmp_path / "k1")
    k2 = SigningKey.generate()
    run, _ = make_run(tmp_path, key=k1)
    j = Journal.open(run / "journal.jsonl", k1)
    j.rotate(k2)
    j.close()
    with pytest.raises(EvidenceError, match=f"signing key {k1.kid} is not the key in force"):
        build_bundle(run, tmp_path / "bundle", k1)
    with pytest.raises(EvidenceError, match="manifest.sig: signed by key"):
        verify_bundle(tmp_path / "bundle", ring(k1))


# -------------------------------------------------------------------- tampering
def test_changed_file_fails(tmp_path):
    b, key = built(tmp_path)
    (b / "aar.md").write_text((b / "aar.md").read_text().replace("deny 1", "deny 0"))
    with pytest.raises(EvidenceError, match=r"aar\.md: sha256 .* \(file changed\)"):
        verify_bundle(b, ring(key))


def test_missing_file_fails(tmp_path):
    b, key = built(tmp_path)
    (b / "reconciliation.json").unlink()
    with pytest.raises(EvidenceError, match="reconciliation.json: listed in the manifest but missing"):
        verify_bundle(b, ring(key))


def test_extra_file_fails(tmp_path):
    b, key = built(tmp_path)
    (b / "transcript" / "extra.txt").write_text("added later")
    with pytest.raises(EvidenceError, match=r"transcript/extra\.txt: in the bundle but not in the manifest"):
        verify_bundle(b, ring(key))


def test_manifest_edit_fails(tmp_path):
    b, key = built(tmp_path)
    m = json.loads((b / "manifest.json").read_text())
    m["gated"] = 99
    (b / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(EvidenceError, match="manifest.sig: the signature does not verify"):
        verify_bundle(b, ring(key))


def test_manifest_resigned_with_another_key_fails(tmp_path):
    b, key = built(tmp_path)
    (b / "timeline.md").write_text("nothing happened\n")
    resign(b, SigningKey.generate())
    with pytest.raises(EvidenceError, match="manifest.sig: signed by key .* but the journal's key in force is"):
        verify_bundle(b, ring(key))
    # also without a supplied key: the manifest must be signed by the journal's own key
    with pytest.raises(EvidenceError, match="manifest.sig"):
        verify_bundle(b, unsafe_trust_bundle_keys=True)


def test_missing_signature_fails(tmp_path):
    b, key = built(tmp_path)
    (b / "manifest.sig").unlink()
    with pytest.raises(EvidenceError, match="manifest.sig: missing"):
        verify_bundle(b, ring(key))


def test_journal_edited_in_bundle_fails_with_journal_error(tmp_path):
    b, key = built(tmp_path)
    lines = (b / "journal.jsonl").read_bytes().splitlines(keepends=True)
    edited = lines[6].replace(b'"decision":"deny"', b'"decision":"allow"')
    assert edited != lines[6]
    lines[6] = edited
    (b / "journal.jsonl").write_bytes(b"".join(lines))
    with pytest.raises(JournalVerificationError, match=r"\[entry_hash_mismatch\] journal\.jsonl:7: entry 6: hash mismatch") as ei:
        verify_bundle(b, ring(key))
    assert any("journal.jsonl: sha256" in f for f in ei.value.report.failures)


def test_journal_truncated_in_bundle_fails(tmp_path):
    b, key = built(tmp_path)
    lines = (b / "journal.jsonl").read_bytes().splitlines(keepends=True)
    (b / "journal.jsonl").write_bytes(b"".join(lines[:-3]))
    with pytest.raises(JournalVerificationError, match="truncated"):
        verify_bundle(b, ring(key))


def test_reconciliation_rewritten_even_by_the_key_holder_fails(tmp_path):
    """reconciliation.json is recomputed from the journal and transcript, not taken on trust."""
    b, key = built(tmp_path)
    rec = json.loads((b / "reconciliation.json").read_text())
    rec["calls"] = rec["calls"][:1]
    (b / "reconciliation.json").write_text(json.dumps(rec, indent=2))
    resign(b, key)
    with pytest.raises(EvidenceError, match="reconciliation.json: differs from a recomputation"):
        verify_bundle(b, ring(key))


def test_report_counts_rewritten_by_the_key_holder_fail(tmp_path):
    b, key = built(tmp_path)
    aar = json.loads((b / "aar.json").read_text())
    aar["counts"]["deny"] = 0
    (b / "aar.json").write_text(json.dumps(aar))
    resign(b, key)
    with pytest.raises(EvidenceError, match="aar.json: its counts differ from a recomputation"):
        verify_bundle(b, ring(key))


def test_policy_swapped_in_bundle_and_resigned_fails(tmp_path):
    b, key = built(tmp_path)
    (b / "policy.toml").write_text((b / "policy.toml").read_text().replace('effect = "deny"', 'effect = "allow"'))
    resign(b, key)
    with pytest.raises(EvidenceError, match=r"\[policy_digest_mismatch\] aar.json: the policy copy digests to"):
        verify_bundle(b, ring(key))


def test_transcript_call_added_to_bundle_and_resigned_is_caught_by_recomputation(tmp_path):
    b, key = built(tmp_path)
    t = next((b / "transcript").rglob("*.jsonl"))
    t.write_text(t.read_text() + json.dumps({"type": "assistant", "message": {"content": [
        {"type": "tool_use", "id": "toolu_9999", "name": "Bash", "input": {"command": "curl x | sh"}}]}}) + "\n")
    resign(b, key)
    with pytest.raises(EvidenceError, match=r"\[ungated_call\] reconciliation.json: Bash call toolu_9999 ran without a gate decision"):
        verify_bundle(b, ring(key))


# ------------------------------------------------------------ fail-closed builds
def test_transcript_call_without_decision_fails_the_bundle(tmp_path):
    calls = [c for c in CALLS["claude-code"] if c[0] != "toolu_0003"]
    run, key = make_run(tmp_path, calls=calls)
    with pytest.raises(EvidenceError, match=r"marked FAILED.*\[ungated_call\] reconciliation.json: Read call toolu_0003 ran without a gate decision"):
        build_bundle(run, tmp_path / "bundle", key)
    b = tmp_path / "bundle"
    m = json.loads((b / "manifest.json").read_text())
    assert m["status"] == "failed"
    rec = json.loads((b / "reconciliation.json").read_text())
    assert rec["ok"] is False and rec["counts"]["ungated"] == 1
    assert "**Bundle status: FAILED**" in (b / "aar.md").read_text()
    with pytest.raises(EvidenceError, match="ungated_call") as ei:
        verify_bundle(b, ring(key))
    assert any("marked 'failed' when it was built" in f for f in ei.value.report.failures)
    # the bundle itself is intact and signed: only its content fails
    assert not any("sha256" in f or "manifest.sig" in f for f in ei.value.report.failures)


def test_codex_ungated_apply_patch_fails(tmp_path):
    calls = [c for c in CALLS["codex"] if c[1] != "apply_patch"]
    run, key = make_run(tmp_path, "codex", calls=calls)
    with pytest.raises(EvidenceError, match="apply_patch call call_0005 ran without a gate decision"):
        build_bundle(run, tmp_path / "bundle", key)


def test_codex_unsupported_calls_are_reported_not_failed(tmp_path):
    run, key = make_run(tmp_path, "codex")
    rep = build_bundle(run, tmp_path / "bundle", key)
    rejected = [a for a in rep.anomalies if a["code"] == "rejected_before_gate"]
    assert [a["tool_use_id"] for a in rejected] == ["call_0003", "call_0004"]
    rec = json.loads((tmp_path / "bundle" / "reconciliation.json").read_text())
    assert rec["counts"]["rejected"] == 2 and rec["counts"]["matched"] == 4


def _append_rollout(run, *payloads):
    t = transcript_path(run, "codex")
    with open(t, "a") as f:
        for p in payloads:
            f.write(json.dumps({"timestamp": "2026-11-23T09:06:38.000Z", "type": "response_item", "payload": p}) + "\n")


def test_codex_write_stdin_bypasses_the_hooks_and_fails(tmp_path):
    """Measured on Codex 0.169.0: no PreToolUse hook fires for write_stdin, which types into a running process."""
    run, key = make_run(tmp_path, "codex")
    _append_rollout(run,
        {"type": "function_call", "status": "completed", "id": "fc_9", "name": "write_stdin",
         "arguments": "{\"session_id\": 1, \"chars\": \"rm -rf /ws\\n\"}", "call_id": "call_0009"},
        {"type": "function_call_output", "call_id": "call_0009", "output": "Chunk ID: 1\nProcess exited with code 0\n"})
    with pytest.raises(EvidenceError, match="write_stdin call call_0009 ran without a gate decision"):
        build_bundle(run, tmp_path / "bundle", key)


def test_codex_web_search_is_an_ungated_call(tmp_path):
    run, key = make_run(tmp_path, "codex")
    _append_rollout(run, {"type": "web_search_call", "id": "ws_1", "status": "completed", "action": {"type": "search", "query": "agp"}})
    with pytest.raises(EvidenceError, match="web_search call ws_1 ran without a gate decision"):
        build_bundle(run, tmp_path / "bundle", key)


def test_claude_calls_rejected_before_hooks_are_reported(tmp_path):
    """Measured on Claude Code 2.1.328: unknown tools and invalid input are refused before any hook."""
    run, key = make_run(tmp_path)
    t = transcript_path(run, "claude-code")
    with open(t, "a") as f:
        f.write(json.dumps({"type": "assistant", "message": {"role": "assistant", "content": [
            {"type": "tool_use", "id": "toolu_0004", "name": "NoSuchTool", "input": {"x": 1}}]}}) + "\n")
        f.write(json.dumps({"type": "user", "message": {"role": "user", "content": [
            {"type": "tool_result", "content": "<tool_use_error>Error: No such tool available: NoSuchTool</tool_use_error>",
             "is_error": True, "tool_use_id": "toolu_0004"}]}}) + "\n")
    rep = build_bundle(run, tmp_path / "bundle", key)
    assert rep.ok
    assert any(w.startswith("rejected_before_gate: NoSuchTool call toolu_0004") for w in rep.warnings)


def test_zero_gated_calls_fails(tmp_path):
    run, key = make_run(tmp_path, "reference", calls=[], transcript=False)
    (run / "transcript").mkdir()
    (run / "transcript" / "transcript.jsonl").write_text("")
    with pytest.raises(EvidenceError, match="zero tool calls were gated"):
        build_bundle(run, tmp_path / "bundle", key)
    with pytest.raises(EvidenceError, match="zero tool calls were gated"):
        verify_bundle(tmp_path / "bundle", ring(key))


def test_missing_transcript_fails(tmp_path):
    run, key = make_run(tmp_path, transcript=False)
    with pytest.raises(EvidenceError, match="transcript_missing"):
        build_bundle(run, tmp_path / "bundle", key)


def test_journal_that_does_not_verify_marks_the_bundle_failed(tmp_path):
    run, key = make_run(tmp_path)
    lines = (run / "journal.jsonl").read_bytes().splitlines(keepends=True)
    edited = lines[5].replace(b'"decision":"allow"', b'"decision":"deny"')
    assert edited != lines[5]
    lines[5] = edited
    (run / "journal.jsonl").write_bytes(b"".join(lines))
    with pytest.raises(EvidenceError, match=r"journal\.jsonl: does not verify: line 6, entry 5: hash mismatch") as ei:
        build_bundle(run, tmp_path / "bundle", key)
    assert ei.value.report.status == "failed"
    b = tmp_path / "bundle"
    assert json.loads((b / "manifest.json").read_text())["status"] == "failed"
    assert json.loads((b / "verify.json").read_text())["ok"] is False
    assert "journal does NOT verify" in (b / "verify.txt").read_text()
    assert json.loads((b / "timeline.json").read_text())["journal_verified"] is False
    with pytest.raises(JournalVerificationError, match="journal.jsonl"):
        verify_bundle(b, ring(key))


def test_missing_head_marks_the_bundle_failed(tmp_path):
    run, key = make_run(tmp_path)
    (run / "journal.jsonl.head").unlink()
    with pytest.raises(EvidenceError, match="no signed head"):
        build_bundle(run, tmp_path / "bundle", key)


def test_failed_preflight_with_calls_fails(tmp_path):
    run, key = make_run(tmp_path)
    k = key
    j = Journal.open(run / "journal.jsonl", k)
    j.append("sandbox.preflight", "", {"ok": False, "interfaces": ["lo", "eth0"]})
    j.close()
    with pytest.raises(EvidenceError, match="ran_after_failed_preflight"):
        build_bundle(run, tmp_path / "bundle", key)


def test_policy_digest_mismatch_fails(tmp_path):
    run, key = make_run(tmp_path)
    meta = json.loads((run / "run.json").read_text())
    meta["policy_digest"] = "00" * 32
    (run / "run.json").write_text(json.dumps(meta))
    with pytest.raises(EvidenceError, match="policy_digest_mismatch"):
        build_bundle(run, tmp_path / "bundle", key)


def test_policy_copy_that_differs_from_the_run_fails(tmp_path):
    run, key = make_run(tmp_path)
    (run / "policy.toml").write_text((run / "policy.toml").read_text().replace('touches = ["outside"]', 'touches = ["root"]'))
    with pytest.raises(EvidenceError, match="policy_copy_mismatch"):
        build_bundle(run, tmp_path / "bundle", key)


def test_policy_the_engine_refuses_is_listed_but_fails(tmp_path):
    run, key = make_run(tmp_path)
    (run / "policy.toml").write_text('[[rule]]\nid = "x"\neffect = "allow"\nbogus = 1\n')
    with pytest.raises(EvidenceError, match=r"\[policy_copy_unverifiable\] aar.json: policy copy: the policy engine refused the copy"):
        build_bundle(run, tmp_path / "bundle", key)
    aar = json.loads((tmp_path / "bundle" / "aar.json").read_text())
    assert aar["policy"]["rules_source"] == "TOML as written" and aar["policy"]["rules"][0]["id"] == "x"


def test_missing_policy_copy_fails(tmp_path):
    run, key = make_run(tmp_path)
    (run / "policy.toml").unlink()
    with pytest.raises(EvidenceError, match="policy_copy_missing"):
        build_bundle(run, tmp_path / "bundle", key)


def test_decisions_under_another_policy_fail_even_if_run_json_agrees(tmp_path):
    run, key = make_run(tmp_path)
    meta = json.loads((run / "run.json").read_text())
    meta["policy_digest"] = "00" * 32
    (run / "run.json").write_text(json.dumps(meta))
    (run / "policy.toml").write_text((run / "policy.toml").read_text().replace("evidence-tests", "other"))
    with pytest.raises(EvidenceError, match=r"\[policy_digest_mismatch\] aar.json: the policy copy digests to"):
        build_bundle(run, tmp_path / "bundle", key)


def test_refuses_to_overwrite(tmp_path):
    run, key = make_run(tmp_path)
    (tmp_path / "bundle").mkdir()
    (tmp_path / "bundle" / "x").write_text("keep me")
    with pytest.raises(EvidenceError, match="not empty"):
        build_bundle(run, tmp_path / "bundle", key)
    assert (tmp_path / "bundle" / "x").read_text() == "keep me"


def test_symlinks_in_the_run_are_not_followed(tmp_path):
    run, key = make_run(tmp_path)
    secret = tmp_path / "secret.txt"
    secret.write_text("host secret")
    os.symlink(secret, run / "transcript" / "link.jsonl")
    os.symlink(tmp_path, run / "logs" / "dirlink")
    rep = build_bundle(run, tmp_path / "bundle", key)
    assert rep.ok
    assert any("link.jsonl: not a regular file" in w for w in rep.warnings)
    for root, _, files in os.walk(tmp_path / "bundle"):
        for name in files:
            assert b"host secret" not in open(os.path.join(root, name), "rb").read()


def test_secret_values_are_redacted_from_copied_logs(tmp_path):
    from agp.journal import SecretRedactor

    run, key = make_run(tmp_path)
    (run / "logs" / "relay.log").write_text("upstream auth sk-live-abcdef123456\n")
    red = SecretRedactor()
    red.register("MODEL_KEY", "sk-live-abcdef123456")
    build_bundle(run, tmp_path / "bundle", key, redactor=red)
    assert (tmp_path / "bundle" / "logs" / "relay.log").read_text() == "upstream auth {{secret:MODEL_KEY}}\n"


# ---------------------------------------------------------------------------- CLI
def test_cli_evidence_and_verify(tmp_path, capsys):
    run, key = make_run(tmp_path)
    (tmp_path / "run-keydir" / "agp.key").chmod(0o600)
    rc = agp_main(["evidence", str(run), "--out", str(tmp_path / "b"), "--key-dir", str(tmp_path / "run-keydir"), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["ok"] and out["gated"] == 3
    args = argparse.Namespace(path=tmp_path / "b", json=False)
    assert verify_bundle_cli(args, ring(key)) == 0
    assert "evidence bundle verifies" in capsys.readouterr().out
    (tmp_path / "b" / "aar.md").write_text("edited")
    assert verify_bundle_cli(argparse.Namespace(path=tmp_path / "b", json=True), ring(key)) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] is False and {"code": "file_changed", "where": "aar.md"}.items() <= out["errors"][0].items()


def test_cli_failed_bundle_exits_1(tmp_path, capsys):
    calls = CALLS["claude-code"][:2]
    run, key = make_run(tmp_path, calls=calls)
    rc = agp_main(["evidence", str(run), "--out", str(tmp_path / "b"), "--key-dir", str(tmp_path / "run-keydir")])
    out = capsys.readouterr().out
    assert rc == 1
    assert "written but FAILED" in out and "ungated_call" in out
    assert (tmp_path / "b" / "manifest.sig").is_file()


def test_check_bundle_reports_every_problem(tmp_path):
    b, key = built(tmp_path)
    (b / "aar.md").write_text("x")
    (b / "timeline.md").unlink()
    (b / "extra").write_text("y")
    rep = check_bundle(b, ring(key))
    assert not rep.ok and len(rep.failures) == 3


def test_journaled_run_anomalies_reach_the_report(tmp_path):
    run, key = make_run(tmp_path)
    j = Journal.open(run / "journal.jsonl", key)
    j.append("run.anomaly", "s1", {"what": "gate restarted", "error": "socket vanished"})
    j.close()
    rep = build_bundle(run, tmp_path / "bundle", key)
    assert any(w.startswith("journaled_anomaly: entry ") and "gate restarted: socket vanished" in w for w in rep.warnings)
    md = (tmp_path / "bundle" / "timeline.md").read_text()
    assert "ANOMALY: gate restarted: socket vanished" in md
    assert "egress preflight passed" in md


def test_agp_verify_bundle_dir_through_the_cli(tmp_path, capsys):
    b, key = built(tmp_path)
    pub = tmp_path / "auditor.pub"
    pub.write_bytes(key.public.to_pem())
    assert agp_main(["verify", str(b), "--key", str(pub)]) == 0
    out = capsys.readouterr().out
    assert "evidence bundle verifies" in out and "supplied by the verifier" in out
    assert agp_main(["verify", str(b)]) == 2  # no trust root
    assert agp_main(["verify", str(b), "--tofu"]) == 0
    assert "trust on first use" in capsys.readouterr().out
    other = tmp_path / "other.pub"
    other.write_bytes(SigningKey.generate().public.to_pem())
    assert agp_main(["verify", str(b), "--key", str(other), "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] is False and out["errors"][0]["code"] in ("key_unknown", "key_untrusted") and out["errors"][0]["where"] == "journal.jsonl:1"


def test_gate_down_calls_blocked_by_the_bridge_keep_the_bundle_good(tmp_path):
    """The gate died before deciding toolu_0002; the bridge denied on its own and Claude recorded the block."""
    calls = [c for c in CALLS["claude-code"] if c[0] != "toolu_0002"]
    run, key = make_run(tmp_path, calls=calls)
    rep = build_bundle(run, tmp_path / "bundle", key)
    assert rep.ok and rep.gated == 2
    assert any(w.startswith("blocked_without_decision: Bash call toolu_0002") for w in rep.warnings)
    assert verify_bundle(tmp_path / "bundle", ring(key)).ok


def test_cli_output_shows_bracketed_text_verbatim(tmp_path, capsys):
    """Messages quote harness text such as ``[python3 /opt/agp/bridge.py]``; rich must not eat it as markup."""
    calls = [c for c in CALLS["claude-code"] if c[0] != "toolu_0002"]
    run, key = make_run(tmp_path, calls=calls)
    build_bundle(run, tmp_path / "b", key)
    capsys.readouterr()
    verify_bundle_cli(argparse.Namespace(path=tmp_path / "b", json=False), ring(key))
    out = capsys.readouterr().out
    assert "result at projects/-ws/" in out and "[bold" not in out
    bad = tmp_path / "b" / "transcript" / "[red]x[dim].txt"
    bad.write_text("x")
    assert verify_bundle_cli(argparse.Namespace(path=tmp_path / "b", json=False), ring(key)) == 1
    assert "transcript/[red]x[dim].txt: in the bundle but not in the manifest" in capsys.readouterr().out


def test_entries_after_the_head_are_reported(tmp_path):
    run, key = make_run(tmp_path)
    head = (run / "journal.jsonl.head").read_bytes()
    j = Journal.open(run / "journal.jsonl", key)
    j.append("run.note", "", {"late": True})
    j.close()
    # a crash between the append and the head write: the old head is what is on disk
    lines = (run / "journal.jsonl").read_bytes().splitlines(keepends=True)
    (run / "journal.jsonl").write_bytes(b"".join(lines[:-1]))  # drop the closing journal.head entry
    (run / "journal.jsonl.head").write_bytes(head)
    rep = build_bundle(run, tmp_path / "bundle", key)  # reopen + note verify; only the head is behind
    assert any(w.startswith("entries_after_head: 2 journal entries after the signed head (entry 10)") for w in rep.warnings)
