"""Mutation testing of the trusted core, one module at a time (not run in CI).

    .venv/bin/python bench/mutation.py                      # every module, smallest first
    .venv/bin/python bench/mutation.py head merkle --show   # two modules, list the survivors
    .venv/bin/python bench/mutation.py head --recheck       # re-test only the survivors
    .venv/bin/python bench/mutation.py --report --show      # print the last results again

Each module is mutated by mutmut (3.x) in a scratch copy of the tree under
bench/out/mutation/<module>/ (mutmut itself then works in <scratch>/mutants/): the worktree
is never mutated, not even for a moment. Only the module named is mutated, and only the tests
of its own area are run against it (mutmut further narrows them, per mutated function, to the
tests that call that function). Modules run one after another with --children workers
(default 1: the machine is shared). Each module gets a wall-time budget (--budget); every
mutant a CPU-time limit (mutmut's: (test time + --timeout-constant) * --timeout-multiplier * 2).

Printed per module: mutants, killed, survived, timeout, no tests, other (not checked,
suspicious, segfault), equivalent, and the score = killed / (mutants - equivalent).
Timeouts count as not killed. Equivalent mutants (no observable change in behaviour) are
listed with the reason in bench/mutation_equivalent.json, by mutmut's mutant name; a name
there that no longer survives, or no longer exists, is reported as stale.

--tests-at REV runs the tests committed at REV instead (a baseline before new tests).
--recheck keeps the scratch copy of an earlier run, copies the current tests into it and
re-tests only the mutants that were not killed: the earlier kills stand (tests were only
added), so the score after new tests costs seconds, not a full run.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent

# name: (file to mutate, the pytest selection of its area). The journal's selection leaves out
# what costs minutes per surviving mutant and checks no logic of its own: the crash test
# (SIGKILLs a writer for 45 s), the "[parallel]" twins of the verify tests (the same checks
# through worker processes) and the CLI tests that run `agp` in subprocesses. Nor the two tests that
# mount a tmpfs in their tmp_path: a mutant that loops is killed mid-test, its fixture never
# unmounts, and every later mutant's pytest then fails to empty the base temp directory (a "kill").
JOURNAL = ["tests/unit/journal", "--ignore=tests/unit/journal/test_crash.py",
           "--ignore=tests/unit/journal/test_cli.py", "--ignore=tests/unit/journal/test_verify_proofs_cli.py",
           "--deselect=tests/unit/journal/test_store.py::test_disk_full_fails_loudly_and_loses_nothing",
           "--deselect=tests/unit/journal/test_store.py::test_read_only_file_system_refuses_to_open",
           "-k", "not parallel"]
MODULES: dict[str, tuple[str, list[str]]] = {
    "head": ("agp/journal/head.py", JOURNAL),
    "chain": ("agp/journal/chain.py", JOURNAL),
    "merkle": ("agp/journal/merkle.py", JOURNAL),
    "verify": ("agp/journal/verify.py", JOURNAL),
    # the eval-pool teardown test counts pipe closes, which mutmut's own forked workers upset
    "protocol": ("agp/gate/protocol.py", ["tests/unit/gate", "--ignore=tests/unit/gate/test_evalpool_teardown.py"]),
    # the parts' tests first: most of them run in process, so a mutant they kill costs a second, not a run
    "bridge": ("intendants/_agp_bridge.py", ["tests/unit/intendants/test_bridge_parts.py",
                                             "tests/unit/intendants/test_bridge.py",
                                             "tests/unit/intendants/test_bridge_dumpable.py"]),
    # the policy CLI tests run `agp` in subprocesses and the classifier tests other than the allowlists'
    # never call the engine in process: mutmut would select none of them for an engine mutant, and
    # collecting their stats costs a minute and a half
    "engine": ("agp/policy/engine.py", ["tests/unit/policy", "--ignore=tests/unit/policy/test_cli.py",
                                        *(f"--ignore=tests/unit/policy/classify/test_{n}.py"
                                          for n in ("paths", "programs", "shell", "sql", "tools", "urls"))]),
}
# The bridge runs as `python3 -I -S bridge.py` in its tests, as in the sandbox: mutmut's mutants
# import mutmut (its trampolines), which neither -I -S nor the bridge's stdlib-only test allow.
# cosmic-ray mutates the file itself, one mutant at a time, which here is the scratch copy.
COSMIC_RAY = {"bridge"}
# cosmic-ray replaces each binary operator by every other one, and each comparison by every
# other one: keep one replacement per operator family (the rest add time, not information).
CR_EXCLUDE = [
    r"core/ReplaceBinaryOperator_.*_(Mul|Div|FloorDiv|Mod|Pow|LShift|RShift|BitAnd|BitXor)$",
    r"core/ReplaceComparisonOperator_.*_(Is|IsNot|Gt|Lt)$",
]

KILLED = {"killed", "caught by type check"}
EQUIVALENT_FILE = ROOT / "bench" / "mutation_equivalent.json"


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def basetemp(scratch: Path) -> str:
    """pytest's base temp directory for the cosmic-ray mutants of one scratch copy (one session at a time;
    mutmut's sessions run --children at once, so each gets a directory of its own from tests/conftest.py,
    under this name + "s").

    Short, for the Unix socket path limit; pytest empties a --basetemp when a session starts, so it is
    this scratch copy's own, the same on every run of it (--recheck reuses the pyproject the first run
    wrote).
    """
    return "/tmp/agp-m" + hashlib.sha256(str(scratch.resolve()).encode()).hexdigest()[:8]


def leftover_mounts(scratch: Path) -> list[str]:
    """Mount points under the scratch copy's pytest base temp directory (a test killed before its teardown)."""
    # only cosmic-ray's sessions use this directory; mutmut's each get their own (tests/conftest.py),
    # where a left mount harms no later session
    return leftover_mounts_under(Path(basetemp(scratch)))


