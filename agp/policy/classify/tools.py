"""From a harness tool call to the statements the engine evaluates.

- Bash (Claude Code; Codex reports its shell tool as Bash too): ``input.command`` through the
  shell classifier.
- Read / Glob / Grep / NotebookRead: a ``read`` of the path (Glob: of the pattern joined to
  its base; Grep: of ``path``, default the cwd).
- Write / Edit / MultiEdit / NotebookEdit: a ``write`` of the file.
- apply_patch: a ``write`` of every path the patch adds, updates, deletes or moves to.
- WebFetch: a ``url`` statement with the host; WebSearch: a ``url`` statement without one.
- mcp__SERVER__TOOL: an ``mcp`` statement; when the tool looks like a database tool and its input
  carries SQL, every SQL statement too.
- Task / Agent / spawn_agent and Codex's other multi-agent tools: a ``task`` statement (the
  subagent's own calls come through the gate one by one).
- anything else, or an input of the wrong shape, or an unknown harness: ``unknown``.

This is where paths are resolved (``normalize_path`` reads symlinks inside the workspace), so
``classify`` does I/O and ``evaluate_classified`` does not.
"""

from __future__ import annotations

import posixpath
import re
from typing import Any

from agp.policy.call import ClassifiedCall, ClassifiedStatement, PathFact, ToolCall
from agp.policy.classify._statement import Statement
from agp.policy.classify.paths import normalize_path
from agp.policy.classify.shell import classify_shell
from agp.policy.classify.sql import classify_sql
from agp.policy.classify.urls import url_host

__all__ = ("HARNESSES", "SUBAGENT_TOOLS", "classify")

HARNESSES = frozenset({"claude-code", "codex", "reference"})

_READ_TOOLS = {"Read": "file_path", "NotebookRead": "notebook_path"}
_WRITE_TOOLS = {"Write": "file_path", "Edit": "file_path", "MultiEdit": "file_path", "NotebookEdit": "notebook_path"}
_SHELL_TOOLS = {"Bash": "command"}
#: the null device and the process's own standard streams: reading or writing them touches no file
_NULL_PATHS = frozenset(
    {
        "/dev/null",
        "/dev/stdin",
        "/dev/stdout",
        "/dev/stderr",
        "/dev/fd/0",
        "/dev/fd/1",
        "/dev/fd/2",
        "/proc/self/fd/0",
        "/proc/self/fd/1",
        "/proc/self/fd/2",
    }
)
#: directories whose programs are the system's own (a program run by any other path is that path)
_SYSTEM_BIN = frozenset({"/bin", "/usr/bin", "/usr/local/bin", "/sbin", "/usr/sbin", "/usr/local/sbin"})
_DB_HINT = re.compile(
    r"(sql|postgres|pg|mysql|maria|sqlite|duckdb|database|db|query|bigquery|snowflake|redshift|clickhouse)", re.I
)
_SQL_KEYS = ("sql", "query", "statement", "statements")
_PATCH_FILE = re.compile(r"^\*\*\* (?:Add File|Update File|Delete File|Move to): (.+?)\s*$", re.M)
_GLOB_MAGIC = re.compile(r"[*?\[]")
_TEXT_MAX = 500


#: tools that start or steer a subagent, whose own tool calls are gated one by one. Codex 0.169.0
#: offers a multi_agent_v1 namespace (spawn_agent, send_input, wait_agent, resume_agent, close_agent)
#: and reports spawn_agent to hooks as `spawn_agent`, the others with the namespace glued on
#: (`multi_agent_v1wait_agent`); measured in tests/integration/conformance.
CODEX_AGENT_TOOLS = (
    "multi_agent_v1send_input",
    "multi_agent_v1wait_agent",
    "multi_agent_v1resume_agent",
    "multi_agent_v1close_agent",
)
SUBAGENT_TOOLS = frozenset({"Task", "Agent", "spawn_agent", *CODEX_AGENT_TOOLS})


def _unknown(text: str, reason: str) -> ClassifiedStatement:
    return ClassifiedStatement(kind="unknown", text=text[:_TEXT_MAX], reason=reason)


