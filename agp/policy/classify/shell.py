"""Shell classification: every simple command a bash string runs, from a real parse (tree-sitter-bash).

`classify_shell(command, cwd)` returns a tuple of Statements; a call is allowed only if every one
of them is. What is found:

- every simple command through pipelines, `&&`/`||`/`;`/`&`, subshells, `{ ..; }`, if/while/for/
  case/select, `!`, `$(..)` and backticks (backtick bodies are unescaped and re-parsed, as bash
  does), process substitution `<(..)`/`>(..)`, command substitutions inside strings, `${x:-$(..)}`,
  `$((..))`, array subscripts and here-doc bodies with an unquoted delimiter;
- function definitions: a call to a defined function yields its body's statements (via
  'function:NAME'); a body that is never called is still classified where it is defined;
- `VAR=x cmd` prefixes (the command is found; assigning PATH, LD_*, BASH_ENV, IFS, ... is an
  unknown statement: it changes what later words mean);
- quoting and escapes: `\\rm`, `'r'm`, `"rm"`, `$'\\x72m'` all give program 'rm';
- wrappers that run another command: sudo, doas, env, nice, nohup, timeout, time, stdbuf, ionice,
  chrt, taskset, setsid, unshare, flock, chroot, command, builtin, exec, coproc, busybox, xargs,
  parallel, watch, find -exec/-execdir/-ok/-okdir, sh/bash/dash/zsh/ksh -c with a literal string,
  su/runuser -c, script -c, trap, eval with literal words. The wrapper itself is a statement too;
  the inner command carries via=(wrapper, ...);
- redirections: `> f`, `>> f`, `>| f`, `&> f`, `<> f` are write statements, `< f` read statements
  (/dev/null, /dev/stdin, /dev/stdout, /dev/stderr and /dev/fd/0-2 are left out; /dev/tcp and
  /dev/udp are network: unknown); tee, sed -i, dd of=, sort -o, cp/mv/install/ln destinations,
  rm/rmdir/unlink/shred/truncate/touch/mkdir/chmod/chown/chgrp targets and find -fprint* files are
  write statements too;
- `cd`/`pushd` inside the string change the directory later relative paths are joined to; when a
  cd may or may not have happened, every candidate is listed; after `cd "$X"` the cwd is unknown;
- SQL given to psql -c, mysql -e, sqlite3 DB "SQL", duckdb, ... and in here-docs fed to them is
  classified with classify_sql; URLs in arguments become url statements with their host.

Unknown statements (decided at run time, or beyond static analysis): eval, `bash -c "$VAR"`,
`$CMD args`, a command name that is not a literal word (or contains a glob or brace expansion),
`source`/`.` of a non-literal path, `alias`, `hash -p`, `enable`, `shopt -s expand_aliases`,
assignments to IFS/PATH/LD_PRELOAD/..., interpreter one-liners (python -c, perl -e, ruby -e,
node -e/-p, php -r, lua -e, Rscript -e, awk programs that call system()/pipe/redirect/getline,
sed scripts with e/w/W/r/R commands or s///e|w flags, git -c / --config-env / -O/--open-files-in-pager
/ --upload-pack / --exec / rebase -x), a shell or interpreter reading its program from stdin that
is not a literal here-doc/here-string (`curl .. | sh`, `base64 -d | bash`, `python -`), a line
continuation inside a word, and the whole string when tree-sitter reports an ERROR or MISSING node
(one unknown statement for everything).

Interpreter one-liners are classified as BOTH an exec statement (program 'python', flag
'interpreter') and an unknown statement: a policy has to allow unknown statements explicitly to
let one through, and no shipped policy does.
"""

from __future__ import annotations

import functools
import posixpath
import re
import threading
from dataclasses import dataclass, field

import tree_sitter
import tree_sitter_bash

from agp.policy.classify._statement import Statement
from agp.policy.classify.sql import classify_sql, dialect_for
from agp.policy.classify.urls import url_host

__all__ = ("classify_shell", "MAX_COMMAND_BYTES", "MAX_DEPTH", "MAX_NESTING")

MAX_COMMAND_BYTES = 256 * 1024  # a longer string is one unknown statement
MAX_DEPTH = 8  # nesting of bash -c / eval / backticks / function calls
MAX_NESTING = 64  # brackets deeper than this: one unknown statement
MAX_CWDS = 4  # candidate working directories tracked before giving up (cwd unknown)

_LANGUAGE = tree_sitter.Language(tree_sitter_bash.language())
_LOCAL = threading.local()


def _parser() -> tree_sitter.Parser:
    p = getattr(_LOCAL, "parser", None)
    if p is None:
        p = _LOCAL.parser = tree_sitter.Parser(_LANGUAGE)
    return p


# --------------------------------------------------------------------------------------- tables

SYSTEM_BIN_DIRS = frozenset({"/bin", "/usr/bin", "/sbin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin"})

SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "rbash", "posh", "yash", "busybox-sh"})
NON_POSIX_SHELLS = frozenset({"fish", "csh", "tcsh", "xonsh", "nu", "elvish", "pwsh", "powershell"})
INTERPRETERS = {
    # program: options whose presence makes the next word (or the attached rest) program text
    "python": ("-c",), "python2": ("-c",), "python3": ("-c",), "pypy": ("-c",), "pypy3": ("-c",),
    "perl": ("-e", "-E"), "ruby": ("-e",), "node": ("-e", "-p", "--eval", "--print"),
    "nodejs": ("-e", "-p", "--eval", "--print"), "deno": ("eval",), "bun": ("-e", "--eval"),
    "php": ("-r", "-R", "-B", "-E"), "lua": ("-e",), "luajit": ("-e",), "Rscript": ("-e",),
    "R": ("-e",), "tclsh": (), "wish": (), "osascript": ("-e",), "julia": ("-e", "-E"),
    "groovy": ("-e",), "scala": ("-e",), "jshell": (), "irb": (), "ghci": ("-e",), "guile": ("-c",),
    "racket": ("-e",), "sbcl": ("--eval",), "erl": ("-eval",), "elixir": ("-e",), "swift": ("-e",),
    "gdb": ("-ex", "--eval-command"), "vim": ("-c", "+", "--cmd"), "vi": ("-c", "+", "--cmd"),
    "nvim": ("-c", "+", "--cmd"), "emacs": ("--eval",), "ed": (), "ex": ("-c", "+"),
    "expect": ("-c",), "tmux": (), "screen": (),
}
_INTERP_VALUE_OPTS = {
    "python": frozenset({"-W", "-X", "--check-hash-based-pycs"}), "pypy": frozenset({"-W", "-X"}),
    "node": frozenset({"-r", "--require", "--import", "--loader", "--experimental-loader", "--conditions", "-C",
                       "--title", "--env-file"}),
    "nodejs": frozenset({"-r", "--require", "--import"}), "ruby": frozenset({"-r", "-I", "-C", "-E"}),
    "php": frozenset({"-d", "-c", "-z"}), "perl": frozenset({"-I", "-M", "-m"}),
}
# interpreters that read their program from stdin when given no script operand
STDIN_INTERPRETERS = frozenset({"python", "python2", "python3", "pypy", "pypy3", "perl", "ruby", "node",
                                "nodejs", "php", "lua", "luajit", "Rscript", "R", "tclsh", "wish",
                                "osascript", "julia", "irb", "jshell", "ghci", "guile", "racket", "sbcl",
                                "erl", "elixir", "gdb", "ed", "ex", "expect", "bc", "dc"})

SQL_CLIENTS = frozenset({"psql", "pgcli", "mysql", "mariadb", "sqlite3", "duckdb", "clickhouse-client",
                         "sqlcmd", "snowsql", "trino", "presto"})

NETWORK_PROGRAMS = frozenset({"curl", "wget", "http", "https", "httpie", "xh", "aria2c", "lynx", "links",
                              "w3m", "nc", "ncat", "netcat", "socat", "telnet", "ssh", "scp", "sftp",
                              "rsync", "ftp", "tftp", "openssl"})

# commands whose operands are never files
NO_PATH_OPERANDS = frozenset({
    "echo", "printf", "true", "false", ":", "test", "[", "expr", "seq", "sleep", "yes", "basename",
    "dirname", "whoami", "id", "uname", "pwd", "set", "shift", "exit", "return", "break",
    "continue", "wait", "jobs", "kill", "let", "read", "type", "which", "hash", "help", "umask",
    "ulimit", "unalias", "printenv", "getopts", "export", "local", "declare", "typeset", "readonly",
    "unset", "alias", "logger", "tput", "stty", "nproc", "arch", "hostname", "groups", "env",
})
# commands whose first operand is a pattern/script, not a file (unless given by option)
PATTERN_FIRST = {
    "grep": ("-e", "--regexp", "-f", "--file"), "egrep": ("-e", "--regexp", "-f", "--file"),
    "fgrep": ("-e", "--regexp", "-f", "--file"), "rg": ("-e", "--regexp", "-f", "--file"),
    "ag": (), "ack": (), "sed": ("-e", "--expression", "-f", "--file"),
    "awk": ("-f", "--file"), "gawk": ("-f", "--file"), "mawk": ("-f",), "nawk": ("-f",),
    "jq": ("-f", "--from-file"), "yq": (), "git-grep": (),
}
# options (per program) that take a separate argument; used to skip option values when finding
# the wrapped command of a wrapper
WRAPPER_OPTS_WITH_ARG = {
    "sudo": {"-u", "-g", "-C", "-D", "-h", "-p", "-r", "-t", "-U", "-T", "-R", "--user", "--group",
             "--close-from", "--chdir", "--host", "--prompt", "--role", "--type", "--other-user",
             "--command-timeout", "--chroot"},
    "doas": {"-u", "-C"},
    "env": {"-u", "--unset", "-C", "--chdir", "-S", "--split-string", "-P", "--default-signal",
            "--ignore-signal", "--block-signal", "-a", "--argv0"},
    "nice": {"-n", "--adjustment"},
    "timeout": {"-s", "--signal", "-k", "--kill-after"},
    "time": {"-o", "--output", "-f", "--format"},
    "stdbuf": {"-i", "-o", "-e", "--input", "--output", "--error"},
    "ionice": {"-c", "--class", "-n", "--classdata", "-p", "--pid", "-P", "--pgid", "-u", "--uid"},
    "chrt": set(),
    "taskset": set(),
    "setsid": set(),
    "unshare": {"--map-user", "--map-group", "--setuid", "--setgid", "-S", "-G", "-R", "--root",
                "-w", "--wd", "--propagation"},
    "nsenter": {"-t", "--target", "-S", "--setuid", "-G", "--setgid", "-r", "--root", "-w", "--wd"},
    "flock": {"-w", "--timeout", "-E", "--conflict-exit-code"},
    "chroot": {"--userspec", "--groups"},
    "command": set(),
    "builtin": set(),
    "exec": {"-a"},
    "coproc": set(),
    "nohup": set(),
    "xvfb-run": {"-n", "--server-num", "-s", "--server-args", "-f", "--auth-file", "-e", "--error-file", "-p"},
    "caffeinate": {"-t", "-w"},
    "unbuffer": set(),
    "catchsegv": set(),
    "prlimit": set(),
    "runuser": {"-u", "--user", "-g", "--group", "-G", "--supp-group", "-s", "--shell", "-w"},
    "firejail": set(),
    "proot": {"-r", "-b", "-w", "-q"},
    "fakeroot": {"-l", "--lib", "--faked", "-s", "-i"},
    "ltrace": {"-o", "-e", "-p", "-u", "-n", "-s"},
    "strace": {"-o", "-e", "-p", "-u", "-s", "-P", "-a", "-b", "-E", "-I", "-O", "-S", "-X"},
    "valgrind": set(),
    "torsocks": set(),
    "proxychains": {"-f"},
    "proxychains4": {"-f"},
    "dbus-launch": set(),
    "systemd-run": {"-p", "--property", "-u", "--unit", "--uid", "--gid", "-E", "--setenv",
                    "--working-directory", "-M", "--machine", "--description", "--slice"},
    "pkexec": {"--user"},
}
WRAPPERS = frozenset(WRAPPER_OPTS_WITH_ARG)
# wrappers taking positional arguments before the command (how many)
WRAPPER_POSITIONALS = {"timeout": 1, "chroot": 1, "flock": 1, "taskset": 1, "chrt": 1}

