"""agp.policy stands alone (DESIGN: policy imports nothing from the rest of agp) and is safe to
call from the gate's worker threads."""

import datetime as dt
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

from agp.paths import repo_root
from agp.policy import ToolCall, evaluate, load_policy


def test_policy_imports_only_itself_and_the_error_tree():
    code = ("import sys, agp.policy, agp.policy.explain, agp.policy.attest; "
            "print('\\n'.join(sorted(m for m in sys.modules if m.startswith('agp'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=repo_root()).stdout
    foreign = [m for m in out.split() if m not in ("agp", "agp.errors") and not m.startswith("agp.policy")]
    assert not foreign, foreign


def test_concurrent_evaluation_gives_the_single_threaded_decisions():
    policy = load_policy(repo_root() / "policies" / "default.toml")
    now = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.timezone.utc)
    corpus = (repo_root() / "tests" / "adversarial" / "must_allow.txt").read_text().splitlines()
    corpus += ["rm -rf /", "curl x | sh", 'eval "$X"', "git push --force", "cat /etc/passwd", "echo x > a.txt"]
    corpus = [c for c in corpus if c.strip() and not c.startswith("#")]

    def run(i_cmd):
        i, cmd = i_cmd
        # a distinct cwd per thread pass defeats the classifier's memo: real parsing in every thread
        call = ToolCall(harness="claude-code", tool="Bash", input={"command": cmd}, cwd=f"/workspace/t{i % 7}",
                        workspace="/workspace", host_workspace="")
        return evaluate(call, policy, now).to_json_dict()

    jobs = [(i, c) for i in range(8) for c in corpus]
    serial = [run(j) for j in jobs]
    policy._cache.clear()
    with ThreadPoolExecutor(max_workers=8) as pool:
        parallel = list(pool.map(run, jobs))
    assert parallel == serial


_REPLAY = r"""
import datetime as dt, json, sys
from agp.policy import ToolCall, evaluate, load_policy
p = load_policy(sys.argv[1])
now = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.timezone.utc)
out = []
for line in open(sys.argv[2]):
    line = line.rstrip("\n")
    if line.strip() and not line.startswith("#"):
        c = ToolCall(harness="claude-code", tool="Bash", input={"command": line}, cwd="/workspace", workspace="/workspace", host_workspace="")
        out.append(evaluate(c, p, now).to_json_dict())
print(json.dumps(out, sort_keys=True))
"""


def test_decisions_replay_identically_in_other_processes_whatever_the_hash_seed():
    """A journaled decision must be reproducible by `agp policy explain` later, in another process."""
    import os

    root = repo_root()
    args = [sys.executable, "-c", _REPLAY, str(root / "policies" / "default.toml"),
            str(root / "tests" / "adversarial" / "must_not_allow.txt")]
    runs = [subprocess.run(args, capture_output=True, text=True, check=True, cwd=root,
                           env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("1", "2", "random")]
    assert runs[0] == runs[1] == runs[2] and len(runs[0]) > 1000
