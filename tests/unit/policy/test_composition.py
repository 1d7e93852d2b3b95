"""Policies as people compose them: tiers, extends, and the project policy read from HEAD.

A project policy can only tighten: its allow rules have no effect on their own (they count only
to narrow, in a tier with no_match = "deny"); its deny and require rules count.
"""

import datetime as dt
import os
import subprocess

import pytest

from agp.errors import PolicyError
from agp.paths import repo_root
from agp.policy import ToolCall, evaluate, load_policy
from agp.policy.model import read_policy_file, resolve_policy_file
from agp.policy.project import PROJECT_POLICY_PATH, read_project_policy

POLICIES = repo_root() / "policies"
NOW = dt.datetime(2026, 12, 7, 10, 0, tzinfo=dt.timezone.utc)
WS = "/workspace"


def bash(policy, cmd, mode="mount"):
    return evaluate(ToolCall("claude-code", "Bash", {"command": cmd}, WS, WS, "t", host_workspace="",
                             workspace_mode=mode), policy, NOW)


def write(policy, path, mode="mount"):
    return evaluate(ToolCall("claude-code", "Write", {"file_path": f"{WS}/{path}", "content": "x"}, WS, WS, "t",
                             host_workspace="", workspace_mode=mode), policy, NOW)


# --------------------------------------------------------------------------- extends

def test_extends_a_shipped_policy_by_name_and_adds_rules(tmp_path):
    f = tmp_path / "mine.toml"
    f.write_text('extends = ["default"]\n[policy]\nname = "mine"\n\n'
                 '[[rule]]\nid = "mine-deny-docs"\neffect = "deny"\nkind = ["write"]\ntouches_path = ["docs/**"]\n')
    pf = resolve_policy_file(f)
    default = resolve_policy_file(POLICIES / "default.toml")  # with what default itself extends
    assert pf.rule[:-1] == default.rule and pf.rule[-1].id == "mine-deny-docs" and pf.extends == ()
    p = load_policy(f)
    assert write(p, "docs/a.md", "clone").effect == "deny"
    assert write(p, "src/a.py", "clone").effect == "allow"
    assert bash(p, "git status").effect == "allow"


def test_extends_relative_paths_and_a_diamond_is_included_once(tmp_path):
    (tmp_path / "org").mkdir()
    (tmp_path / "org" / "base.toml").write_text('[[rule]]\nid = "base-ls"\neffect = "allow"\nprogram = ["ls"]\n')
    (tmp_path / "a.toml").write_text('extends = ["org/base.toml"]\n[[rule]]\nid = "a-cat"\neffect = "allow"\nprogram = ["cat"]\n')
    (tmp_path / "b.toml").write_text('extends = ["./org/base.toml"]\n[[rule]]\nid = "b-wc"\neffect = "allow"\nprogram = ["wc"]\n')
    (tmp_path / "top.toml").write_text('extends = ["a.toml", "b.toml"]\n')
    pf = resolve_policy_file(tmp_path / "top.toml")
    assert [r.id for r in pf.rule] == ["base-ls", "a-cat", "b-wc"]


@pytest.mark.parametrize("files, match", [
    ({"a.toml": 'extends = ["a.toml"]\n'}, "extends cycle"),
    ({"a.toml": 'extends = ["b.toml"]\n', "b.toml": 'extends = ["c.toml"]\n', "c.toml": 'extends = ["a.toml"]\n'},
     "extends cycle"),
    ({"a.toml": 'extends = ["missing.toml"]\n'}, "no such file"),
    ({"a.toml": 'extends = ["nosuchpolicy"]\n'}, "no shipped policy of that name"),
    ({"a.toml": 'extends = ["default"]\n[[rule]]\nid = "read-workspace-files"\neffect = "deny"\ntool = "Read"\n'},
     "already defined"),
    ({"a.toml": 'extends = ["b.toml", "c.toml"]\n', "b.toml": '[[rule]]\nid = "x"\neffect = "deny"\ntool = "R"\n',
      "c.toml": '[[rule]]\nid = "x"\neffect = "deny"\ntool = "W"\n'}, "comes from both"),
    ({"a.toml": 'extends = 3\n'}, "extends"),
])
def test_extends_refuses_cycles_missing_files_and_duplicate_ids(tmp_path, files, match):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(PolicyError, match=match):
        load_policy(tmp_path / "a.toml")


