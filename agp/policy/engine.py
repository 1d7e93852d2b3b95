"""The decision procedure: classify a tool call into statements, then evaluate every statement.

``evaluate_classified`` is pure: no I/O, no clock except the ``now`` it is given, no
randomness; the same classified call, policy and ``now`` always give the same
:class:`Decision`. ``classify`` (in ``classify.tools``) is where paths are resolved against
the workspace.

Order of effects: deny > require > allow. A statement no rule matches is denied. A
call is allowed only if every one of its statements is allowed; a call with no
statement at all is denied. Unknown statements (``eval``, ``$CMD``, an unknown tool)
are matched only by rules that say ``unknown = true``.

Matching under uncertainty (three-valued): a word or path decided at run time
(``$VAR``, ``$(...)``, a glob) could be anything. Each matcher answers yes, no or
maybe. An allow or require rule matches only on a definite yes from every matcher;
a deny rule matches unless some matcher gives a definite no. So a run-time value can
never help a call get allowed, and can always get it denied.
"""

from __future__ import annotations

import datetime as _dt
import os
import posixpath
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from agp.errors import PolicyError
from agp.policy._glob import compile_name, compile_path, has_magic
from agp.policy._regex_safety import backtracking_problem
from agp.policy.attest import policy_digest
from agp.policy.call import ClassifiedCall, ClassifiedStatement, PathFact, ToolCall
from agp.policy.classify.tools import classify
from agp.policy.model import PolicyFile, Rule, read_policy_tiers

__all__ = (
    "Decision",
    "Policy",
    "StatementDecision",
    "evaluate",
    "evaluate_classified",
    "load_policy",
    "write_run_policy",
)

_MAYBE = None  # the third truth value
_REASON_TEXT_MAX = 160


# --------------------------------------------------------------------------- decisions


@dataclass(frozen=True)
class StatementDecision:
    statement: ClassifiedStatement
    effect: str
    rule: str | None
    matched: tuple[str, ...]

    def to_json_dict(self) -> dict[str, Any]:
        d = self.statement.to_json_dict()
        d.update(effect=self.effect, rule=self.rule, matched=list(self.matched))
        return d


@dataclass(frozen=True)
class Decision:
    """The outcome of one evaluation. ``reason`` is safe to show the agent."""

    effect: str
    rule: str | None
    matched: tuple[str, ...]
    reason: str
    policy_digest: str
    statements: tuple[StatementDecision, ...]
    approver_group: str | None = None
    quorum: int | None = None

    @property
    def allowed(self) -> bool:
        return self.effect == "allow"

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "effect": self.effect,
            "rule": self.rule,
            "matched": list(self.matched),
            "reason": self.reason,
            "policy_digest": self.policy_digest,
            "statements": [s.to_json_dict() for s in self.statements],
            "approver_group": self.approver_group,
            "quorum": self.quorum,
        }


# --------------------------------------------------------------------------- compiled rules

_EXEC_ONLY = (
    "program",
    "subcommand",
    "flags_any",
    "flags_none",
    "args_any",
    "args_none",
    "args_prefix",
    "operands_max",
    "operands_min",
)
_IMPLIED_KINDS: dict[str, frozenset[str]] = {
    **{k: frozenset({"exec"}) for k in _EXEC_ONLY},
    "sql_kind": frozenset({"sql"}),
    "sql_flags_any": frozenset({"sql"}),
    "sql_flags_none": frozenset({"sql"}),
    "host": frozenset({"url", "egress"}),
    "port": frozenset({"egress"}),
    "method": frozenset({"egress"}),
    "url_path": frozenset({"egress"}),
    "mcp_server": frozenset({"mcp"}),
    "mcp_tool": frozenset({"mcp"}),
}
#: the kinds a rule without ``kind`` applies to; ``egress`` is not one: a rule reaches the egress door
#: only when its ``kind`` names it
_ALL_KINDS = frozenset({"exec", "read", "write", "sql", "url", "mcp", "task"})

