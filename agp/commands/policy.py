"""``agp policy``: check, explain, test, replay, init and schema."""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import shlex
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.table import Table

from agp.commands._util import HelpFormatter, out_console, policy_file, print_json
from agp.errors import UsageError
from agp.policy import ToolCall, attestation, load_policy
from agp.policy.call import WORKSPACE_MODES
from agp.policy.explain import explain, explain_json, lint_policy, replay_decisions, run_policy_tests
from agp.policy.model import PolicyFile, shipped_policies_dir

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
            "files given together are tiers (org, project, user): strictest wins. A file may\n"
            'extend others (extends = ["default", "../org.toml"]); a repository\'s own\n'
            ".agp/policy.toml, read from its HEAD, is a tier that can only tighten."
        ),
    )
    ps = p.add_subparsers(dest="policy_command", metavar="ACTION")
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])

    c = ps.add_parser(
        "check",
        help="validate policy files and print their digest",
        formatter_class=HelpFormatter,
        description=(
            "Validate one or more policy files (several = tiers). Unknown keys, wrong types and\n"
            "rules that can never match are errors, reported with the file and line.\n"
            "Prints the policy digest: sha256 of the RFC 8785 canonical JSON of the normalized\n"
            "policy, the value every journaled decision carries.\n\n"
            "Warns (and with --strict fails) on an allow rule that matches every tool or every\n"
            "program, and on a policy that has no rule or no allow rule. A file at .agp/policy.toml\n"
            "is checked as the project policy it is: a tier that can only tighten (it needs no\n"
            'allow rule, and its allow rules have no effect unless no_match = "deny").\n\n'
            "Exit status: 0 valid, 1 warnings with --strict, 2 invalid.\n\n"
            "examples:\n  agp policy check policies/default.toml\n  agp policy check default    # a policy agp ships: default, ci, strict"
        ),
    )
    c.add_argument("files", nargs="+", type=policy_file, metavar="FILE")
    c.add_argument("--json", action="store_true", help="print {ok, digest, tiers: [...], warnings: [...]}")
    c.add_argument("--strict", action="store_true", help="exit 1 when there is a warning")
    c.set_defaults(func=_check)

    e = ps.add_parser(
        "explain",
        help="show how a policy decides one tool call",
        formatter_class=HelpFormatter,
        description=(
            "Evaluate one tool call and show the statements found in it, every rule that matched\n"
            "each, and the decision with its reason.\n\n"
            "examples:\n"
            "  agp policy explain --policy policies/default.toml --harness claude-code \\\n"
            '      --tool Bash --input \'{"command": "rm -rf build && ls"}\'\n'
            "  agp policy explain --workspace-mode clone -- git commit -am 'fix the test'\n"
            "  agp policy explain -- 'pytest -q 2>&1 | tail -5'\n\n"
            "After --, the words are one Bash command (a single word is taken as the whole\n"
            "command line, several are joined with shell quoting). Without --policy, the\n"
            "shipped default policy.\n\n"
            "--json prints {decision, rule, matched, statements, reason, policy_digest, ...}.\n"
            "Exit status: 0 whatever the decision (the decision is the output), 2 bad input."
        ),
    )
    e.add_argument(
        "--policy",
        action="append",
        type=policy_file,
        default=None,
        metavar="FILE",
        help="policy file, or the name of a shipped one: default, ci, strict (repeat for tiers; default: the shipped default policy)",
    )
    e.add_argument(
        "--project",
        type=Path,
        default=None,
        metavar="REPO",
        help="add REPO's .agp/policy.toml as committed at HEAD (a tier that can only tighten)",
    )
    e.add_argument("--harness", default="claude-code", help="claude-code | codex | reference (default claude-code)")
    e.add_argument(
        "--tool",
        default=None,
        help="tool name as the harness reports it (Bash, Read, mcp__srv__tool...; "
        "default Bash with a command after --)",
    )
    e.add_argument(
        "--input",
        default=None,
        metavar="JSON",
        help="the tool input as a JSON object; @FILE reads it from a file, - from stdin",
    )
    e.add_argument(
        "--workspace-mode",
        choices=WORKSPACE_MODES,
        default="mount",
        help="mount: the user's own directory (default); clone: the agent works on a copy",
    )
    e.add_argument("command", nargs="*", metavar="-- CMD", help="a Bash command, instead of --tool/--input")
    e.add_argument("--workspace", default=None, help="workspace path (default: the current directory)")
    e.add_argument("--cwd", default=None, help="the call's working directory (default: the workspace)")
    e.add_argument("--now", default=None, help="evaluate at this RFC 3339 time (default: now)")
    e.add_argument("--json", action="store_true", help="print the decision as JSON")
    e.set_defaults(func=_explain)

    t = ps.add_parser(
        "test",
        help="run the [[test]] examples written in policy files",
        formatter_class=HelpFormatter,
        description=(
            "Run the example cases written beside the rules:\n\n"
            "  [[test]]\n"
            '  tool = "Bash"\n'
            '  input = { command = "git push --force" }\n'
            '  expect = "deny"            # allow | deny | require\n'
            '  rule = "deny-git-force-push" # optional: the deciding rule\n\n'
            "Optional keys: name, harness (default claude-code), workspace (default /workspace),\n"
            "workspace_mode (mount or clone, default mount), cwd (default the workspace), now.\n"
            "Paths are resolved without looking at this machine's files. Several files are tested\n"
            "together as tiers. --junit FILE also writes the results as JUnit XML for CI.\n\n"
            "Exit status: 0 all pass, 1 a case failed (or there are no cases), 2 invalid policy."
        ),
    )
    t.add_argument("files", nargs="+", type=policy_file, metavar="FILE")
    t.add_argument("--json", action="store_true", help="print {ok, passed, failed, results: [...]}")
    t.add_argument("--junit", type=Path, default=None, metavar="FILE", help="write the results as JUnit XML")
    t.set_defaults(func=_test)

    r = ps.add_parser(
        "replay",
        help="evaluate a journal's decisions again and compare",
        formatter_class=HelpFormatter,
        description=(
            "Evaluate every gate.decision of a journal again under the given policy, at each entry's\n"
            "own time. Under the policy the run used (same digest): compare effect, rule, matched\n"
            "rules and digest with what was journaled (same / differs). Under another policy\n"
            "(--policy NEW): show which decisions would change (unchanged / changed).\n\n"
            "This does not verify the journal: run `agp verify JOURNAL --key agp.pub` first.\n"
            "Paths are resolved without looking at this machine's files, so a decision that turned\n"
            "on a symlink in the workspace at the time can differ.\n\n"
            "examples:\n  agp policy replay RUN/journal.jsonl --policy RUN/policy.toml\n"
            "  agp policy replay RUN/journal.jsonl --policy my-new-policy.toml\n\n"
            "Exit status: 0 every compared decision is the same or unchanged (and at least one was\n"
            "compared), 1 a decision differs or would change, or none could be compared, 2 bad input."
        ),
    )
    r.add_argument("journal", type=Path, metavar="JOURNAL")
    r.add_argument(
        "--policy",
        action="append",
        type=policy_file,
        required=True,
        metavar="FILE",
        help="policy file, or the name of a shipped one: default, ci, strict (repeat for tiers)",
    )
    r.add_argument("--workspace", default="/workspace", help="the workspace path the gate used (default /workspace)")
    r.add_argument(
        "--workspace-mode",
        choices=WORKSPACE_MODES,
        default=None,
        help="evaluate every call in this mode (default: the mode journaled with each call, else mount)",
    )
    r.add_argument("--json", action="store_true", help="print {ok, counts, results: [...]}")
    r.set_defaults(func=_replay)

    i = ps.add_parser(
        "init",
        help="write a commented starting policy",
        formatter_class=HelpFormatter,
        description=(
            "Write a starting policy with comments.\n\n"
            "  --kind project (default): .agp/policy.toml for the repository. Commit it: agp reads\n"
            "    it from HEAD (never from the working tree) and composes it as a tier that can only\n"
            "    tighten: its deny and require rules count, its allow rules allow nothing alone.\n"
            "  --kind run: a policy to pass with --policy, extending the shipped default.\n\n"
            "An existing file is never overwritten without --force.\n\n"
            "example:\n  agp policy init && agp policy test .agp/policy.toml"
        ),
    )
    i.add_argument(
        "path",
        nargs="?",
        type=Path,
        default=None,
        metavar="FILE",
        help="where to write (default: .agp/policy.toml for project, agp-policy.toml for run)",
    )
    i.add_argument("--kind", choices=["project", "run"], default="project", help="project (default) or run")
    i.add_argument("--force", action="store_true", help="replace an existing file")
    i.set_defaults(func=_init)

    sc = ps.add_parser(
        "schema",
        help="print the JSON Schema of policy files (for editors)",
        formatter_class=HelpFormatter,
        description=(
            "Print the JSON Schema (draft 2020-12) of a policy file, generated from the same\n"
            "models that validate it. Editors with TOML schema support (Taplo, Even Better TOML)\n"
            "use it for completion and checks:\n\n"
            "  agp policy schema > .agp/policy.schema.json\n"
            "  # then, first line of the policy file:  #:schema ./policy.schema.json"
        ),
    )
    sc.set_defaults(func=_schema)