def test_ci_extends_default_and_keeps_its_digest_independent_of_file_names(tmp_path):
    ci = load_policy(POLICIES / "ci.toml")
    copy = tmp_path / "ci-copy.toml"
    text = (POLICIES / "ci.toml").read_text().replace('extends = ["default"]', f'extends = ["{POLICIES / "default.toml"}"]')
    copy.write_text(text)
    assert load_policy(copy).digest == ci.digest
    assert ci.approvals is False and bash(ci, "git commit -m x").effect == "deny"


# --------------------------------------------------------------------------- tiers

def test_tiers_strictest_wins(tmp_path):
    org = tmp_path / "org.toml"
    org.write_text('[[rule]]\nid = "org-no-make"\neffect = "deny"\nprogram = ["make"]\n')
    p = load_policy([POLICIES / "default.toml", org])
    assert bash(p, "make test").effect == "deny" and bash(load_policy(POLICIES / "default.toml"), "make test").effect == "allow"


# --------------------------------------------------------------------------- project policy: only tightens

def _git(repo, *args):
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, env=env)


def _repo(tmp_path, policy_text, *, commit=True):
    repo = tmp_path / "repo"
    repo.mkdir(parents=True)
    _git(repo, "init", "-q", "-b", "main")
    (repo / "README.md").write_text("x\n")
    if policy_text is not None:
        (repo / ".agp").mkdir()
        (repo / PROJECT_POLICY_PATH).write_text(policy_text)
    _git(repo, "add", "-A")
    if commit:
        _git(repo, "commit", "-q", "-m", "init")
    return repo


PROJECT = '''
[policy]
name = "project"

[[rule]]
id = "project-deny-make"
effect = "deny"
program = ["make"]

[[rule]]
id = "project-ask-migrations"
effect = "require"
kind = ["write"]
touches_path = ["migrations/**"]

# a project cannot loosen: these allows have no effect
[[rule]]
id = "project-allow-curl"
effect = "allow"
program = ["curl"]

[[rule]]
id = "project-allow-writes"
effect = "allow"
kind = ["write"]
location = ["inside"]
'''


def test_project_policy_is_read_from_head_and_only_tightens(tmp_path):
    repo = _repo(tmp_path, PROJECT)
    project = read_project_policy(repo)
    assert project.policy is not None and project.policy.policy.tighten_only and project.commit
    p = load_policy(POLICIES / "default.toml", project=project)
    assert p.sources[-1].endswith(f"{PROJECT_POLICY_PATH}@{project.commit[:12]}")
    # tightens: a deny and a require of the project count
    assert bash(p, "make test").effect == "deny" and bash(p, "make test").rule == "project-deny-make"
    assert write(p, "migrations/0002.sql", "clone").effect == "require"
    # cannot loosen: its allow rules have no effect
    assert bash(p, "curl https://example.com").effect == "deny"
    assert write(p, "src/a.py", "mount").effect == "require"
    assert write(p, "src/a.py", "clone").effect == "allow"  # the default allows it; the project did not forbid it


def test_a_project_allow_list_tier_narrows_what_the_others_allow(tmp_path):
    repo = _repo(tmp_path, '[policy]\nno_match = "deny"\n\n[[rule]]\nid = "only-reads"\neffect = "allow"\n'
                           'program = ["ls", "cat", "git"]\n')
    p = load_policy(POLICIES / "default.toml", project=read_project_policy(repo))
    assert bash(p, "ls -la").effect == "allow"       # both tiers allow it
    assert bash(p, "wc -l README.md").effect == "deny"  # the default allows it, the project's list does not
    assert bash(p, "git push").effect == "deny"      # the project lists git, the default still denies the push


def test_project_policy_in_the_working_tree_only_is_ignored_and_head_wins(tmp_path):
    repo = _repo(tmp_path, PROJECT)
    # the agent (or anyone) rewrites the working-tree copy: the committed one is what counts
    (repo / PROJECT_POLICY_PATH).write_text('[[rule]]\nid = "x"\neffect = "allow"\ntool = ["*"]\n')
    project = read_project_policy(repo)
    assert [r.id for r in project.policy.rule][0] == "project-deny-make"
    uncommitted = _repo(tmp_path / "u", PROJECT, commit=False)
    assert read_project_policy(uncommitted).policy is None
    assert "no commit" in read_project_policy(uncommitted).note
    assert read_project_policy(tmp_path / "u").policy is None  # not a repository


