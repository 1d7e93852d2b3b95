"""``agp runs list`` and ``agp runs show RUN``: the runs in a run directory, their decisions and results."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from agp.commands._util import HelpFormatter, out_console, print_json
from agp.errors import UsageError
from agp.paths import data_dir

__all__ = ("register",)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "runs",
        help="list past runs, show one (task, harness, decisions, result branch, patch)",
        formatter_class=HelpFormatter,
        description="The governed runs kept in the run directory (default "
        f"{data_dir() / 'runs'}).\n\nexamples:\n  agp runs list\n"
        "  agp runs show 20261207T004458Z-b271d9 --diff",
    )
    s = p.add_subparsers(dest="runs_command", metavar="COMMAND")
    ls = s.add_parser("list", help="one line per run, newest first", formatter_class=HelpFormatter)
    ls.add_argument("--out", type=Path, default=None, help="where run directories are (agp run --out)")
    ls.add_argument("--json", action="store_true", help="print JSON")
    ls.set_defaults(func=_list)
    sh = s.add_parser("show", help="one run: task, harness, decisions, workspace result", formatter_class=HelpFormatter)
    sh.add_argument("run", help="the run id (or a unique prefix), or a run directory")
    sh.add_argument("--out", type=Path, default=None, help="where run directories are (agp run --out)")
    sh.add_argument("--diff", action="store_true", help="print the run's patch (clone mode) and nothing else")
    sh.add_argument("--json", action="store_true", help="print JSON")
    sh.set_defaults(func=_show)
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])


def _base(out: Path | None) -> Path:
    return out if out is not None else data_dir() / "runs"


def _load(path: Path) -> dict[str, Any]:
    try:
        obj = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return obj if isinstance(obj, dict) else {}


def _row(run_dir: Path) -> dict[str, Any]:
    meta = _load(run_dir / "run.json")
    ws = _load(run_dir / "workspace.json")
    return {
        "run_id": meta.get("run_id", run_dir.name),
        "run_dir": str(run_dir),
        "started": meta.get("started"),
        "intendant": meta.get("intendant"),
        "task": meta.get("task"),
        "exit_code": meta.get("exit_code"),
        "exit_reason": meta.get("exit_reason"),
        "workspace": meta.get("workspace"),
        "workspace_mode": meta.get("workspace_mode") or ws.get("workspace_mode"),
        "branch": ws.get("branch"),
        "applied": ws.get("applied"),
        "files_changed": ws.get("files_changed"),
        "patch_sha256": ws.get("patch_sha256"),
        "landing": ws.get("landing"),
    }


def _runs(base: Path) -> list[Path]:
    if not base.is_dir():
        return []
    return sorted((d for d in base.iterdir() if d.is_dir() and (d / "run.json").is_file()), reverse=True)


def _list(args: argparse.Namespace) -> int:
    rows = [_row(d) for d in _runs(_base(args.out))]
    if args.json:
        print_json(rows)
        return 0
    c = out_console()
    if not rows:
        c.print(f"no runs in {_base(args.out)}")
        return 0
    for r in rows:
        result = r["branch"] or ("applied" if r["applied"] else "") or (r["landing"] or "")
        c.print(
            f"{r['run_id']}  {r['intendant'] or '?':<11} exit {r['exit_code']!s:<4} {r['workspace_mode'] or '?':<5} "
            f"{result[:40]:<40}  {str(r['task'] or '')[:60]}",
            markup=False,
        )
    return 0


def _find(args: argparse.Namespace) -> Path:
    cand = Path(args.run)
    if (cand / "run.json").is_file():
        return cand
    hits = [d for d in _runs(_base(args.out)) if d.name.startswith(args.run)]
    if len(hits) != 1:
        raise UsageError(
            f"no run {args.run!r} in {_base(args.out)}"
            if not hits
            else f"{args.run!r} names {len(hits)} runs; give more of the id"
        )
    return hits[0]


def _decisions(run_dir: Path) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    try:
        lines = (run_dir / "journal.jsonl").read_bytes().splitlines()
    except OSError:
        return out
    for ln in lines:
        try:
            e = json.loads(ln)
        except ValueError:
            continue
        b = e.get("body") if isinstance(e, dict) else None
        if not isinstance(b, dict):
            continue
        if e.get("kind") == "gate.decision":
            call = b.get("call") or {}
            out.append(
                {
                    "seq": e.get("seq"),
                    "tool": call.get("tool"),
                    "decision": b.get("decision"),
                    "rule": b.get("rule"),
                    "reason": b.get("reason"),
                }
            )
        elif e.get("kind") == "workspace.land_decision":
            out.append(
                {
                    "seq": e.get("seq"),
                    "tool": "workspace.result",
                    "decision": "allow" if b.get("allowed") else "deny",
                    "rule": b.get("rule"),
                    "reason": b.get("detail"),
                }
            )
    return out


def _show(args: argparse.Namespace) -> int:
    run_dir = _find(args)
    if args.diff:
        patch = run_dir / "changes.patch"
        if not patch.is_file():
            raise UsageError(f"run {run_dir.name} has no patch (not a clone-mode run, or its result was not computed)")
        with open(patch, "rb") as f:
            while chunk := f.read(1 << 20):
                sys.stdout.buffer.write(chunk)
        sys.stdout.buffer.flush()
        return 0
    row = _row(run_dir)
    ws = _load(run_dir / "workspace.json")
    row.update(decisions=_decisions(run_dir), files=ws.get("files", []), host_run_paths=ws.get("host_run_paths", []))
    if args.json:
        print_json(row)
        return 0
    c = out_console()
    for k in ("run_id", "run_dir", "task", "intendant", "workspace", "workspace_mode", "exit_code", "exit_reason"):
        c.print(f"{k:<15} {row.get(k)}", markup=False)
    if row["workspace_mode"] == "clone":
        c.print(f"{'result':<15} {row['files_changed'] or 0} file(s) changed; {row['landing']}", markup=False)
        flagged = set(row["host_run_paths"])
        for f in row["files"]:
            mark = "  <- the host runs this path" if f["path"] in flagged else ""
            c.print(f"  {f['status']} {f['path']!r} ({f['size']} bytes){mark}", markup=False)
    c.print(f"decisions ({len(row['decisions'])}):", markup=False)
    for d in row["decisions"]:
        c.print(f"  #{d['seq']} {d['decision']:<5} {d['tool']}: {d['reason']}", markup=False)
    return 0