#: options that take a value before a program's subcommand (``git -C dir push``)
_VALUE_OPTIONS: dict[str, frozenset[str]] = {
    "git": frozenset(
        {
            "-C",
            "-c",
            "--git-dir",
            "--work-tree",
            "--namespace",
            "--super-prefix",
            "--config-env",
            "--exec-path",
            "--list-cmds",
            "--attr-source",
        }
    ),
    "docker": frozenset({"-H", "--host", "--config", "--context", "-c", "-l", "--log-level"}),
    "cargo": frozenset({"-C", "--config", "-Z"}),
    "npm": frozenset({"--prefix", "-C", "--workspace", "-w"}),
    "go": frozenset({"-C"}),
}


def _tv_all(values: Iterable[bool | None]) -> bool | None:
    out: bool | None = True
    for v in values:
        if v is False:
            return False
        if v is None:
            out = None
    return out


def _tv_any(values: Iterable[bool | None]) -> bool | None:
    out: bool | None = False
    for v in values:
        if v is True:
            return True
        if v is None:
            out = None
    return out


def _flag_matcher(pattern: str) -> Callable[[str], bool | None]:
    """Compile an option pattern into a function of one literal word (three-valued)."""
    if has_magic(pattern):
        rx = compile_name(pattern)

        def glob(word: str) -> bool | None:
            if word[:1] != "-" or word == "-":
                return False
            return bool(rx.match(word) or rx.match(word.split("=", 1)[0]))

        return glob
    if pattern.startswith("--"):
        want = pattern[2:]

        def long(word: str) -> bool | None:
            if word[:2] != "--" or word == "--":
                return False
            got = word[2:].split("=", 1)[0]
            if got == want:
                return True
            if got and want.startswith(got):
                return _MAYBE  # GNU getopt accepts unambiguous abbreviations
            return False

        return long
    if len(pattern) == 2:
        letter = pattern[1]

        def short(word: str) -> bool | None:
            if word[:1] != "-" or word[:2] == "--" or word == "-":
                return False
            if word == pattern:
                return True
            if letter in word[1:]:
                return _MAYBE  # inside a cluster (-rf), or an option's attached value
            return False

        return short

    def single(word: str) -> bool | None:
        # one dash, several letters (find -delete, -exec): exact or longer (-execdir)
        return word.startswith(pattern)

    return single


#: a word longer than this is not searched with a policy's regular expression: the answer is "maybe"
#: (an allow rule cannot match on it, a deny rule does). It bounds the time a regex with backtracking
#: can take on one word (a 56 KB sed script against `^s(.).*\1.*\1` took minutes).
REGEX_WORD_MAX = 4096


def _word_matcher(pattern: str) -> Callable[[str], bool | None]:
    if pattern.startswith("re:"):
        rx = _compile_re(pattern[3:])
        return lambda w: None if len(w) > REGEX_WORD_MAX else rx.search(w) is not None
    rx2 = compile_name(pattern)
    return lambda w: rx2.match(w) is not None


