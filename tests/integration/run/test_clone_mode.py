"""Clone mode end to end: the reference agent in the real sandbox works on a clone; its change comes
back as a journaled patch (in the bundle, checked by `agp verify`) and a branch agp/<run-id>, while
the user's working tree, index, current branch and hooks stay byte-for-byte as they were."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.docker]

ROOT = Path(__file__).resolve().parents[3]
AGP = [sys.executable, "-m", "agp.cli"]
AGENT = 10001
GIT_ENV = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_AUTHOR_NAME": "u",
           "GIT_AUTHOR_EMAIL": "u@example.invalid", "GIT_COMMITTER_NAME": "u", "GIT_COMMITTER_EMAIL": "u@example.invalid"}

PERMISSIVE = """
[policy]
name = "clone-test"
description = "lets the reference agent do anything in the box: the test is about what comes back"

[[rule]]
id = "anything"
effect = "allow"
description = "every classified statement"
kind = ["exec", "read", "write"]

[[rule]]
id = "unclassified"
effect = "allow"
description = "anything agp cannot classify"
unknown = true
"""

LAND_ALL = """
[[rule]]
id = "land-anything"
effect = "allow"
description = "landing any result"
kind = ["workspace.result"]
"""

DENY_WORKFLOWS = """
[[rule]]
id = "no-ci-edits"
effect = "deny"
description = "never land a change to the CI workflows"
kind = ["workspace.result"]
path = [".github/workflows/**"]

