"""The timeline: every journal event in order, as JSON and as a markdown table.

The timeline is a reading aid. The journal is the record: each row names the entry's
``seq`` and ``hash`` so a reader can find the signed line it summarizes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

__all__ = ("TimelineWriter", "build_timeline", "render_timeline_md", "summarize_entry", "timeline_row")

_CELL = 140


def _short(value: Any, limit: int = 100) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, ensure_ascii=False)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _input_summary(tool: str, inp: Any) -> str:
    if isinstance(inp, dict):
        for key in ("command", "cmd", "file_path", "path", "pattern", "url", "query"):
            if key in inp:
                return _short(inp[key])
    return _short(inp)


def summarize_entry(entry: Mapping[str, Any]) -> str:
    """One line saying what an entry records."""
    kind = entry.get("kind", "?")
    body = unverified_body if isinstance(unverified_body := entry.get("body"), dict) else {}
    if kind == "gate.decision":
        call = unverified_call if isinstance(unverified_call := body.get("call"), dict) else {}
        tool = str(call.get("tool", "?"))
        effect = body.get("effect")
        approval = unverified_approval if isinstance(unverified_approval := body.get("approval"), dict) else None
        via = f" after approval {approval.get('outcome')}" if approval else ""
        eff = f" ({effect})" if effect and effect != body.get("decision") else ""
        rule = f" rule {body.get('rule')}" if body.get("rule") else ""
        tid = f" [{call.get('tool_use_id')}]" if call.get("tool_use_id") else ""
        omitted = call.get("input_omitted") if "input" not in call else None
        shown = (
            f"(input of {omitted.get('size')} bytes journaled as its digest) {_short(omitted.get('prefix', ''), 60)}"
            if isinstance(omitted, dict)
            else _input_summary(tool, call.get("input"))
        )
        return f"{tool} {shown} → {str(body.get('decision', '?')).upper()}{eff}{via}{rule}{tid}"
    if kind == "journal.open":
        return f"journal opened ({'reopened' if body.get('reopened') else 'new'}, {body.get('format', '?')})"
    if kind == "journal.head":
        return "signed head written covering this entry"
    if kind == "journal.recovery":
        return f"recovery after a crash: {_short(body)}"
    if kind == "key.rotate":
        return f"key rotated to {body.get('new_kid', '?')}"
    if kind == "run.start":
        return f"run started: {_short(body.get('task', ''), 80)} ({body.get('intendant', '?')}, approver {body.get('approver', '?')})"
    if kind == "run.end":
        return f"run ended: exit {body.get('exit_code')} — {_short(body.get('reason', ''), 80)}"
    if kind == "run.anomaly":
        return f"ANOMALY: {_short(body.get('what', ''), 60)}: {_short(body.get('error', body), 80)}"
    if kind == "sandbox.preflight":
        ok = body.get("ok")
        return f"egress preflight {'passed' if ok else 'FAILED' if ok is False else '?'}: {_short(body.get('reason', body), 100)}"
    if kind == "sandbox.inspect":
        problems = body.get("problems") or []
        return "hardening inspected: " + (
            "all flags present" if body.get("ok") and not problems else f"PROBLEMS {_short(problems, 90)}"
        )
    if kind in ("sandbox.create", "sandbox.teardown"):
        cid = str(body.get("container", ""))[:12]
        rest = body.get("outcome") or body.get("image") or ""
        return f"container {cid} {kind.split('.')[1]}d {_short(rest, 80)}".rstrip()
    if kind.startswith("approval."):
        parts = [
            f"{k}={_short(body[k], 40)}" for k in ("tool", "outcome", "approvers", "reason", "quorum") if k in body
        ]
        return f"{kind.split('.', 1)[1]}: " + (", ".join(parts) if parts else _short(body))
    return _short(body, _CELL)


def timeline_row(e: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "seq": e.get("seq"),
        "ts": e.get("ts"),
        "kind": e.get("kind"),
        "session": e.get("session"),
        "summary": summarize_entry(e),
        "hash": e.get("hash"),
        "body": e.get("body"),
    }


def build_timeline(entries: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [timeline_row(e) for e in entries]


def _md_cell(text: Any) -> str:
    s = "" if text is None else str(text)
    s = s.replace("|", "\\|").replace("\n", " ")
    return s if len(s) <= _CELL else s[: _CELL - 1] + "…"


def _md_head(title: str, note: str | None) -> list[str]:
    out = [f"# {title}", ""]
    if note:
        out += [note, ""]
    out += ["Each row names the entry's seq; the journal line with that seq is the signed record.", ""]
    out += ["| seq | time (UTC) | kind | session | what happened |", "|---:|---|---|---|---|"]
    return out


def _md_row(r: Mapping[str, Any]) -> str:
    return f"| {r['seq']} | {_md_cell(r['ts'])} | {_md_cell(r['kind'])} | {_md_cell(r['session'])} | {_md_cell(r['summary'])} |"


def render_timeline_md(rows: list[dict[str, Any]], *, title: str = "Timeline", note: str | None = None) -> str:
    out = _md_head(title, note) + [_md_row(r) for r in rows] + ["", f"{len(rows)} journal entries."]
    return "\n".join(out) + "\n"


class TimelineWriter:
    """Write timeline.json and timeline.md row by row (memory does not grow with the journal)."""

    def __init__(self, json_path: Path, md_path: Path, *, verified: bool, title: str, note: str | None) -> None:
        self._j = open(json_path, "w", encoding="utf-8")  # noqa: SIM115 - held until close()
        self._m = open(md_path, "w", encoding="utf-8")  # noqa: SIM115 - held until close()
        self._n = 0
        self._j.write(
            '{"format": "agp-timeline/1", "journal_verified": %s, "events": [' % ("true" if verified else "false")
        )
        self._m.write("\n".join(_md_head(title, note)) + "\n")

    def add(self, entry: Mapping[str, Any]) -> None:
        row = timeline_row(entry)
        self._j.write(("\n" if self._n == 0 else ",\n") + json.dumps(row, ensure_ascii=False, sort_keys=False))
        self._m.write(_md_row(row) + "\n")
        self._n += 1

    def close(self) -> None:
        self._j.write("\n]}\n")
        self._m.write(f"\n{self._n} journal entries.\n")
        for f in (self._j, self._m):
            f.flush()
            os.fsync(f.fileno())
            f.close()

    def __enter__(self) -> TimelineWriter:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