class _Compiled:
    """A rule with its matchers turned into functions of a statement (three-valued)."""

    __slots__ = (
        "deny_mode",
        "harness_re",
        "host_re",
        "index",
        "kinds",
        "mcp_server_re",
        "mcp_tool_re",
        "modes",
        "not_after",
        "not_before",
        "path_prefixes",
        "program_re",
        "rule",
        "stmt_checks",
        "tier",
        "timed",
        "tool_re",
    )

    def __init__(self, rule: Rule, index: int, tier: int, source: str) -> None:
        self.rule = rule
        self.index = index
        self.tier = tier
        self.deny_mode = rule.effect == "deny"
        self.not_before = rule.not_before
        self.not_after = rule.not_after
        self.timed = rule.not_before is not None or rule.not_after is not None
        self.path_prefixes = _aligned_prefixes(rule.path) if rule.path else None
        kinds = frozenset(rule.kind) if rule.kind else _ALL_KINDS
        for key, implied in _IMPLIED_KINDS.items():
            if getattr(rule, key) is not None:
                kinds = kinds & implied
        if rule.unknown:
            kinds = frozenset({"unknown"})
        elif not kinds:
            raise PolicyError(
                f"{source}: rule {rule.id!r} can never match: its matchers apply to different statement kinds "
                f"(kind = {list(rule.kind or ())}, with {', '.join(k for k in _IMPLIED_KINDS if getattr(rule, k))})"
            )
        self.kinds = kinds
        self.modes = frozenset(rule.workspace_mode) if rule.workspace_mode else None
        try:
            self.harness_re = [compile_name(p) for p in rule.harness] if rule.harness else None
            self.tool_re = [compile_name(p) for p in rule.tool] if rule.tool else None
            self.program_re = [compile_name(p) for p in rule.program] if rule.program else None
            self.host_re = [compile_name(h.lower()) for h in rule.host] if rule.host else None
            self.mcp_server_re = [compile_name(p) for p in rule.mcp_server] if rule.mcp_server else None
            self.mcp_tool_re = [compile_name(p) for p in rule.mcp_tool] if rule.mcp_tool else None
            self.stmt_checks = self._statement_checks(rule)
        except (ValueError, re.error) as exc:
            raise PolicyError(f"{source}: rule {rule.id!r}: bad pattern: {exc}") from exc

    # -- call level (definite: harness and tool names are always known)
    def admits(
        self,
        harness: str,
        tool: str,
        kind: str,
        program: str | None,
        host: str | None = None,
        mcp_server: str | None = None,
        mcp_tool: str | None = None,
        mode: str = "mount",
    ) -> bool:
        if kind not in self.kinds:
            return False
        if self.modes is not None and mode not in self.modes:
            return False
        if self.harness_re is not None and not any(r.match(harness) for r in self.harness_re):
            return False
        if self.tool_re is not None and not any(r.match(tool) for r in self.tool_re):
            return False
        if self.program_re is not None and (program is None or not any(r.match(program) for r in self.program_re)):
            return False
        # values known at this point prune definitely; unknown ones are left to the statement checks
        if self.host_re is not None and host and not any(r.match(host) for r in self.host_re):
            return False
        if (
            self.mcp_server_re is not None
            and mcp_server is not None
            and not any(r.match(mcp_server) for r in self.mcp_server_re)
        ):
            return False
        if self.mcp_tool_re is not None and mcp_tool is not None:
            return any(r.match(mcp_tool) for r in self.mcp_tool_re)
        return True

    def in_force(self, now: _dt.datetime) -> bool:
        if self.not_before is not None and now < self.not_before:
            return False
        return self.not_after is None or now < self.not_after

    def matches(self, s: ClassifiedStatement, ws: str) -> bool:
        result: bool | None = True
        for check in self.stmt_checks:
            v = check(s, ws)
            if v is False:
                return False
            if v is None:
                result = None
        return result is True or (result is None and self.deny_mode)

    # -- statement level
    @staticmethod
    def _statement_checks(rule: Rule) -> list[Callable[[ClassifiedStatement, str], bool | None]]:
        checks: list[Callable[[ClassifiedStatement, str], bool | None]] = []

        if rule.subcommand:
            subs = frozenset(rule.subcommand)

            def subcommand(s: ClassifiedStatement, ws: str) -> bool | None:
                skip = _VALUE_OPTIONS.get(s.program or "", frozenset())
                words = s.argv[1:]
                lits = s.literal[1:]
                i, uncertain = 0, False
                while i < len(words):
                    w, lit = words[i], lits[i]
                    if not lit:
                        uncertain = True
                        break
                    if w.startswith("-") and w != "-":
                        if w in skip:
                            i += 2
                            continue
                        i += 1
                        continue
                    if w in subs:
                        return True
                    break
                # not the first operand: a deny rule still considers it (an unknown option
                # might have taken the word before it as its value)
                if uncertain or any(
                    (not lit) or (w in subs) for w, lit in zip(words[i + 1 :], lits[i + 1 :], strict=True)
                ):
                    return _MAYBE
                return False

            checks.append(subcommand)

        def word_checks(
            fns: list[Callable[[str], bool | None]], want_any: bool
        ) -> Callable[[ClassifiedStatement, str], bool | None]:
            def check(s: ClassifiedStatement, ws: str) -> bool | None:
                # is some word matched by some pattern? (three-valued), then negate for *_none
                found: bool | None = False
                lits = s.literal
                argv = s.argv
                for i in range(1, len(argv)):
                    if not lits[i]:
                        found = _MAYBE
                        continue
                    w = argv[i]
                    for fn in fns:
                        v = fn(w)
                        if v is True:
                            return bool(want_any)
                        if v is None:
                            found = _MAYBE
                if want_any:
                    return found
                return _MAYBE if found is None else True

            return check

        if rule.args_prefix:
            alts = [tuple(compile_name(x) for x in a.split()) for a in rule.args_prefix]

            def args_prefix(s: ClassifiedStatement, ws: str) -> bool | None:
                words, lits = s.argv[1:], s.literal[1:]
                vals: list[bool | None] = []
                for alt in alts:
                    if len(words) < len(alt):
                        vals.append(False)
                        continue
                    vals.append(
                        _tv_all(_MAYBE if not lits[i] else bool(rx.match(words[i])) for i, rx in enumerate(alt))
                    )
                return _tv_any(vals)

            checks.append(args_prefix)
        if rule.operands_max is not None or rule.operands_min is not None:
            hi, lo = rule.operands_max, rule.operands_min

            def operands(s: ClassifiedStatement, ws: str) -> bool | None:
                n = maybe = 0
                for w, lit in zip(s.argv[1:], s.literal[1:], strict=True):
                    if not lit:
                        maybe += 1  # may expand to any number of words (zero included)
                    elif not w.startswith("-") or w == "-":
                        n += 1
                if hi is not None and n > hi:
                    return False
                if lo is not None and n + (1000 if maybe else 0) < lo:
                    return False
                sure = (hi is None or n + maybe == n) and (lo is None or n >= lo)
                return True if sure else _MAYBE

            checks.append(operands)
        if rule.facts_any:
            fa = frozenset(rule.facts_any)
            checks.append(lambda s, ws: bool(fa.intersection(s.facts)))
        if rule.facts_none:
            fn = frozenset(rule.facts_none)
            checks.append(lambda s, ws: not fn.intersection(s.facts))

        if rule.flags_any:
            checks.append(word_checks([_flag_matcher(p) for p in rule.flags_any], True))
        if rule.flags_none:
            checks.append(word_checks([_flag_matcher(p) for p in rule.flags_none], False))
        if rule.args_any:
            checks.append(word_checks([_word_matcher(p) for p in rule.args_any], True))
        if rule.args_none:
            checks.append(word_checks([_word_matcher(p) for p in rule.args_none], False))

        if rule.location:
            locs = frozenset(rule.location)

            def location(s: ClassifiedStatement, ws: str) -> bool | None:
                out: bool | None = True
                for p in s.paths:
                    loc = p.location
                    if loc is None:
                        out = _MAYBE
                    elif loc not in locs:
                        return False
                return out

            checks.append(location)
        if rule.touches:
            locs_t = frozenset(rule.touches)

            def touches(s: ClassifiedStatement, ws: str) -> bool | None:
                out: bool | None = False
                for p in s.paths:
                    loc = p.location
                    if loc is None:
                        out = _MAYBE
                    elif loc in locs_t:
                        return True
                return out

            checks.append(touches)
        if rule.path:
            pats = _path_patterns(rule.path)

            def path(s: ClassifiedStatement, ws: str) -> bool | None:
                out: bool | None = True
                for p in s.paths:
                    v = _path_match(pats, p, ws)
                    if v is False:
                        return False
                    if v is None:
                        out = _MAYBE
                return out

            checks.append(path)
        if rule.touches_path:
            pats_t = _path_patterns(rule.touches_path)

            def touches_path(s: ClassifiedStatement, ws: str) -> bool | None:
                out: bool | None = False
                for p in s.paths:
                    v = _path_match(pats_t, p, ws)
                    if v is True:
                        return True
                    if v is None:
                        out = _MAYBE
                return out

            checks.append(touches_path)

        if rule.sql_kind:
            sk = frozenset(rule.sql_kind)
            checks.append(lambda s, ws: _MAYBE if s.sql_kind is None else (s.sql_kind in sk))
        if rule.sql_flags_any:
            sfa = frozenset(rule.sql_flags_any)
            checks.append(lambda s, ws: bool(sfa.intersection(s.sql_flags)))
        if rule.sql_flags_none:
            sfn = frozenset(rule.sql_flags_none)
            checks.append(lambda s, ws: not sfn.intersection(s.sql_flags))
        if rule.host:
            hosts = [compile_name(h.lower()) for h in rule.host]
            checks.append(lambda s, ws: _MAYBE if not s.host else any(h.match(s.host.lower()) for h in hosts))
        if rule.port:
            ports = frozenset(rule.port)
            checks.append(lambda s, ws: _MAYBE if s.port is None else s.port in ports)
        if rule.method:
            methods = frozenset(rule.method)
            checks.append(lambda s, ws: _MAYBE if s.method is None else s.method in methods)
        if rule.url_path:
            upaths = [compile_path(p.lstrip("/")) for p in rule.url_path]
            checks.append(
                lambda s, ws: _MAYBE if s.url_path is None else any(r.match(s.url_path.lstrip("/")) for r in upaths)
            )
        if "egress" in (rule.kind or ()) and not rule.private and rule.effect != "deny":
            # a private address is admitted only by a rule that says private = true; a deny rule still matches
            checks.append(lambda s, ws: s.kind != "egress" or "private" not in s.facts)
        if rule.mcp_server:
            srv = [compile_name(p) for p in rule.mcp_server]
            checks.append(lambda s, ws: _MAYBE if s.mcp_server is None else any(r.match(s.mcp_server) for r in srv))
        if rule.mcp_tool:
            mt = [compile_name(p) for p in rule.mcp_tool]
            checks.append(lambda s, ws: _MAYBE if s.mcp_tool is None else any(r.match(s.mcp_tool) for r in mt))
        return checks


