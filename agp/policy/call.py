"""What the engine decides on: a tool call, and the statements it was split into.

:class:`ToolCall` is the call as the harness reports it; :class:`ClassifiedCall` is that call
with its :class:`ClassifiedStatement` list (``agp.policy.classify.tools`` builds it), each with
the :class:`PathFact` of every path it names. These types are shared by the tool classifier and
the engine, and import nothing else of agp.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_new = object.__new__

__all__ = ("WORKSPACE_MODES", "ClassifiedCall", "ClassifiedStatement", "PathFact", "ToolCall")

#: how a call's workspace is backed (see ``ToolCall.workspace_mode``)
WORKSPACE_MODES: tuple[str, ...] = ("mount", "clone")


@dataclass(frozen=True)
class ToolCall:
    """One tool call as the harness reports it to its hook."""

    harness: str
    tool: str
    input: Mapping[str, Any]
    cwd: str
    workspace: str
    session: str = ""
    tool_use_id: str | None = None
    #: the host directory that backs ``workspace`` when the harness runs in a sandbox (symlinks
    #: inside the workspace are read there); None: the workspace path is the same on this host;
    #: "": never read the filesystem (lexical resolution only)
    host_workspace: str | None = None
    #: how the workspace is backed: "mount" (the user's own directory, bind-mounted) or "clone"
    #: (a copy whose work comes back as a journaled patch); rules match it with ``workspace_mode``
    workspace_mode: str = "mount"

    def __post_init__(self) -> None:
        if self.workspace_mode not in WORKSPACE_MODES:
            raise ValueError(f"workspace_mode must be one of {', '.join(WORKSPACE_MODES)}, not {self.workspace_mode!r}")

    def to_json_dict(self) -> dict[str, Any]:
        d = {
            "harness": self.harness,
            "tool": self.tool,
            "input": dict(self.input),
            "cwd": self.cwd,
            "workspace": self.workspace,
            "session": self.session,
        }
        if self.tool_use_id is not None:
            d["tool_use_id"] = self.tool_use_id
        if self.workspace_mode != "mount":
            d["workspace_mode"] = self.workspace_mode
        return d


@dataclass(frozen=True)
class PathFact:
    """A path a statement reads, writes or names, resolved against the workspace.

    ``location`` is ``inside``, ``root`` (the workspace itself), ``outside`` or ``null`` (the
    null device and standard streams); ``None`` when the path is decided only at run time
    (then ``path`` is ``None`` too). For a wildcard pattern (``glob``), ``path`` is its fixed
    leading directory: every match lies there or below.
    """

    written: str
    path: str | None
    location: str | None
    glob: bool = False

    def to_json_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"written": self.written, "path": self.path, "location": self.location or "unknown"}
        if self.glob:
            d["glob"] = True
        return d


@dataclass(frozen=True)
class ClassifiedStatement:
    """One thing a call does, in the terms rules speak about."""

    kind: str
    text: str
    program: str | None = None
    argv: tuple[str, ...] = ()
    #: per argv word: True when the word is literal (known before run time)
    literal: tuple[bool, ...] = ()
    paths: tuple[PathFact, ...] = ()
    host: str | None = None
    sql_kind: str | None = None
    sql_flags: tuple[str, ...] = ()
    mcp_server: str | None = None
    mcp_tool: str | None = None
    #: egress: the port the client asked for; the HTTP method and path (without query) where the door sees them
    #: (plain HTTP, or HTTPS in inspecting mode); None for a tunnel it does not look into
    port: int | None = None
    method: str | None = None
    url_path: str | None = None
    via: tuple[str, ...] = ()
    reason: str | None = None
    #: classifier facts (shell: 'glob', 'stdin_code', 'interpreter', ...; sql: 'no_where', ...)
    facts: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.literal and len(self.literal) != len(self.argv):
            raise ValueError("literal must have one flag per argv word")
        if not self.literal and self.argv:
            object.__setattr__(self, "literal", (True,) * len(self.argv))

    @classmethod
    def fast(
        cls,
        kind: str,
        text: str,
        program: str | None,
        argv: tuple[str, ...],
        literal: tuple[bool, ...],
        paths: tuple[PathFact, ...],
        host: str | None,
        sql_kind: str | None,
        sql_flags: tuple[str, ...],
        via: tuple[str, ...],
        reason: str | None,
        facts: tuple[str, ...],
    ) -> ClassifiedStatement:
        """The same value as the constructor with these fields (mcp_server, mcp_tool, port, method,
        url_path None), made without the frozen dataclass's per-field ``__init__``: the shell
        classifier makes one per statement."""
        if literal and len(literal) != len(argv):
            raise ValueError("literal must have one flag per argv word")
        if not literal and argv:
            literal = (True,) * len(argv)
        s = _new(cls)
        s.__dict__.update(
            kind=kind,
            text=text,
            program=program,
            argv=argv,
            literal=literal,
            paths=paths,
            host=host,
            sql_kind=sql_kind,
            sql_flags=sql_flags,
            mcp_server=None,
            mcp_tool=None,
            port=None,
            method=None,
            url_path=None,
            via=via,
            reason=reason,
            facts=facts,
        )
        return s

    def to_json_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"kind": self.kind, "text": self.text}
        if self.program is not None:
            d["program"] = self.program
        if self.argv:
            d["argv"] = [w if lit else {"runtime": w} for w, lit in zip(self.argv, self.literal, strict=True)]
        if self.paths:
            d["paths"] = [p.to_json_dict() for p in self.paths]
        for k in ("host", "port", "method", "url_path", "sql_kind", "mcp_server", "mcp_tool", "reason"):
            v = getattr(self, k)
            if v is not None:
                d[k] = v
        if self.sql_flags:
            d["sql_flags"] = list(self.sql_flags)
        if self.via:
            d["via"] = list(self.via)
        if self.facts and self.facts != self.sql_flags:
            d["facts"] = list(self.facts)
        return d


@dataclass(frozen=True)
class ClassifiedCall:
    call: ToolCall
    statements: tuple[ClassifiedStatement, ...]
