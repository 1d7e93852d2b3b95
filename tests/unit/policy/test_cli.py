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
    for sub in ([], ["check"], ["explain"], ["test"], ["replay"], ["init"], ["schema"]):
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


# --- check warnings, init, schema, test --junit, explain -- CMD, run --policy tiers -------------

def test_check_warns_on_allow_rules_that_match_everything_and_on_empty_policies(tmp_path):
    cases = {
        'tool = ["*"]': "matches every tool",
        'program = ["*"]\nlocation = ["inside"]': "matches every program",
        'kind = ["exec"]': "matches every program",
        'unknown = true\ntool = ["*"]': "statements no classifier could decide",
        'workspace_mode = ["clone"]': "matches every tool (in clone mode)",
    }
    for body, warning in cases.items():
        f = tmp_path / "p.toml"
        f.write_text(f'[[rule]]\nid = "wide"\neffect = "allow"\n{body}\n')
        r = agp("policy", "check", f)
        assert r.returncode == 0 and "warning" in r.stdout and warning in r.stdout, (body, r.stdout)
        r = agp("policy", "check", "--strict", "--json", f)
        out = json.loads(r.stdout)
        assert r.returncode == 1 and out["ok"] is False and any(warning in w for w in out["warnings"]), body
    f.write_text('[policy]\nname = "nothing"\n')
    r = agp("policy", "check", "--strict", f)
    assert r.returncode == 1 and "no rules" in r.stdout
    f.write_text('[[rule]]\nid = "d"\neffect = "deny"\ntool = "Bash"\n')
    assert "no allow rule" in agp("policy", "check", f).stdout
    # the shipped policies pass --strict
    for name in ("default", "strict", "ci"):
        r = agp("policy", "check", "--strict", "--json", repo_root() / "policies" / f"{name}.toml")
        assert r.returncode == 0 and json.loads(r.stdout)["warnings"] == [], (name, r.stdout)