@lru_cache(maxsize=1024)
def _compile_re(pattern: str) -> re.Pattern[str]:
    # the rule model refuses such a pattern when a policy is read; a rule built another way
    # (model_construct, a copy) is refused here too, before the gate serves a call
    problem = backtracking_problem(pattern)
    if problem is not None:
        raise PolicyError(f"regular expression {pattern!r} refused: {problem}")
    return re.compile(pattern)


def _aligned_prefixes(globs: tuple[str, ...]) -> tuple[str, ...] | None:
    """Whole leading directories every match of these relative globs starts with (an index key);
    None when some glob is absolute or has no such directory (then the rule is never skipped)."""
    out = []
    for g in globs:
        if g.startswith("/"):
            return None
        m = re.search(r"[*?\[]", g)
        lit = g if m is None else g[: m.start()]
        if m is not None:
            lit = lit[: lit.rfind("/")] if "/" in lit else ""
        lit = posixpath.normpath(lit) if lit else ""
        if not lit or lit in (".", "..") or lit.startswith("../"):
            return None
        out.append(lit)
    return tuple(out)


def _path_patterns(globs: tuple[str, ...]) -> tuple[tuple[bool, str, re.Pattern[str], str, bool], ...]:
    """Per glob: (absolute?, literal prefix, regex, whole-directory prefix, is it 'DIR/**' or '**'?)."""
    out = []
    for g in globs:
        m = re.search(r"[*?\[]", g)
        prefix = (g if m is None else g[: m.start()]).rstrip("/")  # 'src/**' also matches 'src'
        lit = g if m is None else g[: m.start()]
        if m is not None:
            lit = lit[: lit.rfind("/")] if "/" in lit else ""
        lit = lit.rstrip("/")
        tree = g == "**" or (g.endswith("/**") and not re.search(r"[*?\[]", g[:-3]))
        out.append((g.startswith("/"), prefix, compile_path(g), lit, tree))
    return tuple(out)