def _resolve(written: str, literal: bool, cwd: str, call: ToolCall, streams: bool = True) -> PathFact:
    """streams: the standard streams count as null (a shell's redirection to /dev/stdout); the file
    tools (Read, Write, Edit, Glob, Grep) get False: for them only /dev/null is null, and
    /proc/self/fd/1 or /dev/stdout is the harness's own descriptor, outside the workspace."""
    if not literal:
        return PathFact(written, None, None)
    has_glob = bool(_GLOB_MAGIC.search(written))
    probe = written
    if has_glob:
        # where can the pattern's matches lie? in its fixed leading directory or below
        prefix = []
        for seg in written.split("/"):
            if _GLOB_MAGIC.search(seg):
                break
            prefix.append(seg)
        fixed = "/".join(prefix)
        if ".." in written[len(fixed) :].split("/"):
            return PathFact(written, None, None)  # '..' after a wildcard: could lead anywhere
        probe = fixed or ("/" if written.startswith("/") else ".")
    r = normalize_path(probe, cwd, call.workspace, host_root=call.host_workspace)
    if (r.path in _NULL_PATHS if streams else r.path == "/dev/null") and not has_glob:
        return PathFact(written, r.path, "null")
    if not r.inside_workspace:
        return PathFact(written, r.path if r.path.startswith("/") else None, "outside", has_glob)
    # a wildcard directly under the root can name everything in it
    return PathFact(written, r.path, "root" if r.is_workspace_root else "inside", has_glob)


def _from_classifier(
    s: Statement, call: ToolCall, memo: dict[tuple[str, bool, str], PathFact] | None = None
) -> ClassifiedStatement:
    cwd = s.cwd or call.cwd
    memo = {} if memo is None else memo
    argv = s.argv
    literal = s.literal
    if True in s.globs:  # a wildcard word is decided at run time too (`rm *` may expand to `-rf`)
        literal = tuple([lit and not g for lit, g in zip(s.literal, s.globs, strict=False)])  # lengths checked below
    if len(literal) != len(argv):
        literal = (False,) * len(argv)
    spaths = s.paths
    paths_lit = s.paths_literal if len(s.paths_literal) == len(spaths) else (False,) * len(spaths)
    resolved = []
    for p, lit in zip(spaths, paths_lit, strict=True):
        key = (p, lit, cwd)
        hit = memo.get(key)
        if hit is None:
            hit = memo[key] = _resolve(p, lit, cwd, call)
        resolved.append(hit)
    program = s.program or None
    kind = s.kind
    if kind == "exec" and argv:
        word = argv[0]
        if "/" in word:
            d = posixpath.dirname(posixpath.normpath(word))
            if not (word.startswith("/") and d in _SYSTEM_BIN):
                # ./ls or /tmp/x/ls is not ls: name the program by its path
                program = word
                resolved.append(_resolve(word, literal[0] if literal else False, cwd, call))
    return ClassifiedStatement.fast(
        kind,
        s.text if len(s.text) <= _TEXT_MAX else s.text[:_TEXT_MAX],
        program,
        argv,
        literal,
        tuple(resolved),
        s.host,
        s.sql_kind,
        s.flags if kind == "sql" else (),
        s.via,
        s.reason or None,
        s.flags,
    )


def _brace_leaves(pattern: str) -> bool:
    """True if a {a,b} alternative holds '/', '~' or '..' (`{src,/etc}/*`, `src/{x,../..}/*`): the
    pattern's fixed leading directory no longer bounds its matches."""
    depth = 0
    prev = ""
    for ch in pattern:
        if ch == "{":
            depth += 1
        elif ch == "}" and depth:
            depth -= 1
        elif depth and (ch in "/~" or (ch == "." and prev == ".")):
            return True
        prev = ch
    return False


def _str(inp: Any, key: str) -> str | None:
    v = inp.get(key) if isinstance(inp, dict) else None
    return v if isinstance(v, str) else None


def _path_stmt(kind: str, tool: str, path: str, call: ToolCall) -> ClassifiedStatement:
    return ClassifiedStatement(
        kind=kind, text=f"{tool} {path}"[:_TEXT_MAX], paths=(_resolve(path, True, call.cwd, call, streams=False),)
    )


def _patch_writes(text: str, tool: str, call: ToolCall) -> list[ClassifiedStatement]:
    """A write statement per file a patch adds, updates, deletes or moves to. A file name with
    shell expansion characters (an unquoted here-doc expands them) is decided at run time."""
    out = []
    for f in _PATCH_FILE.findall(text):
        literal = not any(ch in f for ch in "$`\\")
        out.append(
            ClassifiedStatement(
                kind="write", text=f"{tool} {f}"[:_TEXT_MAX], paths=(_resolve(f, literal, call.cwd, call),)
            )
        )
    return out


def classify(call: ToolCall) -> ClassifiedCall:
    """Split ``call`` into the statements the policy evaluates (never raises for bad input)."""
    return ClassifiedCall(call, tuple(_statements(call)))