def _check(args: argparse.Namespace) -> int:
    from agp.policy.engine import Policy
    from agp.policy.model import read_policy_tiers

    files, sources = [], []
    for f in args.files:
        tiers = read_policy_tiers(f)
        if _is_project_policy(f):  # checked as what it will be: a tier that can only tighten
            if read_extends(f):
                raise UsageError(f"{f}: a project policy cannot use extends (it is read from the commit alone)")
            tiers = [
                (pf.model_copy(update={"policy": pf.policy.model_copy(update={"tighten_only": True})}), src)
                for pf, src in tiers
            ]
        for pf, src in tiers:
            files.append(pf)
            sources.append(src)
    policy = Policy(files, sources)
    att = attestation(policy)
    warnings = lint_policy(policy)
    code = 1 if (warnings and args.strict) else 0
    if args.json:
        print_json({"ok": code == 0, **att, "warnings": warnings})
        return code
    c = out_console()
    for tier, pf in zip(att["tiers"], policy.tiers, strict=True):
        extra = []
        if pf.policy.tighten_only:
            extra.append("can only tighten")
        if not tier["approvals"]:
            extra.append("no approvals: require → deny")
        if tier["no_match"] == "deny":
            extra.append("allow-list tier")
        c.print(
            f"[green]valid[/] {escape(tier['source'])}: {escape(tier['name'])}, {tier['rules']} rules, "
            f"{len(pf.test)} tests" + (f" ({'; '.join(extra)})" if extra else "")
        )
    for w in warnings:
        c.print(f"[yellow]warning[/] {escape(w)}")
    c.print(f"digest {policy.digest}")
    return code


