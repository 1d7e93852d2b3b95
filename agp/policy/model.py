"""Policy files: TOML in, frozen pydantic models out.

A policy file looks like::

    [policy]
    name = "default"
    description = "..."
    # no_match = "abstain"   # or "deny": this tier must itself allow every statement
    # approvals = true       # false: every `require` becomes `deny` (CI)

    [[rule]]
    id = "read-workspace"
    effect = "allow"                 # allow | deny | require
    description = "read files inside the workspace"
    kind = ["read"]
    location = ["inside", "root"]    # every path of the statement is in the workspace

    [[test]]
    tool = "Read"
    input = { file_path = "README.md" }
    expect = "allow"

Every key is checked: an unknown key, a wrong type or an impossible combination
is a :class:`~agp.errors.PolicyError` naming the file, the line and the rule.
The matchers and their semantics are documented on :class:`Rule` and in
adr/0003-policy-language.md.
"""

from __future__ import annotations

import datetime as _dt
import difflib
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

from agp.errors import PolicyError
from agp.policy._regex_safety import backtracking_problem

__all__ = (
    "KINDS",
    "LOCATIONS",
    "SQL_KINDS",
    "PolicyFile",
    "PolicyHeader",
    "Rule",
    "TestCase",
    "dump_composed_policy",
    "parse_policy_text",
    "read_policy_file",
    "read_policy_tiers",
    "resolve_policy_file",
    "shipped_policies_dir",
)

Effect = Literal["allow", "deny", "require"]
Kind = Literal["exec", "read", "write", "sql", "url", "mcp", "task", "egress", "unknown", "workspace.result"]
Location = Literal["inside", "root", "outside", "null"]
WorkspaceMode = Literal["mount", "clone"]

#: statement kinds a rule may name in ``kind``
KINDS: tuple[str, ...] = (
    "exec",
    "read",
    "write",
    "sql",
    "url",
    "mcp",
    "task",
    "egress",
    "unknown",
    # landing a clone-mode result that changes a path the host runs (matchable by path);
    # matched only by rules that name it
    "workspace.result",
)
#: where a resolved path lies relative to the workspace
LOCATIONS: tuple[str, ...] = ("inside", "root", "outside", "null")
#: SQL statement kinds the SQL classifier reports
SQL_KINDS: tuple[str, ...] = (
    "select",
    "insert",
    "update",
    "delete",
    "merge",
    "ddl",
    "grant",
    "transaction",
    "unknown",
)

_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


_CALL_MATCHERS = ("harness", "tool", "workspace_mode")
_STATEMENT_MATCHERS = (
    "kind",
    "program",
    "subcommand",
    "flags_any",
    "flags_none",
    "args_any",
    "args_none",
    "args_prefix",
    "operands_max",
    "operands_min",
    "facts_any",
    "facts_none",
    "location",
    "touches",
    "path",
    "touches_path",
    "sql_kind",
    "sql_flags_any",
    "sql_flags_none",
    "host",
    "mcp_server",
    "mcp_tool",
    "port",
    "method",
    "url_path",
)
# the matchers written as lists of strings (the others are numbers); each must be non-empty
_LIST_MATCHERS = tuple(
    k for k in _CALL_MATCHERS + _STATEMENT_MATCHERS if k not in ("operands_max", "operands_min", "port")
)


def _listify(v: Any) -> Any:
    """Let a matcher be written as one string or as a list of strings."""
    if isinstance(v, str):
        return (v,)
    if isinstance(v, list):
        return tuple(v)
    return v


def _nonempty(v: tuple[str, ...] | None) -> tuple[str, ...] | None:
    if v is not None:
        if not v:
            raise ValueError("must not be an empty list (leave the key out to not constrain it)")
        for s in v:
            if not s:
                raise ValueError("must not contain an empty string")
    return v


