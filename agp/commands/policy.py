"""``agp policy``: check, explain and test policy files."""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import sys
from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.table import Table

from agp.commands._util import HelpFormatter, out_console, policy_file, print_json
from agp.errors import UsageError
from agp.policy import ToolCall, attestation, load_policy
from agp.policy.explain import explain, explain_json, replay_decisions, run_policy_tests

__all__ = ("register",)

_STYLE = {"allow": "green", "deny": "red", "require": "yellow"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "policy",
        help="check, explain and test policy files",
        formatter_class=HelpFormatter,
        description=(
            "Policies are TOML files of rules (see policies/default.toml and\n"
            "adr/0003-policy-language.md). deny > require > allow; a statement no rule matches\n"
            "is denied; a call is allowed only if every statement in it is allowed. Several\n"
            "files given together are tiers (org, project, user): strictest wins."
        ),
    )
    ps = p.add_subparsers(dest="policy_command", metavar="ACTION")
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])

    c = ps.add_parser(
        "check", help="validate policy files and print their digest", formatter_class=HelpFormatter,
        description=(
            "Validate one or more policy files (several = tiers). Unknown keys, wrong types and\n"
            "rules that can never match are errors, reported with the file and line.\n"
            "Prints the policy digest: sha256 of the RFC 8785 canonical JSON of the normalized\n"
            "policy, the value every journaled decision carries.\n\n"
            "Exit status: 0 valid, 2 invalid.\n\n"
            "examples:\n  agp policy check policies/default.toml\n  agp policy check default    # a policy agp ships: default, ci, strict"
        ),
    )
    c.add_argument("files", nargs="+", type=policy_file, metavar="FILE")
    c.add_argument("--json", action="store_true", help="print {ok, digest, tiers: [...]}")
    c.set_defaults(func=_check)

    e = ps.add_parser(
        "explain", help="show how a policy decides one tool call", formatter_class=HelpFormatter,
        description=(
            "Evaluate one tool call and show the statements found in it, every rule that matched\n"
            "each, and the decision with its reason.\n\n"
            "example:\n"
            "  agp policy explain --policy policies/default.toml --harness claude-code \\\n"
            "      --tool Bash --input '{\"command\": \"rm -rf build && ls\"}'\n\n"
            "--json prints {decision, rule, matched, statements, reason, policy_digest, ...}.\n"
            "Exit status: 0 whatever the decision (the decision is the output), 2 bad input."
        ),
    )
    e.add_argument("--policy", action="append", type=policy_file, required=True, metavar="FILE",
                   help="policy file, or the name of a shipped one: default, ci, strict (repeat for tiers)")
    e.add_argument("--harness", default="claude-code", help="claude-code | codex | reference (default claude-code)")
    e.add_argument("--tool", required=True, help="tool name as the harness reports it (Bash, Read, mcp__srv__tool...)")
    e.add_argument("--input", required=True, metavar="JSON",
                   help="the tool input as a JSON object; @FILE reads it from a file, - from stdin")
    e.add_argument("--workspace", default=None, help="workspace path (default: the current directory)")
    e.add_argument("--cwd", default=None, help="the call's working directory (default: the workspace)")
    e.add_argument("--now", default=None, help="evaluate at this RFC 3339 time (default: now)")
    e.add_argument("--json", action="store_true", help="print the decision as JSON")
    e.set_defaults(func=_explain)

    t = ps.add_parser(
        "test", help="run the [[test]] examples written in policy files", formatter_class=HelpFormatter,
        description=(
            "Run the example cases written beside the rules:\n\n"
            "  [[test]]\n"
            "  tool = \"Bash\"\n"
            "  input = { command = \"git push --force\" }\n"
            "  expect = \"deny\"            # allow | deny | require\n"
            "  rule = \"deny-git-force-push\" # optional: the deciding rule\n\n"
            "Optional keys: name, harness (default claude-code), workspace (default /workspace),\n"
            "cwd (default the workspace), now. Paths are resolved without looking at this\n"
            "machine's files. Several files are tested together as tiers.\n\n"
            "Exit status: 0 all pass, 1 a case failed (or there are no cases), 2 invalid policy."
        ),
    )
    t.add_argument("files", nargs="+", type=policy_file, metavar="FILE")
    t.add_argument("--json", action="store_true", help="print {ok, passed, failed, results: [...]}")
    t.set_defaults(func=_test)

    r = ps.add_parser(
        "replay", help="evaluate a journal's decisions again and compare", formatter_class=HelpFormatter,
        description=(
            "Evaluate every gate.decision of a journal again under the given policy, at each entry's\n"
            "own time, and compare effect, rule, matched rules and policy digest with what was\n"
            "journaled. Entries journaled under another policy digest are counted, not compared.\n\n"
            "This does not verify the journal: run `agp verify JOURNAL --key agp.pub` first.\n"
            "Paths are resolved without looking at this machine's files, so a decision that turned\n"
            "on a symlink in the workspace at the time can differ.\n\n"
            "example:\n  agp policy replay RUN/journal.jsonl --policy RUN/policy.toml\n\n"
            "Exit status: 0 every compared decision is the same (and at least one was compared),\n"
            "1 a decision differs or none could be compared, 2 bad input."
        ),
    )
    r.add_argument("journal", type=Path, metavar="JOURNAL")
    r.add_argument("--policy", action="append", type=policy_file, required=True, metavar="FILE",
                   help="policy file, or the name of a shipped one: default, ci, strict (repeat for tiers)")
    r.add_argument("--workspace", default="/workspace", help="the workspace path the gate used (default /workspace)")
    r.add_argument("--json", action="store_true", help="print {ok, counts, results: [...]}")
    r.set_defaults(func=_replay)


