"""Option-allowlists (programs/*.py, _shell_options.py), the sed script reader (_sed.py), and the
differential checks: the attacks the allowlists close, run against the real programs where they are
installed (in a temporary directory), show that the read, write or run really happens, and the
classifier turns each into something the default policy does not allow."""

from __future__ import annotations

import datetime as dt
import os
import random
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from agp.policy import ToolCall, evaluate, load_policy
from agp.policy.classify._sed import sed_script_problem
from agp.policy.classify._shell_options import read_options
from agp.policy.classify._shell_words import Word
from agp.policy.classify.programs import ALLOWLISTS, PROGRAMS, SUBCOMMAND_ALLOWLISTS
from agp.policy.classify.programs._model import Allow, options
from agp.policy.classify.shell import classify_shell

ROOT = Path(__file__).resolve().parents[4]
NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.timezone.utc)


@pytest.fixture(scope="module")
def default_policy():
    return load_policy(str(ROOT / "policies" / "default.toml"))


def decide(policy, command: str, ws: str = "/workspace", tool: str = "Bash", inp: dict | None = None):
    call = ToolCall(harness="claude-code", tool=tool, input=inp if inp is not None else {"command": command},
                    cwd=ws, workspace=ws, session="t", host_workspace="")
    return evaluate(call, policy, now=NOW)


def words(*vals: str) -> list[Word]:
    return [Word(v) for v in vals]


# ------------------------------------------------------------------ the reader


_A = Allow(short="ab", short_values="f", short_optional="j", long=options("--all"), long_values=options("--file"),
           file_values=options("-f --file"), numeric=True)


@pytest.mark.parametrize("argv,problem", [
    (["-ab", "x"], None),
    (["-abf", "F", "x"], None),            # the value of a clustered option is the next word
    (["-abfF", "x"], None),                # or the rest of the cluster
    (["-j4", "x"], None),
    (["-5", "x"], None),
    (["--all", "x"], None),
    (["--file=F"], None),
    (["-abc"], "option -c in '-abc'"),     # a letter not listed inside a cluster
    (["--al"], "'--al'"),                  # an abbreviation is never resolved
    (["--all=1"], "takes no value"),
    (["--fil=F"], "'--fil'"),
    (["x", "--other"], "'--other'"),       # after an operand too (GNU permutes)
    (["--", "--other"], None),
    (["-f"], "missing its value"),
])
def test_reader(argv, problem):
    r = read_options(_A, words(*argv), "p")
    if problem is None:
        assert r.problem is None, r.problem
    else:
        assert r.problem is not None and problem in r.problem, r.problem


def test_reader_reports_file_values_in_clusters():
    r = read_options(_A, words("-abf", "/etc/x", "y"), "p")
    assert [(o, w.value) for o, w in r.reads] == [("-f", "/etc/x")]
    assert [w.value for w in r.operands] == ["y"]


def test_reader_posix_order_runtime_words_and_at_files():
    a = Allow(posix_order=True, runtime_words=True, at_files=True)
    assert read_options(a, words("%s", "-v"), "printf").problem is None     # -v after the format is data
    assert "run time" in read_options(a, [Word("$F", False, source="$F")], "printf").problem
    assert "arguments from the file" in read_options(a, words("@args"), "printf").problem
    assert "expand to an option" in read_options(a, [Word("*", True, glob=True)], "printf").problem


def test_reader_checked_values_and_attached_prefixes():
    a = Allow(
        style="single_dash",
        long=options("--version"),
        long_values=options("--cp"),
        prefix_values=frozenset({"-X", "-XX:", "-D"}),
        checked_values=(("--cp", r"[a-z]+"), ("-XX:", r"\+Use[A-Z]+"), ("-X", r"mx[0-9]+")),
    )
    assert read_options(a, words("-cp", "lib", "-XX:+UseZGC", "-Xmx4", "-Dk=v", "Main"), "java").problem is None
    # the longest listed prefix decides (-XX: not -X); a value that does not match in full is unknown
    assert "-XX: 'OnError=x'" in read_options(a, words("-XX:OnError=x"), "java").problem
    assert "'/tmp'" in read_options(a, words("-cp", "/tmp"), "java").problem
    assert "'/tmp'" in read_options(a, words("--cp=/tmp"), "java").problem
    assert "mx4g" in read_options(a, words("-Xmx4g"), "java").problem
    assert "not one the classifier knows" in read_options(a, words("-javaagent:x"), "java").problem
    # a value decided at run time never matches
    assert "a value the classifier" in read_options(a, [Word("-cp"), Word("$P", False, source="$P")], "java").problem