def leftover_mounts_under(base: Path) -> list[str]:
    bases = (str(base) + "/",)
    try:
        mounts = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return []
    return [m.split()[1] for m in mounts if len(m.split()) > 1 and m.split()[1].startswith(bases)]


def _ignore(_dir: str, names: list[str]) -> list[str]:
    return [n for n in names if n in {"__pycache__", ".hypothesis", ".pytest_cache", "mutants"}]


def prepare(scratch: Path, target: str, tests: list[str], args: argparse.Namespace) -> None:
    """A scratch copy of what the tests import, with a pyproject telling mutmut what to do."""
    if scratch.exists():
        shutil.rmtree(scratch)
    scratch.mkdir(parents=True)
    # policies/ and images/ too: agp/_shipped links to them (relative links, kept as links)
    for name in ("agp", "intendants", "policies", "images"):
        shutil.copytree(ROOT / name, scratch / name, ignore=_ignore, symlinks=True)
    if args.tests_at:  # the tests as committed at that revision (a baseline before new tests)
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.tests_at, "tests"],
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(scratch)], input=archive, check=True)
    else:
        shutil.copytree(ROOT / "tests", scratch / "tests", ignore=_ignore, symlinks=True)
    if (ROOT / ".cache").exists():
        (scratch / ".cache").symlink_to((ROOT / ".cache").resolve())
    pyproject = (ROOT / "pyproject.toml").read_text()
    pyproject = re.sub(r"(?ms)^\[tool\.mutmut\].*?(?=^\[|\Z)", "", pyproject)
    pyproject += "\n[tool.mutmut]\n" + "\n".join([
        f"source_paths = {json.dumps(['agp', 'intendants'])}",
        # the shipped policies and image recipes the tests read (agp/_shipped links to them)
        f"also_copy = {json.dumps(['policies', 'images'])}",
        f"only_mutate = {json.dumps([target])}",
        f"pytest_add_cli_args_test_selection = {json.dumps(tests)}",
        # no --basetemp: mutmut runs --children pytest sessions at once, and each empties its base temp
        # directory when it starts, under the others' feet (their failures counted as kills); without
        # one, tests/conftest.py gives each session a directory of its own
        f"pytest_add_cli_args = {json.dumps(['-p', 'no:cacheprovider'])}",
        f"timeout_multiplier = {args.timeout_multiplier}",
        f"timeout_constant = {args.timeout_constant}",
        "use_git_change_detection = false",
        "",
    ])
    (scratch / "pyproject.toml").write_text(pyproject)