def test_init_writes_a_commented_project_policy_that_validates_and_tests(tmp_path):
    r = subprocess.run([*AGP, "policy", "init"], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    f = tmp_path / ".agp" / "policy.toml"
    text = f.read_text()
    assert text.count("\n#") >= 10 and "HEAD" in text and "tighten" in text.lower()
    assert agp("policy", "check", "--strict", f).returncode == 0
    r = agp("policy", "test", DEFAULT, f)
    assert r.returncode == 0, r.stdout
    # never overwritten without --force
    f.write_text("# mine\n")
    r = subprocess.run([*AGP, "policy", "init"], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 2 and "--force" in r.stderr and f.read_text() == "# mine\n"
    assert subprocess.run([*AGP, "policy", "init", "--force"], capture_output=True, cwd=tmp_path).returncode == 0
    # the run kind extends the shipped default and passes its own examples
    run = tmp_path / "run.toml"
    assert agp("policy", "init", "--kind", "run", run).returncode == 0
    assert 'extends = ["default"]' in run.read_text()
    r = agp("policy", "test", run)
    assert r.returncode == 0, r.stdout


def test_schema_is_json_schema_of_the_policy_file():
    r = agp("policy", "schema")
    assert r.returncode == 0
    schema = json.loads(r.stdout)
    assert schema["$schema"].startswith("https://json-schema.org/") and schema["additionalProperties"] is False
    assert {"extends", "policy", "rule", "test"} <= set(schema["properties"])
    rule = schema["$defs"]["Rule"]
    assert rule["additionalProperties"] is False and {"workspace_mode", "program", "effect"} <= set(rule["properties"])
    assert "clone" in json.dumps(rule["properties"]["workspace_mode"])
    assert "workspace_mode" in schema["$defs"]["TestCase"]["properties"]


def test_test_writes_junit_xml(tmp_path):
    import xml.etree.ElementTree as ET

    out = tmp_path / "reports" / "policy.xml"
    r = agp("policy", "test", "--junit", out, DEFAULT)
    assert r.returncode == 0
    suite = ET.parse(out).getroot().find("testsuite")
    assert int(suite.get("tests")) >= 40 and suite.get("failures") == "0"
    assert len(suite.findall("testcase")) == int(suite.get("tests"))
    bad = tmp_path / "bad.toml"
    bad.write_text('[[rule]]\nid = "a"\neffect = "allow"\ntool = "Read"\n\n'
                   '[[test]]\nname = "wrong on purpose"\ntool = "Bash"\ninput = { command = "ls" }\nexpect = "allow"\n')
    r = agp("policy", "test", "--junit", out, bad)
    assert r.returncode == 1
    suite = ET.parse(out).getroot().find("testsuite")
    failure = suite.find("testcase").find("failure")
    assert suite.get("failures") == "1" and "expected allow, got deny" in failure.get("message")


def test_explain_a_bash_command_after_double_dash_in_either_mode():
    r = agp("policy", "explain", "--json", "--workspace", "/workspace", "--workspace-mode", "clone",
            "--", "git", "commit", "-m", "fix the test")
    out = json.loads(r.stdout)
    assert r.returncode == 0 and out["decision"] == "allow" and out["call"]["workspace_mode"] == "clone"
    assert out["call"]["input"] == {"command": "git commit -m 'fix the test'"}
    r = agp("policy", "explain", "--json", "--workspace", "/workspace", "--", "git", "commit", "-m", "fix the test")
    assert json.loads(r.stdout)["decision"] == "require" and json.loads(r.stdout)["call"]["workspace_mode"] == "mount"
    r = agp("policy", "explain", "--policy", DEFAULT, "--workspace", "/workspace", "--", "pytest -q 2>&1 | tail -5")
    assert r.returncode == 0 and "decision: allow" in r.stdout and "mount mode" in r.stdout
    assert agp("policy", "explain", "--input", "{}", "--", "ls").returncode == 2
    assert agp("policy", "explain").returncode == 2
    assert agp("policy", "explain", "--tool", "Read", "--", "ls").returncode == 2


def test_explain_adds_a_project_policy_from_head(tmp_path):
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@e",
           "PATH": "/usr/bin:/bin"}
    (tmp_path / ".agp").mkdir()
    (tmp_path / ".agp" / "policy.toml").write_text('[[rule]]\nid = "no-ls"\neffect = "deny"\nprogram = ["ls"]\n')
    for cmd in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "x"]):
        subprocess.run(["git", "-C", str(tmp_path), *cmd], check=True, capture_output=True, env=env)
    r = agp("policy", "explain", "--json", "--project", tmp_path, "--", "ls")
    out = json.loads(r.stdout)
    assert out["decision"] == "deny" and out["rule"] == "no-ls"


def test_run_takes_policy_tiers(tmp_path):
    from agp.cli import build_parser

    a, b = tmp_path / "a.toml", tmp_path / "b.toml"
    a.touch()
    b.touch()
    args = build_parser().parse_args(["run", "--intendant", "reference", "--workspace", ".", "--policy", str(a),
                                      "--policy", str(b), "--policy", "strict"])
    assert [p.name for p in args.policy] == ["a.toml", "b.toml", "strict.toml"]
    assert "repeat for tiers" in " ".join(agp("run", "--help").stdout.split())


def test_check_treats_agp_policy_toml_as_a_project_policy(tmp_path):
    f = tmp_path / ".agp" / "policy.toml"
    f.parent.mkdir()
    f.write_text('[[rule]]\nid = "no-make"\neffect = "deny"\nprogram = ["make"]\n')
    r = agp("policy", "check", "--strict", f)
    assert r.returncode == 0 and "warning" not in r.stdout, r.stdout  # deny-only is what a project policy is
    f.write_text('[[rule]]\nid = "loosen"\neffect = "allow"\nprogram = ["curl"]\n')
    r = agp("policy", "check", "--strict", f)
    assert r.returncode == 1 and "has no effect" in r.stdout
    f.write_text('extends = ["default"]\n')
    assert agp("policy", "check", f).returncode == 2
