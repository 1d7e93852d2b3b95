"""policies/default.toml, strict.toml and ci.toml do what the policy design says (through the real classifiers)."""

import datetime as dt

import pytest

from agp.paths import repo_root
from agp.policy import ToolCall, evaluate, load_policy
from agp.policy.explain import run_policy_tests
from agp.policy.model import read_policy_file, resolve_policy_file

POLICIES = repo_root() / "policies"
NOW = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.timezone.utc)
WS = "/workspace"


@pytest.fixture(scope="module")
def default():
    return load_policy(POLICIES / "default.toml")


def decide(policy, tool, inp, cwd=WS):
    return evaluate(ToolCall(harness="claude-code", tool=tool, input=inp, cwd=cwd, workspace=WS, session="t",
                             host_workspace=""), policy, NOW)


def bash(policy, command, cwd=WS):
    return decide(policy, "Bash", {"command": command}, cwd)


@pytest.mark.parametrize("name", ["default", "strict", "ci"])
def test_the_examples_written_in_each_shipped_policy_pass(name):
    results = run_policy_tests(POLICIES / f"{name}.toml", NOW)
    assert len(results) >= 10
    failures = [f"{r.label}: {r.problem}" for r in results if not r.ok]
    assert not failures, "\n".join(failures)


def test_ci_has_the_default_rules_and_no_approvals():
    d, c = resolve_policy_file(POLICIES / "default.toml"), resolve_policy_file(POLICIES / "ci.toml")
    assert read_policy_file(POLICIES / "ci.toml").extends == ("default",)
    assert c.rule == d.rule
    assert c.policy.approvals is False and d.policy.approvals is True


def test_strict_allows_nothing_that_writes_or_runs_project_code():
    s = read_policy_file(POLICIES / "strict.toml")
    assert not [r.id for r in s.rule if r.effect == "require"]
    allows = [r for r in s.rule if r.effect == "allow"]
    # writing is allowed only to /dev/null and the standard streams
    assert not [r.id for r in allows if r.kind and "write" in r.kind and set(r.location or ("any",)) != {"null"}]
    assert not [r.id for r in allows if r.program and {"pytest", "python", "npm", "make"} & set(r.program)]


# --- the default policy, clause by clause ------------------------------------------

ALLOWED = [
    "ls -la", "cat README.md", "head -n 20 src/app.py", "tail -f log.txt", "wc -l src/*.py",
    "grep -rn TODO src", "rg -n 'fn main' .", "find . -name '*.py'", "git status", "git log --oneline -10",
    "git diff HEAD~1 -- src", "git show HEAD:README.md", "pwd", "echo hello", "sort names.txt",
    "sed -n '1,20p' src/app.py", "sed 's/foo/bar/' a.txt", "python -m pytest -q", "pytest tests/unit -x",
    "npm test", "cargo test", "go test ./...", "ls src 2>/dev/null", "cat a.txt | sort | uniq -c | sort -rn | head",
]


@pytest.mark.parametrize("command", ALLOWED)
def test_reads_and_tests_inside_the_workspace_are_allowed(default, command):
    d = bash(default, command)
    assert d.effect == "allow", d.reason


@pytest.mark.parametrize("tool, inp", [
    ("Read", {"file_path": f"{WS}/src/a.py"}), ("Glob", {"pattern": "**/*.py"}), ("Grep", {"pattern": "x", "path": "src"}),
])
def test_read_tools_inside_the_workspace_are_allowed(default, tool, inp):
    assert decide(default, tool, inp).effect == "allow"


REQUIRED = [
    ("Write", {"file_path": f"{WS}/a.py", "content": "x"}),
    ("Edit", {"file_path": f"{WS}/a.py", "old_string": "a", "new_string": "b"}),
    ("MultiEdit", {"file_path": f"{WS}/a.py", "edits": []}),
    ("NotebookEdit", {"notebook_path": f"{WS}/n.ipynb", "new_source": "x"}),
    ("apply_patch", {"input": "*** Begin Patch\n*** Update File: src/a.py\n@@\n-a\n+b\n*** End Patch\n"}),
    ("Bash", {"command": "git commit -m 'fix'"}),
    ("Bash", {"command": "echo x > out.txt"}),
    ("Bash", {"command": "sed -i 's/a/b/' src/app.py"}),
    ("Bash", {"command": "mkdir -p build && touch build/x"}),
    ("Bash", {"command": "rm -rf build"}),
    ("Bash", {"command": "git add -A"}),
]


@pytest.mark.parametrize("tool, inp", REQUIRED)
def test_writes_inside_the_workspace_and_git_commit_need_approval(default, tool, inp):
    d = decide(default, tool, inp)
    assert d.effect == "require", d.reason


DENIED = [
    # paths outside the workspace
    "cat /etc/passwd", "ls ~", "cd /tmp && ls", "cat ../../etc/shadow", "cp a.txt /tmp/", "echo x > /etc/cron.d/x",
    "head ~/.ssh/id_rsa", "grep -r key /home",
    # network tools
    "curl https://example.com", "wget http://x/y", "nc -l 4444", "ssh user@host", "scp a host:/tmp",
    "rsync -av . host:/srv", "git push origin main",
    # privilege changes
    "sudo ls", "su -c id", "chmod 777 /etc/passwd", "chown root /tmp/x", "chmod u+s tool", "chmod 4755 tool",
    # destructive commands
    "rm -rf /", "rm -rf .", "rm -rf ./*", "rm -rf *", f"rm -rf {WS}", "rm -rf ~/", "git clean -fdx", "git clean -X -f",
    "git push --force", "git push -f origin main", "dd if=/dev/zero of=/dev/sda", "mkfs.ext4 /dev/sdb1",
    # package managers that fetch
    "pip install requests", "pip3 install -r requirements.txt", "python -m pip install x", "npm install",
    "npm i left-pad", "yarn add x", "cargo install ripgrep", "go get example.com/x", "apt-get install -y jq",
    "npx cowsay hi", "uv pip install x",
    # unknown statements
    'eval "$CMD"', "$X", 'bash -c "$SCRIPT"', "source $F",
]


@pytest.mark.parametrize("command", DENIED)
def test_outside_paths_network_privilege_destructive_package_managers_and_unknown_are_denied(default, command):
    d = bash(default, command)
    assert d.effect == "deny", d.reason


@pytest.mark.parametrize("tool, inp", [
    ("Read", {"file_path": "/etc/passwd"}), ("Write", {"file_path": "/tmp/x", "content": ""}),
    ("WebFetch", {"url": "https://example.com", "prompt": "x"}), ("WebSearch", {"query": "x"}),
    ("mcp__db__query", {"sql": "select 1"}), ("Unknown", {}),
])
def test_non_shell_tools_outside_or_unknown_are_denied(default, tool, inp):
    assert decide(default, tool, inp).effect == "deny"


def test_ci_turns_every_approval_into_a_deny_naming_the_rule():
    ci = load_policy(POLICIES / "ci.toml")
    for tool, inp in REQUIRED:
        d = decide(ci, tool, inp)
        assert d.effect == "deny" and d.rule is not None and "approvals = false" in d.reason, (tool, inp, d.reason)
    assert bash(ci, "git status").effect == "allow"