def refresh_tests(scratch: Path) -> None:
    shutil.copytree(ROOT / "tests", scratch / "tests", ignore=_ignore, symlinks=True, dirs_exist_ok=True)


def results(scratch: Path, target: str) -> dict[str, str]:
    meta = scratch / "mutants" / (target + ".meta")
    if not meta.exists():
        return {}
    sys.path.insert(0, str(VENV_BIN.parent))
    from mutmut.stats import status_by_exit_code  # noqa: PLC0415 (only once mutmut is installed)

    codes = json.loads(meta.read_text())["exit_code_by_key"]
    return {name: status_by_exit_code[code] for name, code in codes.items()}


def run_mutmut(scratch: Path, names: list[str], args: argparse.Namespace) -> tuple[int | None, float]:
    env = dict(os.environ)
    env["AGP_HYPOTHESIS_PROFILE"] = "ci"  # examples are a function of the test: no flaky kills
    env.pop("PYTHONPATH", None)  # mutmut puts <scratch>/mutants first on sys.path itself
    # each mutant's pytest session makes its own base temp directory (tests/conftest.py) and keeps it
    # when a test fails, which is what a killed mutant is: under a parent of this run's, removed after
    sessions = Path(basetemp(scratch) + "s")
    shutil.rmtree(sessions, ignore_errors=True)
    sessions.mkdir()
    env["AGP_PYTEST_TMP_PARENT"] = str(sessions)
    cmd = [str(VENV_BIN / "mutmut"), "run", "--max-children", str(args.children), *names]
    log = open(scratch / "mutmut.log", "a")
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=scratch, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        rc: int | None = proc.wait(timeout=args.budget)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)  # the group of the mutmut we started, and only it
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        rc = None
    finally:
        log.close()
        left = leftover_mounts_under(sessions)
        if left:  # a test killed before its teardown: leave it for a look, and say so
            print(f"  mounts left under {sessions}: {', '.join(left)} (unmount them, then remove it)", file=sys.stderr)
        else:
            shutil.rmtree(sessions, ignore_errors=True)
    return rc, time.monotonic() - t0


def run_cosmic_ray(scratch: Path, target: str, tests: list[str], args: argparse.Namespace,
                   recheck: bool) -> tuple[int | None, float]:
    """cosmic-ray on the scratch copy: init (unless rechecking), filter, exec within the budget."""
    env = dict(os.environ, AGP_HYPOTHESIS_PROFILE="ci", PYTHONPATH=str(scratch))
    test_cmd = " ".join([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
                         f"--basetemp={basetemp(scratch)}", *tests])
    # cosmic-ray's timeout is wall time for the whole test command: as mutmut's limit, from the time
    # the tests take on the unmutated copy (a fixed 12 s, shorter than the bridge's tests, made every
    # mutant the tests did not kill at once a "timeout")
    shutil.copy2(ROOT / target, scratch / target)
    t0 = time.monotonic()
    base = subprocess.run(test_cmd.split(), cwd=scratch, env=env, capture_output=True, check=False)
    baseline = time.monotonic() - t0
    if base.returncode != 0:
        (scratch / "mutmut.log").write_bytes(base.stdout + base.stderr)
        print(f"  the tests fail on the unmutated copy (exit {base.returncode}); see {scratch}/mutmut.log",
              file=sys.stderr)
        return 1, baseline
    per_mutant = max(10.0, (baseline + args.timeout_constant) * args.timeout_multiplier * 2)
    print(f"  baseline: the tests take {baseline:.1f}s unmutated; {per_mutant:.0f}s per mutant at most", flush=True)
    (scratch / "cr.toml").write_text("\n".join([
        "[cosmic-ray]",
        f"module-path = {json.dumps(target)}",
        f"timeout = {per_mutant}",
        "excluded-modules = []",
        f"test-command = {json.dumps(test_cmd)}",
        "[cosmic-ray.distributor]",
        'name = "local"',
        "[cosmic-ray.filters.operators-filter]",
        f"exclude-operators = {json.dumps(CR_EXCLUDE)}",
        "",
    ]))
    t0 = time.monotonic()
    with open(scratch / "mutmut.log", "a") as log:
        def step(*cmd: str, timeout: float | None = None) -> int | None:
            proc = subprocess.Popen([str(VENV_BIN / cmd[0]), *cmd[1:]], cwd=scratch, env=env, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)
            try:
                return proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGTERM)  # only the group we started
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                return None

        if recheck:  # forget the results of the mutants that were not killed, then run those again
            import sqlite3  # noqa: PLC0415

            with sqlite3.connect(scratch / "session.sqlite") as db:
                db.execute("DELETE FROM work_results WHERE worker_outcome != 'SKIPPED' AND"
                           " (test_outcome IS NULL OR test_outcome = 'SURVIVED' OR output = 'timeout')")
        else:
            if step("cosmic-ray", "init", "cr.toml", "session.sqlite") != 0 or \
                    step("cr-filter-operators", "session.sqlite", "cr.toml") != 0:
                return 1, time.monotonic() - t0
        # an exec stopped by the budget can leave its last mutant on disk (here, in the scratch copy)
        shutil.copy2(ROOT / target, scratch / target)
        rc = step("cosmic-ray", "exec", "cr.toml", "session.sqlite", timeout=args.budget)
        shutil.copy2(ROOT / target, scratch / target)
    return rc, time.monotonic() - t0


