"""What agp knows about programs' command lines, as tables the shell classifier reads."""

from __future__ import annotations

import re

__all__ = (
    "CODE_OPTIONS",
    "CODE_OPTION_PROGRAMS",
    "DANGEROUS_ENV",
    "DANGEROUS_ENV_PREFIXES",
    "DANGEROUS_ENV_SUFFIXES",
    "FILE_TESTS",
    "GNU_ABBREVIATES",
    "INTERPRETERS",
    "INTERPRETER_VALUE_OPTIONS",
    "MAKE_DANGEROUS_VARIABLES",
    "NETWORK_PROGRAMS",
    "NON_POSIX_SHELLS",
    "NO_PATH_OPERANDS",
    "OPTION_VALUES",
    "PATTERN_FIRST",
    "PYTHON_VERSIONED",
    "SAFE_ENV",
    "SHELLS",
    "SQL_CLIENTS",
    "STDIN_INTERPRETERS",
    "VARNAME_BUILTINS",
    "WRAPPERS",
    "WRAPPER_OPTS_WITH_ARG",
    "WRAPPER_POSITIONALS",
    "WRITERS",
    "WRITE_ALL_OPERANDS",
    "WRITE_LAST",
    "WRITE_SKIP_FIRST",
    "WRITE_SOURCES_AND_DESTINATION",
    "env_is_dangerous",
)

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
INTERPRETER_VALUE_OPTIONS = {
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
SAFE_ENV = frozenset({"LC_ALL", "LC_CTYPE", "LC_MESSAGES", "LANGUAGE", "PYTHONUNBUFFERED",
                       "PYTHONDONTWRITEBYTECODE", "PYTHONHASHSEED", "PYTHONWARNINGS", "PYTHONFAULTHANDLER",
                       "PYTHONUTF8", "PYTHONIOENCODING", "NODE_ENV", "GIT_TERMINAL_PROMPT",
                       "RUST_BACKTRACE", "CARGO_TERM_COLOR", "CI", "DEBUG", "TERM", "NO_COLOR", "FORCE_COLOR",
                       "LANG", "TZ", "COLUMNS", "LINES", "RUST_LOG", "LOG_LEVEL", "VERBOSE", "PYTEST_TIMEOUT",
                       "NODE_NO_WARNINGS", "GOTRACEBACK"})
# writers: how to find the files a program writes
WRITE_ALL_OPERANDS = frozenset({"rm", "rmdir", "unlink", "shred", "truncate", "touch", "mkdir", "mkfifo",
                                 "mknod", "tee", "srm", "wipe"})
WRITE_SKIP_FIRST = frozenset({"chmod", "chown", "chgrp", "setfacl", "chattr", "chcon"})
WRITE_LAST = frozenset({"cp", "install", "ln", "link", "rsync", "scp"})
WRITE_SOURCES_AND_DESTINATION = frozenset({"mv"})  # sources and destination
WRITERS = (WRITE_ALL_OPERANDS | WRITE_SKIP_FIRST | WRITE_LAST | WRITE_SOURCES_AND_DESTINATION
            | {"dd", "sort", "tar", "unzip", "patch", "cpio", "7z", "git-apply", "bsdtar"})
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
MAKE_DANGEROUS_VARIABLES = frozenset({"SHELL", ".SHELLFLAGS", "MAKESHELL", "MAKEFLAGS", "MFLAGS", "GNUMAKEFLAGS",
                                  "MAKEFILES", ".DEFAULT_GOAL", "MAKEFILE_LIST"})
# builtins that treat an argument as a variable name; `a[$(cmd)]` there runs cmd (subscripts are
# evaluated as arithmetic)
VARNAME_BUILTINS = frozenset({"printf", "read", "unset", "declare", "local", "export", "readonly", "typeset",
                               "let", "mapfile", "readarray", "getopts", "wait", "test", "[", "[[", "printf"})
FILE_TESTS = frozenset({"-a", "-b", "-c", "-d", "-e", "-f", "-g", "-h", "-k", "-p", "-r", "-s", "-t", "-u", "-w",
                         "-x", "-G", "-L", "-N", "-O", "-S", "-nt", "-ot", "-ef"})


def _spec(pattern_first: bool, path: str, pattern: str, other: str, two: str = "", two_other: str = ""):
    arity = {o: 1 for o in (path + " " + pattern + " " + other).split()}
    arity.update({o: 2 for o in (two + " " + two_other).split()})
    return (arity, frozenset(path.split()) | frozenset(two.split()), frozenset(pattern.split()), pattern_first)


_GREP_SPEC = _spec(True, "-f --file --exclude-from", "-e --regexp",
                   "-A -B -C -D -d -m --max-count --after-context --before-context --context --devices "
                   "--directories --label --binary-files --include --exclude --exclude-dir --group-separator")
# value-taking options of programs whose operands are classified precisely
OPTION_VALUES = {
    "grep": _GREP_SPEC, "egrep": _GREP_SPEC, "fgrep": _GREP_SPEC,
    "rg": _spec(True, "-f --file --ignore-file", "-e --regexp",
                "-A -B -C -g -j -m -M -r -t -T -E -d --glob --iglob --threads --max-count --max-columns "
                "--replace --type --type-not --encoding --max-depth --type-add --type-clear --pre --pre-glob "
                "--colors --context-separator --path-separator --sort --sortr --max-filesize --dfa-size-limit "
                "--regex-size-limit --engine --hostname-bin --hyperlink-format --after-context "
                "--before-context --context --field-context-separator --field-match-separator"),
    "jq": _spec(True, "-f --from-file -L", "", "--indent", "--slurpfile --rawfile", "--arg --argjson"),
}
GNU_ABBREVIATES = frozenset({"sort", "tar", "make", "gmake", "man", "sdiff", "diff3", "zip", "rsync"})
CODE_OPTION_PROGRAMS = frozenset(CODE_OPTIONS) | VARNAME_BUILTINS | {"make", "gmake", "cargo"}
PYTHON_VERSIONED = re.compile(r"python[23]?\.\d+")
DANGEROUS_ENV_SUFFIXES = ("_OPTIONS", "_OPTS", "FLAGS", "CONFIG", "_CONFIG_PATH", "PATH", "_ADDOPTS", "_PLUGINS",
                          "_COMMAND", "_CMD", "_PROGRAM", "_SHELL", "_EDITOR", "_PAGER", "_WRAPPER", "_EXEC",
                          "_PRELOAD", "_HOME", "_ASKPASS", "_HOOK", "_HOOKS", "RC", "_INIT", "_STARTUP")


def env_is_dangerous(name: str) -> bool:
    """Variables that change which program runs, what it loads, or its configuration."""
    if name in SAFE_ENV:
        return False
    return (name in DANGEROUS_ENV or name.startswith(DANGEROUS_ENV_PREFIXES)
            or name.upper().endswith(DANGEROUS_ENV_SUFFIXES))