def _check(args: argparse.Namespace) -> int:
    policy = load_policy(args.files)
    att = attestation(policy)
    if args.json:
        print_json({"ok": True, **att})
        return 0
    c = out_console()
    for tier, pf in zip(att["tiers"], policy.tiers):
        extra = []
        if not tier["approvals"]:
            extra.append("no approvals: require → deny")
        if tier["no_match"] == "deny":
            extra.append("allow-list tier")
        c.print(f"[green]valid[/] {escape(tier['source'])}: {escape(tier['name'])}, {tier['rules']} rules, "
                f"{len(pf.test)} tests" + (f" ({'; '.join(extra)})" if extra else ""))
    c.print(f"digest {policy.digest}")
    return 0


def _read_input(raw: str) -> dict[str, Any]:
    if raw == "-":
        text = sys.stdin.read()
    elif raw.startswith("@"):
        try:
            text = Path(raw[1:]).read_text()
        except OSError as exc:
            raise UsageError(f"cannot read {raw[1:]}: {exc}") from exc
    else:
        text = raw
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"--input is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise UsageError("--input must be a JSON object")
    return value


def _now(raw: str | None) -> _dt.datetime:
    if raw is None:
        return _dt.datetime.now(_dt.timezone.utc)
    try:
        t = _dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:
        raise UsageError(f"--now is not an RFC 3339 time: {raw}") from exc
    if t.tzinfo is None:
        raise UsageError("--now needs a UTC offset (e.g. 2026-01-01T00:00:00Z)")
    return t


def _explain(args: argparse.Namespace) -> int:
    policy = load_policy(args.policy)
    workspace = os.path.abspath(args.workspace or os.getcwd())
    cwd = os.path.abspath(args.cwd) if args.cwd else workspace
    call = ToolCall(harness=args.harness, tool=args.tool, input=_read_input(args.input), cwd=cwd,
                    workspace=workspace, session="explain")
    d = explain(call, policy, _now(args.now))
    if args.json:
        print_json(explain_json(d, call))
        return 0
    c = out_console()
    table = Table(title=f"{escape(args.tool)} call: {len(d.statements)} statement(s)", show_lines=True)
    for col in ("#", "statement", "kind", "paths", "matched rules", "effect"):
        table.add_column(col)
    for i, s in enumerate(d.statements, 1):
        st = s.statement
        paths = "\n".join(f"{escape(p.path or p.written)} ({p.location or 'decided at run time'})" for p in st.paths)
        what = escape(st.text) + (f"\n[dim]{escape(st.reason)}[/]" if st.reason else "")
        matched = "\n".join(f"[bold]{escape(r)}[/]" if r == s.rule else escape(r) for r in s.matched) or "[dim]none[/]"
        table.add_row(str(i), what, st.kind, paths, matched, f"[{_STYLE[s.effect]}]{s.effect}[/]")
    c.print(table)
    c.print(f"decision: [bold {_STYLE[d.effect]}]{d.effect}[/]  rule: {escape(d.rule) if d.rule else 'none (no rule allows a statement)'}")
    c.print(f"reason:   {escape(d.reason)}")
    if d.effect == "require":
        c.print(f"approvers: {escape(d.approver_group or 'default')}  quorum: {d.quorum}")
    c.print(f"[dim]policy digest {d.policy_digest}[/]")
    return 0


def _test(args: argparse.Namespace) -> int:
    results = run_policy_tests(args.files)
    failed = [r for r in results if not r.ok]
    ok = bool(results) and not failed
    if args.json:
        print_json({"ok": ok, "passed": len(results) - len(failed), "failed": len(failed),
                    "results": [r.to_json_dict() for r in results]})
        return 0 if ok else 1
    c = out_console()
    for r in results:
        mark = "[green]pass[/]" if r.ok else "[red]FAIL[/]"
        c.print(f"{mark} {r.index:3d} {escape(r.label)}  → {r.decision.effect}"
                + (f"\n         {escape(r.problem)}" if r.problem else ""))
    if not results:
        c.print("[red]no " + escape("[[test]]") + " cases in these files[/]")
    c.print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    return 0 if ok else 1


def _replay(args: argparse.Namespace) -> int:
    policy = load_policy(args.policy)
    entries = []
    try:
        with open(args.journal, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if line.strip():
                    try:
                        entries.append(json.loads(line))
                    except json.JSONDecodeError as exc:
                        raise UsageError(f"{args.journal}:{n}: not a JSON line: {exc}") from exc
    except OSError as exc:
        raise UsageError(f"cannot read {args.journal}: {exc}") from exc
    results = replay_decisions(entries, policy, workspace=args.workspace)
    counts: dict[str, int] = {}
    for res in results:
        counts[res.status] = counts.get(res.status, 0) + 1
    ok = counts.get("same", 0) > 0 and not counts.get("differs") and not counts.get("malformed")
    if args.json:
        print_json({"ok": ok, "policy_digest": policy.digest, "counts": counts,
                    "results": [res.to_json_dict() for res in results]})
        return 0 if ok else 1
    c = out_console()
    for res in results:
        if res.status in ("differs", "malformed"):
            c.print(f"[red]{res.status}[/] entry {res.seq}: " + escape("; ".join(res.differences)))
    summary = ", ".join(f"{v} {k}" for k, v in sorted(counts.items())) or "no gate.decision entries"
    c.print(("[green]replayed[/] " if ok else "[red]replay failed[/] ") + summary)
    c.print(f"[dim]policy digest {policy.digest}; the journal itself is not verified here (agp verify)[/]")
    return 0 if ok else 1