DANGEROUS_ENV = frozenset({
    "PATH", "IFS", "BASH_ENV", "ENV", "PS4", "PROMPT_COMMAND", "SHELLOPTS", "BASHOPTS", "CDPATH",
    "GLOBIGNORE", "HOME", "PAGER", "MANPAGER", "GIT_PAGER", "EDITOR", "VISUAL", "GIT_EDITOR",
    "SHELL", "BROWSER", "LESSOPEN", "LESSCLOSE", "LESSKEY", "TERMINFO", "INPUTRC", "PYTHONPATH",
    "PYTHONSTARTUP", "PYTHONHOME", "PYTHONINSPECT", "PYTHONUSERBASE", "PERL5OPT", "PERL5LIB",
    "PERLLIB", "PERL5DB", "RUBYOPT", "RUBYLIB", "NODE_OPTIONS", "NODE_PATH", "JAVA_TOOL_OPTIONS",
    "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS", "SSH_ASKPASS", "SUDO_ASKPASS", "SSH_AUTH_SOCK", "TMPDIR",
    "XDG_CONFIG_HOME", "XDG_DATA_HOME", "ZDOTDIR", "MAKEFLAGS", "MAKEFILES", "CC", "CXX", "LD",
    "NPM_CONFIG_PREFIX", "npm_config_script_shell", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL",
    "http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "all_proxy", "no_proxy",
    "NO_PROXY", "PROMPT_COMMAND", "TZDIR", "LOCPATH", "NLSPATH", "GCONV_PATH", "HOSTALIASES",
    "RESOLV_HOST_CONF", "MALLOC_CHECK_", "PS1", "PS2", "PS0",
})
DANGEROUS_ENV_PREFIXES = ("LD_", "DYLD_", "GIT_", "BASH_FUNC_", "PYTHON", "PERL", "RUBY", "NODE_",
                          "NPM_CONFIG_", "npm_config_", "CARGO_", "RUSTC", "RUSTFLAGS", "GOFLAGS",
                          "GOPROXY", "PIP_", "UV_", "POETRY_", "DOCKER_", "KUBECONFIG", "AWS_",
                          "GOOGLE_", "AZURE_", "SSL_", "CURL_", "WGET", "LC_", "LANGUAGE")
_SAFE_ENV = frozenset({"LC_ALL", "LC_CTYPE", "LC_MESSAGES", "LANGUAGE", "PYTHONUNBUFFERED",
                       "PYTHONDONTWRITEBYTECODE", "PYTHONHASHSEED", "PYTHONWARNINGS", "PYTHONFAULTHANDLER",
                       "PYTHONUTF8", "PYTHONIOENCODING", "NODE_ENV", "GIT_TERMINAL_PROMPT",
                       "RUST_BACKTRACE", "CARGO_TERM_COLOR", "CI", "DEBUG", "TERM", "NO_COLOR", "FORCE_COLOR",
                       "LANG", "TZ", "COLUMNS", "LINES", "RUST_LOG", "LOG_LEVEL", "VERBOSE", "PYTEST_TIMEOUT",
                       "NODE_NO_WARNINGS", "GOTRACEBACK"})

# writers: how to find the files a program writes
_WRITE_ALL_OPERANDS = frozenset({"rm", "rmdir", "unlink", "shred", "truncate", "touch", "mkdir", "mkfifo",
                                 "mknod", "tee", "srm", "wipe"})
_WRITE_SKIP_FIRST = frozenset({"chmod", "chown", "chgrp", "setfacl", "chattr", "chcon"})
_WRITE_LAST = frozenset({"cp", "install", "ln", "link", "rsync", "scp"})
_WRITE_ALL_BUT_NONE = frozenset({"mv"})  # sources and destination

_WRITERS = (_WRITE_ALL_OPERANDS | _WRITE_SKIP_FIRST | _WRITE_LAST | _WRITE_ALL_BUT_NONE
            | {"dd", "sort", "tar", "unzip", "patch", "cpio", "7z", "git-apply", "bsdtar"})

_DEV_HARMLESS = frozenset({"/dev/null", "/dev/stdin", "/dev/stdout", "/dev/stderr", "/dev/fd/0",
                           "/dev/fd/1", "/dev/fd/2", "/dev/zero", "/dev/tty"})

# options that name a program or code for the program to run (presence -> unknown statement)
CODE_OPTIONS: dict[str, tuple[str, ...]] = {
    "rg": ("--pre", "--hostname-bin"),
    "sort": ("--compress-program",),
    "tar": ("--to-command", "--checkpoint-action", "-I", "--use-compress-program", "--rsh-command",
            "--info-script", "-F", "--new-volume-script", "--rmt-command"),
    "bsdtar": ("--use-compress-program",),
    "zip": ("-TT", "--unzip-command"),
    "rsync": ("-e", "--rsh", "--rsync-path"),
    "go": ("-exec", "-toolexec", "--exec", "--toolexec"),
    "npm": ("--script-shell", "--node-options", "--shell"),
    "yarn": ("--script-shell", "--node-options"),
    "pnpm": ("--script-shell", "--node-options", "--shell-emulator"),
    "bun": ("--shell",),
    "make": ("--eval", "-E"), "gmake": ("--eval", "-E"),
    "man": ("-P", "--pager", "-H", "--html"),
    "ssh": ("-o",), "scp": ("-S", "-o"), "sftp": ("-S", "-o"),
    # --pdb/--trace open an interactive debugger: code typed on stdin runs (a harness can write to a
    # running process's stdin without a gated call)
    "pytest": ("-o", "--override-ini", "--pdb", "--trace", "--pdbcls"),
    "py.test": ("-o", "--override-ini", "--pdb", "--trace", "--pdbcls"),
    "sdiff": ("--diff-program",), "diff3": ("--diff-program",),
    "less": ("+!",), "more": (),
}
_MAKE_DANGEROUS_VARS = frozenset({"SHELL", ".SHELLFLAGS", "MAKESHELL", "MAKEFLAGS", "MFLAGS", "GNUMAKEFLAGS",
                                  "MAKEFILES", ".DEFAULT_GOAL", "MAKEFILE_LIST"})
_SHELL_META = re.compile(r"[\s;|&$`()<>\\'\"*?\[\]{}!#~]")
# builtins that treat an argument as a variable name; `a[$(cmd)]` there runs cmd (subscripts are
# evaluated as arithmetic)
_VARNAME_BUILTINS = frozenset({"printf", "read", "unset", "declare", "local", "export", "readonly", "typeset",
                               "let", "mapfile", "readarray", "getopts", "wait", "test", "[", "[[", "printf"})

_WORD_TYPES = frozenset({"word", "string", "raw_string", "ansi_c_string", "translated_string", "concatenation",
                         "simple_expansion", "expansion", "number", "arithmetic_expansion", "brace_expression"})
_FILE_TESTS = frozenset({"-a", "-b", "-c", "-d", "-e", "-f", "-g", "-h", "-k", "-p", "-r", "-s", "-t", "-u", "-w",
                         "-x", "-G", "-L", "-N", "-O", "-S", "-nt", "-ot", "-ef"})
def _spec(pattern_first: bool, path: str, pattern: str, other: str, two: str = "", two_other: str = ""):
    arity = {o: 1 for o in (path + " " + pattern + " " + other).split()}
    arity.update({o: 2 for o in (two + " " + two_other).split()})
    return (arity, frozenset(path.split()) | frozenset(two.split()), frozenset(pattern.split()), pattern_first)


_GREP_SPEC = _spec(True, "-f --file --exclude-from", "-e --regexp",
                   "-A -B -C -D -d -m --max-count --after-context --before-context --context --devices "
                   "--directories --label --binary-files --include --exclude --exclude-dir --group-separator")
# value-taking options of programs whose operands are classified precisely
_OPTION_VALUES = {
    "grep": _GREP_SPEC, "egrep": _GREP_SPEC, "fgrep": _GREP_SPEC,
    "rg": _spec(True, "-f --file --ignore-file", "-e --regexp",
                "-A -B -C -g -j -m -M -r -t -T -E -d --glob --iglob --threads --max-count --max-columns "
                "--replace --type --type-not --encoding --max-depth --type-add --type-clear --pre --pre-glob "
                "--colors --context-separator --path-separator --sort --sortr --max-filesize --dfa-size-limit "
                "--regex-size-limit --engine --hostname-bin --hyperlink-format --after-context "
                "--before-context --context --field-context-separator --field-match-separator"),
    "jq": _spec(True, "-f --from-file -L", "", "--indent", "--slurpfile --rawfile", "--arg --argjson"),
}

_GNU_ABBREVIATES = frozenset({"sort", "tar", "make", "gmake", "man", "sdiff", "diff3", "zip", "rsync"})
_RESERVED_WORDS = frozenset({"{", "}", "!", "[[", "]]", "if", "then", "elif", "else", "fi", "do", "done", "case",
                             "esac", "while", "until", "for", "select", "in", "function", "((", "))", "(", ")"})
_ASSIGNMENT_WORD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\[[^]]*\])?\+?=")
_CODE_OPTION_PROGRAMS = frozenset(CODE_OPTIONS) | _VARNAME_BUILTINS | {"make", "gmake", "cargo"}
_REDIRECT_TYPES = frozenset({"file_redirect", "heredoc_redirect", "herestring_redirect"})
_STATEMENT_TYPES = frozenset({"command", "pipeline", "list", "subshell", "compound_statement", "redirected_statement",
                              "file_redirect", "heredoc_redirect", "herestring_redirect", "negated_command",
                              "if_statement", "while_statement", "for_statement", "c_style_for_statement",
                              "case_statement", "function_definition", "variable_assignment", "variable_assignments",
                              "declaration_command", "unset_command", "test_command"})
# node types whose every occurrence the walker must have visited (checked after the walk)
_COVERED_TYPES = ("command", "file_redirect", "heredoc_redirect", "herestring_redirect")
_COVERAGE_QUERY = tree_sitter.Query(_LANGUAGE, "[%s] @n (comment) @c" % " ".join(f"({t})" for t in _COVERED_TYPES))
_PYTHON_VERSIONED = re.compile(r"python[23]?\.\d+")
_URL_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
_GLOB_CHARS = frozenset("*?[")
_BRACE_RE = re.compile(r"\{[^{}\s]*(,|\.\.)[^{}\s]*\}")
_CONTINUATION_IN_WORD = re.compile(r"[^\s\\;|&()<>]\\\n")
_ANSI_SIMPLE = {"a": "\a", "b": "\b", "e": "\x1b", "E": "\x1b", "f": "\f", "n": "\n", "r": "\r",
                "t": "\t", "v": "\v", "\\": "\\", "'": "'", '"': '"', "?": "?"}


# --------------------------------------------------------------------------------------- words

@dataclass(slots=True)
class _W:
    """An evaluated word: value (quote-removed) when literal, else the source text."""

    value: str
    literal: bool = True
    glob: bool = False
    brace: bool = False
    quoted: bool = False  # any part was quoted (a quoted word is never an option or keyword)
    source: str = ""


def _unescape_unquoted(raw: str) -> tuple[str, bool, str]:
    """Quote removal for an unquoted word segment: (value, has_unescaped_glob, pattern-text) where
    pattern-text replaces escaped characters by '_' (for brace detection)."""
    if "\\" not in raw:
        return raw, ("*" in raw or "?" in raw or "[" in raw), raw
    out = []
    pat = []
    glob = False
    i = 0
    n = len(raw)
    while i < n:
        c = raw[i]
        if c == "\\" and i + 1 < n:
            nxt = raw[i + 1]
            if nxt != "\n":
                out.append(nxt)
                pat.append("_")
            i += 2
            continue
        if c in _GLOB_CHARS:
            glob = True
        out.append(c)
        pat.append(c)
        i += 1
    return "".join(out), glob, "".join(pat)