def _under(a: str, b: str) -> bool:
    """Is path a equal to or below path b ('' is the top of a relative tree)?"""
    return b == "" or a == b or a.startswith(b + "/")


def _path_match(pats: tuple[tuple[bool, str, re.Pattern[str], str, bool], ...], p: PathFact, ws: str) -> bool | None:
    if p.path is None:
        return _MAYBE
    loc = p.location
    rel = None
    if loc == "inside":
        rel = p.path[len(ws) + 1 :] if ws != "/" else p.path[1:]  # p.path is normalized, under ws
    elif loc == "root":
        rel = "" if p.glob else "."
    if p.glob:
        # the pattern's matches lie in p.path or below: sure only for 'DIR/**' rules covering it
        out: bool | None = False
        for absolute, _prefix, _rx, lit, tree in pats:
            target = p.path if absolute else rel
            if target is None:
                continue
            if tree and _under(target, lit):
                return True
            if _under(target, lit) or _under(lit, target):
                out = _MAYBE
        return out
    for absolute, prefix, rx, _lit, _tree in pats:
        target = p.path if absolute else rel
        if target is not None and target.startswith(prefix) and rx.match(target):
            return True
    return False


# --------------------------------------------------------------------------- policy


class Policy:
    """One or more policy files (tiers) in force together, strictest-wins.

    Build with :func:`load_policy` or :meth:`from_files`. The object is read-only; its
    ``digest`` is the sha256 of the RFC 8785 canonical JSON of the normalized tiers.
    """

    __slots__ = (
        "_allowlist_tiers",
        "_approvals",
        "_by_id",
        "_by_kind",
        "_by_program",
        "_cache",
        "_glob_program",
        "_rules",
        "_tighten_tiers",
        "digest",
        "sources",
        "tiers",
    )

    def __init__(self, tiers: Sequence[PolicyFile], sources: Sequence[str] | None = None) -> None:
        self.tiers: tuple[PolicyFile, ...] = tuple(tiers)
        self.sources: tuple[str, ...] = tuple(sources) if sources else tuple(f"<tier {i}>" for i in range(len(tiers)))
        if len(self.sources) != len(self.tiers):
            raise ValueError("one source name per tier")
        seen: dict[str, str] = {}
        rules: list[_Compiled] = []
        for t, (pf, src) in enumerate(zip(self.tiers, self.sources, strict=True)):
            for r in pf.rule:
                if r.id in seen:
                    raise PolicyError(
                        f"rule id {r.id!r} appears in both {seen[r.id]} and {src}; ids must be unique across tiers"
                    )
                seen[r.id] = src
                rules.append(_Compiled(r, len(rules), t, src))
        self._rules: tuple[_Compiled, ...] = tuple(rules)
        self._by_id: dict[str, Rule] = {c.rule.id: c.rule for c in rules}
        # indexes for building candidate lists: exact program names, glob programs, and by kind
        self._by_program: dict[str, list[_Compiled]] = {}
        self._glob_program: list[_Compiled] = []
        self._by_kind: dict[str, list[_Compiled]] = {}
        for c in rules:
            if c.rule.program:
                if any(has_magic(p) for p in c.rule.program):
                    self._glob_program.append(c)
                else:
                    for name in set(c.rule.program):
                        self._by_program.setdefault(name, []).append(c)
            else:
                for k in c.kinds:
                    self._by_kind.setdefault(k, []).append(c)
        self._allowlist_tiers = tuple(i for i, pf in enumerate(self.tiers) if pf.policy.no_match == "deny")
        self._tighten_tiers = frozenset(i for i, pf in enumerate(self.tiers) if pf.policy.tighten_only)
        self._approvals = all(pf.policy.approvals for pf in self.tiers)
        self.digest: str = policy_digest(self.tiers)
        self._cache: dict[tuple[str | None, ...], tuple[_Compiled, ...]] = {}

    @classmethod
    def from_files(cls, files: Sequence[PolicyFile], sources: Sequence[str] | None = None) -> Policy:
        return cls(files, sources)

    @classmethod
    def empty(cls) -> Policy:
        """A policy with no rules: it denies everything."""
        return cls([PolicyFile()], ["<empty>"])

    @property
    def rules(self) -> tuple[Rule, ...]:
        return tuple(c.rule for c in self._rules)

    @property
    def approvals(self) -> bool:
        return self._approvals

    def rule(self, rule_id: str) -> Rule | None:
        return self._by_id.get(rule_id)

    def _candidates(
        self,
        harness: str,
        tool: str,
        kind: str,
        program: str | None,
        host: str | None = None,
        mcp_server: str | None = None,
        mcp_tool: str | None = None,
        mode: str = "mount",
    ) -> tuple[_Compiled, ...]:
        key = (harness, tool, kind, program, host, mcp_server, mcp_tool, mode)
        hit = self._cache.get(key)
        if hit is None:
            pool = list(self._by_kind.get(kind, ()))
            if kind == "exec" and program is not None:
                pool += self._by_program.get(program, ())
                pool += self._glob_program
            pool.sort(key=lambda c: c.index)  # policy order decides which rule is reported
            hit = tuple(c for c in pool if c.admits(harness, tool, kind, program, host, mcp_server, mcp_tool, mode))
            if len(self._cache) > 8192:
                self._cache.clear()
            self._cache[key] = hit
        return hit

    def __repr__(self) -> str:
        return f"Policy(tiers={list(self.sources)!r}, rules={len(self._rules)}, digest={self.digest[:12]}…)"