Names = Annotated[tuple[str, ...] | None, BeforeValidator(_listify)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


class Rule(_Strict):
    """One rule. Every matcher that is present must hold; a list matcher holds for any of its items.

    Call-level matchers: ``harness``, ``tool`` (names or globs), ``workspace_mode`` (``mount``: the
    user's own directory is bind-mounted; ``clone``: the agent works on a copy that comes back as
    a journaled patch).

    Statement-level matchers (a call is split into statements: each simple shell command,
    each redirection, each SQL statement, each file a tool reads or writes...):

    - ``kind``: statement kinds (exec, read, write, sql, url, mcp, task).
    - ``program``: the program a shell statement runs (basename; glob).
    - ``subcommand``: the first operand (``git push`` → ``push``).
    - ``flags_any`` / ``flags_none``: some / none of these options is given. ``-r`` also
      matches inside a cluster (``-rf``); ``--force`` also matches an abbreviation
      (``--forc``) and ``--force=x``; ``-delete`` (one dash, several letters) matches the
      word or a longer word starting with it (``-exec`` matches ``-execdir``); globs allowed.
    - ``args_any`` / ``args_none``: some / no argument word matches one of these globs
      (a pattern ``re:REGEX`` is a regular expression searched in the word instead).
    - ``operands_max`` / ``operands_min``: at most / at least this many operands (words not
      starting with ``-``, the subcommand included; an option's value counts as an operand).
    - ``args_prefix``: the arguments start with these words (``"-m pytest"``; word globs).
    - ``facts_any`` / ``facts_none``: some / none of these classifier facts is recorded on the
      statement (shell: ``glob``, ``stdin_code``, ``interpreter``...; SQL: ``no_where``...).
    - ``location``: every path of the statement lies in one of these places
      (``inside`` the workspace, the workspace ``root`` itself, ``outside``, or ``null``: the
      null device and the process's own standard streams, /dev/null, /dev/stdout...).
    - ``touches``: some path of the statement lies in one of these places.
    - ``path`` / ``touches_path``: every / some path matches one of these globs
      (relative globs are relative to the workspace; ``**`` crosses directories).
    - ``sql_kind``, ``sql_flags_any``, ``sql_flags_none``: SQL statements.
    - ``host``: URL host globs. ``mcp_server``, ``mcp_tool``: MCP names (globs).
    - ``egress`` statements (a connection through the egress door; a rule matches them only when
      its ``kind`` names ``egress``): ``host`` (globs, matched against the name the client asked
      for), ``port`` (numbers), ``private = true`` (the rule also admits a host that resolves to a
      loopback, private, link-local, multicast or metadata address; such a rule must name its
      hosts, no ``*`` alone). Without it, an allow or require rule never matches such a connection.
      ``method`` (HTTP methods) and ``url_path`` (path globs, ``**`` crosses ``/``) match a request the door
      sees: plain HTTP, or HTTPS to a host an ``inspect = true`` rule names (the door then terminates TLS
      with the run's own CA and decides each request; the tunnel itself is not a decision).
    - ``unknown = true``: the rule matches statements the classifiers could not
      decide (``eval``, ``$CMD``, unparseable input, unknown tools). No other rule ever
      matches them. Such a rule may only carry call-level matchers.

    Words and paths that are decided only at run time (``$VAR``, ``$(...)``, globs) are
    treated as "could be anything": an allow/require rule matches only when it holds for
    every possible value, a deny rule whenever it holds for some value.

    ``not_before`` / ``not_after`` (TOML datetimes with an offset) bound when the rule is in
    force, judged by the ``now`` the caller passes. ``approver_group`` and ``quorum`` are for
    ``require`` rules only.
    """

    id: str
    effect: Effect
    description: str = ""

    harness: Names = None
    tool: Names = None
    workspace_mode: Annotated[tuple[WorkspaceMode, ...] | None, BeforeValidator(_listify)] = None

    kind: Annotated[tuple[Kind, ...] | None, BeforeValidator(_listify)] = None
    program: Names = None
    subcommand: Names = None
    flags_any: Names = None
    flags_none: Names = None
    args_any: Names = None
    args_none: Names = None
    args_prefix: Names = None
    operands_max: int | None = Field(default=None, ge=0, le=1000)
    operands_min: int | None = Field(default=None, ge=1, le=1000)
    facts_any: Names = None
    facts_none: Names = None
    location: Annotated[tuple[Location, ...] | None, BeforeValidator(_listify)] = None
    touches: Annotated[tuple[Location, ...] | None, BeforeValidator(_listify)] = None
    path: Names = None
    touches_path: Names = None
    sql_kind: Names = None
    sql_flags_any: Names = None
    sql_flags_none: Names = None
    host: Names = None
    method: Names = None
    url_path: Names = None
    inspect: bool = False
    #: inspecting mode: a header the door adds to each request this rule allows, with a secret from the host,
    #: e.g. "Authorization: Bearer {{secret:NPM_TOKEN}}" (the box never sees the value; the journal the name)
    credential_header: str | None = None
    port: Annotated[
        tuple[int, ...] | None,
        BeforeValidator(lambda v: (v,) if isinstance(v, int) else (tuple(v) if isinstance(v, list) else v)),
    ] = None
    private: bool = False
    mcp_server: Names = None
    mcp_tool: Names = None
    unknown: bool = False

    not_before: _dt.datetime | None = None
    not_after: _dt.datetime | None = None

    approver_group: str | None = None
    quorum: int | None = Field(default=None, ge=1, le=16)

    @field_validator(*_LIST_MATCHERS)
    @classmethod
    def check_nonempty(cls, v: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return _nonempty(v)

    @field_validator("id")
    @classmethod
    def _check_id(cls, v: str) -> str:
        if not _ID_RE.match(v):
            raise ValueError("rule id must be 1-64 characters of letters, digits, '.', '_' or '-'")
        return v

    @field_validator("args_any", "args_none")
    @classmethod
    def _check_regex(cls, v: tuple[str, ...] | None) -> tuple[str, ...] | None:
        for p in v or ():
            if p.startswith("re:"):
                try:
                    re.compile(p[3:])
                    problem = backtracking_problem(p[3:])
                except re.error as exc:
                    raise ValueError(f"bad regular expression {p!r}: {exc}") from None
                if problem is not None:
                    raise ValueError(f"regular expression {p!r} refused: {problem}")
        return v

    @field_validator("sql_kind")
    @classmethod
    def _check_sql_kind(cls, v: tuple[str, ...] | None) -> tuple[str, ...] | None:
        for k in v or ():
            if k not in SQL_KINDS:
                raise ValueError(f"unknown SQL kind {k!r}; expected one of {', '.join(SQL_KINDS)}")
        return v

    @field_validator("not_before", "not_after")
    @classmethod
    def _aware(cls, v: _dt.datetime | None) -> _dt.datetime | None:
        if v is not None and v.tzinfo is None:
            raise ValueError("must carry a UTC offset (write 2026-01-01T00:00:00Z)")
        return v

    @model_validator(mode="after")
    def _coherent(self) -> Rule:
        statement_keys = [k for k in _STATEMENT_MATCHERS if getattr(self, k) is not None]
        if self.unknown and statement_keys:
            raise ValueError(
                f"a rule with unknown = true may only use harness/tool matchers, not {', '.join(statement_keys)}"
            )
        if self.effect != "deny" and not (
            self.unknown or statement_keys or self.harness or self.tool or self.workspace_mode
        ):
            raise ValueError(
                f"an {self.effect} rule needs at least one matcher; an allow-everything rule is not supported"
            )
        if self.effect != "require" and (self.approver_group is not None or self.quorum is not None):
            raise ValueError('approver_group and quorum are only for effect = "require"')
        if self.not_before and self.not_after and self.not_after <= self.not_before:
            raise ValueError("not_after must be later than not_before")
        if self.port is not None and (not self.port or any(not 1 <= p <= 65535 for p in self.port)):
            raise ValueError("port must be a list of numbers from 1 to 65535")
        if self.private and not self.host:
            raise ValueError("private = true needs a host matcher naming the private hosts")
        if self.private and any(h.strip("*.") == "" for h in self.host or ()):
            raise ValueError("private = true must name its hosts (a host pattern of only '*' is not allowed)")
        if self.inspect and (
            self.effect == "deny"
            or "egress" not in (self.kind or ())
            or not self.host
            or any(h.strip("*.") == "" for h in self.host)
        ):
            raise ValueError('inspect = true is for allow/require rules with kind = ["egress"] that name their hosts')
        if self.credential_header is not None:
            m = re.fullmatch(r"([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*([\x20-\x7e]*)", self.credential_header)
            if not (self.inspect and self.effect != "deny"):
                raise ValueError("credential_header is for rules with inspect = true")
            if (
                m is None
                or len(re.findall(r"\{\{secret:[A-Za-z_][A-Za-z0-9_]*\}\}", m.group(2))) != 1
                or "{{" in re.sub(r"\{\{secret:[A-Za-z_][A-Za-z0-9_]*\}\}", "", m.group(2))
            ):
                raise ValueError('credential_header must be "Name: value" with one {{secret:NAME}} in the value')
        if self.method and any(not re.fullmatch(r"[A-Z]{1,20}", m) for m in self.method):
            raise ValueError("method must be HTTP methods in capitals (GET, HEAD, POST, ...)")
        if self.kind and "unknown" in self.kind:
            raise ValueError('use unknown = true, not kind = ["unknown"]')
        return self

    def matchers(self) -> dict[str, Any]:
        """The matchers that are present, as written (for explanations)."""
        out = {}
        for k in _CALL_MATCHERS + _STATEMENT_MATCHERS:
            v = getattr(self, k)
            if v is not None:
                out[k] = list(v) if isinstance(v, tuple) else v
        if self.unknown:
            out["unknown"] = True
        if self.private:
            out["private"] = True
        if self.inspect:
            out["inspect"] = True
        return out


class PolicyHeader(_Strict):
    """The ``[policy]`` table."""

    name: str = "policy"
    description: str = ""
    version: Literal[1] = 1
    #: what this tier says about a statement none of its rules matches: "abstain" leaves it to
    #: the other tiers (and to the global default, deny); "deny" makes the tier an allow-list
    no_match: Literal["abstain", "deny"] = "abstain"
    #: false: no approver is available, so every `require` decision becomes `deny`
    approvals: bool = True
    #: true: this tier can only make decisions stricter: its deny and require rules count, its
    #: allow rules never allow anything on their own (with no_match = "deny" they narrow what the
    #: other tiers allow). A project policy (.agp/policy.toml) is always loaded this way.
    tighten_only: bool = False
    #: the egress door's upload budgets: megabytes the box may send through it over the whole run, and on one
    #: connection (unset: agp's defaults); with several tiers, the smallest wins
    egress_upload_mb: float | None = Field(default=None, gt=0, le=1_000_000)
    egress_connection_upload_mb: float | None = Field(default=None, gt=0, le=1_000_000)


class TestCase(_Strict):
    """A ``[[test]]`` example: the call and the decision it must get."""

    __test__ = False  # not a pytest class

    name: str | None = None
    harness: str = "claude-code"
    tool: str
    input: dict[str, Any]
    cwd: str | None = None
    workspace: str = "/workspace"
    workspace_mode: WorkspaceMode = "mount"
    expect: Effect
    rule: str | None = None
    now: _dt.datetime | None = None

    @field_validator("now")
    @classmethod
    def _aware(cls, v: _dt.datetime | None) -> _dt.datetime | None:
        if v is not None and v.tzinfo is None:
            raise ValueError("must carry a UTC offset")
        return v


class PolicyFile(_Strict):
    """One policy file (one tier).

    ``extends`` names policies whose rules come before this file's own, in order: a shipped
    policy by name (``"default"``) or a file path relative to this file. The loader resolves it
    (:func:`agp.policy.engine.load_policy`); a resolved file has ``extends = ()``.
    """

    extends: Annotated[tuple[str, ...], BeforeValidator(_listify)] = ()
    policy: PolicyHeader = PolicyHeader()
    rule: tuple[Rule, ...] = ()
    test: tuple[TestCase, ...] = ()

    @model_validator(mode="after")
    def _unique_ids(self) -> PolicyFile:
        for e in self.extends:
            if not e or "\0" in e:
                raise ValueError("extends: each entry is a shipped policy name or a file path")
        seen: set[str] = set()
        for r in self.rule:
            if r.id in seen:
                raise ValueError(f"duplicate rule id {r.id!r}")
            seen.add(r.id)
        return self


class ComposedPolicy(_Strict):
    """A whole composed policy in one file: ``[[tier]]`` tables, each a resolved policy file
    (``[tier.policy]``, ``[[tier.rule]]``). agp writes one into every run directory
    (:func:`dump_composed_policy`), so the run's policy is one self-contained file with the digest
    the gate journaled, whatever tiers, ``extends`` and project policy made it up."""

    tier: tuple[PolicyFile, ...] = Field(min_length=1, max_length=64)

    @model_validator(mode="after")
    def _resolved(self) -> ComposedPolicy:
        for i, t in enumerate(self.tier, 1):
            if t.extends:
                raise ValueError(f"tier {i}: a composed policy's tiers are resolved (no extends)")
        return self


# --------------------------------------------------------------------------- loading


def read_policy_file(path: str | Path) -> PolicyFile:
    """Read and validate one TOML policy file; raises PolicyError with file and line."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"{p}: cannot read policy file: {exc}") from exc
    return parse_policy_text(text, source=str(p))


def shipped_policies_dir() -> Path:
    """Where the shipped policies (default, strict, ci) live; ``extends = ["default"]`` names them.

    An installed agp carries them as package data in ``agp/_shipped/policies`` (in a checkout that
    is a link to the top-level ``policies/``); a checkout without it uses ``policies/`` itself.
    The same rule as ``agp.paths.shipped``, which this package may not import."""
    here = Path(__file__).resolve().parents[1]
    packaged = here / "_shipped" / "policies"
    if packaged.is_dir():
        return packaged
    return here.parent / "policies"


_SHIPPED_NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
_EXTENDS_DEPTH_MAX = 16


def read_policy_tiers(path: str | os.PathLike[str]) -> list[tuple[PolicyFile, str]]:
    """The tiers one file gives: a policy file (``extends`` resolved) is one tier; a composed
    policy (top-level ``[[tier]]`` tables) is each of its tiers, named ``FILE#tier-N``."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"{p}: cannot read policy file: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{p}: not valid TOML: {exc}") from exc
    if "tier" not in data:
        return [(resolve_policy_file(p), str(p))]
    try:
        composed = ComposedPolicy.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors(include_url=False))
        raise PolicyError(f"{p}: invalid composed policy: {problems}") from exc
    return [(t, f"{p}#tier-{i}") for i, t in enumerate(composed.tier, 1)]


def _toml_str(v: str) -> str:
    out = ['"']
    for ch in v:
        o = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\u{o:04X}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return _toml_str(v)
    if isinstance(v, _dt.datetime):
        return v.isoformat()
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} as TOML")


