"""The default policy by workspace mode, through the real classifiers and engine.

A realistic session (tests/unit/policy/session_corpus.py) runs without asking in clone mode,
every door still denies or asks, and in mount mode every write asks, as before.
"""

import collections
import datetime as dt
import importlib.util
from pathlib import Path

import pytest

from agp.errors import PolicyError
from agp.paths import repo_root
from agp.policy import ToolCall, evaluate, load_policy
from agp.policy.engine import Policy
from agp.policy.explain import run_policy_tests
from agp.policy.model import parse_policy_text

_spec = importlib.util.spec_from_file_location("session_corpus", Path(__file__).with_name("session_corpus.py"))
_corpus = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_corpus)
DOORS, SESSION, WS = _corpus.DOORS, _corpus.SESSION, _corpus.WS

POLICIES = repo_root() / "policies"
NOW = dt.datetime(2026, 12, 7, 10, 0, tzinfo=dt.timezone.utc)
_WRITE_TOOLS = {"Write", "Edit", "MultiEdit", "apply_patch"}


@pytest.fixture(scope="module")
def default():
    return load_policy(POLICIES / "default.toml")


@pytest.fixture(scope="module")
def strict():
    return load_policy(POLICIES / "strict.toml")


def decide(policy, call, mode):
    harness, tool, inp = call
    return evaluate(ToolCall(harness, tool, inp, WS, WS, "t", host_workspace="", workspace_mode=mode), policy, NOW)


def test_the_session_corpus_is_realistic_and_large_enough():
    assert len(SESSION) >= 150
    tools = collections.Counter((h, t) for h, t, _ in SESSION)
    for tool in ("Read", "Write", "Edit", "Glob", "Grep", "Bash"):
        assert tools[("claude-code", tool)] >= 3, tool
    assert tools[("codex", "Bash")] >= 10 and tools[("codex", "apply_patch")] >= 3
    commands = " ".join(i.get("command", "") for _, t, i in SESSION if t == "Bash")
    for word in ("git commit", "git add", "git switch", "git stash", "git merge", "git cherry-pick", "git tag",
                 "git reset --soft", "make", "npm", "npx", "cargo", "go test", "pytest", "ruff", "black", "isort",
                 "mypy", "flake8", "tsc", "gradlew", "mvn", "pip install", "sed -i", "tar", "chmod", "ln -s", "mkdir"):
        assert word in commands, word


def test_clone_mode_interrupts_at_most_three_percent_of_the_session(default):
    interrupted = [(c, d.reason) for c in SESSION if (d := decide(default, c, "clone")).effect != "allow"]
    rate = len(interrupted) / len(SESSION)
    print(f"\nclone mode: {len(interrupted)}/{len(SESSION)} interrupted = {rate:.1%}")
    for c, why in interrupted:
        print("  ", c[1], str(c[2])[:80], "->", why[:120])
    assert rate <= 0.03, interrupted


@pytest.mark.parametrize("mode", ["clone", "mount"])
def test_every_door_is_refused_or_asked(default, mode):
    allowed = [c for c in DOORS if decide(default, c, mode).effect == "allow"]
    assert len(DOORS) >= 60
    assert not allowed, allowed


def test_mount_mode_asks_for_every_write_of_the_session(default):
    writes = [c for c in SESSION if c[1] in _WRITE_TOOLS and c[2].get("file_path", WS).startswith(WS)]
    assert len(writes) >= 10
    for c in writes:
        assert decide(default, c, "mount").effect == "require", c
    # and the shell's writes are not allowed without asking either
    for cmd in ("mkdir -p src/app/plugins", "git commit -am x", "sed -i 's/a/b/' x.py", "echo x > notes.txt"):
        assert decide(default, ("claude-code", "Bash", {"command": cmd}), "mount").effect in ("require", "deny"), cmd


def test_mount_mode_is_unchanged_for_installs_and_scratch(default):
    for cmd in ("pip install requests", "npm install left-pad", "npx evil", "python -m pip install x",
                "cp README.md /tmp/", "cat README.md > /tmp/x"):
        assert decide(default, ("claude-code", "Bash", {"command": cmd}), "mount").effect == "deny", cmd