def load_policy(path: str | os.PathLike[str] | Sequence[str | os.PathLike[str]], *, project: Any = None) -> Policy:
    """Load one policy file, or several as tiers (strictest-wins), each with its ``extends``
    resolved. ``project`` (a :class:`~agp.policy.project.ProjectPolicy`) adds the repository's
    own policy as a last, tighten-only tier. Raises PolicyError."""
    paths = [path] if isinstance(path, (str, os.PathLike)) else list(path)
    if not paths:
        raise PolicyError("no policy file given")
    files, sources = [], []
    for p in paths:
        for pf, src in read_policy_tiers(p):
            files.append(pf)
            sources.append(src)
    if project is not None and project.policy is not None:
        if not project.policy.policy.tighten_only:
            raise PolicyError(f"{project.source}: a project policy must be a tighten-only tier")
        files.append(project.policy)
        sources.append(project.source)
    return Policy(files, sources)


def write_run_policy(
    policy: Policy, dest: str | os.PathLike[str], given: Sequence[str | os.PathLike[str]] = ()
) -> None:
    """Write the policy in force to ``dest`` as one self-contained file with the same digest.

    One file with no ``extends``, given alone: copied as it is (comments kept). Anything composed
    (several tiers, ``extends``, a project policy): written as a composed policy. Either way the
    copy is read back and must digest to ``policy.digest``, or this raises PolicyError.
    """
    from agp.policy.model import dump_composed_policy

    dest = Path(dest)
    text = None
    if len(given) == 1 and len(policy.tiers) == 1 and policy.sources[0] == str(Path(given[0])):
        raw = Path(given[0]).read_text(encoding="utf-8")
        if not read_policy_tiers(given[0])[0][0].extends and "extends" not in raw:
            text = raw
    if text is None:
        text = dump_composed_policy(policy.tiers, policy.sources)
    tmp = dest.with_name(dest.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    copy = load_policy(tmp)
    if copy.digest != policy.digest:
        tmp.unlink(missing_ok=True)
        raise PolicyError(f"the policy written to {dest} digests to {copy.digest}, not {policy.digest}")
    os.replace(tmp, dest)


# --------------------------------------------------------------------------- evaluation

_RANK = {"allow": 0, "require": 1, "deny": 2}
_BY_RANK = ("allow", "require", "deny")


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _REASON_TEXT_MAX else text[: _REASON_TEXT_MAX - 1] + "…"


def evaluate(call: ToolCall, policy: Policy, now: _dt.datetime) -> Decision:
    """Classify ``call`` and evaluate it: ``evaluate_classified(classify(call), policy, now)``."""
    return evaluate_classified(classify(call), policy, now)


def evaluate_classified(classified: ClassifiedCall, policy: Policy, now: _dt.datetime) -> Decision:
    """Decide a classified call. Pure: same inputs, same Decision."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    call = classified.call
    statements = classified.statements
    if not statements:
        statements = (ClassifiedStatement(kind="unknown", text="", reason="the call does nothing agp can recognise"),)
    ws = posixpath.normpath(call.workspace) if call.workspace else "/"
    mode = getattr(call, "workspace_mode", "mount")

    decided: list[StatementDecision] = []
    notes: list[str | None] = []
    matched_all: list[str] = []
    worst, idx = -1, 0
    ws_len = len(ws) + 1 if ws != "/" else 1
    for s in statements:
        kind = s.kind
        if kind == "exec":
            cands = policy._candidates(call.harness, call.tool, kind, s.program, mode=mode)
        elif kind == "url" or kind == "egress":
            cands = policy._candidates(call.harness, call.tool, kind, None, (s.host or "").lower() or None, mode=mode)
        elif kind == "mcp":
            cands = policy._candidates(call.harness, call.tool, kind, None, None, s.mcp_server, s.mcp_tool, mode=mode)
        else:
            cands = policy._candidates(call.harness, call.tool, kind, None, mode=mode)
        # index on the first path: a `path` rule needs every path, so the first one too, under its prefix
        first = s.paths[0] if s.paths else None
        rel = None
        if first is not None and first.path is not None and not first.glob:
            rel = first.path[ws_len:] + "/" if first.location == "inside" else ""
        matched = []
        for c in cands:
            pp = c.path_prefixes
            if pp is not None and rel is not None:
                for pre in pp:
                    if rel.startswith(pre) and rel[len(pre)] == "/":
                        break
                else:
                    continue
            if (c.timed is False or c.in_force(now)) and c.matches(s, ws):
                matched.append(c)
        effect, deciding, note = _statement_effect(matched, policy)
        ids = tuple([c.rule.id for c in matched])
        rank = _RANK[effect]
        if rank > worst:
            worst, idx = rank, len(decided)
        decided.append(StatementDecision(s, effect, deciding.rule.id if deciding else None, ids))
        notes.append(note)
        for rid in ids:
            if rid not in matched_all:
                matched_all.append(rid)

    effect = _BY_RANK[worst]
    lead = decided[idx]

    approver_group = quorum = None
    n = len(decided)
    where = f"statement {idx + 1} of {n}" if n > 1 else "statement"
    text = _short(lead.statement.text) or f"{call.tool} call"
    if effect == "require":
        reqs = [policy.rule(d.rule) for d in decided if d.effect == "require" and d.rule]
        groups = sorted({r.approver_group for r in reqs if r and r.approver_group})
        if len(groups) > 1:
            effect = "deny"
            reason = (
                f"denied: the statements of this call need approval from different groups "
                f"({', '.join(groups)}); split the command"
            )
            return Decision("deny", lead.rule, tuple(matched_all), reason, policy.digest, tuple(decided))
        approver_group = groups[0] if groups else None
        quorum = max((r.quorum or 1) for r in reqs if r) if reqs else 1
        desc = _desc(policy, lead.rule)
        reason = f"approval required by rule {lead.rule}{desc} ({where}: `{text}`)"
    elif effect == "deny":
        if lead.rule is None:
            reason = f"denied: no rule allows {where}: `{text}`"
            if lead.statement.kind == "unknown" and lead.statement.reason:
                reason += f" ({lead.statement.reason})"
        else:
            desc = _desc(policy, lead.rule)
            note = notes[idx]
            reason = f"denied by rule {lead.rule}{desc} ({where}: `{text}`)" + (f"; {note}" if note else "")
    else:
        rules = []
        for d in decided:
            if d.rule and d.rule not in rules:
                rules.append(d.rule)
        reason = f"allowed by rule{'s' if len(rules) > 1 else ''} {', '.join(rules)}"
    return Decision(
        effect, lead.rule, tuple(matched_all), reason, policy.digest, tuple(decided), approver_group, quorum
    )


def _desc(policy: Policy, rule_id: str | None) -> str:
    r = policy.rule(rule_id) if rule_id else None
    return f": {r.description}" if r and r.description else ""


def _statement_effect(matched: list[_Compiled], policy: Policy) -> tuple[str, _Compiled | None, str | None]:
    by: dict[str, _Compiled | None] = {"deny": None, "require": None, "allow": None}
    tighten = policy._tighten_tiers
    for c in matched:
        if c.rule.effect == "allow" and c.tier in tighten:
            continue  # a tighten-only tier never allows on its own (its allows count below, as tier hits)
        if by[c.rule.effect] is None:
            by[c.rule.effect] = c
    if by["deny"] is not None:
        return "deny", by["deny"], None
    if policy._allowlist_tiers:
        tiers_hit = {c.tier for c in matched}
        for t in policy._allowlist_tiers:
            if t not in tiers_hit:
                return "deny", None, None
    if by["require"] is not None:
        if not policy._approvals:
            return (
                "deny",
                by["require"],
                "this policy has no approvers (approvals = false), so approval cannot be given",
            )
        return "require", by["require"], None
    if by["allow"] is not None:
        return "allow", by["allow"], None
    return "deny", None, None