def dump_composed_policy(tiers: Sequence[PolicyFile], sources: Sequence[str] = ()) -> str:
    """The tiers as one composed policy file (TOML; ``[[test]]`` cases are left out: they decide
    nothing). Reading it back gives the same tiers and so the same digest."""
    lines = [
        "# agp composed policy: every tier in force, in order, with `extends` resolved.",
        "# Written by agp; `agp policy check` / `agp policy replay --policy` read it as it is.",
        "",
    ]
    for i, pf in enumerate(tiers):
        if pf.extends:
            raise ValueError("resolve extends before writing a composed policy")
        src = sources[i] if i < len(sources) else ""
        lines.append(f"# tier {i + 1}" + (f": {src}".replace("\n", " ") if src else ""))
        lines.append("[[tier]]")
        lines.append("[tier.policy]")
        for k, v in pf.policy.model_dump(mode="python", exclude_defaults=True).items():
            lines.append(f"{k} = {_toml_value(v)}")
        for r in pf.rule:
            lines.append("")
            lines.append("[[tier.rule]]")
            for k, v in r.model_dump(mode="python", exclude_defaults=True).items():
                lines.append(f"{k} = {_toml_value(v)}")
        lines.append("")
    return "\n".join(lines)


def resolve_policy_file(path: str | Path) -> PolicyFile:
    """Read one policy file with its ``extends`` resolved: the rules of every extended policy, in
    order and each resolved the same way, then the file's own. The header and the ``[[test]]``
    cases are the file's own. A policy extended twice (a diamond) is included once; a cycle, a
    missing file or a rule id given twice is a PolicyError. The result has ``extends = ()``, so the
    digest covers the rules in force, not the file names."""
    return _resolve(Path(path), (), set())