def cr_results(scratch: Path) -> tuple[dict[str, str], dict[str, str]]:
    """status and a one-line description of every cosmic-ray mutant, by job id."""
    if not (scratch / "session.sqlite").exists():
        return {}, {}
    p = subprocess.run([str(VENV_BIN / "cosmic-ray"), "dump", "session.sqlite"], cwd=scratch,
                       capture_output=True, text=True, check=False)
    status, desc = {}, {}
    for line in p.stdout.splitlines():
        item, res = json.loads(line)
        m = item["mutations"][0]
        name = f"{m['operator_name']}#{m['occurrence']}@{m['start_pos'][0]}"
        desc[name] = f"{m['module_path']}:{m['start_pos'][0]}: {m['operator_name']} in {m.get('definition_name')}"
        if res is None:
            status[name] = "not checked"
        elif res["worker_outcome"] == "skipped":
            continue  # filtered out: not a mutant of this run
        elif res["worker_outcome"] != "normal":
            status[name] = "suspicious"
        elif res.get("output") == "timeout":
            status[name] = "timeout"
        else:  # an incompetent mutant (fails on import) is one the tests see fail: killed
            status[name] = {"killed": "killed", "incompetent": "killed"}.get(res["test_outcome"].lower(), "survived")
    return status, desc


def survivor_diffs(scratch: Path, names: list[str]) -> dict[str, str]:
    """mutmut's diff of each mutant, read in one process."""
    if not names:
        return {}
    code = (
        "import json, sys\n"
        "from mutmut.__main__ import find_mutant, get_diff_for_mutant\n"
        "out = {}\n"
        "for n in json.loads(sys.stdin.read()):\n"
        "    try:\n"
        "        out[n] = get_diff_for_mutant(n, path=find_mutant(n).path)\n"
        "    except BaseException as exc:\n"
        "        out[n] = f'(no diff: {exc!r})'\n"
        "print(json.dumps(out))\n"
    )
    p = subprocess.run([sys.executable, "-c", code], cwd=scratch, input=json.dumps(names),
                       capture_output=True, text=True, check=False)
    if p.returncode != 0:
        return {n: f"(no diff: {p.stderr.strip().splitlines()[-1:]})" for n in names}
    return json.loads(p.stdout.splitlines()[-1])


def _def_lines(target: str) -> dict[str, int]:
    """mutmut's mangled function name (x_f, xǁClassǁm) -> line of its def in the source."""
    tree = ast.parse((ROOT / target).read_text())
    out: dict[str, int] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            out[f"x_{node.name}"] = node.lineno
        elif isinstance(node, ast.ClassDef):
            for sub in node.body:
                if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    out[f"x\u01c1{node.name}\u01c1{sub.name}"] = sub.lineno
    return out