def test_project_policy_errors_are_not_silent(tmp_path):
    repo = _repo(tmp_path, '[[rule]]\nid = "x"\neffect = "maybe"\n')
    with pytest.raises(PolicyError, match="effect"):
        read_project_policy(repo)
    repo2 = _repo(tmp_path / "b", 'extends = ["default"]\n')
    with pytest.raises(PolicyError, match="cannot use extends"):
        read_project_policy(repo2)


def test_project_policy_git_runs_no_program_the_repository_configures(tmp_path):
    repo = _repo(tmp_path, PROJECT)
    marker = tmp_path / "ran"
    script = tmp_path / "evil.sh"
    script.write_text(f"#!/bin/sh\ntouch {marker}\ncat \"$@\" 2>/dev/null\n")
    script.chmod(0o755)
    for key, value in (("core.fsmonitor", str(script)), ("core.pager", str(script)), ("diff.evil.textconv", str(script)),
                       ("core.hooksPath", str(tmp_path)), ("diff.external", str(script))):
        _git(repo, "config", key, value)
    (repo / ".gitattributes").write_text("*.toml diff=evil\n")
    _git(repo, "add", ".gitattributes")
    _git(repo, "-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false", "commit", "-q", "-m", "attrs")
    for hook in ("post-checkout", "reference-transaction", "post-index-change"):
        (tmp_path / hook).write_text(f"#!/bin/sh\ntouch {marker}\n")
        (tmp_path / hook).chmod(0o755)
    marker.unlink(missing_ok=True)  # the setup's own git commands ran the fsmonitor; from here on, nothing may
    project = read_project_policy(repo)
    assert project.policy is not None and project.policy.rule[0].id == "project-deny-make"
    assert not marker.exists(), "git ran a program the repository configured"


def test_a_project_policy_that_is_not_tighten_only_is_refused():
    from agp.policy.model import PolicyFile
    from agp.policy.project import ProjectPolicy

    with pytest.raises(PolicyError, match="tighten-only"):
        load_policy(POLICIES / "default.toml", project=ProjectPolicy(PolicyFile(), "x", "c", "n"))


# --------------------------------------------------------------------------- the run's copy

def test_the_runs_policy_copy_is_one_file_with_the_journaled_digest(tmp_path):
    from agp.policy.engine import write_run_policy

    # a single plain file (no extends): copied as it is, comments kept
    plain = POLICIES / "strict.toml"
    p = load_policy([plain])
    write_run_policy(p, tmp_path / "a.toml", [plain])
    assert (tmp_path / "a.toml").read_text() == plain.read_text()
    # composed: tiers, extends, a project policy; odd characters in strings survive the round trip
    org = tmp_path / "org.toml"
    (tmp_path / "base.toml").write_text('[[rule]]\nid = "base-no-wc"\neffect = "deny"\nprogram = ["wc"]\n')
    org.write_text('extends = ["base.toml"]\n[policy]\nname = "org \\"q\\" \\u00e9 \\u007f"\n\n'
                   '[[rule]]\nid = "org-x"\neffect = "deny"\nargs_any = ["re:\\\\s+\\\\$\\\\{"]\nprogram = ["x"]\n'
                   'not_after = 2030-01-01T00:00:00Z\n')
    repo = _repo(tmp_path, PROJECT)
    p = load_policy([POLICIES / "ci.toml", org], project=read_project_policy(repo))
    assert len(p.tiers) == 3
    write_run_policy(p, tmp_path / "run.toml", [POLICIES / "ci.toml", org])
    copy = load_policy(tmp_path / "run.toml")
    assert copy.digest == p.digest and len(copy.tiers) == 3 and copy.tiers[2].policy.tighten_only
    assert copy.sources[1].endswith("run.toml#tier-2")
    assert bash(copy, "make test").rule == "project-deny-make" and bash(copy, "wc -l a").rule == "base-no-wc"
    # the evidence bundle reads the copy with the engine too
    from agp.evidence.aar import policy_rules
    info = policy_rules(tmp_path / "run.toml")
    assert info["digest"] == p.digest and info["error"] is None


def test_a_composed_policy_file_is_validated(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text('[[tier]]\nextends = ["default"]\n')
    with pytest.raises(PolicyError, match="resolved"):
        load_policy(f)
    f.write_text('[[tier]]\n[[tier.rule]]\nid = "a"\neffect = "nope"\n')
    with pytest.raises(PolicyError, match="invalid composed policy"):
        load_policy(f)
    f.write_text('tier = []\n')
    with pytest.raises(PolicyError):
        load_policy(f)