def _resolve(p: Path, stack: tuple[Path, ...], included: set[Path]) -> PolicyFile:
    real = p.resolve()
    if real in stack:
        chain = " -> ".join(str(x) for x in (*stack, real))
        raise PolicyError(f"{p}: extends cycle: {chain}")
    if len(stack) >= _EXTENDS_DEPTH_MAX:
        raise PolicyError(f"{p}: extends nests deeper than {_EXTENDS_DEPTH_MAX} files")
    pf = read_policy_file(p)
    included.add(real)
    if not pf.extends:
        return pf
    rules: list[Rule] = []
    origin: dict[str, str] = {}
    for name in pf.extends:
        if _SHIPPED_NAME_RE.match(name):
            target = shipped_policies_dir() / f"{name}.toml"
            if not target.is_file():
                shipped = sorted(x.stem for x in shipped_policies_dir().glob("*.toml"))
                raise PolicyError(
                    f"{p}: extends {name!r}: no shipped policy of that name "
                    f"(shipped: {', '.join(shipped)}; a file path needs a '/' or '.toml')"
                )
        else:
            target = (p.parent / name) if not Path(name).is_absolute() else Path(name)
            if not target.is_file():
                raise PolicyError(f"{p}: extends {name!r}: no such file ({target})")
        t_real = target.resolve()
        if t_real == real or t_real in stack:
            chain = " -> ".join(str(x) for x in (*stack, real, t_real))
            raise PolicyError(f"{p}: extends cycle: {chain}")
        if t_real in included:
            continue  # already included through another branch (a diamond)
        parent = _resolve(target, (*stack, real), included)
        for r in parent.rule:
            if r.id in origin:
                raise PolicyError(f"{p}: rule id {r.id!r} comes from both {origin[r.id]} and {target}")
            origin[r.id] = str(target)
            rules.append(r)
    for r in pf.rule:
        if r.id in origin:
            raise PolicyError(
                f"{p}: rule id {r.id!r} is already defined by {origin[r.id]} (extended); "
                "give it another id (a deny rule here wins over an allow there anyway)"
            )
        rules.append(r)
    return pf.model_copy(update={"rule": tuple(rules), "extends": ()})


