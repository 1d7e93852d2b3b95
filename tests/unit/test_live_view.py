"""The live view shows what was journaled, for a person: the call as the agent gave it, the reason
for a deny, who approved (or "auto"), the model API's failures; every decision stays in the
history; a terminal's 80 columns are respected; agent text cannot drive the terminal."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import Any

from rich.console import Console

from agp._live import LiveView, call_text, printable
from agp.approvers.terminal import write_preview


@dataclass
class E:
    kind: str
    body: dict[str, Any]
    seq: int = 1


def decision(tool, inp, decision, rule, reason="", approval=None, seq=1):
    return E("gate.decision", {"call": {"tool": tool, "input": inp}, "decision": decision, "rule": rule,
                               "reason": reason, "approval": approval}, seq)


def view(*, terminal: bool, width: int = 80) -> tuple[LiveView, io.StringIO]:
    buf = io.StringIO()
    con = Console(file=buf, force_terminal=terminal, width=width, color_system=None, highlight=False, soft_wrap=True)
    return LiveView(con, title="agp run · test"), buf


CMD = "ls src && rm -rf /workspace  # and a long tail " + "x" * 80


def _feed(v: LiveView) -> None:
    v.journal_entry(E("run.start", {}))
    v.journal_entry(decision("Bash", {"command": "ls -la"}, "allow", "read-only-programs"))
    v.journal_entry(decision("Bash", {"command": CMD}, "deny", "deny-remove-workspace-root",
                             "denied by rule deny-remove-workspace-root: removing the workspace root", seq=2))
    v.journal_entry(decision("Write", {"file_path": "/workspace/NOTES.md", "content": "x"}, "allow", "write-files",
                             approval={"outcome": "approved_automatically", "approvers": []}, seq=3))
    v.journal_entry(decision("Bash", {"command": "git commit -m x"}, "allow", "commit",
                             approval={"outcome": "approved", "approvers": ["terminal:alice"]}, seq=4))
    v.journal_entry(decision("Bash", {"command": "git push"}, "deny", "push",
                             "denied: approval required; timed out",
                             approval={"outcome": "timed_out", "approvers": []}, seq=5))
    v.journal_entry(E("relay.request", {"method": "POST", "path": "/v1/messages", "status": 200}, 6))
    v.journal_entry(E("relay.request", {"method": "POST", "path": "/v1/messages", "status": 529}, 7))
    # the same decisions also arrive as gate events: shown once
    v.decision(tool="Bash", summary="ls -la", decision="allow", rule="read-only-programs", seq=1)


def test_plain_lines_show_the_call_as_given_the_reason_and_who():
    v, buf = view(terminal=False)
    with v:
        _feed(v)
    text = buf.getvalue()
    assert CMD in text  # the command as given, whole (not split into statements, not cut) off a terminal
    assert "removing the workspace root" in text
    assert "approved: auto" in text and "approved by terminal:alice" in text and "[timed out]" in text
    assert "model API: POST /v1/messages -> HTTP 529" in text
    assert text.count("ls -la") == 1 and v.counts == {"allow": 3, "deny": 2}
    assert "None" not in text and "TIMED_OUT" not in text and "timed_out" not in text


def test_on_a_terminal_every_decision_stays_in_the_history_within_80_columns():
    v, buf = view(terminal=True, width=80)
    with v:
        _feed(v)
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", buf.getvalue())
    lines = [ln for ln in plain.replace("\r", "\n").split("\n") if ln.strip()]
    assert max(len(ln) for ln in lines) <= 80, max(lines, key=len)
    for what in ("ls -la", "ls src && rm -rf /workspace", "/workspace/NOTES.md", "git commit -m x", "git push",
                 "removing the workspace", "HTTP 529"):
        assert any(what in ln for ln in lines), what


def test_agent_text_cannot_drive_the_terminal():
    evil = "ls\x1b[2J\x1b]0;owned\x07\u202etxt.exe\nrm -rf x"
    shown = call_text("Bash", {"command": evil})
    assert "\x1b" not in shown and "\x07" not in shown and "\u202e" not in shown and "\n" not in shown
    assert "\\x1b" in shown and "⏎" in shown
    assert printable("tab\there") == "tab here"


def test_unjournaled_decisions_are_still_shown():
    v, buf = view(terminal=False)
    with v:
        v.journal_entry(E("run.start", {}))
        v.decision(tool="Bash", summary="ls", decision="deny", rule=None, seq=None)
    assert "not journaled" in buf.getvalue() and v.counts["deny"] == 1


def _render(panel) -> str:
    buf = io.StringIO()
    Console(file=buf, width=100, color_system=None).print(panel)
    return buf.getvalue()


def test_the_approval_prompt_shows_what_a_write_would_write_and_an_edit_as_a_diff():
    w = _render(write_preview("Write", {"file_path": "/workspace/a.py", "content": "print('hi')\nx = 1\n"}))
    assert "would write /workspace/a.py (2 lines)" in w and "print('hi')" in w and "x = 1" in w
    e = _render(write_preview("Edit", {"file_path": "/workspace/a.py", "old_string": "x = 1\ny = 2",
                                       "new_string": "x = 2\ny = 2"}))
    assert "would change /workspace/a.py" in e and "-x = 1" in e and "+x = 2" in e
    big = _render(write_preview("Write", {"file_path": "f", "content": "\n".join(map(str, range(100)))}))
    assert "60 more lines" in big
    assert write_preview("Bash", {"command": "ls"}) is None
    esc = _render(write_preview("Write", {"file_path": "f", "content": "\x1b[31mred"}))
    assert "\x1b[31m" not in esc