def _is_project_policy(path: Path) -> bool:
    return path.name == "policy.toml" and path.absolute().parent.name == ".agp"


def read_extends(path: Path) -> tuple[str, ...]:
    from agp.policy.model import read_policy_file

    return read_policy_file(path).extends


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
        return _dt.datetime.now(_dt.UTC)
    try:
        t = _dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:
        raise UsageError(f"--now is not an RFC 3339 time: {raw}") from exc
    if t.tzinfo is None:
        raise UsageError("--now needs a UTC offset (e.g. 2026-01-01T00:00:00Z)")
    return t


def _explain(args: argparse.Namespace) -> int:
    from agp.policy.project import read_project_policy

    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    if command:
        if args.input is not None:
            raise UsageError("give either --input or a command after --, not both")
        tool = args.tool or "Bash"
        if tool != "Bash":
            raise UsageError("a command after -- is a Bash call; use --input for other tools")
        inp: dict[str, Any] = {"command": command[0] if len(command) == 1 else shlex.join(command)}
    else:
        if args.tool is None or args.input is None:
            raise UsageError("give --tool and --input, or a Bash command after --")
        tool, inp = args.tool, _read_input(args.input)
    project = read_project_policy(args.project) if args.project is not None else None
    policy = load_policy(args.policy or [shipped_policies_dir() / "default.toml"], project=project)
    workspace = os.path.abspath(args.workspace or os.getcwd())
    cwd = os.path.abspath(args.cwd) if args.cwd else workspace
    call = ToolCall(
        harness=args.harness,
        tool=tool,
        input=inp,
        cwd=cwd,
        workspace=workspace,
        session="explain",
        workspace_mode=args.workspace_mode,
    )
    d = explain(call, policy, _now(args.now))
    if args.json:
        print_json(explain_json(d, call))
        return 0
    c = out_console()
    table = Table(
        title=f"{escape(tool)} call ({args.workspace_mode} mode): {len(d.statements)} statement(s)", show_lines=True
    )
    for col in ("#", "statement", "kind", "paths", "matched rules", "effect"):
        table.add_column(col)
    for i, s in enumerate(d.statements, 1):
        st = s.statement
        paths = "\n".join(f"{escape(p.path or p.written)} ({p.location or 'decided at run time'})" for p in st.paths)
        what = escape(st.text) + (f"\n[dim]{escape(st.reason)}[/]" if st.reason else "")
        matched = "\n".join(f"[bold]{escape(r)}[/]" if r == s.rule else escape(r) for r in s.matched) or "[dim]none[/]"
        table.add_row(str(i), what, st.kind, paths, matched, f"[{_STYLE[s.effect]}]{s.effect}[/]")
    c.print(table)
    c.print(
        f"decision: [bold {_STYLE[d.effect]}]{d.effect}[/]  rule: {escape(d.rule) if d.rule else 'none (no rule allows a statement)'}"
    )
    c.print(f"reason:   {escape(d.reason)}")
    if d.effect == "require":
        c.print(f"approvers: {escape(d.approver_group or 'default')}  quorum: {d.quorum}")
    c.print(f"[dim]policy digest {d.policy_digest}[/]")
    return 0


