"""Fuzz wrapper handling against bash with real wrapper binaries (a script, not collected by pytest).

    .venv/bin/python tests/adversarial/fuzz_wrappers_vs_bash.py SEED ITERATIONS

Random wrapper prefixes (env, nice, timeout, xargs, sh -c, eval, time, coproc, ...) and shell glue
around fake programs `rm`/`zzz` that only log their name, in a temporary PATH that also holds the
real wrapper binaries. For each string the classifier does not refuse, bash runs it; every fake
program that ran must be an exec statement. It found `time X=1 rm` and `env -- X=1 cmd` (assignments
after a keyword / after `--`), now handled.
"""

import random, subprocess, sys, os
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from agp.policy.classify import classify_shell
import shutil, tempfile
D = tempfile.mkdtemp(prefix="wf"); LOG = D + "/calls.log"
for name in ("rm", "zzz", "cat"):
    open(f"{D}/{name}", "w").write(f'#!/bin/sh\nprintf "%s\\n" "{name}" >> "{LOG}"\n'); os.chmod(f"{D}/{name}", 0o755)
for name in ["env", "nice", "timeout", "xargs", "find", "stdbuf", "nohup", "setsid", "sh", "bash", "flock", "ionice", "chrt", "taskset"]:
    r = shutil.which(name)
    if r: os.symlink(r, f"{D}/{name}")
PRE = ["env ", "env -i ", "env -u X ", "env X=1 ", "env -- ", "nice ", "nice -n 3 ", "nice -3 ", "timeout 5 ", "timeout -k 1 5 ",
       "stdbuf -o0 ", "nohup ", "setsid ", "command ", "command -p ", "builtin ", "exec ", "time ", "time -p ", "ionice -c3 ",
       "taskset 1 ", "chrt -o 0 ", "xargs ", "xargs -n1 ", "xargs -I{} ", "xargs -0 ", "sh -c ", "bash -c ", "eval ",
       "\\", "'", '"', "$'", "X=1 ", "! ", "{ ", "( ", "$(", "`", "\\\n", " -- ", "-x ", "--", "coproc ", "if ", "then ", "do "]
CMD = ["rm x", "zzz", "rm", "'rm' x", "\"zzz\"", "z\\zz", "r''m x"]
GLUE = ["; ", " && ", " | ", "\n", "; } ", " ) ", ")", "`", "'", '"', " ", "; fi", "; done", " {} \\;", " <<< 'a'", " 2>&1"]
rng = random.Random(int(sys.argv[1])); bad = tested = 0
for _ in range(int(sys.argv[2])):
    line = ""
    for _ in range(rng.randint(1, 4)):
        line += "".join(rng.choice(PRE) for _ in range(rng.randint(0, 3))) + rng.choice(CMD) + rng.choice(GLUE)
    if rng.random() < 0.3:
        line = "echo a | " + line
    st = classify_shell(line, D, cache=False)
    if any(s.kind == "unknown" for s in st):
        continue
    tested += 1
    open(LOG, "w").close()
    try:
        subprocess.run(["/bin/bash", "--norc", "--noprofile", "-c", line], env={"PATH": D}, cwd=D, capture_output=True,
                       timeout=5, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        continue
    called = set(open(LOG).read().split())
    ours = {s.program for s in st if s.kind == "exec"}
    if not called <= ours:
        bad += 1
        print("MISSING", sorted(called - ours), repr(line), sorted(ours))
        if bad > 12: break
print("tested", tested, "bad", bad)
