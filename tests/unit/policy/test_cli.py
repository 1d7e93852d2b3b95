"""`agp policy check | explain | test` as a user runs them."""

import json
import subprocess
import sys

from agp.paths import repo_root

AGP = [sys.executable, "-m", "agp.cli"]
DEFAULT = repo_root() / "policies" / "default.toml"


def agp(*args, **kw):
    return subprocess.run([*AGP, *map(str, args)], capture_output=True, text=True, cwd=repo_root(), **kw)


def test_check_prints_rules_and_digest_and_json():
    r = agp("policy", "check", DEFAULT)
    assert r.returncode == 0, r.stderr
    assert "valid" in r.stdout and "digest " in r.stdout
    j = json.loads(agp("policy", "check", DEFAULT, "--json").stdout)
    assert j["ok"] is True and j["algorithm"] == "sha256-jcs" and len(j["digest"]) == 64
    assert j["tiers"][0]["name"] == "default"


def test_check_refuses_an_invalid_policy_with_file_and_line(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[[rule]]\nid = "a"\neffect = "deny"\nprogramm = "rm"\n')
    r = agp("policy", "check", bad)
    assert r.returncode == 2
    assert f"{bad}:4" in r.stderr and "unknown key 'programm'" in r.stderr


def test_explain_json_has_the_documented_keys(tmp_path):
    r = agp("policy", "explain", "--policy", DEFAULT, "--harness", "claude-code", "--tool", "Read",
            "--input", '{"file_path": "/etc/shadow"}', "--workspace", tmp_path, "--json")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    assert {"decision", "rule", "matched", "statements", "reason", "policy_digest"} <= set(j)
    assert j["decision"] == "deny" and j["rule"] == "deny-outside-workspace"
    assert j["statements"][0]["paths"][0]["location"] == "outside"
    digest = json.loads(agp("policy", "check", DEFAULT, "--json").stdout)["digest"]
    assert j["policy_digest"] == digest


def test_explain_human_output_shows_statements_rules_and_reason(tmp_path):
    r = agp("policy", "explain", "--policy", DEFAULT, "--tool", "Write",
            "--input", json.dumps({"file_path": str(tmp_path / "a.py"), "content": "x"}), "--workspace", tmp_path)
    assert r.returncode == 0, r.stderr
    assert "write-workspace-files" in r.stdout and "require" in r.stdout and "reason:" in r.stdout


def test_explain_reads_input_from_a_file_and_refuses_bad_json(tmp_path):
    f = tmp_path / "in.json"
    f.write_text('{"file_path": "x"}')
    r = agp("policy", "explain", "--policy", DEFAULT, "--tool", "Read", "--input", f"@{f}", "--workspace", tmp_path, "--json")
    assert json.loads(r.stdout)["decision"] == "allow"
    r = agp("policy", "explain", "--policy", DEFAULT, "--tool", "Read", "--input", "{nope")
    assert r.returncode == 2 and "not valid JSON" in r.stderr
    r = agp("policy", "explain", "--policy", DEFAULT, "--tool", "Read", "--input", "[1]")
    assert r.returncode == 2 and "JSON object" in r.stderr


def test_explain_with_tiers_and_now(tmp_path):
    org = tmp_path / "org.toml"
    org.write_text('[[rule]]\nid = "org-no-reads-after"\neffect = "deny"\nkind = "read"\nnot_before = 2030-01-01T00:00:00Z\n')
    args = ["policy", "explain", "--policy", DEFAULT, "--policy", org, "--tool", "Read", "--input", '{"file_path": "a"}',
            "--workspace", tmp_path, "--json"]
    assert json.loads(agp(*args, "--now", "2029-12-31T23:59:59Z").stdout)["decision"] == "allow"
    j = json.loads(agp(*args, "--now", "2030-01-01T00:00:00Z").stdout)
    assert j["decision"] == "deny" and j["rule"] == "org-no-reads-after"
    assert agp(*args, "--now", "2030-01-01").returncode == 2


def test_test_passes_and_fails_with_exit_codes(tmp_path):
    p = tmp_path / "p.toml"
    p.write_text(
        '[[rule]]\nid = "r"\neffect = "allow"\ntool = "Read"\nkind = "read"\nlocation = ["inside"]\n'
        '[[test]]\ntool = "Read"\ninput = { file_path = "a" }\nexpect = "allow"\nrule = "r"\n'
        '[[test]]\nname = "outside"\ntool = "Read"\ninput = { file_path = "/etc/x" }\nexpect = "deny"\n'
    )
    r = agp("policy", "test", p)
    assert r.returncode == 0 and "2 passed, 0 failed" in r.stdout
    p.write_text(p.read_text() + '[[test]]\nname = "wrong"\ntool = "Read"\ninput = { file_path = "b" }\nexpect = "deny"\n')
    r = agp("policy", "test", p)
    assert r.returncode == 1 and "FAIL" in r.stdout and "expected deny, got allow" in r.stdout
    j = json.loads(agp("policy", "test", p, "--json").stdout)
    assert (j["ok"], j["passed"], j["failed"]) == (False, 2, 1)


def test_test_with_no_cases_fails(tmp_path):
    p = tmp_path / "p.toml"
    p.write_text('[[rule]]\nid = "r"\neffect = "deny"\ntool = "Read"\n')
    r = agp("policy", "test", p)
    assert r.returncode == 1 and "no [[test]] cases" in r.stdout


def test_every_policy_command_has_help():
    for sub in ([], ["check"], ["explain"], ["test"], ["replay"]):
        r = agp("policy", *sub, "--help")
        assert r.returncode == 0 and "usage: agp policy" in r.stdout


def _journal_line(seq, call, body_extra, ts="2026-11-23T10:00:00.000000Z"):
    body = {"call": call, "decision": "deny", "approval": None, "statements": [], "reason": "r", **body_extra}
    return json.dumps({"seq": seq, "ts": ts, "kind": "gate.decision", "session": "s", "body": body})


def test_replay_compares_journaled_decisions_with_the_policy(tmp_path):
    from agp.policy import ToolCall, evaluate, load_policy
    import datetime as dt

    policy = load_policy(DEFAULT)
    now = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.timezone.utc)
    calls = [{"harness": "claude-code", "tool": "Bash", "input": {"command": c}, "cwd": "/workspace"}
             for c in ("ls -la", "rm -rf /", "git commit -m x")]
    lines = [json.dumps({"seq": 0, "ts": "2026-11-23T09:59:00.000000Z", "kind": "journal.open", "session": "", "body": {}})]
    for i, call in enumerate(calls, 1):
        d = evaluate(ToolCall(workspace="/workspace", host_workspace="", **call), policy, now).to_json_dict()
        lines.append(_journal_line(i, call, {k: d[k] for k in ("effect", "rule", "matched", "policy_digest")}))
    lines.append(_journal_line(9, calls[0], {"effect": "deny", "rule": None, "matched": [], "policy_digest": None,
                                             "refusal": "oversized"}))
    j = tmp_path / "journal.jsonl"
    j.write_text("\n".join(lines) + "\n")
    r = agp("policy", "replay", j, "--policy", DEFAULT, "--json")
    out = json.loads(r.stdout)
    assert r.returncode == 0 and out["counts"] == {"same": 3, "not-evaluated": 1}, r.stdout
    # a journal that says `ls` was denied by a rule that does not say so: caught
    lines[1] = _journal_line(1, calls[0], {"effect": "deny", "rule": "deny-network-tools", "matched": [],
                                           "policy_digest": policy.digest})
    j.write_text("\n".join(lines) + "\n")
    r = agp("policy", "replay", j, "--policy", DEFAULT)
    assert r.returncode == 1 and "differs" in r.stdout and "entry 1" in r.stdout
    # under another policy: which decisions would change (the commit that asked would now be denied)
    other = tmp_path / "other.toml"
    other.write_text('[[rule]]\nid = "x"\neffect = "deny"\ntool = "Bash"\n')
    r = agp("policy", "replay", j, "--policy", other, "--json")
    out = json.loads(r.stdout)
    assert r.returncode == 1 and out["counts"] == {"changed": 1, "unchanged": 2, "not-evaluated": 1}, r.stdout
    changed = [x for x in out["results"] if x["status"] == "changed"]
    assert changed[0]["seq"] == 3 and changed[0]["replayed"]["effect"] == "deny"
    r = agp("policy", "replay", j, "--policy", other)
    assert "changed" in r.stdout and "entry 3" in r.stdout and "require" in r.stdout
    j.write_text("not json\n")
    assert agp("policy", "replay", j, "--policy", DEFAULT).returncode == 2