def test_every_allowlisted_program_names_its_source():
    for name, allow in ALLOWLISTS.items():
        assert allow.source, name
    for name, (before, table, _closed) in SUBCOMMAND_ALLOWLISTS.items():
        assert all(a.source for a in table.values()), name


# The lists come from the programs' own --help (Debian 12). Every listed long option must appear in
# the installed program's help text: a typo would otherwise silently widen nothing but shrink the
# list, and a renamed option would mean the list describes another version.
_HELP_CHECKED = ("ls", "cat", "head", "tail", "wc", "cut", "tr", "nl", "diff", "cmp", "stat", "du", "realpath",
                 "readlink", "md5sum", "sha256sum", "comm", "tac", "fold", "expand", "od", "date", "uniq", "sort",
                 "grep", "sed", "basename", "dirname", "seq", "file", "strings", "hexdump", "column", "rev")


@pytest.mark.parametrize("name", _HELP_CHECKED)
def test_long_options_are_in_the_programs_help(name):
    exe = shutil.which(name)
    if exe is None:
        pytest.skip(f"{name} is not installed here")
    allow = PROGRAMS[name].allow
    assert allow is not None
    out = subprocess.run([exe, "--help"], capture_output=True, text=True, env={"LC_ALL": "C", "PATH": "/usr/bin:/bin"},
                         timeout=20)
    text = out.stdout + out.stderr
    listed = allow.long | allow.long_values | allow.long_optional
    missing = sorted(o for o in listed if not re.search(re.escape(o) + r"(?![\w-])", text))
    assert missing == [], f"{name} --help does not mention {missing}"


# ------------------------------------------------------------------ sed


@pytest.mark.parametrize("script", [
    "1r/etc/passwd", "1r /etc/passwd", "$r x", "/a/Ir x", "\\,a,r x", "0~3r x", "1,+2R x", "2,~4 R x", "w x",
    "/x/!w x", "1 ! W x", "s/a/b/w x", "s/a/b/gw x", "s|a|b|pw x", "s/a/b/2w x", "s/.*/id/e", "s/x/y/ge",
    "s,x,y,Ie", "1e id", "e id", "$!e id", "p;e id", "{p;w x\n}", "p\nw x", "y/ab/cd/;r x", ":a;r x", "ba;r x",
    "1d;$w x", "/x/,/y/w x", "s/(x)/\\1/;w x", "s/a/b/;e", "F;r x",
])
def test_sed_commands_that_read_write_or_run_are_found(script):
    assert sed_script_problem(script) is not None


@pytest.mark.parametrize("script", [
    "1,20p", "s/foo/bar/", "/def /p", ":a;N;$!ba;s/\\n/ /g", "/^$/d", "s/(a|b)+/X/g;s|/|_|g", "a foo; w x",
    "1i\\\nheader", "y/abc/xyz/", "s/a/b/I", "$!N;P;D", "/start/,/end/{/x/d}", "1~2p", "0,/x/s//y/", "s/w/e/g",
    "/r/p", "s/a\\/b/c/", "# w x\np",
])
def test_sed_scripts_that_only_edit_the_stream_are_not_flagged(script):
    assert sed_script_problem(script) is None, sed_script_problem(script)


_SED = shutil.which("sed")


def _sandbox_refuses(script: str) -> bool:
    """GNU sed --sandbox refuses exactly the e, r and w commands (and s///e, s///w): the oracle."""
    out = subprocess.run([_SED, "--sandbox", "-n", "-e", script, "/dev/null"], capture_output=True, text=True,
                         timeout=20)
    return "disabled in sandbox mode" in out.stderr


_ADDRS = ["", "1", "$", "/x/", "\\,x,", "0~2", "1,+2", "/a/I", "2!", "1,3!", " 1 ", "/e/,/w/"]
_CMDS = ["p", "d", "r f", "rf", "w f", "W f", "e id", "e", "R f", "s/a/b/", "s/a/b/w f", "s/a/b/e", "s|a|b|gw f",
         "s/a/b/gp", "y/a/b/", "a text", "a\\\ntext", "i x; w y", "c\\", "{p}", "b x", ":x", "F", "l", "q", "=",
         "s/;/w/", "s/e/w/", "# c w x", "}", "{", "N", "s/x/y/;", "v", "z", "l 5", "q 1", "T x", "s,/,e,g", "s/a/\\\n/"]
