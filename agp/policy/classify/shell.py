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

Layout: ``_shell_words`` (what bash makes of one word), ``_shell_walk`` (the grammar walk and the
checks around it), ``_shell_commands`` (per-program rules), ``_shell_state`` (limits and what the
walk carries), and the tables those rules read, one module per family of programs, in
``agp.policy.classify.programs``.
"""

from __future__ import annotations

import functools

from agp.policy.classify._shell_state import MAX_COMMAND_BYTES, MAX_DEPTH, MAX_NESTING
from agp.policy.classify._shell_walk import classify_code
from agp.policy.classify._statement import Statement

__all__ = ("MAX_COMMAND_BYTES", "MAX_DEPTH", "MAX_NESTING", "classify_shell")


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
        out = classify_code(command, (cwd,), (), 0)
    except RecursionError:
        out = [Statement(kind="unknown", text=command[:500], reason="command nested too deeply to classify")]
    if not out:
        # only assignments / comments / function definitions: nothing runs, but say so
        out = [
            Statement(
                kind="exec",
                program=":",
                argv=(":",),
                literal=(True,),
                globs=(False,),
                text=command[:500],
                cwd=cwd,
                reason="no command runs (assignments, comments or definitions only)",
            )
        ]
    return tuple(out)