def test_the_doors_name_their_rule_in_clone_mode(default):
    cases = {
        "git push origin main": "deny-git-network", "npm publish": "deny-publish", "twine upload dist/*":
        "deny-publish-programs", "git remote add x https://e.example/x": "deny-git-remote-change",
        "rm -rf .git": "deny-remove-git-dir", "git filter-branch HEAD": "deny-git-destroy-history",
        "ls /run/agp": "deny-agp-files", "git config core.hooksPath x": "deny-git-config-write",
        "git -c core.pager=x log": "deny-git-config-override", "git --no-pager -c core.pager=x log": "deny-git-config-override",
    }
    for cmd, rule in cases.items():
        d = decide(default, ("claude-code", "Bash", {"command": cmd}), "clone")
        assert (d.effect, d.rule) == ("deny", rule), (cmd, d.reason)
    d = decide(default, ("claude-code", "Write", {"file_path": f"{WS}/.github/workflows/ci.yml", "content": "x"}), "clone")
    assert (d.effect, d.rule) == ("require", "door-host-run-paths")


def test_git_switch_dash_c_is_a_branch_not_a_config_override(default):
    assert decide(default, ("claude-code", "Bash", {"command": "git switch -c topic"}), "clone").effect == "allow"
    assert decide(default, ("claude-code", "Bash", {"command": "git checkout -b topic"}), "clone").effect == "allow"
    for cmd in ("git -c x=y switch -c topic", "git --bare -c x=y status", "git -C /tmp -c a=b log",
                "git --config-env=core.pager=X log", "git --exec-path=/tmp status"):
        assert decide(default, ("claude-code", "Bash", {"command": cmd}), "clone").effect == "deny", cmd
        assert decide(default, ("claude-code", "Bash", {"command": cmd}), "mount").effect == "deny", cmd


def test_clone_mode_asks_before_throwing_work_away(default):
    for cmd in ("git reset --hard HEAD~1", "git rebase -i main", "git clean -fd"):
        assert decide(default, ("claude-code", "Bash", {"command": cmd}), "clone").effect == "require", cmd
    assert decide(default, ("claude-code", "Bash", {"command": "git clean -fdx"}), "clone").effect == "deny"


@pytest.mark.parametrize("mode", ["clone", "mount"])
def test_strict_writes_nothing_and_runs_nothing_in_either_mode(strict, mode):
    for c in SESSION:
        d = decide(strict, c, mode)
        if c[1] in _WRITE_TOOLS:
            assert d.effect == "deny", c
        if c[1] == "Bash" and any(w in c[2]["command"] for w in ("git commit", "pytest", "make", "npm", "cargo build")):
            assert d.effect == "deny", c
    assert not [c for c in DOORS if decide(strict, c, mode).effect != "deny"]


def test_a_rule_matches_on_workspace_mode():
    pf = parse_policy_text('''
[[rule]]
id = "clone-writes"
effect = "allow"
workspace_mode = "clone"
kind = ["write"]
location = ["inside"]
''')
    p = Policy([pf])
    w = ("claude-code", "Write", {"file_path": f"{WS}/a.py", "content": "x"})
    assert decide(p, w, "clone").effect == "allow"
    assert decide(p, w, "mount").effect == "deny"


def test_workspace_mode_values_are_checked():
    with pytest.raises(ValueError):
        ToolCall("claude-code", "Read", {"file_path": "/w/a"}, "/w", "/w", workspace_mode="copy")
    with pytest.raises(PolicyError, match="workspace_mode"):
        parse_policy_text('[[rule]]\nid = "x"\neffect = "allow"\nworkspace_mode = ["copy"]\ntool = "Read"\n')
    call = ToolCall("claude-code", "Read", {"file_path": "/w/a"}, "/w", "/w")
    assert call.workspace_mode == "mount" and "workspace_mode" not in call.to_json_dict()
    assert ToolCall("claude-code", "Read", {}, "/w", "/w", workspace_mode="clone").to_json_dict()["workspace_mode"] == "clone"


def test_policy_test_cases_carry_the_workspace_mode(tmp_path):
    f = tmp_path / "p.toml"
    f.write_text('''
[[rule]]
id = "clone-writes"
effect = "allow"
workspace_mode = ["clone"]
kind = ["write"]
location = ["inside"]

[[test]]
tool = "Write"
input = { file_path = "/workspace/a.py", content = "x" }
workspace_mode = "clone"
expect = "allow"

[[test]]
tool = "Write"
input = { file_path = "/workspace/a.py", content = "x" }
expect = "deny"
''')
    results = run_policy_tests(f, NOW)
    assert [r.ok for r in results] == [True, True]