_SEPS = [";", "\n", " ; ", "", " "]


@pytest.mark.skipif(_SED is None, reason="GNU sed is not installed")
def test_sed_reader_against_gnu_sed_sandbox():
    """Differential: 400 random scripts (and the fixed cases above). Wherever the reader says a
    script only edits the stream, GNU sed --sandbox (which refuses e/r/w) must not refuse it."""
    rng = random.Random(20261207)
    scripts = []
    for _ in range(400):
        n = rng.randint(1, 4)
        parts = [rng.choice(_ADDRS) + rng.choice(_CMDS) for _ in range(n)]
        s = parts[0]
        for p in parts[1:]:
            s += rng.choice(_SEPS) + p
        scripts.append(s)
    missed = [s for s in scripts if sed_script_problem(s) is None and _sandbox_refuses(s)]
    assert missed == []
    # and the reader is not merely refusing everything: most scripts sed accepts in the sandbox are read
    flagged_ok = sum(1 for s in scripts if sed_script_problem(s) is not None and not _sandbox_refuses(s))
    assert flagged_ok < len(scripts)


# ------------------------------------------------------------------ differential: the attack happens


def _run(cmd: str, cwd: Path, stdin: str | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    e = {"PATH": "/usr/bin:/bin", "LC_ALL": "C", "HOME": str(cwd)}
    e.update(env or {})
    return subprocess.run(["bash", "--norc", "--noprofile", "-c", cmd], cwd=cwd, input=stdin, capture_output=True,
                          text=True, timeout=30, env=e)


@pytest.fixture()
def box(tmp_path):
    """A workspace and, beside it, an 'outside' directory holding a secret."""
    ws = tmp_path / "ws"
    out = tmp_path / "outside"
    ws.mkdir()
    out.mkdir()
    (out / "secret").write_text("TOPSECRET\n")
    (ws / "in.txt").write_text("TOPSECRET\nline\n")
    (ws / "list").write_text(str(out / "secret") + "\0")
    return ws, out


def _needs(*progs: str):
    missing = [p for p in progs if shutil.which(p) is None]
    if missing:
        pytest.skip(f"not installed: {missing}")


# (programs needed, command with {S} = the secret file outside, what shows the effect in the real run)
_DIFFERENTIAL = [
    (("sed",), "sed '1r{S}' in.txt", lambda r, ws: r.stdout.count("TOPSECRET") == 2),
    (("sed",), "sed -n '$R {S}' in.txt", lambda r, ws: "TOPSECRET" in r.stdout),
    (("sed",), "sed 's/line/x/w out' in.txt", lambda r, ws: (ws / "out").exists()),
    (("sed",), "sed '1!W out2' in.txt", lambda r, ws: (ws / "out2").exists()),
    (("sed",), "sed '1e echo RAN' in.txt", lambda r, ws: "RAN" in r.stdout),
    (("sed",), "sed 's/.*/echo RAN/e' in.txt", lambda r, ws: "RAN" in r.stdout),
    (("sed",), "sed -f /dev/stdin in.txt <<< 'r {S}'", lambda r, ws: r.stdout.count("TOPSECRET") >= 2),
    (("wc",), "wc -c --files0-from=list", lambda r, ws: "secret" in r.stdout),
    (("du",), "du --files0-from=list", lambda r, ws: "secret" in r.stdout),
    (("sort",), "sort --files0-from=list", lambda r, ws: "TOPSECRET" in r.stdout),
    (("grep",), "grep -Fxqf {S} in.txt", lambda r, ws: r.returncode == 0),
    (("grep",), "grep -Fxf /dev/stdin in.txt < {S}", lambda r, ws: "TOPSECRET" in r.stdout),
    (("jq",), "jq -nf prog.jq", lambda r, ws: "FROMFILE" in r.stdout),
    (("jq",), "jq -n env.MARKVAR", lambda r, ws: "envsecret" in r.stdout),
    (("jq",), "jq -n '$ENV.MARKVAR'", lambda r, ws: "envsecret" in r.stdout),
    (("jq",), "jq -n --rawfile a {S} '$a'", lambda r, ws: "TOPSECRET" in r.stdout),
    (("make",), "make -f - test <<< $'test:\\n\\techo RAN'", lambda r, ws: "RAN" in r.stdout),
    (("make",), "make --ev='$(info RAN)' -f /dev/null x || true", lambda r, ws: "RAN" in r.stdout),
    (("make",), "printf 'test:\\n\\t@true\\ndeploy:\\n\\t@echo DEPLOYED\\n' > Makefile; make test deploy",
     lambda r, ws: "DEPLOYED" in r.stdout),
    (("sha256sum",), "sha256sum {S} | sed 's|  .*|  {S}|' > sums; sha256sum -c sums",
     lambda r, ws: "secret: OK" in r.stdout),
    (("strings",), "printf '%s\\n' {S} > args; strings @args", lambda r, ws: "TOPSECRET" in r.stdout),
    (("file",), "file -f list0", lambda r, ws: "secret" in r.stdout),
    (("date",), "date -r {S}", lambda r, ws: r.returncode == 0 and r.stdout.strip() != ""),
    ((), "printf -v PATH /nowhere; echo $PATH", lambda r, ws: r.stdout.strip() == "/nowhere"),
    ((), "echo {O}/*", lambda r, ws: "secret" in r.stdout),
    ((), "for f in {O}/*; do echo $f; done", lambda r, ws: "secret" in r.stdout),
    ((), "basename {O}/*", lambda r, ws: "secret" in r.stdout),
    ((), "x='a[$(echo RAN >&2)0]'; echo $((x))", lambda r, ws: "RAN" in r.stderr),
    ((), "echo 'a[$(echo RAN >&2)0]' >/dev/null; echo $(( $_ ))", lambda r, ws: "RAN" in r.stderr),
    ((), "CDPATH={O}; cd . >/dev/null; cd outside_link 2>/dev/null; CDPATH={T}; cd outside && cat secret",
     lambda r, ws: "TOPSECRET" in r.stdout),
]


@pytest.mark.parametrize("needs,template,shows", _DIFFERENTIAL, ids=[t for _, t, _ in _DIFFERENTIAL])
def test_attack_happens_in_the_real_program_and_is_not_allowed(box, default_policy, needs, template, shows):
    _needs(*needs)
    ws, out = box
    (ws / "prog.jq").write_text('"FROMFILE"\n')
    (ws / "list0").write_text(str(out / "secret") + "\n")
    cmd = template.replace("{S}", str(out / "secret")).replace("{O}", str(out)).replace("{T}", str(out.parent))
    r = _run(cmd, ws, env={"MARKVAR": "envsecret"})
    assert shows(r, ws), f"the real run did not show the effect: rc={r.returncode} out={r.stdout!r} err={r.stderr!r}"
    d = decide(default_policy, cmd, ws=str(ws))
    assert d.effect != "allow", [s.to_json_dict() for s in d.statements]


# ------------------------------------------------------------------ the corpus forms stay decided

@pytest.mark.parametrize("cmd", ["ls -la", "grep -rn TODO src", "sed -n '1,20p' src/main.py", "git log --oneline -10",
                                 "pytest -x tests/unit", "python -m pytest -q tests", "jq .name package.json",
                                 "sort -u names.txt", "head -n 5 README.md", "wc -l src/*.py", "make test",
                                 "npm test", "cargo test", "go test ./...", "git diff --stat", "git status --short"])
def test_ordinary_commands_have_no_unknown_statement(cmd):
    assert [s.reason for s in classify_shell(cmd, "/w") if s.kind == "unknown"] == []


def test_make_goals_after_the_first_are_runs_of_their_own():
    execs = [s.argv for s in classify_shell("make test deploy", "/w") if s.kind == "exec"]
    assert ("make", "deploy") in execs


def test_time_bounds_make_unknown_statements():
    (st,) = classify_shell("echo " + "a " * 5000, "/w")
    assert st.kind == "unknown" and "syntax nodes" in st.reason
    assert sed_script_problem("/e/p;" * 14000) is not None   # over 64 KiB and holding e: not read


# ------------------------------------------------------------------ file tools


@pytest.mark.parametrize("tool,inp", [
    ("Write", {"file_path": "/proc/self/fd/1", "content": "x"}),
    ("Write", {"file_path": "/proc/self/fd/2", "content": "x"}),
    ("Write", {"file_path": "/dev/stdout", "content": "x"}),
    ("Edit", {"file_path": "/dev/fd/1", "old_string": "a", "new_string": "b"}),
    ("Read", {"file_path": "/proc/self/fd/0"}),
    ("Read", {"file_path": "/dev/stdin"}),
    ("Glob", {"pattern": "{src,/etc}/*"}),
    ("Glob", {"pattern": "src/{a,../..}/*"}),
    ("Glob", {"pattern": "{~,x}/.ssh/*"}),
    ("Glob", {"pattern": "{.,..}/*"}),
])
def test_file_tools_at_descriptors_and_brace_patterns_are_not_allowed(default_policy, tool, inp):
    assert decide(default_policy, "", tool=tool, inp=inp).effect != "allow"


def test_glob_brace_patterns_inside_stay_allowed(default_policy):
    assert decide(default_policy, "", tool="Glob", inp={"pattern": "**/*.{py,md}"}).effect == "allow"
    assert decide(default_policy, "", tool="Read", inp={"file_path": "/dev/null"}).effect == "allow"


def test_environment_is_not_leaked_to_the_differential_runs():
    # the differential runs get a fixed, small environment (no credentials of this process)
    r = _run("env", Path("/tmp"))
    assert set(line.split("=", 1)[0] for line in r.stdout.splitlines()) <= {"PATH", "LC_ALL", "HOME", "PWD", "SHLVL",
                                                                            "_", "OLDPWD"}
    assert os.environ.get("PATH")


# The clone-mode tools' lists come from their own --help where they are installed here (ruff and
# mypy in the project's environment, pip, npm, cargo): every listed long option must be in it.
_TOOL_HELP = [
    ("ruff", None, ["ruff", "--help"]),
    ("ruff", "check", ["ruff", "check", "--help"]),
    ("ruff", "format", ["ruff", "format", "--help"]),
    ("mypy", None, ["mypy", "--help"]),
    ("pip", "install", ["pip", "install", "--help"]),
    ("pip", "uninstall", ["pip", "uninstall", "--help"]),
    ("npm", "install", ["npm", "install", "--help"]),
    ("cargo", "build", ["cargo", "build", "--help"]),  # build, check, run, doc, bench, clippy share one list
    ("cargo", "fmt", ["cargo", "fmt", "--help"]),
]


@pytest.mark.parametrize("prog,sub,argv", _TOOL_HELP, ids=[" ".join(a[:-1]) for _, _, a in _TOOL_HELP])
def test_tool_long_options_are_in_the_tools_help(prog, sub, argv):
    import sys

    exe = shutil.which(argv[0], path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    if exe is None:
        pytest.skip(f"{argv[0]} is not installed here")
    if sub is None:
        allow = PROGRAMS[prog].allow
    else:
        allow = dict(PROGRAMS[prog].subcommand_allow)[sub]
    text = ""
    for cmd in [argv[1:]] + ([[s, "--help"] for s in ("clippy", "fix", "doc", "bench")] if argv[:2] == ["cargo", "build"] else []):
        out = subprocess.run([exe, *cmd], capture_output=True, text=True, timeout=60,
                             env={**os.environ, "LC_ALL": "C", "NO_COLOR": "1"})
        text += out.stdout + out.stderr
    # options npm and pip take but print only in their long manual (aliases, negations, old names)
    extra = {"--no-save", "--save-prod", "--save-dev", "--save-optional", "--save-peer", "--save-bundle",
             "--legacy-peer-deps", "--prefer-offline", "--prefer-online", "--offline", "--force", "--no-optional",
             "--production", "--quiet", "--silent", "--verbose", "--loglevel", "--help", "--no-use-pep517",
             "--no-fix", "--no-unsafe-fixes", "--no-show-fixes", "--no-fix-only", "--no-preview",
             "--no-respect-gitignore", "--no-force-exclude", "--line-length", "--config", "--color", "--version",
             "--locked", "--frozen", "--offline", "--no-incremental", "--incremental", "--allow-untyped-defs",
             "--namespace-packages", "--allow-redefinition-new", "--strict-allow-scripts", "--no-fund",
             "--allow-scripts", "--no-audit"}
    listed = (allow.long | allow.long_values | allow.long_optional) - extra
    missing = sorted(o for o in listed if not re.search(re.escape(o) + r"(?![\w-])", text))
    assert missing == [], f"{' '.join(argv)} does not mention {missing}"


# The compilers, runtimes and cmake the clone-mode policy allows: every listed long option (for the
# single-dash programs, java and javac, the option as they spell it) is in their own help text,
# where they are installed here.
_TOOLCHAIN_HELP = [
    ("node", [["--help"], ["--v8-options"]]),
    ("rustc", [["--help", "-v"], ["-C", "help"]]),
    ("rustfmt", [["--help"]]),
    ("cmake", [["--help"], ["--build"], ["--install"]]),
    ("java", [["--help"], ["-X"], ["-XX:+PrintFlagsFinal", "-version"]]),
    ("javac", [["--help"], ["--help-extra"]]),
    ("gofmt", [["-h"]]),
    ("pyright", [["--help"]]),
]


@pytest.mark.parametrize("name,cmds", _TOOLCHAIN_HELP, ids=[n for n, _ in _TOOLCHAIN_HELP])
def test_toolchain_options_are_in_the_programs_help(name, cmds):
    exe = shutil.which(name)
    if exe is None:
        pytest.skip(f"{name} is not installed here")
    allow = PROGRAMS[name].allow
    assert allow is not None
    text = ""
    for cmd in cmds:
        out = subprocess.run([exe, *cmd], capture_output=True, text=True, timeout=60,
                             env={**os.environ, "LC_ALL": "C", "NO_COLOR": "1"})
        text += out.stdout + out.stderr
    listed = allow.long | allow.long_values | allow.long_optional
    if allow.style == "single_dash":
        # listed as --NAME; the program writes -NAME (and sometimes --NAME)
        missing = sorted(o for o in listed if not re.search(r"(?<![\w-])--?" + re.escape(o[2:]) + r"(?![\w-])", text))
    else:
        missing = sorted(o for o in listed if not re.search(re.escape(o) + r"(?![\w-])", text))
    # -XX: settings are not in the help: each flag the pattern names is one the JVM has
    prefixes = sorted(p for p in allow.prefix_values if p != "-XX:" and p.rstrip(":") not in text)
    for opt, pattern in allow.checked_values:
        if opt == "-XX:":
            flags = re.findall(r"[A-Z][A-Za-z0-9]+", re.sub(r"\[[^]]*\]", "", pattern))
            assert len(flags) > 20
            missing += [f"-XX:{f}" for f in flags if not re.search(rf"\b{f}\b", text)]
    assert missing == [] and prefixes == [], f"{name} {cmds} does not mention {missing} {prefixes}"


@pytest.mark.parametrize("cmd", [
    "node app.js", "node --test", "node --test test/", "node --version", "node -r ./setup.js app.js",
    "node -r dotenv/config app.js", "node --import tsx src/index.ts", "node --import @swc-node/register x.ts",
    "node --max-old-space-size=4096 build.js --out dist", "node dist/cli.js --inspect",
    "node --test-reporter=spec --test", "node --env-file=.env app.js",
    "rustc --version", "rustc -O -o /tmp/hello hello.rs", "rustc --edition 2021 -C opt-level=2 src/main.rs",
    "rustc -Copt-level=3 -C debuginfo=0 --crate-type lib lib.rs", "rustc --explain E0308", "rustc --test t.rs",
    "rustc --print sysroot", "rustfmt --check src/main.rs", "rustfmt --edition 2021 src/lib.rs",
    "gofmt -l .", "gofmt -s -w ./cmd", "gofmt -d main.go", "pyright", "pyright src tests",
    "pyright --outputjson -p pyrightconfig.json", "node_modules/.bin/pyright --warnings",
    "javac -d out -cp 'lib/*:.' src/Main.java", "javac -Xlint:all -g:none --release 17 -d build/classes Main.java",
    "javac -proc:none -encoding UTF-8 -Xlint:unchecked,deprecation A.java", "java -cp out Main",
    "java -Xmx2g -Dspring.profiles.active=test -jar target/app.jar --port 8080",
    "java -XX:+UseG1GC -XX:MaxRAMPercentage=75 -cp 'target/classes:target/lib/*' com.example.Main",
    "java Main.java", "java -version", "java -ea -Dfile.encoding=UTF-8 -cp build app.Main -javaagent:x",
    "cmake -S . -B build -DCMAKE_BUILD_TYPE=Release", "cmake --build build -j8",
    "cmake --build build --target test --parallel 4", "cmake -B build -G Ninja -DBUILD_TESTING=ON",
    "cmake --install build --prefix /tmp/inst", "cmake -Wno-dev -DCMAKE_EXPORT_COMPILE_COMMANDS=ON -B build",
    "cmake --version", "cmake --preset default", "cmake -P cmake/check.cmake",
])
def test_toolchains_ordinary_uses_are_allowed_in_clone_mode(default_policy, cmd):
    call = ToolCall(harness="claude-code", tool="Bash", input={"command": cmd}, cwd="/workspace",
                    workspace="/workspace", session="t", host_workspace="", workspace_mode="clone")
    d = evaluate(call, default_policy, now=NOW)
    assert d.effect == "allow", (cmd, d.reason)