def _unescape_dquoted(raw: str) -> str:
    out = []
    i = 0
    n = len(raw)
    while i < n:
        c = raw[i]
        if c == "\\" and i + 1 < n and raw[i + 1] in '$`"\\\n':
            if raw[i + 1] != "\n":
                out.append(raw[i + 1])
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def _decode_ansi_c(body: str) -> str | None:
    """$'...' decoding; None when an escape is not understood (the word is then non-literal)."""
    out = []
    i = 0
    n = len(body)
    while i < n:
        c = body[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        if i + 1 >= n:
            return None
        e = body[i + 1]
        if e in _ANSI_SIMPLE:
            out.append(_ANSI_SIMPLE[e])
            i += 2
        elif e == "x":
            m = re.match(r"[0-9a-fA-F]{1,2}", body[i + 2:])
            if not m:
                return None
            out.append(chr(int(m.group(0), 16)))
            i += 2 + len(m.group(0))
        elif e in "uU":
            m = re.match(r"[0-9a-fA-F]{1,%d}" % (4 if e == "u" else 8), body[i + 2:])
            if not m:
                return None
            try:
                out.append(chr(int(m.group(0), 16)))
            except (ValueError, OverflowError):
                return None
            i += 2 + len(m.group(0))
        elif e in "01234567":
            m = re.match(r"[0-7]{1,3}", body[i + 1:])
            assert m is not None
            out.append(chr(int(m.group(0), 8) & 0xFF))
            i += 1 + len(m.group(0))
        elif e == "c" and i + 2 < n:
            out.append(chr(ord(body[i + 2]) & 0x1F))
            i += 3
        else:
            return None
    s = "".join(out)
    if "\x00" in s:
        s = s.split("\x00", 1)[0]  # bash truncates at NUL
    return s


def _ansi_c_well_formed(src: str) -> bool:
    if len(src) < 3 or not src.startswith("$'") or not src.endswith("'"):
        return False
    body = src[2:-1]
    i = 0
    while i < len(body):
        if body[i] == "\\":
            i += 2
            continue
        if body[i] == "'":
            return False
        i += 1
    return i == len(body)  # a trailing lone backslash would have escaped the closing quote


def _check_bare_word(src: str) -> None:
    """An unquoted word cannot hold an unescaped quote or newline in bash; if the parser made one,
    it read the line differently (it pulled part of the next line into this command)."""
    if ("'" in src or '"' in src or "`" in src or "\n" in src) and _unescaped_quote(src, "'\"`\n"):
        raise _Abort(f"the parser's word {src[:40]!r} holds a quote or newline bash would not leave there")


def _unescaped_quote(raw: str, chars: str = "'\"`") -> bool:
    i = 0
    while i < len(raw):
        if raw[i] == "\\":
            i += 2
            continue
        if raw[i] in chars:
            return True
        i += 1
    return False


def _program_name(value: str) -> tuple[str, bool]:
    """(program, is_path_outside_system_dirs). '/usr/bin/rm' -> ('rm', False); './x/ls' -> ('./x/ls', True)."""
    if "/" not in value:
        return value, False
    d, b = posixpath.split(value)
    d = posixpath.normpath(d) if d else d
    if d.startswith("//"):
        d = "/" + d.lstrip("/")
    if d in SYSTEM_BIN_DIRS and b:
        return b, False
    return value, True


def _is_option(w: _W) -> bool:
    return w.literal and not w.quoted and w.value[:1] == "-" and len(w.value) > 1


# --------------------------------------------------------------------------------------- walker

@dataclass(slots=True)
class _Env:
    cwds: tuple[str, ...]  # candidate working directories; '' = unknown
    via: tuple[str, ...] = ()
    depth: int = 0


@dataclass(slots=True)
class _Stdin:
    kind: str = "inherit"  # inherit | pipe | file | heredoc | herestring
    literal: str | None = None  # here-doc / here-string body when literal


@dataclass
class _Ctx:
    src: bytes
    out: list[Statement] = field(default_factory=list)
    functions: dict[str, object] = field(default_factory=dict)
    visited: set[int] = field(default_factory=set)  # start bytes of command/redirect nodes walked
    origin: tuple[str, ...] = ()  # the working directory of the call (before any cd in the string)
    called: set[str] = field(default_factory=set)
    call_stack: list[str] = field(default_factory=list)

    def text(self, node) -> str:
        return self.src[node.start_byte:node.end_byte].decode("utf-8", "replace")


class _Abort(Exception):
    """Stop the walk: the whole string becomes one unknown statement."""


def _join(path: str, cwds: tuple[str, ...]) -> list[tuple[str, bool]]:
    if path.startswith("/") or path.startswith("~"):
        return [(path, True)]
    out = []
    for c in cwds:
        if not c:
            out.append((path, False))
        else:
            out.append((c.rstrip("/") + "/" + path if path not in ("", ".") else c, True))
    return out


def _uniq(seq):
    seen = set()
    out = []
    for x in seq:
        if x not in seen:
            seen.add(x)
            out.append(x)
    return out


class _Walker:
    def __init__(self, ctx: _Ctx) -> None:
        self.ctx = ctx

    # ---- emit helpers
    def emit(self, st: Statement) -> None:
        self.ctx.out.append(st)

    def unknown(self, env: _Env, text: str, reason: str, program: str = "", flags: tuple[str, ...] = ()) -> None:
        self.emit(Statement(kind="unknown", program=program, text=text[:500], reason=reason, via=env.via,
                            cwd=env.cwds[0] if len(env.cwds) == 1 else "", flags=flags))

    def _paths(self, words: list[_W], env: _Env) -> tuple[tuple[str, ...], tuple[bool, ...]]:
        if not words:
            return (), ()
        ps: dict[tuple[str, bool], None] = {}
        cwds = env.cwds
        for w in words:
            if not w.literal:
                ps[(w.source, False)] = None
                continue
            v = w.value
            if v[:1] in ("/", "~"):
                ps[(v, True)] = None
            else:
                for c in cwds:
                    if not c:
                        ps[(v, False)] = None
                    else:
                        ps[(c.rstrip("/") + "/" + v if v not in ("", ".") else c, True)] = None
        return tuple(p for p, _ in ps), tuple(lit for _, lit in ps)

    def file_stmt(self, kind: str, words: list[_W], env: _Env, text: str, program: str = "",
                  flags: tuple[str, ...] = ()) -> None:
        if not words:
            return
        keep = []
        for w in words:
            if w.literal and w.value in _DEV_HARMLESS:
                continue
            if w.literal and (w.value.startswith("/dev/tcp/") or w.value.startswith("/dev/udp/")):
                parts = w.value.split("/")
                host = parts[3].lower() if len(parts) > 3 else None
                self.emit(Statement(kind="url", host=host, url=w.value, text=text[:500], via=env.via))
                self.unknown(env, text, "bash network redirection (/dev/tcp, /dev/udp)")
                continue
            keep.append(w)
        if not keep:
            return
        paths, lits = self._paths(keep, env)
        self.emit(Statement(kind=kind, program=program, paths=paths, paths_literal=lits, text=text[:500],
                            via=env.via, cwd=env.cwds[0] if len(env.cwds) == 1 else "",
                            flags=flags + tuple("glob" for w in keep[:1] if any(x.glob for x in keep))))

    # ---- words
    def word(self, node, env: _Env) -> _W:
        t = node.type
        src = self.ctx.text(node)
        if t == "word":
            _check_bare_word(src)
            v, glob, pat = _unescape_unquoted(src)
            return _W(v, True, glob, "{" in pat and bool(_BRACE_RE.search(pat)), False, src)
        if t == "number":
            return _W(src, True, False, False, False, src)
        if t == "raw_string":
            if len(src) < 2 or src[0] != "'" or src[-1] != "'" or "'" in src[1:-1]:
                raise _Abort(f"the parser's single-quoted string {src[:40]!r} is not what bash reads")
            return _W(src[1:-1], True, False, False, True, src)
        if t == "ansi_c_string":
            if not _ansi_c_well_formed(src):
                # tree-sitter-bash reads $'\\'' as one string; bash ends it one quote earlier, and
                # everything after is tokenized differently (a command can hide in the difference)
                raise _Abort(f"the parser's $'..' string {src[:40]!r} is not what bash reads")
            dec = _decode_ansi_c(src[2:-1])
            if dec is None:
                return _W(src, False, False, False, True, src)
            return _W(dec, True, False, False, True, src)
        if t in ("string", "translated_string"):
            # the value comes from the source between the quotes (the parser's tokens inside a
            # string do not always cover its blanks)
            open_len = 2 if src.startswith('$"') else 1
            literal = len(src) >= open_len + 1 and src.endswith('"')
            for c in node.named_children:
                if c.type != "string_content":
                    literal = False
                    self.expansion(c, env)
            if literal:
                return _W(_unescape_dquoted(src[open_len:-1]), True, False, False, True, src)
            return _W(src, False, False, False, True, src)
        if t == "concatenation":
            vals = []
            pats = []
            literal = True
            glob = False
            quoted = False
            for c in node.children:
                if c.type == "word":
                    wsrc = self.ctx.text(c)
                    _check_bare_word(wsrc)
                    v, g, pat = _unescape_unquoted(wsrc)
                    vals.append(v)
                    pats.append(pat)
                    glob = glob or g
                    continue
                w = self.word(c, env)
                literal = literal and w.literal
                glob = glob or w.glob
                quoted = quoted or w.quoted
                vals.append(w.value)
                pats.append("_" * len(w.value) if w.quoted else w.value)
                if w.brace:
                    pats.append("{,}")
            brace = bool(_BRACE_RE.search("".join(pats)))
            if brace:
                literal = False
            return _W("".join(vals) if literal else src, literal, glob, brace, quoted, src)
        if t == "brace_expression":
            return _W(src, False, False, True, False, src)
        # expansions and substitutions: not literal; walk what they run
        self.expansion(node, env)
        return _W(src, False, False, False, False, src)

    def expansion(self, node, env: _Env) -> None:
        """Walk whatever a non-literal part runs (command/process substitutions anywhere inside)."""
        t = node.type
        if t == "expansion" and "@P" in self.ctx.text(node):
            self.unknown(env, self.ctx.text(node), "${var@P} expands a value as a prompt string, running "
                                                   "command substitutions in it")
        if t == "command_substitution":
            self.substitution(node, env, "$(..)")
            return
        if t == "process_substitution":
            self.substitution(node, env, "<(..)")
            return
        if t in ("arithmetic_expansion", "subscript"):
            self.arithmetic(node, env)
            return
        for c in node.named_children:
            self.expansion(c, env)

    def arithmetic(self, node, env: _Env) -> None:
        # bash evaluates array subscripts inside arithmetic recursively, including the VALUES of
        # variables: x='a[$(cmd)]'; echo $((x)) runs cmd. A variable in arithmetic whose value is
        # not known here is therefore code of unknown content.
        for n in _iter_named(node):
            if n.type in ("command_substitution", "process_substitution"):
                continue
            if n.type in ("variable_name", "simple_expansion", "expansion"):
                name = self.ctx.text(n).lstrip("$").strip("{}")
                if not name.isdigit() and name not in ("?", "#", "$", "!", "-") and name not in self._numeric_vars:
                    self.unknown(env, self.ctx.text(node),
                                 f"arithmetic evaluation of variable {name!r}: its value can run code")
                    break
        for c in node.named_children:
            if c.type in ("command_substitution", "process_substitution"):
                self.expansion(c, env)
            else:
                for n in _iter_subs(c):
                    self.expansion(n, env)

    def substitution(self, node, env: _Env, label: str) -> None:
        src = self.ctx.text(node)
        sub_env = _Env(env.cwds, env.via + (label,), env.depth + 1)
        if src.startswith("`"):
            # the body is re-parsed on its own below: what the outer parse saw inside is covered
            for n in _iter_named(node):
                self.ctx.visited.add(n.start_byte)
            # bash removes one level of backslash escaping, then parses the body
            inner = re.sub(r"\\([$`\\])", r"\1", src[1:-1])
            self.nested(inner, _Env(env.cwds, env.via + ("`..`",), env.depth + 1), "`..`", src)
            return
        for c in node.named_children:
            self.stmt(c, sub_env, _Stdin("inherit"))

    def nested(self, code: str, env: _Env, label: str, text: str) -> None:
        if env.depth > MAX_DEPTH:
            self.unknown(env, text, "nesting deeper than %d levels" % MAX_DEPTH)
            return
        inner = _classify(code, env.cwds, env.via, env.depth, self.ctx.functions, self.ctx.origin)
        self.ctx.out.extend(inner)

    # ---- statements
    def stmt(self, node, env: _Env, stdin: _Stdin) -> tuple[str, ...]:
        """Walk one statement node; returns the candidate cwds after it."""
        t = node.type
        if t in ("comment", "heredoc_body", "heredoc_start", "heredoc_end") or not node.is_named:
            return env.cwds
        if t == "command":
            return self.command(node, env, stdin, [])
        if t in _REDIRECT_TYPES:  # `$(< file)`, `exec 3>f` forms: a redirection on its own
            self.redirect(node, env)
            return env.cwds
        if t == "redirected_statement":
            return self.redirected(node, env, stdin)
        if t in ("program", "compound_statement", "list", "do_group", "else_clause", "elif_clause"):
            return self.sequence(node.named_children, env, stdin, node)
        if t == "subshell":
            self.sequence(node.named_children, env, stdin, node)
            return env.cwds
        if t == "pipeline":
            named = node.named_children
            for i, c in enumerate(named):
                self.stmt(c, env, stdin if i == 0 else _Stdin("pipe"))
            return env.cwds
        if t == "negated_command":
            return self.sequence(node.named_children, env, stdin, node)
        if t == "function_definition":
            name_node = node.child_by_field_name("name")
            body = node.child_by_field_name("body")
            name = self.ctx.text(name_node) if name_node is not None else ""
            if not name or body is None:
                self.unknown(env, self.ctx.text(node), "function definition without a name or body")
                return env.cwds
            self.ctx.functions[name] = (body, env)
            return env.cwds
        if t in ("variable_assignment", "variable_assignments"):
            assigns = [node] if t == "variable_assignment" else [c for c in node.named_children]
            for a in assigns:
                self.assignment(a, env, persistent=True)
            return env.cwds
        if t == "declaration_command":
            return self.declaration(node, env)
        if t == "unset_command":
            words = [self.word(c, env) for c in node.named_children]
            self.exec_stmt("unset", [_W("unset")] + words, env, self.ctx.text(node), ())
            return env.cwds
        if t in ("for_statement", "while_statement", "c_style_for_statement"):
            return self.loop(node, env, stdin)
        if t in ("if_statement", "case_statement", "case_item"):
            return self.branches(node, env, stdin)
        if t == "test_command":
            self.test(node, env)
            return env.cwds
        if t in ("command_substitution", "process_substitution"):
            self.expansion(node, env)
            return env.cwds
        # anything else (arithmetic compound '((..))', expressions): walk substitutions inside,
        # treat arithmetic conservatively
        if self.ctx.text(node).startswith("(("):
            self.arithmetic(node, env)
            return env.cwds
        for c in node.named_children:
            if c.type in _STATEMENT_TYPES:
                self.stmt(c, env, stdin)
            else:
                for n in _iter_subs(c):
                    self.expansion(n, env)
        return env.cwds

    def sequence(self, children, env: _Env, stdin: _Stdin, parent) -> tuple[str, ...]:
        cwds = env.cwds
        cur = env
        for c in children:
            if not c.is_named or c.type == "comment":
                continue
            # after a possible cd, the previous directories remain possible (cd can fail)
            if cur.cwds is not cwds:
                cur = _Env(cwds, env.via, env.depth)
            after = self.stmt(c, cur, stdin)
            if after is not cwds:
                cwds = _merge_cwds(cwds, after)
        return cwds

    def branches(self, node, env: _Env, stdin: _Stdin) -> tuple[str, ...]:
        cwds = env.cwds
        for c in node.named_children:
            if c.type in ("word", "string", "raw_string", "concatenation", "simple_expansion", "expansion",
                          "number", "extglob_pattern"):
                self.word(c, env)  # case subjects/patterns: walk substitutions
                continue
            after = self.stmt(c, _Env(cwds, env.via, env.depth), stdin)
            cwds = _merge_cwds(cwds, after)
        return cwds

    def loop(self, node, env: _Env, stdin: _Stdin) -> tuple[str, ...]:
        if node.type == "c_style_for_statement":
            for c in node.named_children:
                if c.type != "do_group" and c.type != "compound_statement":
                    for n in _iter_subs(c):
                        self.expansion(n, env)
                    # loop counters assigned numbers are safe in arithmetic
                    for n in _iter_named(c):
                        if n.type == "variable_assignment" or n.type == "binary_expression":
                            left = n.child_by_field_name("left") or n.child_by_field_name("name")
                            if left is not None and left.type == "variable_name":
                                self._numeric_vars.add(self.ctx.text(left))
        else:
            for c in node.children:
                f = None
                if c.type in ("word", "string", "raw_string", "concatenation", "simple_expansion", "expansion",
                              "command_substitution", "process_substitution", "number", "arithmetic_expansion"):
                    self.word(c, env)
                del f
        body = node.child_by_field_name("body")
        cond = [c for c in node.children_by_field_name("condition")] if node.type == "while_statement" else []
        # a cd inside a loop body repeats: after one, the directory is unknown
        changes_dir = _mentions_cd(self.ctx, node)
        loop_env = _Env(env.cwds + ("",) if changes_dir else env.cwds, env.via, env.depth)
        if changes_dir:
            loop_env.cwds = tuple(_uniq(loop_env.cwds))
        for c in cond:
            if c.is_named:
                self.stmt(c, loop_env, stdin)
        if body is not None:
            self.stmt(body, loop_env, stdin)
        return loop_env.cwds if changes_dir else env.cwds

    def test(self, node, env: _Env) -> None:
        """[ .. ] / [[ .. ]]: an exec statement for '[' or '[['; operands that look like paths are its
        paths; arithmetic comparisons inside [[ ]] evaluate their operands as arithmetic."""
        text = self.ctx.text(node)
        prog = "[[" if text.startswith("[[") else "["
        if prog == "[[" and re.search(r"\s-(eq|ne|lt|le|gt|ge)\s", text):
            self.arithmetic(node, env)
        # the parser's expression tree for [ ] does not follow word boundaries ('~' is an operator
        # to it): collect the leaves and rebuild words from pieces that touch in the source
        pieces = []
        stack = list(reversed(node.children))
        while stack:
            n = stack.pop()
            if n.type in _WORD_TYPES or n.type in ("command_substitution", "process_substitution", "test_operator",
                                                   "regex", "extglob_pattern") or not n.is_named:
                if not n.is_named and n.type in ("[", "]", "[[", "]]"):
                    continue
                pieces.append(n)
            else:
                stack.extend(reversed(n.children))
        words: list[_W] = [_W(prog)]
        group: list = []
        for n in pieces + [None]:
            if group and (n is None or n.start_byte != group[-1].end_byte):
                parts = [self.word(g, env) if g.is_named and g.type not in ("test_operator", "regex", "extglob_pattern")
                         else _W(self.ctx.text(g), True, g.type in ("regex", "extglob_pattern"))
                         for g in group]
                src = self.ctx.src[group[0].start_byte:group[-1].end_byte].decode("utf-8", "replace")
                lit = all(p.literal for p in parts)
                words.append(_W("".join(p.value for p in parts) if lit else src, lit, any(p.glob for p in parts),
                                any(p.brace for p in parts), any(p.quoted for p in parts), src))
                group = []
            if n is not None:
                group.append(n)
        words.append(_W("]]" if prog == "[[" else "]"))
        args = words[1:-1]
        self.code_options(prog, args, env, text)
        paths = []
        for i, a in enumerate(args):
            prev = args[i - 1].value if i else ""
            if (a.literal and not _is_option(a) and _looks_pathy(a.value)) or (
                    prev in _FILE_TESTS and (not a.literal or not _is_option(a))):
                paths.append(a)
        self.exec_stmt(prog, words, env, text, paths, self.exec_flags(prog, args))

    # ---- assignments
    @property
    def _numeric_vars(self) -> set[str]:
        s = getattr(self.ctx, "numeric_vars", None)
        if s is None:
            s = self.ctx.numeric_vars = set()  # type: ignore[attr-defined]
        return s

    def assignment(self, node, env: _Env, persistent: bool, prefix_of: str = "") -> None:
        name_node = node.child_by_field_name("name")
        value_node = node.child_by_field_name("value")
        text = self.ctx.text(node)
        if name_node is None:
            self.unknown(env, text, "assignment without a name")
            return
        if name_node.type == "subscript":
            self.arithmetic(name_node, env)
            name = self.ctx.text(name_node.child_by_field_name("name") or name_node)
        else:
            name = self.ctx.text(name_node)
        value: _W | None = None
        if value_node is not None:
            if value_node.type == "array":
                for c in value_node.named_children:
                    w = self.word(c, env)
                    if w.literal and ("$(" in w.value or "`" in w.value or "[" in w.value):
                        self.unknown(env, text, "literal value holds shell code a later evaluation may run")
                value = _W(self.ctx.text(value_node), False, source=self.ctx.text(value_node))
            else:
                value = self.word(value_node, env)
        if _env_is_dangerous(name):
            where = f" for {prefix_of}" if prefix_of else ""
            self.unknown(env, text, f"assignment to {name}{where} changes how later commands are found or run")
        if value is not None and value.literal and re.search(r"\$\(|`|\[.*\]", value.value):
            self.unknown(env, text, "literal value holds shell code a later evaluation may run")
        if persistent:
            if value is not None and value.literal and re.fullmatch(r"-?[0-9]+", value.value or "0"):
                self._numeric_vars.add(name)
            else:
                self._numeric_vars.discard(name)

    def declaration(self, node, env: _Env) -> tuple[str, ...]:
        kw = node.children[0].type if node.children else "declare"
        words: list[_W] = [_W(kw)]
        text = self.ctx.text(node)
        for c in node.named_children:
            if c.type == "variable_assignment":
                self.assignment(c, env, persistent=True)
                words.append(_W(self.ctx.text(c), True, source=self.ctx.text(c)))
            elif c.type == "variable_name":
                words.append(_W(self.ctx.text(c)))
            else:
                w = self.word(c, env)
                words.append(w)
                if not w.literal:
                    self.unknown(env, text, f"{kw} with a non-literal argument can assign any variable")
        self.exec_stmt(kw, words, env, text, ())
        return env.cwds

    # ---- redirections
    def redirected(self, node, env: _Env, stdin: _Stdin) -> tuple[str, ...]:
        # bytes between the body and its redirections that no child covers: the parser dropped a word
        # bash passes (tree-sitter-bash loses a lone `-` before `2>x`: `rm - 2>/dev/null`)
        src, covered_to = self.ctx.src, node.start_byte
        for c in node.children:
            if c.start_byte > covered_to and src[covered_to:c.start_byte].replace(b"\\\n", b"").strip(b" \t"):
                gap = src[covered_to:c.start_byte].decode("utf-8", "replace").strip()
                self.unknown(env, self.ctx.text(node), f"the parser skipped {gap!r} in this command")
            covered_to = max(covered_to, c.end_byte)
        body = node.child_by_field_name("body")
        redirects = node.children_by_field_name("redirect")
        extra: list = []  # statements that follow (tree-sitter hangs `| sh`, `&& x` under heredocs)
        arg_nodes: list = []  # words the parser hung under a redirection that are the command's arguments
        for r in redirects:
            self.redirect(r, env, extra_out=extra, args_out=arg_nodes)
        st_in = stdin
        for r in redirects:
            st_in = self.stdin_of(r, env, st_in)
        if body is None:
            return env.cwds
        if body.type == "command":
            after = self.command(body, env, st_in, arg_nodes)
        else:
            if arg_nodes:
                self.unknown(env, self.ctx.text(node), "words after a redirection of a compound command")
            after = self.stmt(body, env, st_in)
        cwds = _merge_cwds(env.cwds, after)
        for kind, n in extra:
            if kind == "pipe":
                self.stmt(n, _Env(cwds, env.via, env.depth), _Stdin("pipe"))
            else:
                cwds = _merge_cwds(cwds, self.stmt(n, _Env(cwds, env.via, env.depth), stdin))
        return cwds

    def stdin_of(self, r, env: _Env, current: _Stdin) -> _Stdin:
        if r.type == "heredoc_redirect":
            start = None
            body = None
            for c in r.children:
                if c.type == "heredoc_start":
                    start = self.ctx.text(c)
                elif c.type == "heredoc_body":
                    body = c
            if body is None:
                return _Stdin("heredoc", "")
            quoted = start is not None and any(q in start for q in "'\"\\")
            raw = self.ctx.text(body)
            if start is not None and self.ctx.text(r).startswith("<<-"):
                raw = "\n".join(line.lstrip("\t") for line in raw.split("\n"))
            if quoted:
                return _Stdin("heredoc", raw)
            if any(c.is_named and c.type != "heredoc_content" for c in body.children) or "`" in raw:
                return _Stdin("heredoc", None)
            return _Stdin("heredoc", _unescape_heredoc(raw))
        if r.type == "herestring_redirect":
            ws = [self.word(c, env) for c in r.named_children]
            if len(ws) == 1 and ws[0].literal:
                return _Stdin("herestring", ws[0].value + "\n")
            return _Stdin("herestring", None)
        if r.type == "file_redirect":
            op = _redirect_op(r)
            desc = r.child_by_field_name("descriptor")
            if op in ("<", "<>") and (desc is None or self.ctx.text(desc) == "0"):
                return _Stdin("file", None)
        return current

    def redirect(self, r, env: _Env, extra_out: list | None = None, program: str = "",
                 args_out: list | None = None) -> None:
        self.ctx.visited.add(r.start_byte)
        text = self.ctx.text(r)
        if r.type == "file_redirect":
            op = _redirect_op(r)
            dests = r.children_by_field_name("destination")
            if len(dests) > 1:
                # `> f a b`: the parser lists a and b as destinations; to bash they are arguments
                if args_out is None:
                    self.unknown(env, text, "words after a redirection outside a simple command")
                else:
                    args_out.extend(dests[1:])
                dests = dests[:1]
            ws = [self.word(d, env) for d in dests]
            if op in (">&", "<&") and ws and ws[0].literal and re.match(r"[0-9]+[^0-9]", ws[0].source):
                # bash reads `2>&1cmd` as `2>&1 cmd`; the parser as a redirection to the file `1cmd`
                raise _Abort(f"redirection {text!r}: bash and the parser split it differently")
            if op in (">&", "<&", ">&-", "<&-") and all(w.literal and (w.value.isdigit() or w.value == "-") for w in ws):
                return  # fd duplication / close
            if op in (">&", "<&") and any(not w.literal for w in ws):
                self.unknown(env, text, "redirection to a computed file descriptor or file")
                return
            if op in ("<",):
                self.file_stmt("read", ws, env, text, program)
            elif op == "<>":
                self.file_stmt("read", ws, env, text, program)
                self.file_stmt("write", ws, env, text, program)
            else:
                self.file_stmt("write", ws, env, text, program, flags=("append",) if ">>" in op else ())
            return
        if r.type == "heredoc_redirect":
            self.check_heredoc(r)
            start_quoted = False
            for c in r.children:
                if c.type == "heredoc_start":
                    s = self.ctx.text(c)
                    start_quoted = any(q in s for q in "'\"\\")
            for i, c in enumerate(r.children):
                fname = r.field_name_for_child(i)
                if fname == "argument":
                    # `cat <<EOF file`: file is cat's argument
                    if args_out is None:
                        self.unknown(env, text, "words after a here-doc outside a simple command")
                    else:
                        args_out.append(c)
                    continue
                if c.type == "heredoc_body":
                    if not start_quoted:
                        for n in _iter_subs(c):
                            self.expansion(n, env)
                        if "`" in self.ctx.text(c):
                            self.unknown(env, self.ctx.text(c), "backtick in an unquoted here-doc body")
                elif c.type in ("file_redirect", "herestring_redirect"):
                    self.redirect(c, env, extra_out, program, args_out)
                elif c.type == "pipeline" and extra_out is not None:
                    for n in c.named_children:
                        extra_out.append(("pipe", n))
                elif c.is_named and c.type not in ("heredoc_start", "heredoc_end") and extra_out is not None:
                    extra_out.append(("seq", c))
                elif c.is_named and c.type not in ("heredoc_start", "heredoc_end"):
                    self.stmt(c, env, _Stdin())
                del fname
            return
        if r.type == "herestring_redirect":
            named = r.named_children
            for c in named[:1]:
                self.word(c, env)
            if len(named) > 1:
                if args_out is None:
                    self.unknown(env, text, "words after a here-string outside a simple command")
                else:
                    args_out.extend(named[1:])
            return
        # unknown redirect node
        for n in _iter_subs(r):
            self.expansion(n, env)

    def check_heredoc(self, r) -> None:
        """Where does bash end this here-doc? If not where the parser ended it, refuse the string:
        lines the parser put in the body could be commands to bash (and the other way round)."""
        start = body = end = None
        for c in r.children:
            if c.type == "heredoc_start":
                start = self.ctx.text(c)
            elif c.type == "heredoc_body":
                body = c
            elif c.type == "heredoc_end":
                end = self.ctx.text(c)
        if start is None:
            raise _Abort("here-doc without a delimiter")
        if "$" in start or "`" in start:
            raise _Abort(f"here-doc delimiter {start!r} is not a plain word")
        quoted = any(q in start for q in "'\"\\")
        delim = re.sub(r"\\(.)", r"\1", start).replace("'", "").replace('"', "")
        strip_tabs = self.ctx.text(r).startswith("<<-")
        if body is None and end is None:
            return  # an empty here-doc at the end of the string
        text = self.ctx.text(body) if body is not None else ""
        if not quoted:
            if re.search(r"\\\n", text):
                raise _Abort("backslash-newline inside an unquoted here-doc (bash joins the lines before "
                             "looking for the delimiter)")
        for line in text.split("\n"):
            if (line.lstrip("\t") if strip_tabs else line) == delim:
                raise _Abort(f"bash ends this here-doc at an earlier {delim!r} line than the parser does")
        if end is not None and end != delim:
            raise _Abort(f"here-doc end {end!r} is not the delimiter {delim!r}")
        # anything the parser attached to the operator's line must really be on that line: a
        # newline (not escaped) before it means bash had already started reading the body
        start_node = next(c for c in r.children if c.type == "heredoc_start")
        for c in r.children:
            if c.type in ("heredoc_start", "heredoc_body", "heredoc_end") or c.start_byte <= start_node.end_byte:
                continue
            between = self.ctx.src[start_node.end_byte:c.start_byte].replace(b"\\\n", b"")
            if b"\n" in between:
                raise _Abort("the parser continued a here-doc's command line into its body")

    # ---- simple commands
    def command(self, node, env: _Env, stdin: _Stdin, outer_redirects: list) -> tuple[str, ...]:
        """outer_redirects: argument nodes found under redirections (appended to the words)."""
        outer_redirects = list(outer_redirects)
        self.ctx.visited.add(node.start_byte)
        src = self.ctx.src
        start, end = node.start_byte, node.end_byte
        text = src[start:end].decode("utf-8", "replace")
        words: list[_W] = []
        prefix_assigns = []
        last_end = -1
        gap_from = start
        for c in node.children:
            cs = c.start_byte
            if cs > gap_from and not (cs == gap_from + 1 and src[gap_from] == 32):
                gap = src[gap_from:cs].replace(b"\\\n", b"")
                if gap.strip(b" \t"):
                    # bytes the parser did not attribute to any word (`\ x` at a word start): bash and
                    # the parser disagree about the words here
                    self.unknown(env, text, f"the parser skipped {gap.decode('utf-8', 'replace')!r} in this command")
            ce = c.end_byte
            if ce > gap_from:
                gap_from = ce
            ct = c.type
            if ct == "variable_assignment":
                prefix_assigns.append(c)
                continue
            if ct in _REDIRECT_TYPES:
                self.redirect(c, env, args_out=outer_redirects)
                stdin = self.stdin_of(c, env, stdin)
                last_end = -1
                continue
            if ct == "command_name":
                cn = c.named_children
                w = self.word(cn[0] if cn else c, env)
            elif c.is_named:
                w = self.word(c, env)
            elif ct.strip():
                # an anonymous token where a word is expected ('$' of $"..") : not literal
                w = _W(self.ctx.text(c), False, source=self.ctx.text(c))
            else:
                continue
            if words and cs == last_end:
                # the parser split what bash reads as one word (no blank between them): join them
                prev = words[-1]
                lit = prev.literal and w.literal
                joined = prev.source + w.source
                words[-1] = _W(prev.value + w.value if lit else joined, lit, prev.glob or w.glob,
                               prev.brace or w.brace, prev.quoted or w.quoted, joined)
            else:
                words.append(w)
            last_end = ce
        for n in outer_redirects:  # arguments the parser hung under redirections
            words.append(self.word(n, env))
        # an escaped blank right after the command (`x \ ;`) is a word to bash that the parser drops
        j = gap_from
        n_src = len(src)
        while j < n_src and (src[j] == 32 or src[j] == 9):
            j += 1
        if j + 1 < n_src and src[j] == 0x5C and src[j + 1] != 10:
            self.unknown(env, text, "the parser skipped an escaped character after this command")
        prog_hint = words[0].value if words and words[0].literal else ""
        for a in prefix_assigns:
            self.assignment(a, env, persistent=False, prefix_of=prog_hint)
        if not words:
            return env.cwds
        return self.dispatch(words, env, stdin, text)

    def exec_stmt(self, program: str, words: list[_W], env: _Env, text: str, paths_words: list[_W] | tuple,
                  flags: tuple[str, ...] = ()) -> None:
        paths, lits = self._paths(paths_words, env)
        if env.cwds != self.ctx.origin and program not in NO_PATH_OPERANDS:
            # the command runs somewhere a `cd` in this string chose: that directory is touched too
            # (ls, git, make, rg with no operand work on it)
            extra = {(c if c else "$PWD", bool(c)): None for c in env.cwds}
            for p, lit in zip(paths, lits):
                extra.pop((p, lit), None)
            if extra:
                paths = paths + tuple(p for p, _ in extra)
                lits = lits + tuple(lit for _, lit in extra)
        self.ctx.out.append(Statement(
            "exec", program, tuple([w.value if w.literal else w.source for w in words]),
            tuple([w.literal for w in words]), tuple([w.glob for w in words]),
            paths, lits, env.cwds[0] if len(env.cwds) == 1 else "", None, None, None,
            flags, env.via, text[:500]))

    def dispatch(self, words: list[_W], env: _Env, stdin: _Stdin, text: str) -> tuple[str, ...]:
        """Classify one simple command given its evaluated words. Returns the cwds after it."""
        first = words[0]
        if not first.literal:
            self.unknown(env, text, f"command name is decided at run time: {first.source}")
            # its arguments still name files
            self.exec_stmt("", words, env, text, words[1:], ("computed_program",))
            return env.cwds
        if first.glob or first.brace:
            self.unknown(env, text, f"command name contains a glob or brace expansion: {first.source}")
            return env.cwds
        if first.value == "":
            self.unknown(env, text, "empty command name")
            return env.cwds
        if first.value in _RESERVED_WORDS and not first.quoted:
            # `time { rm x; }`, `coproc F { ..; }`: the parser split a compound command into words
            self.unknown(env, text, f"reserved word {first.value!r} where a command name was parsed")
            return env.cwds
        prog, is_path = _program_name(first.value)
        args = words[1:]
        # a defined function shadows any program of the same name
        if not is_path and prog in self.ctx.functions and prog not in ("command", "builtin"):
            return self.call_function(prog, env, stdin, text)
        flags: tuple[str, ...] = ("program_path",) if is_path else ()
        return self.program(prog, first, args, env, stdin, text, flags, is_path)

    def call_function(self, name: str, env: _Env, stdin: _Stdin, text: str) -> tuple[str, ...]:
        body, _def_env = self.ctx.functions[name]  # type: ignore[misc]
        self.ctx.called.add(name)
        if name in self.ctx.call_stack or len(self.ctx.call_stack) >= MAX_DEPTH:
            return env.cwds  # recursion: its statements are already listed
        self.ctx.call_stack.append(name)
        try:
            f_env = _Env(env.cwds, env.via + (f"function:{name}",), env.depth + 1)
            after = self.stmt(body, f_env, stdin)
        finally:
            self.ctx.call_stack.pop()
        return _merge_cwds(env.cwds, after)

    # ---- per-program knowledge
    def program(self, prog: str, first: _W, args: list[_W], env: _Env, stdin: _Stdin, text: str,
                flags: tuple[str, ...], is_path: bool) -> tuple[str, ...]:
        words = [first] + args
        path_words = self.operand_paths(prog, args)
        if is_path:
            path_words = [first] + path_words
        inner_env = _Env(env.cwds, env.via + (prog,), env.depth)

        # --- directory changes
        if prog in ("cd", "pushd", "popd", "chdir"):
            ops = [a for a in args if not _is_option(a)]
            if prog == "popd" or (ops and ops[0].literal and ops[0].value == "-"):
                path_words = [_W("$OLDPWD", False, source="$OLDPWD")]  # the previous directory
            elif not ops and prog != "pushd":
                path_words = [_W("~")]  # cd with no operand goes home
            self.exec_stmt(prog, words, env, text, path_words, flags)
            if prog == "popd" or not ops or not ops[0].literal or ops[0].value == "-" or (
                    prog == "pushd" and re.fullmatch(r"[+-][0-9]+", ops[0].value)):
                return tuple(_uniq(env.cwds + ("",)))  # home, OLDPWD, or a rotation of the stack
            target = ops[0].value
            if target.startswith("~"):
                new = (target,)
            else:
                new = tuple(p if lit else "" for p, lit in _join(target, env.cwds))
            return tuple(_uniq(env.cwds + new))[: MAX_CWDS + 1] if len(_uniq(env.cwds + new)) <= MAX_CWDS \
                else ("",)

        # --- things that change what later words mean, or run strings
        if prog == "eval":
            self.exec_stmt(prog, words, env, text, [], flags)
            self.unknown(env, text, "eval runs a string as code")
            if args and all(a.literal for a in args):
                self.nested(" ".join(a.value for a in args), _Env(env.cwds, inner_env.via, env.depth + 1),
                            "eval", text)
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
                    self.nested(stdin.literal, _Env(env.cwds, env.via + ("source",), env.depth + 1), "source", text)
                else:
                    self.unknown(env, text, f"source reads code from stdin ({stdin.kind})", flags=("stdin_code",))
            return tuple(_uniq(env.cwds + ("",)))  # a sourced file can cd
        if prog == "trap":
            self.exec_stmt(prog, words, env, text, [], flags)
            ops = [a for a in args if not _is_option(a)]
            if ops and ops[0].literal and len(ops) > 1:
                self.nested(ops[0].value, _Env(env.cwds, inner_env.via, env.depth + 1), "trap", text)
            elif ops and not (len(ops) == 1 or ops[0].value in ("-", "")):
                self.unknown(env, text, "trap with a handler decided at run time")
            return env.cwds

        # --- wrappers
        if prog in WRAPPERS:
            return self.wrapper(prog, first, args, env, stdin, text, flags)
        if prog == "coproc" and any(a.literal and not a.quoted and a.value in _RESERVED_WORDS for a in args):
            self.unknown(env, text, "coproc with a compound command")
            return env.cwds
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
            cmd = _skip_opts(args, {"-n", "--interval", "-d", "--differences", "-q", "--equexit", "--chgexit"}
                             | {"-n"}, with_arg={"-n", "--interval", "-q", "--equexit"})
            if cmd:
                if all(w.literal for w in cmd):
                    self.nested(" ".join(w.value for w in cmd), _Env(env.cwds, inner_env.via, env.depth + 1),
                                "watch", text)
                else:
                    self.unknown(env, text, "watch runs a command string decided at run time")
            return env.cwds
        if prog == "script":
            self.exec_stmt(prog, words, env, text, path_words, flags)
            self.string_option(args, ("-c", "--command"), env, inner_env, text, "script -c", require=False)
            return env.cwds
        if prog in INTERPRETERS or (prog.startswith("python") and _PYTHON_VERSIONED.fullmatch(prog)):
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

        self.code_options(prog, args, env, text)
        self.exec_stmt(prog, words, env, text, path_words, flags + self.exec_flags(prog, args))
        if prog in _WRITERS:
            self.writes(prog, args, env, text, path_words[1:] if is_path else path_words)
        self.urls(prog, args, env, text)
        if prog in ("ssh",) and len([a for a in args if not _is_option(a)]) > 1:
            self.unknown(env, text, "ssh runs a remote command")
        return env.cwds

    def code_options(self, prog: str, args: list[_W], env: _Env, text: str) -> None:
        """Options that make a program run another program or code given on the command line."""
        if prog not in _CODE_OPTION_PROGRAMS:
            return
        if prog in _VARNAME_BUILTINS:
            for a in args:
                if a.literal and "[" in a.value and ("$" in a.value or "`" in a.value):
                    self.unknown(env, text, f"{prog}: an array subscript in a variable name is evaluated "
                                            f"as arithmetic and can run code: {a.value[:60]!r}")
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
                if v == o or v.startswith(o + "=") or (not o.startswith("--") and len(o) == 2 and v.startswith(o)
                                                       and not v.startswith("--")) or (
                        # GNU getopt_long takes any unambiguous prefix: --compress-prog=sh
                        prog in _GNU_ABBREVIATES and o.startswith("--") and name.startswith("--")
                        and len(name) >= 5 and o.startswith(name)):
                    self.unknown(env, text, f"{prog} {o} names a program or code for {prog} to run")
                    return
        if prog in ("make", "gmake"):
            for a in args:
                if a.literal and not _is_option(a) and "=" in a.value:
                    name, _, val = a.value.partition("=")
                    name = name.rstrip(":+?!")
                    if name in _MAKE_DANGEROUS_VARS or _SHELL_META.search(val):
                        self.unknown(env, text, f"make variable override {name}= can change the commands "
                                                f"recipes run")
                        return
        if prog == "cargo":
            for i, a in enumerate(args):
                if a.literal and (a.value == "--config" or a.value.startswith("--config=")):
                    val = a.value.split("=", 1)[1] if "=" in a.value else (
                        args[i + 1].value if i + 1 < len(args) and args[i + 1].literal else "=")
                    if "=" in val:
                        self.unknown(env, text, "cargo --config KEY=VALUE can set a runner or linker to any program")
                        return

    def exec_flags(self, prog: str, args: list[_W]) -> tuple[str, ...]:
        nonlit = glob = False
        for a in args:
            if not a.literal:
                nonlit = True
            if a.glob:
                glob = True
        if nonlit:
            return ("nonliteral_args", "glob") if glob else ("nonliteral_args",)
        return ("glob",) if glob else ()

    def operand_paths(self, prog: str, args: list[_W]) -> list[_W]:
        """Words a program may treat as files: operands, option values that look like paths."""
        spec = _OPTION_VALUES.get(prog)
        if spec is not None:
            return self._operands_by_spec(spec, args)
        if prog in ("test", "["):
            return [a for i, a in enumerate(args)
                    if (a.literal and not _is_option(a) and _looks_pathy(a.value))
                    or (i and args[i - 1].literal and args[i - 1].value in _FILE_TESTS and not _is_option(a))]
        if prog in NO_PATH_OPERANDS:
            return []
        out: list[_W] = []
        after_dd = False
        pattern_pending = prog in PATTERN_FIRST
        if pattern_pending:
            givers = PATTERN_FIRST[prog]
            if prog == "rg" and any(a.literal and a.value in ("--files", "--type-list") for a in args):
                pattern_pending = False
            for a in args:
                v = a.value
                if a.literal and not a.quoted and v[:1] == "-" and (
                        v in givers or v.split("=", 1)[0] in givers or v[:2] in givers):
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
            if not after_dd and _is_option(a):
                if "=" in v:
                    val = v.split("=", 1)[1]
                    if _looks_pathy(val):
                        out.append(_W(val, True, a.glob, source=a.source))
                        # `--cov-report=html:/tmp/x`, `--opt=a,/etc/b`: a piece naming a path elsewhere
                        for piece in re.split(r"[:,]", val)[1:]:
                            if piece[:1] in ("/", "~") or piece.startswith(".."):
                                out.append(_W(piece, True, a.glob, source=a.source))
                elif not v.startswith("--") and len(v) > 2:
                    for i, ch in enumerate(v[2:], start=2):
                        if ch in "/~.":
                            out.append(_W(v[i:], True, a.glob, source=a.source))
                            break
                continue
            if pattern_pending:
                pattern_pending = False
                continue
            if prog in ("dd",) and "=" in v:
                k, _, val = v.partition("=")
                if k in ("if", "of"):
                    out.append(_W(val, True, a.glob, source=a.source))
                continue
            if _URL_RE.match(v):
                continue
            if prog == "git" and not out and v.isidentifier():
                continue  # git subcommand
            out.append(a)
            if "=" in v and not v.startswith("="):
                val = v.split("=", 1)[1]
                if _looks_pathy(val):
                    out.append(_W(val, True, a.glob, source=a.source))
        return out

    def _operands_by_spec(self, spec: tuple[dict[str, int], frozenset[str], frozenset[str], bool],
                          args: list[_W]) -> list[_W]:
        """Operands of a program whose value-taking options are known: option values that are
        files are paths, pattern values are not, and the first operand is the pattern unless a
        pattern option gave one."""
        arity, path_opts, pattern_opts, pattern_first = spec
        out: list[_W] = []
        ops: list[_W] = []
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
            if after_dd or not _is_option(a):
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
            values: list[_W] = []
            if eq:
                values = [_W(val, True, a.glob, source=a.source)]
                n -= 1
            values += args[i + 1:i + 1 + max(n, 0)]
            i += 1 + max(n, 0)
            if name in path_opts and values:
                out.append(values[-1])
            elif name not in arity and eq and _looks_pathy(val):
                out.append(values[0])  # an unknown --opt=/some/path: count it
        if any(a.literal and a.value in ("--files", "--type-list") for a in args):
            pattern_first = False  # rg --files lists files: every operand is a path
        if pattern_first and not pattern_given and ops:
            ops = ops[1:]
        return out + ops

    def writes(self, prog: str, args: list[_W], env: _Env, text: str, ops: list[_W]) -> None:
        if prog in _WRITE_ALL_OPERANDS:
            self.file_stmt("write", ops, env, text, prog)
        elif prog in _WRITE_SKIP_FIRST:
            opts_ref = any(a.literal and a.value.startswith("--reference") for a in args)
            self.file_stmt("write", ops if opts_ref else ops[1:], env, text, prog)
        elif prog in _WRITE_LAST or prog in _WRITE_ALL_BUT_NONE:
            t_dir = None
            for i, a in enumerate(args):
                if a.literal and a.value in ("-t", "--target-directory") and i + 1 < len(args):
                    t_dir = args[i + 1]
                elif a.literal and a.value.startswith("--target-directory="):
                    t_dir = _W(a.value.split("=", 1)[1], True)
            if prog in _WRITE_ALL_BUT_NONE:
                self.file_stmt("write", ops, env, text, prog)
            elif t_dir is not None:
                self.file_stmt("write", [t_dir], env, text, prog)
            elif ops:
                self.file_stmt("write", ops[-1:], env, text, prog)
        elif prog == "dd":
            self.file_stmt("write", [_W(a.value[3:], True) for a in args if a.literal and a.value.startswith("of=")]
                           + [a for a in args if not a.literal], env, text, prog)
        elif prog == "sort":
            for i, a in enumerate(args):
                if a.literal and a.value in ("-o",) and i + 1 < len(args):
                    self.file_stmt("write", [args[i + 1]], env, text, prog)
                elif a.literal and (a.value.startswith("--output=") or (a.value.startswith("-o") and len(a.value) > 2)):
                    self.file_stmt("write", [_W(a.value.split("=", 1)[1] if "=" in a.value else a.value[2:])],
                                   env, text, prog)
        elif prog in ("tar", "unzip", "patch", "cpio", "7z", "git-apply", "bsdtar"):
            self.file_stmt("write", [_W(".", True)] + [a for a in ops if a.literal and "/" in a.value], env, text, prog,
                           flags=("archive",))

    def urls(self, prog: str, args: list[_W], env: _Env, text: str) -> None:
        if prog not in NETWORK_PROGRAMS and not any("://" in a.value for a in args):
            return
        for a in args:
            if not a.literal:
                if prog in NETWORK_PROGRAMS:
                    self.emit(Statement(kind="url", host=None, url=a.source, via=env.via + (prog,), text=text[:500],
                                        reason="URL decided at run time"))
                continue
            v = a.value
            if _URL_RE.match(v) or (prog in NETWORK_PROGRAMS and not _is_option(a) and "." in v and "/" not in v[:1]):
                self.emit(Statement(kind="url", host=url_host(v), url=v, via=env.via + (prog,), text=text[:500]))

    # ---- wrappers
    def wrapper(self, prog: str, first: _W, args: list[_W], env: _Env, stdin: _Stdin, text: str,
                flags: tuple[str, ...]) -> tuple[str, ...]:
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
            if not _is_option(a):
                if prog in ("env", "sudo", "doas", "su") and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", v):
                    assigns.append(v)
                    i += 1
                    continue
                break
            base = v.split("=", 1)[0]
            if prog == "env" and base in ("-C", "--chdir"):
                target = v.split("=", 1)[1] if "=" in v else (args[i + 1].value if i + 1 < len(args) and args[i + 1].literal else None)
                new_cwds = tuple(p for p, _ in _join(target, env.cwds)) if target else ("",)
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
        positionals = args[i:i + npos]
        rest = args[i + npos:]
        if prog == "command" and any(a.literal and a.value in ("-v", "-V") for a in args[:i]):
            rest = []
        if prog in ("time", "coproc", "env", "sudo", "doas"):
            # `time X=1 cmd` (a keyword before a pipeline), `env -- X=1 cmd`: leading NAME=VALUE words
            # are assignments, not the command
            while rest and rest[0].literal and not rest[0].quoted and _ASSIGNMENT_WORD.match(rest[0].value):
                assigns.append(rest[0].value)
                rest = rest[1:]
            if rest and not rest[0].literal and prog in ("time", "coproc"):
                pass  # a computed command name: dispatch reports it
        flock_c = next((j for j, a in enumerate(args) if a.literal and (a.value in ("-c", "--command")
                                                                         or a.value.startswith("--command="))), None)
        if prog == "flock" and flock_c is not None:
            a = args[flock_c]
            cmd_w = _W(a.value.split("=", 1)[1]) if "=" in a.value else (
                args[flock_c + 1] if flock_c + 1 < len(args) else None)
            self.exec_stmt(prog, [first] + args, env, text, [w for w in args if w is not a and w is not cmd_w
                                                              and not _is_option(w)], flags)
            if cmd_w is not None and cmd_w.literal:
                self.nested(cmd_w.value, _Env(env.cwds, env.via + (prog,), env.depth + 1), "flock -c", text)
            else:
                self.unknown(env, text, "flock -c with a command decided at run time")
            return env.cwds
        if prog == "flock" and rest[:1] and rest[0].literal and rest[0].value in ("-c", "--command"):
            self.exec_stmt(prog, [first] + args, env, text, positionals, flags)
            if len(rest) > 1 and rest[1].literal:
                self.nested(rest[1].value, _Env(env.cwds, env.via + (prog,), env.depth + 1), "flock -c", text)
            else:
                self.unknown(env, text, "flock -c with a command decided at run time")
            return env.cwds
        path_words = [w for w in positionals if prog in ("chroot", "flock")]
        if prog == "time":
            for j, a in enumerate(args[:i]):
                if a.literal and a.value in ("-o", "--output") and j + 1 < len(args):
                    self.file_stmt("write", [args[j + 1]], env, text, prog)
        self.exec_stmt(prog, [first] + args, env, text, path_words, flags)
        inner_env = _Env(new_cwds if prog != "chroot" else ("",), env.via + (prog,), env.depth)
        for asg in assigns:
            name = asg.split("=", 1)[0]
            if _env_is_dangerous(name):
                self.unknown(env, text, f"{prog} sets {name}, which changes how the command is found or run")
            val = asg.split("=", 1)[1]
            if re.search(r"\$\(|`", val):
                self.unknown(env, text, "literal value holds shell code a later evaluation may run")
        if special:
            self.unknown(env, text, special)
        if not rest:
            if prog in ("sudo", "doas", "su", "runuser", "pkexec") and any(
                    a.literal and a.value in ("-s", "-i", "--shell", "--login") for a in args):
                self.unknown(env, text, f"{prog} starts an interactive shell reading from stdin")
            return env.cwds
        if prog == "exec" or prog == "command" or prog == "builtin":
            return self.dispatch(rest, inner_env, stdin, text)
        self.dispatch(rest, inner_env, stdin, text)
        return env.cwds

    def su(self, prog, words, args, env, stdin, text, flags) -> tuple[str, ...]:
        self.exec_stmt(prog, words, env, text, [], flags)
        inner = _Env(env.cwds, env.via + (prog,), env.depth)
        found = self.string_option(args, ("-c", "--command", "--session-command"), env, inner, text, "su -c",
                                   require=False)
        if not found:
            self.unknown(env, text, f"{prog} starts a shell reading from stdin")
        return env.cwds

    def string_option(self, args: list[_W], opts: tuple[str, ...], env: _Env, inner: _Env, text: str,
                      label: str, require: bool = True) -> bool:
        for i, a in enumerate(args):
            if not a.literal:
                continue
            for o in opts:
                val: _W | None = None
                if a.value == o and i + 1 < len(args):
                    val = args[i + 1]
                elif o.startswith("--") and a.value.startswith(o + "="):
                    val = _W(a.value.split("=", 1)[1], a.literal, source=a.source)
                if val is not None:
                    if val.literal:
                        self.nested(val.value, _Env(inner.cwds, inner.via, inner.depth + 1), label, text)
                    else:
                        self.unknown(env, text, f"{label} runs a string decided at run time")
                    return True
        if require:
            self.unknown(env, text, f"{label}: no command string found")
        return False

    def shell(self, prog, words, args, env, stdin, text, flags, path_words) -> tuple[str, ...]:
        inner = _Env(env.cwds, env.via + (f"{prog} -c",), env.depth)
        if prog in NON_POSIX_SHELLS:
            self.exec_stmt(prog, words, env, text, path_words, flags + ("interpreter",))
            self.unknown(env, text, f"{prog} is not a POSIX shell; its code is not classified")
            return env.cwds
        # parse shell options: -c STRING, -o opt, -O opt, --rcfile f, --init-file f, -s, -i, -l
        cmd_string: _W | None = None
        has_c = False
        script: _W | None = None
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
            if v.startswith("-") or v.startswith("+"):
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
                self.nested(cmd_string.value, _Env(inner.cwds, inner.via, inner.depth + 1), f"{prog} -c", text)
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
            self.nested(stdin.literal, _Env(env.cwds, env.via + (f"{prog} <<",), env.depth + 1), "heredoc", text)
        else:
            self.unknown(env, text, f"{prog} reads its program from stdin ({stdin.kind}): content decided at run time",
                         flags=("stdin_code",))
        return env.cwds

    def interpreter(self, prog, words, args, env, stdin, text, flags, path_words) -> tuple[str, ...]:
        base = re.sub(r"\d+(\.\d+)*$", "", prog) or prog
        code_opts = INTERPRETERS.get(prog, INTERPRETERS.get(base, ("-c",)))
        value_opts = _INTERP_VALUE_OPTS.get(base, frozenset())
        self.exec_stmt(prog, words, env, text, path_words, flags + ("interpreter",))
        if prog in INTERPRETERS and not INTERPRETERS[prog] and prog not in STDIN_INTERPRETERS:
            self.unknown(env, text, f"{prog} runs commands that are not classified", program=prog,
                         flags=("interpreter",))
            return env.cwds
        # the interpreter's own options come before the script / module; what follows belongs to it
        i = 0
        operand = None
        module = False
        while i < len(args):
            a = args[i]
            if not a.literal:
                self.unknown(env, text, f"{prog} option decided at run time (could be one that runs code)",
                             program=prog, flags=("interpreter",))
                return env.cwds
            v = a.value
            if v == "--":
                operand = args[i + 1] if i + 1 < len(args) else None
                break
            if v == "-" or not v.startswith(("-", "+")) or a.quoted:
                operand = a
                break
            if any(v == o or (o.startswith("-") and not o.startswith("--") and v.startswith(o) and len(v) > len(o)
                              and prog not in ("vim", "vi", "nvim", "ex"))
                   or (o.startswith("--") and v.startswith(o + "=")) or (o == "+" and v.startswith("+"))
                   for o in code_opts) or (
                    base == "perl" and re.fullmatch(r"-[a-zA-Z]*[eE][a-zA-Z]*", v)):
                self.unknown(env, text, f"{prog} {v} runs a program given on the command line",
                             program=prog, flags=("interpreter",))
                return env.cwds
            if base in ("python", "pypy") and (v == "-m" or (v.startswith("-m") and len(v) > 2)):
                module = True
                mod = v[2:] if len(v) > 2 else (args[i + 1].value if i + 1 < len(args) and args[i + 1].literal else "")
                rest = args[i + 1:] if len(v) > 2 else args[i + 2:]
                if mod in ("pdb", "code", "idlelib", "IPython", "ptpython", "bpython"):
                    self.unknown(env, text, f"{prog} -m {mod} runs code typed on stdin", program=prog,
                                 flags=("interpreter", "stdin_code"))
                elif mod in CODE_OPTIONS:
                    self.code_options(mod, rest, env, text)
                break
            if base in ("python", "pypy") and re.fullmatch(r"-[A-Za-z]*i[A-Za-z]*", v) and "c" not in v:
                self.unknown(env, text, f"{prog} {v}: interactive, runs code typed on stdin", program=prog,
                             flags=("interpreter", "stdin_code"))
                return env.cwds
            if v in value_opts:
                i += 2
                continue
            i += 1
        if module:
            return env.cwds
        if operand is None or (operand.literal and operand.value == "-"):
            if prog in STDIN_INTERPRETERS or base in STDIN_INTERPRETERS:
                self.unknown(env, text, f"{prog} reads its program from stdin ({stdin.kind})", program=prog,
                             flags=("interpreter", "stdin_code"))
        return env.cwds

    def xargs(self, words, args, env, stdin, text, flags) -> tuple[str, ...]:
        with_arg = {"-I", "-n", "-L", "-P", "-d", "-E", "-s", "-a", "--arg-file", "--delimiter", "--max-args",
                    "--max-lines", "--max-procs", "--eof", "--max-chars", "--process-slot-var", "-l", "-i"}
        i = 0
        repl = None
        path_words: list[_W] = []
        while i < len(args):
            a = args[i]
            if not a.literal or not _is_option(a):
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
            if v in with_arg and v not in ("-i", "-l"):
                i += 2
                continue
            i += 1
        rest = args[i:]
        self.exec_stmt("xargs", words, env, text, path_words, flags)
        inner_env = _Env(env.cwds, env.via + ("xargs",), env.depth)
        if not rest:
            rest = [_W("echo")]
        if repl is not None:
            rest = [w if not (w.literal and repl in w.value) else _W(w.source, False, source=w.source) for w in rest]
        else:
            rest = rest + [_W("<stdin-args>", False, source="<arguments read from stdin>")]
        self.dispatch(rest, inner_env, _Stdin("pipe"), text)
        return env.cwds

    def parallel(self, words, args, env, text, flags) -> tuple[str, ...]:
        self.exec_stmt("parallel", words, env, text, [], flags)
        # GNU parallel: options, then the command template, then ::: arguments; the template is run
        # by a shell with {} replaced by each argument.
        i = 0
        while i < len(args) and args[i].literal and _is_option(args[i]):
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
        self.nested(code, _Env(env.cwds, env.via + ("parallel",), env.depth + 1), "parallel", text)
        return env.cwds

    def find(self, words, args, env, text, flags) -> tuple[str, ...]:
        # starting points: operands before the first expression token
        starts: list[_W] = []
        i = 0
        while i < len(args) and args[i].literal and args[i].value in ("-H", "-L", "-P") or (
                i < len(args) and args[i].literal and args[i].value.startswith("-O")):
            i += 1
        while i < len(args):
            a = args[i]
            if a.literal and (a.value.startswith("-") or a.value in ("(", "!", ")", ",")):
                break
            starts.append(a)
            i += 1
        if not starts:
            starts = [_W(".", True)]
        expr = args[i:]
        fl: list[str] = []
        inner_env = _Env(env.cwds, env.via + ("find",), env.depth)
        j = 0
        pending: list[tuple[list[_W], str]] = []
        extra_paths: list[_W] = []
        while j < len(expr):
            a = expr[j]
            v = a.value if a.literal else ""
            if not a.literal:
                fl.append("nonliteral_args")
            if v == "-delete":
                fl.append("delete")
            if a.literal and _looks_pathy(v) and not v.startswith("-") and (
                    j == 0 or expr[j - 1].value not in ("-name", "-iname", "-path", "-ipath", "-regex", "-iregex",
                                                         "-wholename", "-iwholename", "-lname", "-ilname")):
                extra_paths.append(a)  # -newer FILE, -files0-from FILE, -samefile FILE, ...
            if v in ("-fprint", "-fprint0", "-fls", "-fprintf") and j + 1 < len(expr):
                self.file_stmt("write", [expr[j + 1]], env, text, "find")
                fl.append("writes_file")
            if v in ("-exec", "-execdir", "-ok", "-okdir"):
                fl.append(v.lstrip("-"))
                k = j + 1
                cmd: list[_W] = []
                while k < len(expr) and not (expr[k].literal and expr[k].value in (";", "+")):
                    cmd.append(expr[k])
                    k += 1
                if k >= len(expr):
                    self.unknown(env, text, f"find {v} without a terminating ';' or '+'")
                cmd = [w if not (w.literal and "{}" in w.value) else _W(w.value, False, source=w.value) for w in cmd]
                if cmd:
                    pending.append((cmd, v))
                else:
                    self.unknown(env, text, f"find {v} without a command")
                j = k + 1
                continue
            j += 1
        self.exec_stmt("find", words, env, text, starts + extra_paths, flags + tuple(_uniq(fl)))
        for cmd, v in pending:
            e = inner_env
            if v in ("-execdir", "-okdir"):
                e = _Env(tuple(_uniq([p if lit else "" for s in starts for p, lit in
                                       (_join(s.value, env.cwds) if s.literal else [(s.source, False)])]))
                         + ("",), inner_env.via, env.depth)
            self.dispatch(cmd, e, _Stdin("inherit"), text)
        return env.cwds

    # ---- program-specific code checks
    def awk(self, args: list[_W], env: _Env, text: str) -> None:
        prog_text = None
        for i, a in enumerate(args):
            if a.literal and a.value in ("-f", "--file") or (a.literal and a.value.startswith("-f") and len(a.value) > 2
                                                             and not a.value.startswith("-F")):
                self.unknown(env, text, "awk program read from a file")
                return
            if a.literal and a.value in ("-F", "-v", "--assign", "--field-separator"):
                continue
            if _is_option(a):
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
        if re.search(r"\bsystem\s*\(|\|\s*getline|\|&|\b(print|printf)\b[^;}\n]*[>|]|getline\s*<|@load|@include"
                     r"|\bclose\s*\(|\bfflush\s*\(\s*\"", p):
            self.unknown(env, text, "awk program runs commands or writes files (system, pipes, redirection)",
                         program="awk")

    def sed(self, args: list[_W], env: _Env, text: str) -> None:
        scripts: list[_W] = []
        inplace = False
        given = False
        ops: list[_W] = []
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
            elif a.literal and not after_dd and v.startswith("--e") and "=" in v and \
                    "--expression".startswith(v.split("=", 1)[0]):
                scripts.append(_W(v.split("=", 1)[1]))
                given = True
            elif a.literal and not after_dd and v.startswith("--e") and "--expression".startswith(v) and \
                    i + 1 < len(args):
                scripts.append(args[i + 1])
                given = True
                i += 1
            elif a.literal and not after_dd and (v == "-f" or (v.startswith("--fi") and "--file".startswith(
                    v.split("=", 1)[0]))):
                self.unknown(env, text, "sed script read from a file")
                return
            elif a.literal and not after_dd and (v.startswith("-i") or (
                    v.startswith("--i") and "--in-place".startswith(v.split("=", 1)[0]))
                                                 or (v.startswith("-") and not v.startswith("--") and "i" in v[1:]
                                                     and "e" not in v[1:])):
                inplace = True
            elif a.literal and not after_dd and _is_option(a):
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
            if _sed_dangerous(s.value):
                self.unknown(env, text, "sed script runs commands or reads/writes other files (e, w, W, r, R)",
                             program="sed")
        if inplace:
            self.file_stmt("write", ops, env, text, "sed", flags=("in_place",))

    def git(self, args: list[_W], env: _Env, text: str) -> None:
        i = 0
        sub = None
        while i < len(args):
            a = args[i]
            if not a.literal:
                self.unknown(env, text, "git with an argument decided at run time before the subcommand")
                return
            v = a.value
            if v in ("-c", "--config-env") or v.startswith("--config-env=") or v.startswith("-c"):
                self.unknown(env, text, "git -c / --config-env can make git run any command (core.pager, alias.*=!)")
                return
            if v.startswith("--exec-path") or v.startswith("--upload-pack") or v.startswith("--receive-pack"):
                self.unknown(env, text, f"git {v.split('=')[0]} names a program for git to run")
                return
            if v in ("-C", "--git-dir", "--work-tree", "--namespace", "--super-prefix") and i + 1 < len(args):
                i += 2
                continue
            if v.startswith("-"):
                i += 1
                continue
            sub = v
            break
        rest = args[i + 1:]
        for j, a in enumerate(rest):
            if not a.literal:
                continue
            v = a.value
            if v in ("-O", "--open-files-in-pager") or v.startswith("--open-files-in-pager") or (
                    sub == "grep" and v.startswith("-O")):
                self.unknown(env, text, "git grep -O runs a pager command")
            elif v.startswith("--upload-pack") or v.startswith("--receive-pack") or v == "-u" and sub in (
                    "clone", "fetch", "pull", "ls-remote", "archive"):
                self.unknown(env, text, f"git {sub} {v} names a program to run")
            elif sub in ("rebase",) and (v in ("-x", "--exec") or v.startswith("--exec=")):
                if v in ("-x", "--exec") and j + 1 < len(rest) and rest[j + 1].literal:
                    self.nested(rest[j + 1].value, _Env(env.cwds, env.via + ("git rebase --exec",), env.depth + 1),
                                "git rebase --exec", text)
                else:
                    self.unknown(env, text, "git rebase --exec runs a command")
            elif v.startswith("--output=") or v == "--output":
                target = v.split("=", 1)[1] if "=" in v else (rest[j + 1].value if j + 1 < len(rest) else "")
                self.file_stmt("write", [_W(target)], env, text, "git")
            elif v in ("--ext-diff",) or v.startswith("--extcmd") or v in ("-x",) and sub == "difftool":
                self.unknown(env, text, f"git {sub} {v} runs an external program")
            elif v.startswith("--config=") or v.startswith("--template="):
                self.unknown(env, text, f"git {sub} {v.split('=')[0]} loads configuration that can run commands")
        if sub in ("bisect",) and rest[:1] and rest[0].literal and rest[0].value == "run":
            if len(rest) > 1 and all(w.literal for w in rest[1:]):
                self.dispatch(rest[1:], _Env(env.cwds, env.via + ("git bisect run",), env.depth), _Stdin(), text)
            else:
                self.unknown(env, text, "git bisect run with a command decided at run time")
        if sub in ("submodule",) and any(a.literal and a.value == "foreach" for a in rest):
            self.unknown(env, text, "git submodule foreach runs a shell command in each submodule")
        if sub in ("filter-branch", "filter-repo"):
            self.unknown(env, text, f"git {sub} runs filter commands")
        if sub == "config" or sub == "var":
            pass  # the policy decides on `git config` writes
        for a in rest:
            if a.literal and _URL_RE.match(a.value) or (a.literal and re.match(r"^[\w.-]+@[\w.-]+:", a.value)):
                v = a.value
                host = url_host(v) if _URL_RE.match(v) else url_host("ssh://" + v.replace(":", "/", 1))
                self.emit(Statement(kind="url", host=host, url=v, via=env.via + ("git",), text=text[:500]))

    def sql_client(self, prog: str, args: list[_W], env: _Env, stdin: _Stdin, text: str) -> None:
        via = env.via + (prog,)
        dialect = dialect_for(prog)
        found = False
        sqls: list[_W] = []
        files: list[_W] = []
        opts_cmd = {"psql": ("-c", "--command"), "pgcli": ("-c",), "mysql": ("-e", "--execute"),
                    "mariadb": ("-e", "--execute"), "duckdb": ("-c", "-s", "-cmd"), "sqlite3": ("-cmd",),
                    "clickhouse-client": ("-q", "--query"), "sqlcmd": ("-Q", "-q"), "snowsql": ("-q", "--query"),
                    "trino": ("--execute",), "presto": ("--execute",)}.get(prog, ())
        opts_file = {"psql": ("-f", "--file"), "mysql": (), "sqlcmd": ("-i",), "snowsql": ("-f", "--filename"),
                     "duckdb": ("-f",), "sqlite3": ("-init",), "trino": ("-f", "--file")}.get(prog, ())
        ops: list[_W] = []
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
                    sqls.append(_W(v.split("=", 1)[1]))
                    i += 1
                    hit = True
                    break
                if prog in ("mysql", "mariadb") and o == "-e" and v.startswith("-e") and len(v) > 2:
                    sqls.append(_W(v[2:]))
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
            if a.literal and _is_option(a):
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
        for f in files:
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


# --------------------------------------------------------------------------------------- helpers

def _iter_named(node):
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(reversed(n.named_children))


def _iter_subs(node):
    """Outermost command/process substitutions (and arithmetic/subscripts) below node."""
    stack = [node]
    while stack:
        n = stack.pop()
        if n.type in ("command_substitution", "process_substitution", "arithmetic_expansion"):
            yield n
            continue
        stack.extend(reversed(n.named_children))


def _mentions_cd(ctx: _Ctx, node) -> bool:
    for n in _iter_named(node):
        if n.type == "command_name":
            t = ctx.text(n).strip("'\"\\")
            if t in ("cd", "pushd", "popd", "chdir", "source", ".") or t.startswith("$"):
                return True
    return False


def _merge_cwds(before: tuple[str, ...], after: tuple[str, ...]) -> tuple[str, ...]:
    if after is before or len(after) == 1:
        return after
    m = tuple(_uniq(after))
    if len(m) > MAX_CWDS:
        return ("",)
    return m


def _redirect_op(r) -> str:
    for c in r.children:
        if not c.is_named:
            return c.type
    return ""


def _looks_pathy(v: str) -> bool:
    return "/" in v or v.startswith("~") or v.startswith(".")


DANGEROUS_ENV_SUFFIXES = ("_OPTIONS", "_OPTS", "FLAGS", "CONFIG", "_CONFIG_PATH", "PATH", "_ADDOPTS", "_PLUGINS",
                          "_COMMAND", "_CMD", "_PROGRAM", "_SHELL", "_EDITOR", "_PAGER", "_WRAPPER", "_EXEC",
                          "_PRELOAD", "_HOME", "_ASKPASS", "_HOOK", "_HOOKS", "RC", "_INIT", "_STARTUP")


def _env_is_dangerous(name: str) -> bool:
    """Variables that change which program runs, what it loads, or its configuration."""
    if name in _SAFE_ENV:
        return False
    return (name in DANGEROUS_ENV or name.startswith(DANGEROUS_ENV_PREFIXES)
            or name.upper().endswith(DANGEROUS_ENV_SUFFIXES))


def _skip_opts(args: list[_W], opts: set[str], with_arg: set[str]) -> list[_W]:
    i = 0
    while i < len(args) and args[i].literal and _is_option(args[i]):
        if args[i].value in with_arg:
            i += 2
        else:
            i += 1
    return args[i:]


def _unescape_heredoc(raw: str) -> str:
    return re.sub(r"\\([$`\\])", r"\1", raw.replace("\\\n", ""))


_SED_CMD = re.compile(r"(?:^|[;\n{}]|^\s*\d+|[/$]|\d)\s*!?\s*([ewWrRv])(?:\s|$|;)")


def _sed_dangerous(script: str) -> bool:
    """Conservative: True if a sed script may use e/w/W/r/R commands or the s///e or s///w flags."""
    s = script
    # s commands: find flags after the third delimiter
    for m in re.finditer(r"(?:^|[;\n{}\s!0-9$/])s(.)", s):
        d = m.group(1)
        if d in "\\\n":
            return True
        rest = s[m.end():]
        parts = []
        i = 0
        cnt = 0
        while i < len(rest) and cnt < 2:
            if rest[i] == "\\":
                i += 2
                continue
            if rest[i] == d:
                cnt += 1
            i += 1
        if cnt < 2:
            continue
        flags = re.match(r"[^;\n}]*", rest[i:]).group(0)
        if "e" in flags or "w" in flags or "W" in flags:
            return True
        del parts
    # standalone commands e, w, W, r, R (after an address or at a command start)
    stripped = re.sub(r"s(.)(?:\\.|(?!\1).)*\1(?:\\.|(?!\1).)*\1[gpiImM0-9]*", "", s)
    stripped = re.sub(r"/(?:\\.|[^/])*/", "", stripped)
    return bool(re.search(r"(^|[;\n{}!,0-9$])\s*[ewWrRF]\b", stripped)) or bool(
        re.search(r"(^|[;\n{}])\s*[ewWrR](\s|$)", stripped))


def _comment_starts_a_word(src: bytes, at: int) -> bool:
    """bash starts a comment only where a word could start: after an unescaped blank, a newline or
    an operator character (or at the very beginning)."""
    if at == 0:
        return True
    prev = src[at - 1]
    if prev in b"\n;&|()<>":
        return True
    if prev in b" \t":
        k = at - 2
        n = 0
        while k >= 0 and src[k] == 0x5C:
            n += 1
            k -= 1
        return n % 2 == 0  # an odd run of backslashes escapes the blank: `\ #x` is the word ' #x'
    return False


def _nesting_exceeds(code: str, limit: int) -> bool:
    """Over-approximation of bracket nesting (quotes ignored): deep trees would take the walker (and
    the C stack under it) into recursion limits, so they are refused before parsing."""
    if code.count("(") + code.count("{") + code.count("`") <= limit:
        return False
    depth = peak = 0
    for ch in code:
        if ch in "({":
            depth += 1
            if depth > peak:
                peak = depth
        elif ch in ")}" and depth:
            depth -= 1
    return peak > limit or code.count("`") > limit


def _classify(code: str, cwds: tuple[str, ...], via: tuple[str, ...], depth: int,
              functions: dict | None = None, origin: tuple[str, ...] | None = None) -> list[Statement]:
    env = _Env(cwds, via, depth)
    if len(code.encode("utf-8", "surrogatepass")) > MAX_COMMAND_BYTES:
        return [Statement(kind="unknown", text=code[:500], via=via,
                          reason=f"command longer than {MAX_COMMAND_BYTES} bytes")]
    if "\r" in code:
        return [Statement(kind="unknown", text=code[:500], via=via,
                          reason="carriage return in the command (bash and the parser split it differently)")]
    if "\x00" in code:
        return [Statement(kind="unknown", text=code[:500], via=via, reason="NUL byte in command")]
    if not code.isascii() and max(code) > "\uffff":
        # tree-sitter-bash 0.25.1 segfaults (nondeterministically) on some commands holding a character
        # outside the Basic Multilingual Plane, e.g. 'v{\U000fa583}': never hand one to the parser
        return [Statement(kind="unknown", text=code[:500], via=via,
                          reason="a character outside the Basic Multilingual Plane (the parser cannot take it safely)")]
    if _nesting_exceeds(code, MAX_NESTING):
        return [Statement(kind="unknown", text=code[:500], via=via,
                          reason=f"command nested more than {MAX_NESTING} levels deep")]
    if _CONTINUATION_IN_WORD.search(code):
        return [Statement(kind="unknown", text=code[:500], via=via,
                          reason="line continuation inside a word (the parser and bash disagree)")]
    src = code.encode("utf-8", "surrogateescape")
    if not src.endswith((b"\n", b"\\")):
        # same meaning to bash; tree-sitter-bash resolves an ambiguity at end of input far faster
        # when the last line is terminated (a 5-stage pipeline: ~105 us -> ~15 us)
        src += b"\n"
    tree = _parser().parse(src)
    root = tree.root_node
    if root.has_error:
        return [Statement(kind="unknown", text=code[:500], via=via,
                          reason="the command does not parse (syntax error or unsupported syntax)")]
    ctx = _Ctx(src)
    ctx.origin = cwds if origin is None else origin
    if functions:
        ctx.functions.update(functions)
    w = _Walker(ctx)
    try:
        w.stmt(root, env, _Stdin())
        # functions that were defined but never called: their bodies still count
        for name, (body, denv) in list(ctx.functions.items()):
            if functions and name in functions:
                continue
            if name not in ctx.called:
                w.stmt(body, _Env(denv.cwds, denv.via + (f"function:{name}",), denv.depth + 1), _Stdin())
    except RecursionError:
        return [Statement(kind="unknown", text=code[:500], via=via, reason="command nested too deeply to classify")]
    except _Abort as exc:
        return [Statement(kind="unknown", text=code[:500], via=via, reason=str(exc))]
    # fail closed on walker gaps: every command and redirection the parser found must have been
    # looked at; one that was not makes the whole string unknown
    caps = tree_sitter.QueryCursor(_COVERAGE_QUERY).captures(root)
    missed = [n for n in caps.get("n", ()) if n.start_byte not in ctx.visited]
    for c in caps.get("c", ()):
        if not _comment_starts_a_word(src, c.start_byte):
            return [Statement(kind="unknown", text=code[:500], via=via,
                              reason="the parser read a comment where bash reads a word")]
    gap_from = 0
    for c in root.children:
        if c.start_byte > gap_from and src[gap_from:c.start_byte].replace(b"\\\n", b"").strip(b" \t\n"):
            return [Statement(kind="unknown", text=code[:500], via=via,
                              reason="the parser skipped part of the command")]
        gap_from = max(gap_from, c.end_byte)
    if src[gap_from:].replace(b"\\\n", b"").strip(b" \t\n"):
        return [Statement(kind="unknown", text=code[:500], via=via, reason="the parser skipped part of the command")]
    if missed:
        n = missed[0]
        return [Statement(kind="unknown", text=code[:500], via=via,
                          reason=f"part of the command was not analysed: {ctx.text(n)[:80]!r}")]
    if not ctx.out and code.strip() and not _only_comments_or_assignments(root):
        return [Statement(kind="unknown", text=code[:500], via=via, reason="no command found")]
    return ctx.out


def _only_comments_or_assignments(root) -> bool:
    return all(c.type in ("comment", "variable_assignment", "variable_assignments", "function_definition")
               for c in root.named_children)


_CACHE_MAX_BYTES = 4096


@functools.lru_cache(maxsize=4096)
def _classify_cached(command: str, cwd: str) -> tuple[Statement, ...]:
    return _classify_shell(command, cwd)


def classify_shell(command: str, cwd: str, *, cache: bool = True) -> tuple[Statement, ...]:
    """Every statement a bash command string runs (see the module docstring). Never raises on bad
    input: anything that cannot be analysed is an `unknown` statement.

    The result depends only on (command, cwd) (nothing on disk is read), so results for strings up
    to 4 KiB are memoized (LRU, 4096 entries); Statements are frozen, sharing them is safe.
    cache=False classifies afresh (benchmarks)."""
    if cache and isinstance(command, str) and isinstance(cwd, str) and len(command) <= _CACHE_MAX_BYTES:
        return _classify_cached(command, cwd)
    return _classify_shell(command, cwd)


def _classify_shell(command: str, cwd: str) -> tuple[Statement, ...]:
    if not isinstance(command, str):
        return (Statement(kind="unknown", text=repr(command)[:500], reason="command is not a string"),)
    if not command.strip():
        return (Statement(kind="unknown", text=command, reason="empty command"),)
    cwd = cwd if isinstance(cwd, str) and cwd.startswith("/") else ""
    try:
        out = _classify(command, (cwd,), (), 0)
    except RecursionError:
        out = [Statement(kind="unknown", text=command[:500], reason="command nested too deeply to classify")]
    if not out:
        # only assignments / comments / function definitions: nothing runs, but say so
        out = [Statement(kind="exec", program=":", argv=(":",), literal=(True,), globs=(False,), text=command[:500],
                         cwd=cwd, reason="no command runs (assignments, comments or definitions only)")]
    return tuple(out)