def _statements(call: ToolCall) -> list[ClassifiedStatement]:
    tool, inp = call.tool, call.input
    if call.harness not in HARNESSES:
        return [_unknown(f"{tool} call", f"unknown harness {call.harness[:40]!r}")]
    if not isinstance(inp, dict):
        return [_unknown(f"{tool} call", "tool input is not an object")]
    if not call.workspace.startswith("/") or not call.cwd.startswith("/"):
        return [_unknown(f"{tool} call", "the call has no absolute workspace or cwd")]

    if tool in _SHELL_TOOLS:
        cmd = _str(inp, _SHELL_TOOLS[tool])
        if cmd is None:
            return [_unknown(f"{tool} call", f"{tool} input has no command string")]
        memo: dict[
            tuple[str, bool, str], PathFact
        ] = {}  # one call: the same path is resolved once (never across calls: links change)
        found = classify_shell(cmd, call.cwd)
        if len(found) == 1 and found[0].kind == "exec" and found[0].program == "apply_patch":
            # Codex runs `apply_patch <<'EOF' ... EOF` itself (no such binary): the patch's files
            return _patch_writes(cmd, "apply_patch", call) or [_from_classifier(found[0], call, memo)]
        return [_from_classifier(s, call, memo) for s in found]

    if tool in _READ_TOOLS or tool in _WRITE_TOOLS:
        key = _READ_TOOLS.get(tool) or _WRITE_TOOLS[tool]
        p = _str(inp, key)
        if not p:
            return [_unknown(f"{tool} call", f"{tool} input has no {key}")]
        return [_path_stmt("read" if tool in _READ_TOOLS else "write", tool, p, call)]

    if tool == "Glob":
        pattern = _str(inp, "pattern")
        base = inp.get("path") or call.cwd
        if not pattern or not isinstance(base, str):
            return [_unknown("Glob call", "Glob input has no pattern")]
        full = pattern if pattern.startswith("/") else posixpath.join(base, pattern)
        if _brace_leaves(pattern):
            return [
                _unknown(
                    f"Glob {pattern}", "a brace alternative in the Glob pattern names another directory (/, ~ or ..)"
                )
            ]
        return [
            ClassifiedStatement(
                kind="read",
                text=f"Glob {pattern} in {base}"[:_TEXT_MAX],
                paths=(
                    _resolve(base, True, call.cwd, call, streams=False),
                    _resolve(full, True, call.cwd, call, streams=False),
                ),
            )
        ]

    if tool == "Grep":
        base = inp.get("path") or call.cwd
        if not isinstance(base, str) or not isinstance(inp.get("pattern"), str):
            return [_unknown("Grep call", "Grep input has no pattern")]
        return [_path_stmt("read", "Grep", base, call)]

    if tool == "apply_patch":
        text = next((v for k, v in sorted(inp.items()) if isinstance(v, str) and "*** Begin Patch" in v), None)
        if text is None:
            return [_unknown("apply_patch call", "no patch text in the input")]
        return _patch_writes(text, "apply_patch", call) or [_unknown("apply_patch call", "the patch names no file")]

    if tool == "WebFetch":
        url = _str(inp, "url")
        if not url:
            return [_unknown("WebFetch call", "WebFetch input has no url")]
        return [ClassifiedStatement(kind="url", text=f"WebFetch {url}"[:_TEXT_MAX], host=url_host(url))]
    if tool == "WebSearch":
        q = _str(inp, "query") or ""
        return [ClassifiedStatement(kind="url", text=f"WebSearch {q}"[:_TEXT_MAX], host=None)]

    if tool in SUBAGENT_TOOLS:  # Claude's Task (Agent since 2.1.x), Codex's multi_agent_v1 tools
        desc = _str(inp, "description") or _str(inp, "subagent_type") or _str(inp, "message") or ""
        return [ClassifiedStatement(kind="task", text=f"{tool} {desc}"[:_TEXT_MAX], program=_str(inp, "subagent_type"))]

    if tool.startswith("mcp__"):
        parts = tool.split("__")
        if len(parts) < 3 or not parts[1] or not all(parts[2:]):
            return [_unknown(tool, "malformed MCP tool name")]
        server, name = parts[1], "__".join(parts[2:])
        out = [ClassifiedStatement(kind="mcp", text=tool, mcp_server=server, mcp_tool=name)]
        if _DB_HINT.search(server) or _DB_HINT.search(name):
            for key in _SQL_KEYS:
                v = inp.get(key)
                texts = (
                    [v] if isinstance(v, str) else [x for x in v if isinstance(x, str)] if isinstance(v, list) else []
                )
                for t in texts:
                    out += [_from_classifier(s, call) for s in classify_sql(t)]
        return out

    return [_unknown(f"{tool} call", f"agp has no classifier for the tool {tool[:60]!r}")]