def short(name: str, diff: str, target: str, defs: dict[str, int]) -> str:
    """'path:line: - old  /  + new' from mutmut's diff of one function."""
    minus, plus, off = [], [], None
    hunk = re.search(r"^@@ -(\d+)", diff, re.M)
    body = [d for d in diff.splitlines() if not d.startswith(("---", "+++", "@@"))]
    for i, d in enumerate(body):
        if d.startswith(("-", "+")) and off is None:
            off = i
        if d.startswith("-"):
            minus.append(d[1:].strip())
        elif d.startswith("+"):
            plus.append(d[1:].strip())
    func = name[len(_prefix(target)):].rsplit("__mutmut_", 1)[0]
    start = defs.get(func)
    line = str(start + int(hunk.group(1)) - 1 + off) if start is not None and off is not None and hunk else "?"
    return f"{target}:{line}: - {' '.join(minus)[:100]}  /  + {' '.join(plus)[:100]}"


def report(mod: str, target: str, status: dict[str, str], equivalent: dict[str, str],
           show: bool, scratch: Path, desc: dict[str, str]) -> dict:
    counts: dict[str, int] = {}
    for s in status.values():
        counts[s] = counts.get(s, 0) + 1
    eq = {n for n in status if n in equivalent and status[n] not in KILLED}
    stale = sorted(n for n in equivalent if (n.startswith(_prefix(target)) or n in desc) and n not in eq)
    killed = sum(counts.get(s, 0) for s in KILLED)
    total = len(status)
    other = total - killed - counts.get("survived", 0) - counts.get("timeout", 0) - counts.get("no tests", 0)
    denom = total - len(eq)
    score = 100.0 * killed / denom if denom else float("nan")
    print(f"{mod:9s} {target:28s} mutants {total:4d}  killed {killed:4d}  survived {counts.get('survived', 0):3d}"
          f"  timeout {counts.get('timeout', 0):3d}  no-tests {counts.get('no tests', 0):3d}  other {other:3d}"
          f"  equivalent {len(eq):3d}  score {score:5.1f}%", flush=True)
    for n in stale:
        print(f"    stale equivalent entry (killed or gone): {n}")
    if show:
        left = sorted((n for n, s in status.items() if s not in KILLED and n not in eq), key=_natural)
        if desc:  # cosmic-ray
            for n in left:
                print(f"    [{status[n]}] {desc[n]}")
        else:
            diffs, defs = survivor_diffs(scratch, left), _def_lines(target)
            for n in left:
                print(f"    [{status[n]}] {n}\n        {short(n, diffs.get(n, ''), target, defs)}")
        for n in sorted(eq, key=_natural):
            print(f"    [equivalent] {n}: {equivalent[n]}")
    return {"module": mod, "file": target, "mutants": total, "killed": killed,
            "survived": counts.get("survived", 0), "timeout": counts.get("timeout", 0),
            "no_tests": counts.get("no tests", 0), "other": other, "equivalent": len(eq), "score": score}


def _installed() -> dict[str, str]:
    from importlib.metadata import distributions  # noqa: PLC0415

    return {d.metadata["Name"].lower(): d.version for d in distributions() if d.metadata["Name"]}


def _prefix(target: str) -> str:
    return target[:-3].replace("/", ".") + "."