def parse_policy_text(text: str, *, source: str = "<policy>") -> PolicyFile:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{source}: not valid TOML: {exc}") from exc
    try:
        return PolicyFile.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(_describe(exc, text, data, source)) from exc


def _describe(exc: ValidationError, text: str, data: Mapping[str, Any], source: str) -> str:
    lines = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        line = _locate(text, loc)
        where = f"{source}:{line}" if line else source
        what = _subject(data, loc)
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            key = str(loc[-1])
            model = _model_for(loc)
            hint = difflib.get_close_matches(key, list(model.model_fields), n=1) if model else []
            msg = f"unknown key {key!r}" + (f" (did you mean {hint[0]!r}?)" if hint else "")
        elif msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        field = ".".join(str(x) for x in loc[2:] if not isinstance(x, int)) if len(loc) > 2 else ""
        lines.append(f"{where}: {what}{(' ' + field) if field and err['type'] != 'extra_forbidden' else ''}: {msg}")
    return "invalid policy:\n  " + "\n  ".join(lines)


def _model_for(loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    if not loc:
        return None
    if len(loc) == 1:
        return PolicyFile
    top = loc[0]
    if top == "policy":
        return PolicyHeader
    if top == "rule":
        return Rule
    if top == "test":
        return TestCase
    return None


def _subject(data: Mapping[str, Any], loc: tuple[int | str, ...]) -> str:
    if len(loc) >= 2 and loc[0] in ("rule", "test") and isinstance(loc[1], int):
        items = data.get(loc[0]) or []
        ident = None
        if loc[1] < len(items) and isinstance(items[loc[1]], dict):
            ident = items[loc[1]].get("id") or items[loc[1]].get("name")
        return f"{loc[0]} #{loc[1] + 1}" + (f" ({ident!r})" if ident else "")
    if loc and loc[0] == "policy":
        return "[policy]"
    return "policy file"


_HEADER_RE = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\-\"' ]+?)\s*\]\]?\s*(#.*)?$")