[[rule]]
id = "land-the-rest"
effect = "allow"
description = "other host-run paths may land"
kind = ["workspace.result"]
"""


def git(repo: Path, *args: str) -> str:
    p = subprocess.run(["git", "-c", "safe.directory=*", "-C", str(repo), *args], capture_output=True,
                       env={**os.environ, **GIT_ENV}, check=True)
    return p.stdout.decode("utf-8", "surrogateescape")


def snapshot(repo: Path) -> dict:
    out = {}
    for dirpath, _dirs, files in os.walk(repo):
        rel = os.path.relpath(dirpath, repo)
        if rel == ".git" or (rel.startswith(".git/") and not rel.startswith(".git/hooks")):
            continue
        for n in files:
            p = os.path.join(dirpath, n)
            st = os.lstat(p)
            out[os.path.relpath(p, repo)] = (st.st_mode, st.st_uid,
                                             os.readlink(p) if os.path.islink(p) else open(p, "rb").read())
    for f in ("index", "HEAD", "config"):
        out[".git/" + f] = (repo / ".git" / f).read_bytes()
    return out


def user_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "user"
    (repo / "src").mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    (repo / "README.md").write_text("# project\n")
    (repo / "src" / "app.py").write_text("print('hi')\n")
    (repo / "old.txt").write_text("to be renamed by the agent; long enough to be seen as a rename\n" * 3)
    (repo / "gone.txt").write_text("to be deleted\n")
    (repo / "run.sh").write_text("#!/bin/sh\necho run\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "first")
    (repo / "README.md").write_text("# project\n\nuncommitted work\n")  # the user's work in progress
    (repo / "notes.txt").write_text("untracked\n")
    hook = repo / ".git" / "hooks" / "post-checkout"
    hook.write_text(f"#!/bin/sh\ntouch {tmp_path}/MARK-user-hook\n")
    hook.chmod(0o755)
    for p in [repo, *repo.rglob("*")]:
        os.lchown(p, AGENT, AGENT)
    return repo


def run(tmp_path: Path, repo: Path, script: list, policy: str, *extra) -> tuple[subprocess.CompletedProcess, dict]:
    (tmp_path / "script.json").write_text(json.dumps(script))
    (tmp_path / "policy.toml").write_text(policy)
    r = subprocess.run([*AGP, "run", "--intendant", "reference", "--script", tmp_path / "script.json",
                        "--workspace", repo, "--policy", tmp_path / "policy.toml", "--approver", "none",
                        "--out", tmp_path / "runs", "--json", *map(str, extra)],
                       capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert r.stdout, r.stderr[-3000:]
    return r, json.loads(r.stdout)


def entries(run_dir: Path) -> list[dict]:
    return [json.loads(ln) for ln in (run_dir / "journal.jsonl").read_text().splitlines() if ln.strip()]


def verify(bundle: str, pub: Path) -> dict:
    v = subprocess.run([*AGP, "verify", bundle, "--key", pub, "--json"], capture_output=True, text=True, cwd=ROOT)
    assert v.returncode == 0, v.stdout + v.stderr
    return json.loads(v.stdout)


def hostile_commands(marker: str) -> list[dict]:
    cfg = (f'[core]\n\tfsmonitor = "touch {marker}-fsmonitor; false"\n\thooksPath = /workspace/.git/evil\n'
           f'[diff]\n\texternal = "touch {marker}-diffexternal"\n'
           f'[diff "evil"]\n\ttextconv = "touch {marker}-textconv; cat"\n\tcommand = "touch {marker}-diffdriver"\n'
           f'[filter "evil"]\n\tclean = "touch {marker}-clean; cat"\n\tsmudge = "touch {marker}-smudge; cat"\n'
           f'\tprocess = "touch {marker}-process"\n\trequired = true\n')
    hooks = " && ".join(f"printf '#!/bin/sh\\ntouch {marker}-hook-{h}\\n' > .git/{d}/{h} && chmod +x .git/{d}/{h}"
                        for d in ("hooks", "evil") for h in ("pre-commit", "post-checkout", "reference-transaction"))
    return [
        {"tool": "Write", "input": {"file_path": "/workspace/cfg.tmp", "content": cfg}},
        {"tool": "Bash", "input": {"command": "cat cfg.tmp >> .git/config && rm cfg.tmp && mkdir -p .git/hooks .git/evil"}},
        {"tool": "Bash", "input": {"command": hooks}},
        {"tool": "Write", "input": {"file_path": "/workspace/.gitattributes", "content": "* diff=evil filter=evil\n"}},
    ]


def test_clone_mode_end_to_end_with_a_hostile_clone(tmp_path):
    repo = user_repo(tmp_path)
    before = snapshot(repo)
    marker = str(tmp_path / "MARK")
    script = [
        {"tool": "Write", "input": {"file_path": "/workspace/src/app.py", "content": "print('edited')\n"}},
        {"tool": "Write", "input": {"file_path": "/workspace/new.txt", "content": "written\n"}},
        {"tool": "Bash", "input": {"command": "rm gone.txt && mv old.txt renamed.txt"}},
        {"tool": "Bash", "input": {"command": "printf '\\000\\001\\377binary' > blob.bin && chmod 4755 run.sh"}},
        {"tool": "Bash", "input": {"command": "ln -s /etc/passwd passwd-link"}},
        {"tool": "Bash", "input": {"command": "printf 'nl\\n' > \"$(printf 'new\\nline.txt')\""}},
        {"tool": "Write", "input": {"file_path": "/workspace/naïve-文件.txt", "content": "unicode\n"}},
        {"tool": "Bash", "input": {"command": "head -c 3000000 /dev/zero > big.bin"}},
        *hostile_commands(marker),
    ]
    r, doc = run(tmp_path, repo, script, PERMISSIVE + LAND_ALL, "--result-max-file-mb", "1")
    assert r.returncode == 0, doc["reason"]
    run_dir = Path(doc["run_dir"])
    assert doc["workspace_mode"] == "clone"
    branch = doc["branch"]
    assert branch == f"agp/{doc['run_id']}"
    # the branch: the user's working tree at the start, then exactly the agent's change
    assert git(repo, "log", "--format=%s", "-3", branch).splitlines() == [
        f"agp: the changes of run {doc['run_id']}", f"agp: the working tree at the start of run {doc['run_id']}",
        "first"]
    changes = git(repo, "diff", "--name-status", "--no-renames", "-z", f"{branch}~1", branch).split("\0")
    got = dict(zip(changes[1::2], changes[0::2]))
    assert got == {".gitattributes": "A", "blob.bin": "A", "gone.txt": "D", "naïve-文件.txt": "A", "new.txt": "A",
                   "new\nline.txt": "A", "old.txt": "D", "passwd-link": "A", "renamed.txt": "A", "run.sh": "M",
                   "src/app.py": "M"}, got
    tree = {ln.split("\t", 1)[1]: ln.split()[0] for ln in git(repo, "ls-tree", "-r", "-z", branch).split("\0") if ln}
    assert tree["run.sh"] == "100755" and tree["passwd-link"] == "120000" and tree["blob.bin"] == "100644"
    assert git(repo, "show", f"{branch}:passwd-link") == "/etc/passwd"
    assert "big.bin" not in tree
    assert git(repo, "show", f"{branch}~1:README.md") == "# project\n\nuncommitted work\n"
    # the user's repository: byte-for-byte as before; nothing the clone configured ran on the host
    assert snapshot(repo) == before
    assert git(repo, "symbolic-ref", "HEAD").strip() == "refs/heads/main"
    assert sorted(p.name for p in tmp_path.glob("MARK*")) == []
    # journaled before the bundle; the refused file is an anomaly; the flagged path passed the door
    es = entries(run_dir)
    kinds = [e["kind"] for e in es]
    res = next(e["body"] for e in es if e["kind"] == "workspace.result")
    assert res["patch_sha256"] == doc["patch_sha256"] and res["files_changed"] == doc["files_changed"] == 11
    assert res["host_run_paths"] == [".gitattributes"]
    assert kinds.index("workspace.result") < kinds.index("workspace.land") < kinds.index("run.end")
    land = next(e["body"] for e in es if e["kind"] == "workspace.land_decision")
    assert land["effect"] == "allow" and land["rule"] == "land-anything"
    refused = [e["body"] for e in es if e["kind"] == "run.anomaly" and e["body"]["what"].startswith("workspace entries")]
    assert refused and "big.bin" in json.dumps(refused)
    # the patch is in the bundle, covered by the manifest, and verify checks it against the journal
    bundle = Path(doc["bundle_dir"])
    assert (bundle / "changes.patch").read_bytes() == (run_dir / "changes.patch").read_bytes()
    verify(str(bundle), run_dir / "keys" / "agp.pub")
    (bundle / "changes.patch").write_bytes((bundle / "changes.patch").read_bytes() + b"\n")
    v = subprocess.run([*AGP, "verify", bundle, "--key", run_dir / "keys" / "agp.pub", "--json"],
                       capture_output=True, text=True, cwd=ROOT)
    assert v.returncode != 0 and "changes.patch" in v.stdout


def test_a_result_touching_ci_workflows_is_denied_by_the_policy(tmp_path):
    repo = user_repo(tmp_path)
    before = snapshot(repo)
    script = [{"tool": "Bash", "input": {"command": "mkdir -p .github/workflows && echo 'on: push' > .github/workflows/ci.yml"}},
              {"tool": "Write", "input": {"file_path": "/workspace/src/app.py", "content": "print('x')\n"}}]
    r, doc = run(tmp_path, repo, script, PERMISSIVE + DENY_WORKFLOWS)
    run_dir = Path(doc["run_dir"])
    assert doc["branch"] is None and "not landed" in doc["landing"]
    assert f"agp/{doc['run_id']}" not in git(repo, "branch", "--list")
    d = next(e["body"] for e in entries(run_dir) if e["kind"] == "workspace.land_decision")
    assert d["effect"] == "deny" and d["rule"] == "no-ci-edits" and d["paths"] == [".github/workflows/ci.yml"]
    assert snapshot(repo) == before
    assert (run_dir / "changes.patch").is_file() and doc["patch_sha256"]
    verify(doc["bundle_dir"], run_dir / "keys" / "agp.pub")


def test_a_run_killed_by_its_timeout_still_returns_what_was_done(tmp_path):
    repo = user_repo(tmp_path)
    script = [{"tool": "Write", "input": {"file_path": "/workspace/done.txt", "content": "done before the kill\n"}},
              {"tool": "Bash", "input": {"command": "sleep 600"}}]
    r, doc = run(tmp_path, repo, script, PERMISSIVE + LAND_ALL, "--timeout", "25")
    assert r.returncode == 124, doc["reason"]
    run_dir = Path(doc["run_dir"])
    assert doc["files_changed"] == 1 and doc["branch"] == f"agp/{doc['run_id']}"
    assert git(repo, "show", f"{doc['branch']}:done.txt") == "done before the kill\n"
    res = next(e["body"] for e in entries(run_dir) if e["kind"] == "workspace.result")
    assert [f["path"] for f in res["files"]] == ["done.txt"]
    assert (Path(doc["bundle_dir"]) / "changes.patch").is_file()


def test_a_harness_killed_with_sigkill_still_returns_what_was_done(tmp_path):
    repo = user_repo(tmp_path)
    script = [{"tool": "Write", "input": {"file_path": "/workspace/done.txt", "content": "done before SIGKILL\n"}},
              {"tool": "Bash", "input": {"command": "kill -KILL $PPID"}},  # the shell's parent: the harness
              {"tool": "Write", "input": {"file_path": "/workspace/never.txt", "content": "never\n"}}]
    r, doc = run(tmp_path, repo, script, PERMISSIVE + LAND_ALL)
    assert r.returncode == 1 and "137" in doc["reason"], doc["reason"]
    run_dir = Path(doc["run_dir"])
    assert doc["files_changed"] == 1 and doc["branch"] == f"agp/{doc['run_id']}"
    assert git(repo, "show", f"{doc['branch']}:done.txt") == "done before SIGKILL\n"
    res = next(e["body"] for e in entries(run_dir) if e["kind"] == "workspace.result")
    assert [f["path"] for f in res["files"]] == ["done.txt"]
    assert (Path(doc["bundle_dir"]) / "changes.patch").is_file()
    verify(doc["bundle_dir"], run_dir / "keys" / "agp.pub")


def test_apply_lands_in_the_working_tree(tmp_path):
    repo = user_repo(tmp_path)
    index = (repo / ".git" / "index").read_bytes()
    script = [{"tool": "Write", "input": {"file_path": "/workspace/src/app.py", "content": "print('applied')\n"}}]
    r, doc = run(tmp_path, repo, script, PERMISSIVE + LAND_ALL, "--apply")
    assert r.returncode == 0 and doc["applied"] is True and doc["branch"] is None, doc
    assert (repo / "src" / "app.py").read_text() == "print('applied')\n"
    assert (repo / "README.md").read_text() == "# project\n\nuncommitted work\n"
    assert (repo / ".git" / "index").read_bytes() == index


def test_ctrl_c_mid_run_still_returns_what_was_done(tmp_path):
    import signal
    import time

    repo = user_repo(tmp_path)
    script = [{"tool": "Write", "input": {"file_path": "/workspace/done.txt", "content": "done before Ctrl-C\n"}},
              {"tool": "Bash", "input": {"command": "sleep 600"}}]
    (tmp_path / "script.json").write_text(json.dumps(script))
    (tmp_path / "policy.toml").write_text(PERMISSIVE + LAND_ALL)
    runs = tmp_path / "runs"
    p = subprocess.Popen([*AGP, "run", "--intendant", "reference", "--script", tmp_path / "script.json",
                          "--workspace", repo, "--policy", tmp_path / "policy.toml", "--approver", "none",
                          "--out", runs, "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:  # both calls decided: the sleep is running
        js = list(runs.glob("*/journal.jsonl"))
        if js and js[0].read_text().count('"gate.decision"') >= 2:
            break
        time.sleep(0.5)
    else:
        p.kill()
        pytest.fail("the run never reached its second call")
    time.sleep(1)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=300)
    assert p.returncode == 130, err[-2000:]
    doc = json.loads(out)
    assert doc["branch"] == f"agp/{doc['run_id']}" and doc["files_changed"] == 1, doc
    assert git(repo, "show", f"{doc['branch']}:done.txt") == "done before Ctrl-C\n"
    es = entries(Path(doc["run_dir"]))
    assert any(e["kind"] == "workspace.result" for e in es)
    assert (Path(doc["bundle_dir"]) / "changes.patch").is_file()