def _test(args: argparse.Namespace) -> int:
    results = run_policy_tests(args.files)
    failed = [r for r in results if not r.ok]
    ok = bool(results) and not failed
    if args.junit is not None:
        _write_junit(args.junit, args.files, results)
    if args.json:
        print_json(
            {
                "ok": ok,
                "passed": len(results) - len(failed),
                "failed": len(failed),
                "results": [r.to_json_dict() for r in results],
            }
        )
        return 0 if ok else 1
    c = out_console()
    for r in results:
        mark = "[green]pass[/]" if r.ok else "[red]FAIL[/]"
        c.print(
            f"{mark} {r.index:3d} {escape(r.label)}  → {r.decision.effect}"
            + (f"\n         {escape(r.problem)}" if r.problem else "")
        )
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
    results = replay_decisions(entries, policy, workspace=args.workspace, workspace_mode=args.workspace_mode)
    counts: dict[str, int] = {}
    for res in results:
        counts[res.status] = counts.get(res.status, 0) + 1
    ok = (
        counts.get("same", 0) + counts.get("unchanged", 0) > 0
        and not counts.get("differs")
        and not counts.get("changed")
        and not counts.get("malformed")
    )
    if args.json:
        print_json(
            {
                "ok": ok,
                "policy_digest": policy.digest,
                "counts": counts,
                "results": [res.to_json_dict() for res in results],
            }
        )
        return 0 if ok else 1
    c = out_console()
    for res in results:
        if res.status in ("differs", "malformed", "changed"):
            c.print(f"[red]{res.status}[/] entry {res.seq}: " + escape("; ".join(res.differences)))
    summary = ", ".join(f"{v} {k}" for k, v in sorted(counts.items())) or "no gate.decision entries"
    c.print(("[green]replayed[/] " if ok else "[red]replay failed[/] ") + summary)
    c.print(f"[dim]policy digest {policy.digest}; the journal itself is not verified here (agp verify)[/]")
    return 0 if ok else 1


def _write_junit(path: Path, files: list[Path], results: list[Any]) -> None:
    """JUnit XML, as CI systems read it: one testsuite, one testcase per [[test]] case."""
    failed = [r for r in results if not r.ok]
    suite = ET.Element(
        "testsuite",
        name="agp policy test " + " ".join(str(f) for f in files),
        tests=str(len(results)),
        failures=str(len(failed)),
        errors="0",
        skipped="0",
    )
    for r in results:
        case = ET.SubElement(suite, "testcase", classname="agp.policy", name=f"{r.index:03d} {r.label}")
        if not r.ok:
            fail = ET.SubElement(case, "failure", message=r.problem or "failed", type="PolicyTestFailure")
            fail.text = r.problem
        out = ET.SubElement(case, "system-out")
        out.text = f"expect {r.case.expect}, got {r.decision.effect} (rule {r.decision.rule}): {r.decision.reason}"
    if not results:
        case = ET.SubElement(suite, "testcase", classname="agp.policy", name="no [[test]] cases")
        ET.SubElement(case, "failure", message="these files have no [[test]] cases")
        suite.set("tests", "1")
        suite.set("failures", "1")
    root = ET.Element("testsuites")
    root.append(suite)
    tree = ET.ElementTree(root)
    ET.indent(tree)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tree.write(path, encoding="utf-8", xml_declaration=True)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc}") from exc