def _locate(text: str, loc: tuple[int | str, ...]) -> int | None:
    """Best-effort line number (1-based) of the key an error points at."""
    if not loc:
        return None
    lines = text.splitlines()
    top = str(loc[0])
    start = 0
    if len(loc) >= 2 and isinstance(loc[1], int):
        count = -1
        for i, ln in enumerate(lines):
            m = _HEADER_RE.match(ln)
            if m and m.group(1) == "[[" and m.group(2).strip() == top:
                count += 1
                if count == loc[1]:
                    start = i
                    break
        else:
            return None
        keys = [k for k in loc[2:] if not isinstance(k, int)]
    else:
        for i, ln in enumerate(lines):
            m = _HEADER_RE.match(ln)
            if m and m.group(2).strip() == top:
                start = i
                break
        else:
            # a top-level key
            for i, ln in enumerate(lines):
                if re.match(rf"^\s*{re.escape(top)}\s*=", ln):
                    return i + 1
            return None
        keys = [k for k in loc[1:] if not isinstance(k, int)]
    if not keys:
        return start + 1
    key = str(keys[0])
    for i in range(start + 1, len(lines)):
        if _HEADER_RE.match(lines[i]):
            break
        if re.match(rf"^\s*[\"']?{re.escape(key)}[\"']?\s*=", lines[i]):
            return i + 1
    return start + 1
