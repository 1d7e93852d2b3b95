"""Per-program rules of the shell classifier: what one simple command runs, reads, writes and
connects to, given its evaluated words. The knowledge (which options take a value, run code,
name files) is data in ``agp.policy.classify.programs``; this module applies it. Private to the
shell classifier."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Literal

from agp.policy.classify._sed import sed_script_problem
from agp.policy.classify._shell_options import is_stdin_like, read_options
from agp.policy.classify._shell_state import MAX_CWDS, Ctx, Env, Stdin, join_cwds, uniq
from agp.policy.classify._shell_words import (
    ASSIGNMENT_WORD,
    RESERVED_WORDS,
    SHELL_META,
    URL_RE,
    Word,
    is_option,
    looks_pathy,
)
from agp.policy.classify._statement import Statement
from agp.policy.classify.programs import (
    ALLOWLISTS,
    CODE_OPTION_PROGRAMS,
    CODE_OPTIONS,
    FILE_TESTS,
    GNU_ABBREVIATES,
    INTERPRETER_VALUE_OPTIONS,
    INTERPRETERS,
    MAKE_DANGEROUS_VARIABLES,
    NETWORK_PROGRAMS,
    NO_PATH_OPERANDS,
    NON_POSIX_SHELLS,
    OPTION_VALUES,
    PATTERN_FIRST,
    PROGRAMS,
    PYTHON_VERSIONED,
    RUN_SUBCOMMANDS,
    SHELLS,
    SQL_CLIENTS,
    STDIN_INTERPRETERS,
    SUBCOMMAND_ALLOWLISTS,
    VARNAME_BUILTINS,
    WRAPPER_OPTS_WITH_ARG,
    WRAPPER_POSITIONALS,
    WRAPPERS,
    WRITE_ALL_OPERANDS,
    WRITE_LAST,
    WRITE_SKIP_FIRST,
    WRITE_SOURCES_AND_DESTINATION,
    WRITERS,
    env_is_dangerous,
)
from agp.policy.classify.programs._model import Allow
from agp.policy.classify.programs.build import CC_DRIVERS, PYTHON_ALLOW, PYTHON_MODULE_ALLOW
from agp.policy.classify.programs.linters import PYTHON_MODULE_PROGRAMS as _LINTER_MODULES
from agp.policy.classify.sql import classify_sql, dialect_for
from agp.policy.classify.urls import url_host

__all__ = ("Commands",)

#: a configuration file named by a plain relative path (config_values): letters, digits, . _ - /
_PLAIN_RELATIVE = re.compile(r"[A-Za-z0-9_.][A-Za-z0-9_./-]*")

#: the programs program_rules has a rule of its own for (tests/unit/policy/classify/test_programs.py
#: reads program_rules and checks every name it compares prog with is here); `python*` too
RULED_PROGRAMS = (
    frozenset(
        {
            *("cd", "pushd", "popd", "chdir", "eval", "alias", "hash", "enable", "shopt", "source", ".", "trap"),
            *("coproc", "busybox", "toybox", "su", "xargs", "find", "parallel", "watch", "script"),
            *("awk", "gawk", "mawk", "nawk", "busybox-awk", "sed", "gsed", "git"),
        }
    )
    | WRAPPERS
    | SHELLS
    | NON_POSIX_SHELLS
    | frozenset(INTERPRETERS)
    | SQL_CLIENTS
    | frozenset(RUN_SUBCOMMANDS)
)
#: programs whose allowlist also applies when they are named by a path (a project's own copy)
BY_BASENAME = frozenset(
    {"ruff", "mypy", "black", "isort", "flake8", "pylint", "tsc", "eslint", "prettier", "npx", "gradlew", "mvnw"}
    | {"coverage", "tox", "nox", "jest", "vitest", "pyright"}
    | {p for p in ALLOWLISTS if p.startswith("pip")}
    | {p for p in SUBCOMMAND_ALLOWLISTS if p.startswith("pip")}
)
#: node options after which node reads no program from stdin when given no script
_NODE_NO_PROGRAM = frozenset({"--test", "--version", "-v", "--help", "-h", "--v8-options"})
#: python -m MODULE whose command line is that of the program of the same name
PYTHON_MODULE_PROGRAMS = _LINTER_MODULES | {"pip"}


class Commands:
    """Per-program rules for one simple command (mixed into the walker, whose emit/unknown/
    exec_stmt/file_stmt/nested/dispatch they call)."""

    if TYPE_CHECKING:  # what the walker this is mixed into (_shell_walk.Walker) provides
        ctx: Ctx

        def emit(self, st: Statement) -> None: ...

        def unknown(self, env: Env, text: str, reason: str, program: str = "", flags: tuple[str, ...] = ()) -> None: ...

        def file_stmt(
            self,
            kind: Literal["read", "write"],
            words: list[Word],
            env: Env,
            text: str,
            program: str = "",
            flags: tuple[str, ...] = (),
        ) -> None: ...

        def nested(self, code: str, env: Env, label: str, text: str) -> None: ...

        def exec_stmt(
            self,
            program: str,
            words: list[Word],
            env: Env,
            text: str,
            paths_words: list[Word] | tuple[Word, ...],
            flags: tuple[str, ...] = (),
        ) -> None: ...

        def dispatch(self, words: list[Word], env: Env, stdin: Stdin, text: str) -> tuple[str, ...]: ...

    # ---- per-program knowledge
    def program(
        self,
        prog: str,
        first: Word,
        args: list[Word],
        env: Env,
        stdin: Stdin,
        text: str,
        flags: tuple[str, ...],
        is_path: bool,
    ) -> tuple[str, ...]:
        known = prog
        if is_path and (base := prog.rsplit("/", 1)[-1]) in BY_BASENAME:
            known = base  # .venv/bin/ruff, node_modules/.bin/tsc: the tool the project installed
        if known not in ALLOWLISTS and known not in SUBCOMMAND_ALLOWLISTS:
            return self.program_rules(prog, first, args, env, stdin, text, flags, is_path)
        # the allowlist's statements come after the program's own (the exec statement names the rule
        # that decides, e.g. a deny on `git -c`)
        out = self.ctx.out
        mark = len(out)
        self.allowlist(known, args, env, text)
        extra = out[mark:]
        del out[mark:]
        try:
            return self.program_rules(prog, first, args, env, stdin, text, flags, is_path)
        finally:
            out.extend(extra)

    def program_rules(
        self,
        prog: str,
        first: Word,
        args: list[Word],
        env: Env,
        stdin: Stdin,
        text: str,
        flags: tuple[str, ...],
        is_path: bool,
    ) -> tuple[str, ...]:
        words = [first] + args
        path_words = self.operand_paths(prog, args)
        if is_path:
            path_words = [first] + path_words
        if prog not in RULED_PROGRAMS and not prog.startswith("python"):
            # none of the rules below names it (most commands): straight to what every program gets
            return self.program_generic(prog, words, args, env, text, flags, is_path, path_words)
        inner_env = Env(env.cwds, env.via + (prog,), env.depth)

        # --- directory changes
        if prog in ("cd", "pushd", "popd", "chdir"):
            ops = [a for a in args if not is_option(a)]
            if prog == "popd" or (ops and ops[0].literal and ops[0].value == "-"):
                path_words = [Word("$OLDPWD", False, source="$OLDPWD")]  # the previous directory
            elif not ops and prog != "pushd":
                path_words = [Word("~")]  # cd with no operand goes home
            self.exec_stmt(prog, words, env, text, path_words, flags)
            if (
                prog == "popd"
                or not ops
                or not ops[0].literal
                or ops[0].value == "-"
                or (prog == "pushd" and re.fullmatch(r"[+-][0-9]+", ops[0].value))
            ):
                return tuple(uniq(env.cwds + ("",)))  # home, OLDPWD, or a rotation of the stack
            target = ops[0].value
            if target.startswith("~"):
                new: tuple[str, ...] = (target,)
            else:
                new = tuple(p if lit else "" for p, lit in join_cwds(target, env.cwds))
            return tuple(uniq(env.cwds + new))[: MAX_CWDS + 1] if len(uniq(env.cwds + new)) <= MAX_CWDS else ("",)

        # --- things that change what later words mean, or run strings
        if prog == "eval":
            self.exec_stmt(prog, words, env, text, [], flags)
            self.unknown(env, text, "eval runs a string as code")
            if args and all(a.literal for a in args):
                self.nested(" ".join(a.value for a in args), Env(env.cwds, inner_env.via, env.depth + 1), "eval", text)
            return env.cwds
        if prog in ("alias",):
            self.exec_stmt(prog, words, env, text, [], flags)
            if any("=" in (a.value if a.literal else "=") for a in args):
                self.unknown(env, text, "alias changes what a later command name runs")
            return env.cwds
        if prog == "hash" and any(a.literal and a.value.startswith("-") and "p" in a.value for a in args):
            self.exec_stmt(prog, words, env, text, [], flags)
            self.unknown(env, text, "hash -p binds a command name to any file")
            return env.cwds
        if prog == "enable":
            self.exec_stmt(prog, words, env, text, path_words, flags)
            self.unknown(env, text, "enable loads or switches shell builtins")
            return env.cwds
        if prog == "shopt" and any(a.literal and a.value in ("expand_aliases", "extdebug") for a in args):
            self.exec_stmt(prog, words, env, text, [], flags)
            self.unknown(env, text, "shopt changes how later words are expanded")
            return env.cwds
        if prog in ("source", "."):
            self.exec_stmt("source", words, env, text, path_words, flags + ("runs_script",))
            if not args or not args[0].literal:
                self.unknown(env, text, "source of a path decided at run time")
            elif args[0].value in ("/dev/stdin", "/dev/fd/0", "/proc/self/fd/0", "-"):
                if stdin.kind in ("heredoc", "herestring") and stdin.literal is not None:
                    self.nested(stdin.literal, Env(env.cwds, env.via + ("source",), env.depth + 1), "source", text)
                else:
                    self.unknown(env, text, f"source reads code from stdin ({stdin.kind})", flags=("stdin_code",))
            return tuple(uniq(env.cwds + ("",)))  # a sourced file can cd
        if prog == "trap":
            self.exec_stmt(prog, words, env, text, [], flags)
            ops = [a for a in args if not is_option(a)]
            if ops and ops[0].literal and len(ops) > 1:
                self.nested(ops[0].value, Env(env.cwds, inner_env.via, env.depth + 1), "trap", text)
            elif ops and not (len(ops) == 1 or ops[0].value in ("-", "")):
                self.unknown(env, text, "trap with a handler decided at run time")
            return env.cwds

        # --- wrappers
        if prog in WRAPPERS:
            return self.wrapper(prog, first, args, env, stdin, text, flags)
        if prog == "coproc" and any(a.literal and not a.quoted and a.value in RESERVED_WORDS for a in args):
            self.unknown(env, text, "coproc with a compound command")
            return env.cwds
        if prog in RUN_SUBCOMMANDS:
            return self.run_subcommand(prog, words, args, env, inner_env, stdin, text, flags, path_words)
        if prog == "busybox" or prog == "toybox":
            self.exec_stmt(prog, words, env, text, [], flags)
            if args:
                return self.dispatch(args, inner_env, stdin, text)
            return env.cwds
        if prog in ("su",):
            return self.su(prog, words, args, env, stdin, text, flags)
        if prog in SHELLS or prog in NON_POSIX_SHELLS:
            return self.shell(prog, words, args, env, stdin, text, flags, path_words)
        if prog == "xargs":
            return self.xargs(words, args, env, stdin, text, flags)
        if prog == "find":
            return self.find(words, args, env, text, flags)
        if prog == "parallel":
            return self.parallel(words, args, env, text, flags)
        if prog == "watch":
            self.exec_stmt(prog, words, env, text, [], flags)
            cmd = _skip_opts(args, PROGRAMS["watch"].value_options)
            if cmd:
                if all(w.literal for w in cmd):
                    self.nested(
                        " ".join(w.value for w in cmd), Env(env.cwds, inner_env.via, env.depth + 1), "watch", text
                    )
                else:
                    self.unknown(env, text, "watch runs a command string decided at run time")
            return env.cwds
        if prog == "script":
            self.exec_stmt(prog, words, env, text, path_words, flags)
            self.string_option(args, ("-c", "--command"), env, inner_env, text, "script -c", require=False)
            return env.cwds
        if prog in INTERPRETERS or (prog.startswith("python") and PYTHON_VERSIONED.fullmatch(prog)):
            return self.interpreter(prog, words, args, env, stdin, text, flags, path_words)
        if prog in ("awk", "gawk", "mawk", "nawk", "busybox-awk"):
            self.exec_stmt(prog, words, env, text, path_words, flags)
            self.awk(args, env, text)
            return env.cwds
        if prog == "sed" or prog == "gsed":
            self.exec_stmt(prog, words, env, text, path_words, flags)
            self.sed(args, env, text)
            return env.cwds
        if prog == "git":
            self.exec_stmt(prog, words, env, text, path_words, flags)
            self.git(args, env, text)
            return env.cwds
        if prog in SQL_CLIENTS:
            self.exec_stmt(prog, words, env, text, path_words, flags)
            self.sql_client(prog, args, env, stdin, text)
            return env.cwds

        return self.program_generic(prog, words, args, env, text, flags, is_path, path_words)

    def run_subcommand(
        self,
        prog: str,
        words: list[Word],
        args: list[Word],
        env: Env,
        inner_env: Env,
        stdin: Stdin,
        text: str,
        flags: tuple[str, ...],
        path_words: list[Word],
    ) -> tuple[str, ...]:
        """`poetry run CMD`, `uv run CMD`: CMD is a command of its own (its options were read by the
        subcommand's allowlist, which ends at CMD); `uv run x.py` runs python on x.py."""
        i = 0
        while i < len(args) and args[i].literal and args[i].value[:1] == "-" and args[i].value != "-":
            i += 1
        if i >= len(args) or not (args[i].literal and args[i].value in RUN_SUBCOMMANDS[prog]):
            return self.program_generic(prog, words, args, env, text, flags, False, path_words)
        self.exec_stmt(prog, words, env, text, [], flags)
        table = SUBCOMMAND_ALLOWLISTS.get(prog)
        allow = table[1].get(args[i].value) if table is not None else ALLOWLISTS.get(prog)
        rest = args[i + 1 :]
        cmd = read_options(allow, rest, prog).operands if allow is not None else rest
        if prog == "coverage":
            # coverage run [-m] PROGRAM: python runs it
            module = any(a.literal and a.value in ("-m", "--module") for a in rest[: len(rest) - len(cmd)])
            cmd = [Word("python")] + ([Word("-m")] if module else []) + cmd
        elif cmd and cmd[0].literal and cmd[0].value.endswith(".py"):
            cmd = [Word("python")] + cmd
        if cmd:
            return self.dispatch(cmd, inner_env, stdin, text)
        return env.cwds

    def program_generic(
        self,
        prog: str,
        words: list[Word],
        args: list[Word],
        env: Env,
        text: str,
        flags: tuple[str, ...],
        is_path: bool,
        path_words: list[Word],
    ) -> tuple[str, ...]:
        self.code_options(prog, args, env, text)
        self.exec_stmt(prog, words, env, text, path_words, flags + self.exec_flags(prog, args))
        if prog in WRITERS:
            self.writes(prog, args, env, text, path_words[1:] if is_path else path_words)
        self.urls(prog, args, env, text)
        if prog in ("ssh",) and len([a for a in args if not is_option(a)]) > 1:
            self.unknown(env, text, "ssh runs a remote command")
        return env.cwds

    def allowlist(self, prog: str, args: list[Word], env: Env, text: str) -> None:
        """Check a program's options against its allowlist (programs/*.py): an option it does not
        list makes an unknown statement; option values that are files become reads or writes."""
        allow = ALLOWLISTS.get(prog)
        if allow is not None:
            self.apply_allow(prog, allow, args, env, text)
            return
        before, table, closed = SUBCOMMAND_ALLOWLISTS[prog]
        i = 0
        while i < len(args) and args[i].literal and args[i].value[:1] == "-" and args[i].value != "-":
            i += 1
        if before is not None and not self.apply_allow(prog, before, args[:i], env, text):
            return
        if i < len(args):
            sub = args[i]
            if not sub.literal:
                self.unknown(env, text, f"{prog}: subcommand decided at run time: {sub.source[:60]}", program=prog)
            elif sub.value in table:
                self.apply_allow(f"{prog} {sub.value}", table[sub.value], args[i + 1 :], env, text)
            elif closed:
                self.unknown(
                    env, text, f"{prog} {sub.value[:40]}: a subcommand the classifier does not know", program=prog
                )

    def apply_allow(self, prog: str, allow: Allow, args: list[Word], env: Env, text: str) -> bool:
        """Read ``args`` against ``allow``; False when an unknown statement was emitted."""
        r = read_options(allow, args, prog)
        ok = True
        if r.problem:
            self.unknown(env, text, r.problem, program=prog.split(" ")[0])
            ok = False
        for opt, w in r.reads:
            if w.literal and is_stdin_like(w.value):
                self.unknown(
                    env,
                    text,
                    f"{prog} {opt} reads {w.value} (stdin or an inherited descriptor: content "
                    f"the classifier cannot see)",
                    program=prog.split(" ")[0],
                )
                ok = False
            else:
                self.file_stmt("read", [w], env, text, prog.split(" ")[0])
        for opt, w in r.configs:
            if not (w.literal and _PLAIN_RELATIVE.fullmatch(w.value) and ".." not in w.value.split("/")):
                self.unknown(
                    env,
                    text,
                    f"{prog} {opt} loads {(w.value if w.literal else w.source)[:60]!r}: configuration from outside "
                    "the working directory, "
                    "an inline setting or a descriptor",
                    program=prog.split(" ")[0],
                )
                ok = False
        for _opt, w in r.writes:
            self.file_stmt("write", [w], env, text, prog.split(" ")[0])
        if prog == "jq" and r.operands:
            # the program: the environment ($ENV, env) and modules (import, include, -L) are other inputs
            jq_prog = r.operands[0]
            if not jq_prog.literal:
                self.unknown(env, text, "jq program decided at run time", program="jq")
                ok = False
            elif outside := _JQ_OUTSIDE.search(jq_prog.value):
                self.unknown(
                    env, text, f"jq program reads the environment or loads modules ({outside.group(0)})", program="jq"
                )
                ok = False
        if prog == "cmake" and any(a.literal and a.value == "--" for a in args):
            # cmake --build DIR -- ARGS: ARGS go to the native build tool (make's SHELL=, -f, --eval)
            self.unknown(env, text, "cmake passes the words after -- to the native build tool", program=prog)
            ok = False
        if prog in ("make", "gmake"):
            # every goal is a run of its own: `make test deploy` runs deploy too
            goals = [a for a in r.operands if not (a.literal and "=" in a.value)]
            for g in goals[1:]:
                self.exec_stmt(prog, [Word(prog), g], env, text, [], ("make_goal",))
        return ok

    def code_options(self, prog: str, args: list[Word], env: Env, text: str) -> None:
        """Options that make a program run another program or code given on the command line."""
        if prog not in CODE_OPTION_PROGRAMS:
            return
        if prog in VARNAME_BUILTINS:
            if prog in ("read", "mapfile", "readarray", "getopts"):
                for a in args:
                    if a.literal and not a.value.startswith("-") and env_is_dangerous(a.value.split("[", 1)[0]):
                        self.unknown(
                            env,
                            text,
                            f"{prog} assigns {a.value[:40]!r}, which changes how later commands are found or run",
                        )
                        return
            for a in args:
                if a.literal and "[" in a.value and ("$" in a.value or "`" in a.value):
                    self.unknown(
                        env,
                        text,
                        f"{prog}: an array subscript in a variable name is evaluated "
                        f"as arithmetic and can run code: {a.value[:60]!r}",
                    )
                    return
        opts = CODE_OPTIONS.get(prog, ())
        for a in args:
            if not a.literal:
                continue
            v = a.value
            if v == "--":
                break
            name = v.split("=", 1)[0]
            for o in opts:
                if (
                    v == o
                    or v.startswith(o + "=")
                    or (not o.startswith("--") and len(o) == 2 and v.startswith(o) and not v.startswith("--"))
                    or (
                        # GNU getopt_long takes any unambiguous prefix: --compress-prog=sh
                        prog in GNU_ABBREVIATES
                        and o.startswith("--")
                        and name.startswith("--")
                        and len(name) >= 5
                        and o.startswith(name)
                    )
                ):
                    self.unknown(env, text, f"{prog} {o} names a program or code for {prog} to run")
                    return
        if prog in ("make", "gmake"):
            for a in args:
                if a.literal and not is_option(a) and "=" in a.value:
                    name, _, val = a.value.partition("=")
                    name = name.rstrip(":+?!")
                    if name in MAKE_DANGEROUS_VARIABLES or SHELL_META.search(val):
                        self.unknown(env, text, f"make variable override {name}= can change the commands recipes run")
                        return
        if prog in CC_DRIVERS:
            # -Wl,-plugin,X / -Xlinker -plugin: a linker plugin (a shared object the linker loads)
            for i, a in enumerate(args):
                v = a.value if a.literal else ""
                nxt = args[i + 1].value if i + 1 < len(args) and args[i + 1].literal else ""
                if (v.startswith("-Wl,") and re.search(r",--?plugin(?:[,=]|$)", v)) or (
                    v == "-Xlinker" and nxt.lstrip("-").startswith("plugin")
                ):
                    self.unknown(env, text, f"{prog} {v[:40]}: a linker plugin (code the linker loads)")
                    return
        if prog == "cargo":
            for i, a in enumerate(args):
                if a.literal and (a.value == "--config" or a.value.startswith("--config=")):
                    val = (
                        a.value.split("=", 1)[1]
                        if "=" in a.value
                        else (args[i + 1].value if i + 1 < len(args) and args[i + 1].literal else "=")
                    )
                    if "=" in val:
                        self.unknown(env, text, "cargo --config KEY=VALUE can set a runner or linker to any program")
                        return

    def exec_flags(self, prog: str, args: list[Word]) -> tuple[str, ...]:
        nonlit = glob = False
        for a in args:
            if not a.literal:
                nonlit = True
            if a.glob:
                glob = True
        if nonlit:
            return ("nonliteral_args", "glob") if glob else ("nonliteral_args",)
        return ("glob",) if glob else ()

    def operand_paths(self, prog: str, args: list[Word]) -> list[Word]:
        """Words a program may treat as files: operands, option values that look like paths."""
        spec = OPTION_VALUES.get(prog)
        if spec is not None:
            return self._operands_by_spec(spec, args)
        if prog in ("test", "["):
            return [
                a
                for i, a in enumerate(args)
                if (a.literal and not is_option(a) and looks_pathy(a.value))
                or (i and args[i - 1].literal and args[i - 1].value in FILE_TESTS and not is_option(a))
            ]
        if prog in NO_PATH_OPERANDS:
            # `echo /etc/*` prints the names in /etc: a wildcard word lists its directory
            return [a for a in args if a.glob]
        out: list[Word] = []
        after_dd = False
        pattern_pending = prog in PATTERN_FIRST
        if pattern_pending:
            givers = PATTERN_FIRST[prog]
            if prog == "rg" and any(a.literal and a.value in ("--files", "--type-list") for a in args):
                pattern_pending = False
            for a in args:
                v = a.value
                if (
                    a.literal
                    and not a.quoted
                    and v[:1] == "-"
                    and (v in givers or v.split("=", 1)[0] in givers or v[:2] in givers)
                ):
                    pattern_pending = False
                    break
        skip_next_file_opt = False
        for a in args:
            if skip_next_file_opt:
                skip_next_file_opt = False
                out.append(a)
                continue
            if not a.literal:
                out.append(a)
                continue
            v = a.value
            if not after_dd and not a.quoted and v == "--":
                after_dd = True
                continue
            if not after_dd and is_option(a):
                if "=" in v:
                    val = v.split("=", 1)[1]
                    if looks_pathy(val):
                        out.append(Word(val, True, a.glob, source=a.source))
                        # `--cov-report=html:/tmp/x`, `--opt=a,/etc/b`: a piece naming a path elsewhere
                        for piece in re.split(r"[:,]", val)[1:]:
                            if piece[:1] in ("/", "~") or piece.startswith(".."):
                                out.append(Word(piece, True, a.glob, source=a.source))
                elif not v.startswith("--") and len(v) > 2:
                    for i, ch in enumerate(v[2:], start=2):
                        if ch in "/~.":
                            out.append(Word(v[i:], True, a.glob, source=a.source))
                            break
                continue
            if pattern_pending:
                pattern_pending = False
                continue
            if prog in ("dd",) and "=" in v:
                k, _, val = v.partition("=")
                if k in ("if", "of"):
                    out.append(Word(val, True, a.glob, source=a.source))
                continue
            if URL_RE.match(v):
                continue
            if prog == "git" and not out and v.isidentifier():
                continue  # git subcommand
            out.append(a)
            if "=" in v and not v.startswith("="):
                val = v.split("=", 1)[1]
                if looks_pathy(val):
                    out.append(Word(val, True, a.glob, source=a.source))
        return out

    def _operands_by_spec(
        self, spec: tuple[dict[str, int], frozenset[str], frozenset[str], bool], args: list[Word]
    ) -> list[Word]:
        """Operands of a program whose value-taking options are known: option values that are
        files are paths, pattern values are not, and the first operand is the pattern unless a
        pattern option gave one."""
        arity, path_opts, pattern_opts, pattern_first = spec
        out: list[Word] = []
        ops: list[Word] = []
        pattern_given = False
        i = 0
        after_dd = False
        while i < len(args):
            a = args[i]
            if not a.literal:
                ops.append(a)
                i += 1
                continue
            v = a.value
            if after_dd or not is_option(a):
                if not after_dd and v == "--" and not a.quoted:
                    after_dd = True
                else:
                    ops.append(a)
                i += 1
                continue
            name, eq, val = v.partition("=")
            if not v.startswith("--") and len(v) > 2 and v[:2] in arity:
                name, eq, val = v[:2], "=", v[2:]  # -fFILE, -e PATTERN attached
            if name in pattern_opts:
                pattern_given = True
            n = arity.get(name, 0)
            values: list[Word] = []
            if eq:
                values = [Word(val, True, a.glob, source=a.source)]
                n -= 1
            values += args[i + 1 : i + 1 + max(n, 0)]
            i += 1 + max(n, 0)
            if name in path_opts and values:
                out.append(values[-1])
            elif name not in arity and eq and looks_pathy(val):
                out.append(values[0])  # an unknown --opt=/some/path: count it
        # rg --files lists files: every operand is a path
        if (
            pattern_first
            and not pattern_given
            and ops
            and not any(a.literal and a.value in ("--files", "--type-list") for a in args)
        ):
            ops = ops[1:]
        return out + ops

    def writes(self, prog: str, args: list[Word], env: Env, text: str, ops: list[Word]) -> None:
        if prog in WRITE_ALL_OPERANDS:
            self.file_stmt("write", ops, env, text, prog)
        elif prog in WRITE_SKIP_FIRST:
            opts_ref = any(a.literal and a.value.startswith("--reference") for a in args)
            self.file_stmt("write", ops if opts_ref else ops[1:], env, text, prog)
        elif prog in WRITE_LAST or prog in WRITE_SOURCES_AND_DESTINATION:
            t_dir = None
            for i, a in enumerate(args):
                if a.literal and a.value in ("-t", "--target-directory") and i + 1 < len(args):
                    t_dir = args[i + 1]
                elif a.literal and a.value.startswith("--target-directory="):
                    t_dir = Word(a.value.split("=", 1)[1], True)
            if prog in WRITE_SOURCES_AND_DESTINATION:
                self.file_stmt("write", ops, env, text, prog)
            elif t_dir is not None:
                self.file_stmt("write", [t_dir], env, text, prog)
            elif ops:
                self.file_stmt("write", ops[-1:], env, text, prog)
        elif prog == "dd":
            self.file_stmt(
                "write",
                [Word(a.value[3:], True) for a in args if a.literal and a.value.startswith("of=")]
                + [a for a in args if not a.literal],
                env,
                text,
                prog,
            )
        elif prog == "sort":
            for i, a in enumerate(args):
                if a.literal and a.value in ("-o",) and i + 1 < len(args):
                    self.file_stmt("write", [args[i + 1]], env, text, prog)
                elif a.literal and (a.value.startswith("--output=") or (a.value.startswith("-o") and len(a.value) > 2)):
                    self.file_stmt(
                        "write", [Word(a.value.split("=", 1)[1] if "=" in a.value else a.value[2:])], env, text, prog
                    )
        elif prog in ("tar", "unzip", "patch", "cpio", "7z", "git-apply", "bsdtar"):
            self.file_stmt(
                "write",
                [Word(".", True)] + [a for a in ops if a.literal and "/" in a.value],
                env,
                text,
                prog,
                flags=("archive",),
            )

    def urls(self, prog: str, args: list[Word], env: Env, text: str) -> None:
        if prog not in NETWORK_PROGRAMS:
            for a in args:
                if "://" in a.value:
                    break
            else:
                return
        for a in args:
            if not a.literal:
                if prog in NETWORK_PROGRAMS:
                    self.emit(
                        Statement(
                            kind="url",
                            host=None,
                            url=a.source,
                            via=env.via + (prog,),
                            text=text[:500],
                            reason="URL decided at run time",
                        )
                    )
                continue
            v = a.value
            if URL_RE.match(v) or (prog in NETWORK_PROGRAMS and not is_option(a) and "." in v and "/" not in v[:1]):
                self.emit(Statement(kind="url", host=url_host(v), url=v, via=env.via + (prog,), text=text[:500]))

    # ---- wrappers
    def wrapper(
        self, prog: str, first: Word, args: list[Word], env: Env, stdin: Stdin, text: str, flags: tuple[str, ...]
    ) -> tuple[str, ...]:
        with_arg = WRAPPER_OPTS_WITH_ARG[prog]
        i = 0
        new_cwds = env.cwds
        assigns: list[str] = []
        special = ""
        while i < len(args):
            a = args[i]
            if not a.literal:
                break
            v = a.value
            if v == "--" and not a.quoted:
                i += 1
                break
            if not is_option(a):
                if prog in ("env", "sudo", "doas", "su") and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", v):
                    assigns.append(v)
                    i += 1
                    continue
                break
            base = v.split("=", 1)[0]
            if prog == "env" and base in ("-C", "--chdir"):
                target = (
                    v.split("=", 1)[1]
                    if "=" in v
                    else (args[i + 1].value if i + 1 < len(args) and args[i + 1].literal else None)
                )
                new_cwds = tuple(p for p, _ in join_cwds(target, env.cwds)) if target else ("",)
            if prog == "env" and base in ("-S", "--split-string"):
                special = "env -S splits a string into a command line itself"
            if prog in ("sudo",) and base in ("-s", "--shell", "-i", "--login", "-e", "--edit"):
                special = special or ("sudo -e edits files as root" if base in ("-e", "--edit") else "")
            if prog == "nice" and re.fullmatch(r"-[0-9]+", v):
                i += 1
                continue
            if base in with_arg and "=" not in v:
                i += 2
                continue
            # combined short options with the value attached (-uroot)
            i += 1
        npos = WRAPPER_POSITIONALS.get(prog, 0)
        if prog == "chrt":
            npos = 1
        if prog == "taskset" and i < len(args) and args[i].literal and args[i].value in ("-c", "--cpu-list"):
            i += 1
        positionals = args[i : i + npos]
        rest = args[i + npos :]
        if prog == "command" and any(a.literal and a.value in ("-v", "-V") for a in args[:i]):
            rest = []
        if prog in ("time", "coproc", "env", "sudo", "doas"):
            # `time X=1 cmd` (a keyword before a pipeline), `env -- X=1 cmd`: leading NAME=VALUE words
            # are assignments, not the command
            while rest and rest[0].literal and not rest[0].quoted and ASSIGNMENT_WORD.match(rest[0].value):
                assigns.append(rest[0].value)
                rest = rest[1:]
            if rest and not rest[0].literal and prog in ("time", "coproc"):
                pass  # a computed command name: dispatch reports it
        flock_c = next(
            (
                j
                for j, a in enumerate(args)
                if a.literal and (a.value in ("-c", "--command") or a.value.startswith("--command="))
            ),
            None,
        )
        if prog == "flock" and flock_c is not None:
            a = args[flock_c]
            cmd_w = (
                Word(a.value.split("=", 1)[1])
                if "=" in a.value
                else (args[flock_c + 1] if flock_c + 1 < len(args) else None)
            )
            self.exec_stmt(
                prog,
                [first] + args,
                env,
                text,
                [w for w in args if w is not a and w is not cmd_w and not is_option(w)],
                flags,
            )
            if cmd_w is not None and cmd_w.literal:
                self.nested(cmd_w.value, Env(env.cwds, env.via + (prog,), env.depth + 1), "flock -c", text)
            else:
                self.unknown(env, text, "flock -c with a command decided at run time")
            return env.cwds
        if prog == "flock" and rest[:1] and rest[0].literal and rest[0].value in ("-c", "--command"):
            self.exec_stmt(prog, [first] + args, env, text, positionals, flags)
            if len(rest) > 1 and rest[1].literal:
                self.nested(rest[1].value, Env(env.cwds, env.via + (prog,), env.depth + 1), "flock -c", text)
            else:
                self.unknown(env, text, "flock -c with a command decided at run time")
            return env.cwds
        path_words = [w for w in positionals if prog in ("chroot", "flock")]
        if prog == "time":
            for j, a in enumerate(args[:i]):
                if a.literal and a.value in ("-o", "--output") and j + 1 < len(args):
                    self.file_stmt("write", [args[j + 1]], env, text, prog)
        self.exec_stmt(prog, [first] + args, env, text, path_words, flags)
        inner_env = Env(new_cwds if prog != "chroot" else ("",), env.via + (prog,), env.depth)
        for asg in assigns:
            name = asg.split("=", 1)[0]
            if env_is_dangerous(name):
                self.unknown(env, text, f"{prog} sets {name}, which changes how the command is found or run")
            val = asg.split("=", 1)[1]
            if re.search(r"\$\(|`", val):
                self.unknown(env, text, "literal value holds shell code a later evaluation may run")
        if special:
            self.unknown(env, text, special)
        if not rest:
            if prog in ("sudo", "doas", "su", "runuser", "pkexec") and any(
                a.literal and a.value in ("-s", "-i", "--shell", "--login") for a in args
            ):
                self.unknown(env, text, f"{prog} starts an interactive shell reading from stdin")
            return env.cwds
        if prog == "exec" or prog == "command" or prog == "builtin":
            return self.dispatch(rest, inner_env, stdin, text)
        self.dispatch(rest, inner_env, stdin, text)
        return env.cwds

    def su(
        self, prog: str, words: list[Word], args: list[Word], env: Env, stdin: Stdin, text: str, flags: tuple[str, ...]
    ) -> tuple[str, ...]:
        self.exec_stmt(prog, words, env, text, [], flags)
        inner = Env(env.cwds, env.via + (prog,), env.depth)
        found = self.string_option(
            args, ("-c", "--command", "--session-command"), env, inner, text, "su -c", require=False
        )
        if not found:
            self.unknown(env, text, f"{prog} starts a shell reading from stdin")
        return env.cwds

    def string_option(
        self, args: list[Word], opts: tuple[str, ...], env: Env, inner: Env, text: str, label: str, require: bool = True
    ) -> bool:
        for i, a in enumerate(args):
            if not a.literal:
                continue
            for o in opts:
                val: Word | None = None
                if a.value == o and i + 1 < len(args):
                    val = args[i + 1]
                elif o.startswith("--") and a.value.startswith(o + "="):
                    val = Word(a.value.split("=", 1)[1], a.literal, source=a.source)
                if val is not None:
                    if val.literal:
                        self.nested(val.value, Env(inner.cwds, inner.via, inner.depth + 1), label, text)
                    else:
                        self.unknown(env, text, f"{label} runs a string decided at run time")
                    return True
        if require:
            self.unknown(env, text, f"{label}: no command string found")
        return False

    def shell(
        self,
        prog: str,
        words: list[Word],
        args: list[Word],
        env: Env,
        stdin: Stdin,
        text: str,
        flags: tuple[str, ...],
        path_words: list[Word],
    ) -> tuple[str, ...]:
        inner = Env(env.cwds, env.via + (f"{prog} -c",), env.depth)
        if prog in NON_POSIX_SHELLS:
            self.exec_stmt(prog, words, env, text, path_words, flags + ("interpreter",))
            self.unknown(env, text, f"{prog} is not a POSIX shell; its code is not classified")
            return env.cwds
        # parse shell options: -c STRING, -o opt, -O opt, --rcfile f, --init-file f, -s, -i, -l
        cmd_string: Word | None = None
        has_c = False
        script: Word | None = None
        reads_stdin_flag = False
        interactive = False
        i = 0
        while i < len(args):
            a = args[i]
            if not a.literal:
                if not has_c and script is None:
                    script = a
                break
            v = a.value
            if v == "--" or v == "-":
                i += 1
                if v == "-":
                    reads_stdin_flag = True
                break
            if v.startswith("--"):
                if v in ("--rcfile", "--init-file"):
                    self.unknown(env, text, f"{prog} {v} runs a startup file")
                    i += 2
                    continue
                if v in ("--login", "--interactive"):
                    interactive = True
                i += 1
                continue
            if v.startswith(("-", "+")):
                letters = v[1:]
                if "c" in letters:
                    has_c = True
                if "s" in letters:
                    reads_stdin_flag = True
                if "i" in letters:
                    interactive = True
                if ("o" in letters or "O" in letters) and i + 1 < len(args):
                    i += 2
                    continue
                i += 1
                continue
            break
        rest = args[i:]
        if has_c:
            cmd_string = rest[0] if rest else None
        elif rest and not reads_stdin_flag:
            script = rest[0]
        self.exec_stmt(prog, words, env, text, path_words, flags + (("runs_script",) if script else ()))
        if has_c:
            if cmd_string is None:
                self.unknown(env, text, f"{prog} -c without a command string")
            elif not cmd_string.literal:
                self.unknown(env, text, f"{prog} -c runs a string decided at run time")
            else:
                self.nested(cmd_string.value, Env(inner.cwds, inner.via, inner.depth + 1), f"{prog} -c", text)
            return env.cwds
        if script is not None:
            if not script.literal:
                self.unknown(env, text, f"{prog} runs a script whose path is decided at run time")
            return env.cwds
        if interactive:
            self.unknown(env, text, f"{prog} interactive shell")
            return env.cwds
        # the shell reads its program from stdin
        if stdin.kind in ("heredoc", "herestring") and stdin.literal is not None:
            self.nested(stdin.literal, Env(env.cwds, env.via + (f"{prog} <<",), env.depth + 1), "heredoc", text)
        else:
            self.unknown(
                env,
                text,
                f"{prog} reads its program from stdin ({stdin.kind}): content decided at run time",
                flags=("stdin_code",),
            )
        return env.cwds

    def interpreter(
        self,
        prog: str,
        words: list[Word],
        args: list[Word],
        env: Env,
        stdin: Stdin,
        text: str,
        flags: tuple[str, ...],
        path_words: list[Word],
    ) -> tuple[str, ...]:
        base = re.sub(r"\d+(\.\d+)*$", "", prog) or prog
        code_opts = INTERPRETERS.get(prog, INTERPRETERS.get(base, ("-c",)))
        value_opts = INTERPRETER_VALUE_OPTIONS.get(base, frozenset())
        self.exec_stmt(prog, words, env, text, path_words, flags + ("interpreter",))
        if prog in INTERPRETERS and not INTERPRETERS[prog] and prog not in STDIN_INTERPRETERS:
            self.unknown(
                env, text, f"{prog} runs commands that are not classified", program=prog, flags=("interpreter",)
            )
            return env.cwds
        # the interpreter's own options come before the script / module; what follows belongs to it
        i = 0
        operand = None
        module = False
        while i < len(args):
            a = args[i]
            if not a.literal:
                self.unknown(
                    env,
                    text,
                    f"{prog} option decided at run time (could be one that runs code)",
                    program=prog,
                    flags=("interpreter",),
                )
                return env.cwds
            v = a.value
            if v == "--":
                operand = args[i + 1] if i + 1 < len(args) else None
                break
            if v == "-" or not v.startswith(("-", "+")) or a.quoted:
                operand = a
                break
            if any(
                v == o
                or (
                    o.startswith("-")
                    and not o.startswith("--")
                    and v.startswith(o)
                    and len(v) > len(o)
                    and prog not in ("vim", "vi", "nvim", "ex")
                )
                or (o.startswith("--") and v.startswith(o + "="))
                or (o == "+" and v.startswith("+"))
                for o in code_opts
            ) or (base == "perl" and re.fullmatch(r"-[a-zA-Z]*[eE][a-zA-Z]*", v)):
                self.unknown(
                    env,
                    text,
                    f"{prog} {v} runs a program given on the command line",
                    program=prog,
                    flags=("interpreter",),
                )
                return env.cwds
            if base in ("python", "pypy") and (v == "-m" or (v.startswith("-m") and len(v) > 2)):
                module = True
                mod = v[2:] if len(v) > 2 else (args[i + 1].value if i + 1 < len(args) and args[i + 1].literal else "")
                rest = args[i + 1 :] if len(v) > 2 else args[i + 2 :]
                if mod in ("pdb", "code", "idlelib", "IPython", "ptpython", "bpython"):
                    self.unknown(
                        env,
                        text,
                        f"{prog} -m {mod} runs code typed on stdin",
                        program=prog,
                        flags=("interpreter", "stdin_code"),
                    )
                if mod in PYTHON_MODULE_ALLOW:
                    # the interpreter's own options, then the module's command line
                    self.apply_allow(prog, PYTHON_ALLOW, args[:i], env, text)
                    self.apply_allow(f"{prog} -m {mod}", PYTHON_MODULE_ALLOW[mod], rest, env, text)
                elif mod in PYTHON_MODULE_PROGRAMS:
                    # python -m mypy / pip / ...: the program's own command line
                    self.apply_allow(prog, PYTHON_ALLOW, args[:i], env, text)
                    self.allowlist(mod, rest, env, text)
                elif mod in CODE_OPTIONS:
                    self.code_options(mod, rest, env, text)
                break
            if base in ("python", "pypy") and re.fullmatch(r"-[A-Za-z]*i[A-Za-z]*", v) and "c" not in v:
                self.unknown(
                    env,
                    text,
                    f"{prog} {v}: interactive, runs code typed on stdin",
                    program=prog,
                    flags=("interpreter", "stdin_code"),
                )
                return env.cwds
            if v in value_opts:
                i += 2
                continue
            i += 1
        if module:
            return env.cwds
        if base == "node" and operand is None and any(a.literal and a.value in _NODE_NO_PROGRAM for a in args):
            return env.cwds  # node --test (finds the test files), --version, --help: no program on stdin
        if (operand is None or (operand.literal and operand.value == "-")) and (
            prog in STDIN_INTERPRETERS or base in STDIN_INTERPRETERS
        ):
            self.unknown(
                env,
                text,
                f"{prog} reads its program from stdin ({stdin.kind})",
                program=prog,
                flags=("interpreter", "stdin_code"),
            )
        return env.cwds

    def xargs(
        self, words: list[Word], args: list[Word], env: Env, stdin: Stdin, text: str, flags: tuple[str, ...]
    ) -> tuple[str, ...]:
        with_arg = PROGRAMS["xargs"].value_options
        i = 0
        repl = None
        path_words: list[Word] = []
        while i < len(args):
            a = args[i]
            if not a.literal or not is_option(a):
                break
            v = a.value
            if v == "--":
                i += 1
                break
            if v == "-I" and i + 1 < len(args):
                repl = args[i + 1].value
            elif v.startswith("-I") and len(v) > 2:
                repl = v[2:]
            elif v in ("-i",) or v.startswith("--replace"):
                repl = v.split("=", 1)[1] if "=" in v else "{}"
            if v in ("-a", "--arg-file") and i + 1 < len(args):
                path_words.append(args[i + 1])
            if v in with_arg:
                i += 2
                continue
            i += 1
        rest = args[i:]
        self.exec_stmt("xargs", words, env, text, path_words, flags)
        inner_env = Env(env.cwds, env.via + ("xargs",), env.depth)
        if not rest:
            rest = [Word("echo")]
        if repl is not None:
            rest = [w if not (w.literal and repl in w.value) else Word(w.source, False, source=w.source) for w in rest]
        else:
            rest = rest + [Word("<stdin-args>", False, source="<arguments read from stdin>")]
        self.dispatch(rest, inner_env, Stdin("pipe"), text)
        return env.cwds

    def parallel(
        self, words: list[Word], args: list[Word], env: Env, text: str, flags: tuple[str, ...]
    ) -> tuple[str, ...]:
        self.exec_stmt("parallel", words, env, text, [], flags)
        # GNU parallel: options, then the command template, then ::: arguments; the template is run
        # by a shell with {} replaced by each argument.
        i = 0
        while i < len(args) and args[i].literal and is_option(args[i]):
            i += 1
        tmpl = []
        for w in args[i:]:
            if w.literal and w.value in (":::", "::::", ":::+", "::::+"):
                break
            tmpl.append(w)
        if not tmpl:
            self.unknown(env, text, "parallel runs commands read from its input")
            return env.cwds
        if not all(w.literal for w in tmpl):
            self.unknown(env, text, "parallel command template decided at run time")
            return env.cwds
        code = " ".join(w.value for w in tmpl)
        # the arguments are substituted into a command line that a shell parses again: their text
        # is code, so the template alone cannot tell what runs
        self.unknown(env, text, "parallel substitutes its arguments into a shell command line")
        code = re.sub(r"\{[^}]*\}", "PARALLEL_ARG", code)
        self.nested(code, Env(env.cwds, env.via + ("parallel",), env.depth + 1), "parallel", text)
        return env.cwds

    def find(self, words: list[Word], args: list[Word], env: Env, text: str, flags: tuple[str, ...]) -> tuple[str, ...]:
        # starting points: operands before the first expression token
        starts: list[Word] = []
        i = 0
        while (i < len(args) and args[i].literal and args[i].value in ("-H", "-L", "-P")) or (
            i < len(args) and args[i].literal and args[i].value.startswith("-O")
        ):
            i += 1
        while i < len(args):
            a = args[i]
            if a.literal and (a.value.startswith("-") or a.value in ("(", "!", ")", ",")):
                break
            starts.append(a)
            i += 1
        if not starts:
            starts = [Word(".", True)]
        expr = args[i:]
        fl: list[str] = []
        inner_env = Env(env.cwds, env.via + ("find",), env.depth)
        j = 0
        pending: list[tuple[list[Word], str]] = []
        extra_paths: list[Word] = []
        while j < len(expr):
            a = expr[j]
            v = a.value if a.literal else ""
            if not a.literal:
                fl.append("nonliteral_args")
            if v == "-delete":
                fl.append("delete")
            if (
                a.literal
                and looks_pathy(v)
                and not v.startswith("-")
                and (
                    j == 0
                    or expr[j - 1].value
                    not in (
                        "-name",
                        "-iname",
                        "-path",
                        "-ipath",
                        "-regex",
                        "-iregex",
                        "-wholename",
                        "-iwholename",
                        "-lname",
                        "-ilname",
                    )
                )
            ):
                extra_paths.append(a)  # -newer FILE, -files0-from FILE, -samefile FILE, ...
            if v in ("-fprint", "-fprint0", "-fls", "-fprintf") and j + 1 < len(expr):
                self.file_stmt("write", [expr[j + 1]], env, text, "find")
                fl.append("writes_file")
            if v in ("-exec", "-execdir", "-ok", "-okdir"):
                fl.append(v.lstrip("-"))
                k = j + 1
                cmd: list[Word] = []
                while k < len(expr) and not (expr[k].literal and expr[k].value in (";", "+")):
                    cmd.append(expr[k])
                    k += 1
                if k >= len(expr):
                    self.unknown(env, text, f"find {v} without a terminating ';' or '+'")
                cmd = [w if not (w.literal and "{}" in w.value) else Word(w.value, False, source=w.value) for w in cmd]
                if cmd:
                    pending.append((cmd, v))
                else:
                    self.unknown(env, text, f"find {v} without a command")
                j = k + 1
                continue
            j += 1
        self.exec_stmt("find", words, env, text, starts + extra_paths, flags + tuple(uniq(fl)))
        for cmd, v in pending:
            e = inner_env
            if v in ("-execdir", "-okdir"):
                e = Env(
                    tuple(
                        uniq(
                            [
                                p if lit else ""
                                for s in starts
                                for p, lit in (join_cwds(s.value, env.cwds) if s.literal else [(s.source, False)])
                            ]
                        )
                    )
                    + ("",),
                    inner_env.via,
                    env.depth,
                )
            self.dispatch(cmd, e, Stdin("inherit"), text)
        return env.cwds

    # ---- program-specific code checks
    def awk(self, args: list[Word], env: Env, text: str) -> None:
        prog_text = None
        for i, a in enumerate(args):
            if (a.literal and a.value in ("-f", "--file")) or (
                a.literal and a.value.startswith("-f") and len(a.value) > 2 and not a.value.startswith("-F")
            ):
                self.unknown(env, text, "awk program read from a file")
                return
            if a.literal and a.value in ("-F", "-v", "--assign", "--field-separator"):
                continue
            if is_option(a):
                continue
            if i > 0 and args[i - 1].literal and args[i - 1].value in ("-F", "-v", "--assign", "--field-separator"):
                continue
            prog_text = a
            break
        if prog_text is None:
            return
        if not prog_text.literal:
            self.unknown(env, text, "awk program decided at run time")
            return
        p = prog_text.value
        if re.search(
            r"\bsystem\s*\(|\|\s*getline|\|&|\b(print|printf)\b[^;}\n]*[>|]|getline\s*<|@load|@include"
            r"|\bclose\s*\(|\bfflush\s*\(\s*\"",
            p,
        ):
            self.unknown(
                env, text, "awk program runs commands or writes files (system, pipes, redirection)", program="awk"
            )

    def sed(self, args: list[Word], env: Env, text: str) -> None:
        scripts: list[Word] = []
        inplace = False
        given = False
        ops: list[Word] = []
        i = 0
        after_dd = False
        while i < len(args):
            a = args[i]
            v = a.value if a.literal else ""
            if a.literal and not after_dd and v == "--":
                after_dd = True
            elif a.literal and not after_dd and (v in ("-e", "--expression") and i + 1 < len(args)):
                scripts.append(args[i + 1])
                given = True
                i += 1
            elif (
                a.literal
                and not after_dd
                and v.startswith("--e")
                and "=" in v
                and "--expression".startswith(v.split("=", 1)[0])
            ):
                scripts.append(Word(v.split("=", 1)[1]))
                given = True
            elif (
                a.literal
                and not after_dd
                and v.startswith("--e")
                and "--expression".startswith(v)
                and i + 1 < len(args)
            ):
                scripts.append(args[i + 1])
                given = True
                i += 1
            elif (
                a.literal
                and not after_dd
                and (v == "-f" or (v.startswith("--fi") and "--file".startswith(v.split("=", 1)[0])))
            ):
                self.unknown(env, text, "sed script read from a file")
                return
            elif (
                a.literal
                and not after_dd
                and (
                    v.startswith("-i")
                    or (v.startswith("--i") and "--in-place".startswith(v.split("=", 1)[0]))
                    or (v.startswith("-") and not v.startswith("--") and "i" in v[1:] and "e" not in v[1:])
                )
            ):
                inplace = True
            elif a.literal and not after_dd and is_option(a):
                if v in ("-l", "--line-length") and i + 1 < len(args):
                    i += 1
            else:
                ops.append(a)
            i += 1
        if not given and ops:
            scripts.append(ops.pop(0))
        for s in scripts:
            if not s.literal:
                self.unknown(env, text, "sed script decided at run time")
                return
        problem = sed_script_problem("\n".join(s.value for s in scripts))
        if problem:
            self.unknown(env, text, problem, program="sed")
        if inplace:
            self.file_stmt("write", ops, env, text, "sed", flags=("in_place",))

    def git(self, args: list[Word], env: Env, text: str) -> None:
        i = 0
        sub = None
        while i < len(args):
            a = args[i]
            if not a.literal:
                self.unknown(env, text, "git with an argument decided at run time before the subcommand")
                return
            v = a.value
            if v in ("-c", "--config-env") or v.startswith(("--config-env=", "-c")):
                self.unknown(env, text, "git -c / --config-env can make git run any command (core.pager, alias.*=!)")
                return
            if v.startswith(("--exec-path", "--upload-pack", "--receive-pack")):
                self.unknown(env, text, f"git {v.split('=')[0]} names a program for git to run")
                return
            if v in PROGRAMS["git"].value_options and i + 1 < len(args):
                i += 2
                continue
            if v.startswith("-"):
                i += 1
                continue
            sub = v
            break
        rest = args[i + 1 :]
        for j, a in enumerate(rest):
            if not a.literal:
                continue
            v = a.value
            if (
                v in ("-O", "--open-files-in-pager")
                or v.startswith("--open-files-in-pager")
                or (sub == "grep" and v.startswith("-O"))
            ):
                self.unknown(env, text, "git grep -O runs a pager command")
            elif v.startswith(("--upload-pack", "--receive-pack")) or (
                v == "-u" and sub in ("clone", "fetch", "pull", "ls-remote", "archive")
            ):
                self.unknown(env, text, f"git {sub} {v} names a program to run")
            elif sub in ("rebase",) and (v in ("-x", "--exec") or v.startswith("--exec=")):
                if v in ("-x", "--exec") and j + 1 < len(rest) and rest[j + 1].literal:
                    self.nested(
                        rest[j + 1].value,
                        Env(env.cwds, env.via + ("git rebase --exec",), env.depth + 1),
                        "git rebase --exec",
                        text,
                    )
                else:
                    self.unknown(env, text, "git rebase --exec runs a command")
            elif v.startswith("--output=") or v == "--output":
                target = v.split("=", 1)[1] if "=" in v else (rest[j + 1].value if j + 1 < len(rest) else "")
                self.file_stmt("write", [Word(target)], env, text, "git")
            elif v in ("--ext-diff",) or v.startswith("--extcmd") or (v in ("-x",) and sub == "difftool"):
                self.unknown(env, text, f"git {sub} {v} runs an external program")
            elif v.startswith(("--config=", "--template=")):
                self.unknown(env, text, f"git {sub} {v.split('=')[0]} loads configuration that can run commands")
        if sub in ("bisect",) and rest[:1] and rest[0].literal and rest[0].value == "run":
            if len(rest) > 1 and all(w.literal for w in rest[1:]):
                self.dispatch(rest[1:], Env(env.cwds, env.via + ("git bisect run",), env.depth), Stdin(), text)
            else:
                self.unknown(env, text, "git bisect run with a command decided at run time")
        if sub in ("submodule",) and any(a.literal and a.value == "foreach" for a in rest):
            self.unknown(env, text, "git submodule foreach runs a shell command in each submodule")
        if sub in ("filter-branch", "filter-repo"):
            self.unknown(env, text, f"git {sub} runs filter commands")
        if sub == "config" or sub == "var":
            pass  # the policy decides on `git config` writes
        for a in rest:
            if (a.literal and URL_RE.match(a.value)) or (a.literal and re.match(r"^[\w.-]+@[\w.-]+:", a.value)):
                v = a.value
                host = url_host(v) if URL_RE.match(v) else url_host("ssh://" + v.replace(":", "/", 1))
                self.emit(Statement(kind="url", host=host, url=v, via=env.via + ("git",), text=text[:500]))

    def sql_client(self, prog: str, args: list[Word], env: Env, stdin: Stdin, text: str) -> None:
        via = env.via + (prog,)
        dialect = dialect_for(prog)
        found = False
        sqls: list[Word] = []
        files: list[Word] = []
        client = PROGRAMS[prog]
        opts_cmd, opts_file = client.sql_options, client.sql_file_options
        ops: list[Word] = []
        i = 0
        while i < len(args):
            a = args[i]
            v = a.value if a.literal else ""
            hit = False
            for o in opts_cmd:
                if v == o and i + 1 < len(args):
                    sqls.append(args[i + 1])
                    i += 2
                    hit = True
                    break
                if v.startswith(o + "=") and o.startswith("--"):
                    sqls.append(Word(v.split("=", 1)[1]))
                    i += 1
                    hit = True
                    break
                if prog in ("mysql", "mariadb") and o == "-e" and v.startswith("-e") and len(v) > 2:
                    sqls.append(Word(v[2:]))
                    i += 1
                    hit = True
                    break
            if hit:
                continue
            for o in opts_file:
                if v == o and i + 1 < len(args):
                    files.append(args[i + 1])
                    i += 2
                    hit = True
                    break
            if hit:
                continue
            if a.literal and is_option(a):
                i += 1
                continue
            ops.append(a)
            i += 1
        if prog in ("sqlite3", "duckdb") and len(ops) > 1:
            sqls.extend(ops[1:])
        for s in sqls:
            found = True
            if not s.literal:
                self.unknown(env, text, f"{prog}: SQL decided at run time")
                continue
            if prog == "sqlite3" and s.value.lstrip().startswith("."):
                self.unknown(env, text, "sqlite3 dot-command (.shell/.system/.output/.load/.import)")
                continue
            if prog in ("mysql", "mariadb") and re.search(r"(^|;)\s*(\\!|system\s)", s.value, re.I):
                self.unknown(env, text, "mysql client system command")
                continue
            self.ctx.out.extend(classify_sql(s.value, dialect=dialect, via=via))
        for _f in files:
            found = True
            self.unknown(env, text, f"{prog} runs SQL from a file")
        if not found:
            if stdin.kind in ("heredoc", "herestring") and stdin.literal is not None:
                body = stdin.literal
                if prog == "sqlite3" and re.search(r"(^|\n)\s*\.", body):
                    self.unknown(env, text, "sqlite3 dot-command in input")
                elif prog == "psql" and re.search(r"(^|\n|;)\s*\\", body):
                    self.unknown(env, text, "psql meta-command (\\! \\o \\copy ...) in input")
                else:
                    self.ctx.out.extend(classify_sql(body, dialect=dialect, via=via))
            elif stdin.kind != "inherit" or prog not in ("psql",):
                self.unknown(env, text, f"{prog} reads SQL from stdin ({stdin.kind})")
            else:
                self.unknown(env, text, f"{prog} interactive session reads SQL from the terminal")


#: jq builtins that reach outside the input: the environment, modules, the program's own location
_JQ_OUTSIDE = re.compile(
    r"\$ENV|\$__loc__|\$__prog|(?<![.\w$])(?:env|import|include|modulemeta|get_search_list|"
    r"input_filename|get_prog_origin|get_jq_origin|\$__prog_args)\b"
)


def _skip_opts(args: list[Word], with_arg: frozenset[str]) -> list[Word]:
    i = 0
    while i < len(args) and args[i].literal and is_option(args[i]):
        if args[i].value in with_arg:
            i += 2
        else:
            i += 1
    return args[i:]