def _init(args: argparse.Namespace) -> int:
    from agp.policy.model import parse_policy_text

    text = _PROJECT_TEMPLATE if args.kind == "project" else _RUN_TEMPLATE
    path = args.path or Path(".agp/policy.toml" if args.kind == "project" else "agp-policy.toml")
    parse_policy_text(text, source=str(path))  # the template is itself a valid policy
    if path.exists() and not args.force:
        raise UsageError(f"{path} exists; pass --force to replace it")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc}") from exc
    c = out_console()
    c.print(f"wrote {escape(str(path))}")
    if args.kind == "project":
        c.print("commit it: agp reads .agp/policy.toml from HEAD, never from the working tree")
    else:
        c.print(f"use it with: agp run --policy {escape(str(path))} ...")
    c.print(f"try it: agp policy test {escape(str(path))}")
    return 0


def _schema(args: argparse.Namespace) -> int:
    schema = PolicyFile.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "agp policy file"
    print(json.dumps(schema, indent=2, sort_keys=True))
    return 0


_PROJECT_TEMPLATE = """\
# agp project policy. Commit this file: agp reads .agp/policy.toml from the commit your checkout
# is on (HEAD), never from the working tree the agent can write.
#
# It is composed with the policy of the run (agp run --policy, default: the shipped default) as
# a tier that can only TIGHTEN: its deny and require rules count; its allow rules never allow
# anything on their own (with no_match = "deny" they narrow what the other tiers allow).
#
# deny > require > allow; a statement no rule matches is decided by the other tiers.
# The rule language: adr/0003-policy-language.md; `agp policy schema` for editors.
# Check a change: agp policy check --strict .agp/policy.toml && agp policy test .agp/policy.toml

[policy]
name = "project"
description = "what this repository asks of every agent run"
# approvals = false        # uncomment: no one approves here, every `require` becomes a deny

# Files the agent must not change without a person looking (asks in both workspace modes).
[[rule]]
id = "project-ask-migrations"
effect = "require"
description = "database migrations are reviewed before they are written"
kind = ["write"]
touches_path = ["migrations/**", "**/migrations/**"]

# Files the agent must never change.
[[rule]]
id = "project-deny-vendored"
effect = "deny"
description = "vendored code is updated by the vendoring script, not by hand"
kind = ["write"]
touches_path = ["vendor/**", "third_party/**"]

# Programs this repository never wants run by an agent.
# [[rule]]
# id = "project-deny-deploy"
# effect = "deny"
# description = "deployment scripts"
# program = ["deploy.sh", "terraform", "kubectl"]

# Restrict a rule to one workspace mode (mount: your own directory; clone: a copy):
# workspace_mode = ["mount"]

# Examples, run by `agp policy test` (with the shipped default policy in front, e.g.
#   agp policy test policies/default.toml .agp/policy.toml).
[[test]]
name = "writing a migration asks"
tool = "Write"
input = { file_path = "/workspace/migrations/0002_add_index.sql", content = "create index ..." }
workspace_mode = "clone"
expect = "require"

[[test]]
name = "editing vendored code is refused"
tool = "Edit"
input = { file_path = "/workspace/vendor/lib/x.py", old_string = "a", new_string = "b" }
expect = "deny"
"""

_RUN_TEMPLATE = """\
# agp policy for `agp run --policy FILE`: the shipped default policy plus your own rules.
# deny > require > allow; a statement no rule matches is denied; a call is allowed only if every
# statement in it is allowed. The rule language: adr/0003-policy-language.md.
# Check a change: agp policy check --strict FILE && agp policy test FILE

extends = ["default"]      # shipped names, or file paths relative to this file

[policy]
name = "my-policy"
description = "the default policy, with this team's additions"

# Let the agent run the project's own scripts without asking, in clone mode only.
[[rule]]
id = "team-allow-scripts"
effect = "allow"
description = "the repository's scripts/ directory (in a clone, nothing leaves without review)"
workspace_mode = ["clone"]
program = ["./scripts/*", "scripts/*"]
path = ["**", "/tmp/**", "/dev/null"]

# Something that must always ask, whatever the default says.
[[rule]]
id = "team-ask-lockfiles"
effect = "require"
description = "lockfile changes are looked at"
kind = ["write"]
touches_path = ["**/package-lock.json", "**/poetry.lock", "**/Cargo.lock", "**/go.sum"]

[[test]]
name = "a lockfile edit asks, even in clone mode"
tool = "Write"
input = { file_path = "/workspace/package-lock.json", content = "{}" }
workspace_mode = "clone"
expect = "require"
rule = "team-ask-lockfiles"
"""