def _natural(name: str):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("modules", nargs="*", metavar="MODULE",
                    help=f"any of {', '.join(MODULES)} (default: all, smallest first)")
    ap.add_argument("--budget", type=float, default=1800, help="wall seconds per module (default 1800)")
    ap.add_argument("--children", type=int, default=1, help="parallel mutant workers (default 1)")
    ap.add_argument("--timeout-multiplier", type=float, default=3.0,
                    help="per-mutant CPU limit: (its tests' time + constant) * this * 2 (default 3)")
    ap.add_argument("--timeout-constant", type=float, default=2.0)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "mutation")
    ap.add_argument("--recheck", action="store_true",
                    help="reuse the scratch copy of an earlier run and re-test only its survivors")
    ap.add_argument("--only-tested", action="store_true",
                    help="with --recheck (mutmut modules): re-test only mutants that were tested and not killed, not those a budget "
                         "left unchecked (the score after new tests, when the first run was partial)")
    ap.add_argument("--tests-at", metavar="REV",
                    help="run the tests as committed at REV (e.g. `git merge-base main HEAD`) instead of this "
                         "tree's: a baseline; then --recheck runs this tree's tests on the survivors")
    ap.add_argument("--report", action="store_true", help="run nothing: print the results of the last run")
    ap.add_argument("--show", action="store_true", help="list every mutant not killed (file:line, mutation)")
    ap.add_argument("--json", type=Path, help="also write the per-module figures here")
    args = ap.parse_args()
    unknown = [m for m in args.modules if m not in MODULES]
    if unknown:
        ap.error(f"unknown module(s) {', '.join(unknown)}; choose from {', '.join(MODULES)}")
    if not (VENV_BIN / "mutmut").exists():
        print("mutmut is not installed: pip install -e '.[bench]'", file=sys.stderr)
        return 2

    equivalent = json.loads(EQUIVALENT_FILE.read_text()) if EQUIVALENT_FILE.exists() else {}
    mods = args.modules or list(MODULES)
    mods.sort(key=lambda m: (ROOT / MODULES[m][0]).stat().st_size)
    print(f"mutation testing (mutmut; cosmic-ray for {', '.join(sorted(COSMIC_RAY))}), {args.children} worker(s), budget {args.budget:.0f}s/module, load {loadavg()}", flush=True)
    rows, failed = [], False
    installed = _installed()
    for mod in mods:
        target, tests = MODULES[mod]
        scratch = args.out / mod
        cr = mod in COSMIC_RAY
        if args.report:  # only print the results of the last run in the scratch copy
            status, desc = cr_results(scratch) if cr else (results(scratch, target), {})
            if status:
                rows.append(report(mod, target, status, equivalent, args.show, scratch, desc))
            else:
                print(f"{mod}: no earlier run in {scratch}", file=sys.stderr)
                failed = True
            continue
        if args.recheck:
            before = cr_results(scratch)[0] if cr else results(scratch, target)
            if not before:
                print(f"{mod}: no earlier run in {scratch} to recheck", file=sys.stderr)
                failed = True
                continue
            refresh_tests(scratch)
            skip = KILLED | ({"not checked"} if args.only_tested else set())
            names = sorted(n for n, s in before.items() if s not in skip)
        else:
            prepare(scratch, target, tests, args)
            names = []
        if args.recheck and not names:
            rc, secs = 0, 0.0
        elif cr:
            rc, secs = run_cosmic_ray(scratch, target, tests, args, args.recheck)
        else:
            rc, secs = run_mutmut(scratch, names, args)
        status, desc = cr_results(scratch) if cr else (results(scratch, target), {})
        stuck = leftover_mounts(scratch)
        if stuck:  # every pytest after it failed on the base temp directory: its "kills" are not kills
            print(f"  {mod}: a mount was left in the tests' temp directory ({', '.join(stuck)}): the results "
                  "are not valid; unmount it and run again", file=sys.stderr)
            failed = True
        note = "budget spent, partial" if rc is None else ("ok" if rc == 0 else f"exit {rc}, see {scratch}/mutmut.log")
        print(f"  {mod}: {'cosmic-ray' if cr else 'mutmut'}, {secs:.0f}s ({note}), load {loadavg()}", flush=True)
        if not status or all(s == "not checked" for s in status.values()):
            print(f"  {mod}: no results; see {scratch}/mutmut.log", file=sys.stderr)
            failed = True
            continue
        rows.append(report(mod, target, status, equivalent, args.show, scratch, desc))
    now = _installed()
    changed = sorted(n for n, v in installed.items() if now.get(n) != v)
    if changed:  # added packages are harmless; removed or replaced ones can fail tests, i.e. fake kills
        print(f"WARNING: packages removed or replaced during the run ({', '.join(changed)}): a mutant whose "
              "tests failed on them was counted as killed; run again", file=sys.stderr)
        failed = True
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
