"""The live view of a governed run: every gated call, the pending approvals, the model API's failures.

UI state is kept here, away from the orchestration. The run feeds it the journal's durable entries
(:meth:`LiveView.journal_entry`, the journal's ``on_append``): what the view shows of a decision is
what was journaled, with the call as the agent gave it (the command, the file), the reason for a
deny and who approved (a name, or "auto"). The gate's events add the pending approvals, and the
decisions that could not be journaled.

Every decision is printed as lines that stay in the terminal's history (above a small live region
with the pending approvals and a status line, on a terminal; plain lines elsewhere, e.g. CI). On a
terminal each line fits its width (80 columns and up); elsewhere lines are never cut or wrapped.
Text that comes from the agent is shown with control characters escaped: it cannot move the cursor
or recolour the terminal.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.text import Text

__all__ = ("CallRow", "LiveView", "call_text", "printable")

_STYLE = {"allow": "green", "deny": "red"}

#: approval outcomes (agp.gate.approvals.Outcome values) as a person reads them
OUTCOME_TEXT = {
    "approved": "approved",
    "approved_automatically": "approved automatically",
    "denied": "denied",
    "timed_out": "timed out",
    "no_approver": "no approver",
    "approver_unreachable": "approver unreachable",
    "cancelled": "cancelled",
}


def printable(text: str) -> str:
    """``text`` with newlines as ⏎ and every other control character escaped (\\x1b, \\u009b ...)."""
    out = []
    for ch in str(text):
        if ch == "\n":
            out.append(" ⏎ ")
        elif ch == "\t":
            out.append(" ")
        elif ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 or ch in "\u2028\u2029\u202e\u202d\u2066\u2067\u2068\u2069":
            out.append(ch.encode("unicode_escape").decode("ascii"))
        else:
            out.append(ch)
    return "".join(out)


def call_text(tool: str, tool_input: Mapping[str, Any] | None) -> str:
    """The call as the agent gave it: a shell command verbatim, a file tool's path, else the input."""
    inp = dict(tool_input or {})
    for key in ("command", "cmd"):
        v = inp.get(key)
        if isinstance(v, str):
            return printable(v)
        if isinstance(v, list) and all(isinstance(x, str) for x in v):
            return printable(" ".join(v))
    for key in ("file_path", "path", "notebook_path", "pattern", "url"):
        v = inp.get(key)
        if isinstance(v, str):
            return printable(v)
    return printable(json.dumps(inp, ensure_ascii=False, sort_keys=True))


def _who(decision: str, rule: str | None, approval: Mapping[str, Any] | None) -> str:
    """Who decided: the rule, and for an approval who approved ("auto" for the demo's approver)."""
    if approval:
        outcome = str(approval.get("outcome") or "")
        if outcome == "approved_automatically":
            return f"approved: auto ({rule})" if rule else "approved: auto"
        if outcome == "approved":
            names = ", ".join(str(a) for a in approval.get("approvers") or []) or "an approver"
            return f"approved by {names}"
        return OUTCOME_TEXT.get(outcome, outcome.replace("_", " "))
    return rule or ("no rule allows it" if decision == "deny" else "")


@dataclass
class CallRow:
    ts: float
    tool: str
    summary: str
    decision: str
    rule: str | None
    seq: int | None = None
    who: str = ""
    reason: str = ""


@dataclass
class _State:
    rows: list[CallRow] = field(default_factory=list)
    pending: dict[str, str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=lambda: {"allow": 0, "deny": 0})
    status: str = ""
    model_requests: int = 0
    model_failed: int = 0


class LiveView:
    """Thread-safe; ``with LiveView(console) as view: view.journal_entry(entry)``."""

    def __init__(self, console: Console | None = None, *, title: str = "agp run") -> None:
        self.console = console or Console(stderr=True, highlight=False, soft_wrap=True)
        self.title = title
        self._state = _State()
        self._lock = threading.Lock()
        self._live: Live | None = None
        self.interactive = self.console.is_terminal
        self._journal_fed = False

    def __enter__(self) -> LiveView:
        if self.interactive:
            self.console.print(Text(self.title, style="bold"))
            self._live = Live(self._render(), console=self.console, refresh_per_second=8, transient=True)
            self._live.__enter__()
        else:
            self.console.print(f"== {self.title}", markup=False)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._live is not None:
            self._live.__exit__(*exc)
            self._live = None

    # events: the journal ------------------------------------------------
    def journal_entry(self, entry: Any) -> None:
        """The journal's ``on_append``: show decisions, model API failures and anomalies as journaled."""
        self._journal_fed = True
        kind, body = entry.kind, entry.body
        try:
            if kind == "gate.decision":
                call = body.get("call") or {}
                self._add_row(
                    CallRow(
                        time.time(),
                        str(call.get("tool") or "?"),
                        call_text(str(call.get("tool")), call.get("input")),
                        str(body.get("decision")),
                        body.get("rule"),
                        entry.seq,
                        _who(str(body.get("decision")), body.get("rule"), body.get("approval")),
                        str(body.get("reason") or "") if body.get("decision") != "allow" else "",
                    )
                )
            elif kind == "relay.request":
                self._model_request(body)
            elif kind == "run.anomaly":
                self.log(f"anomaly: {printable(str(body.get('what') or body))}")
        except Exception:  # noqa: BLE001, S110 - the view must never break the journal
            pass

    def _model_request(self, body: Mapping[str, Any]) -> None:
        status = body.get("status")
        ok = isinstance(status, int) and 200 <= status < 300
        with self._lock:
            self._state.model_requests += 1
            if not ok:
                self._state.model_failed += 1
        if not ok:
            what = f"{body.get('method') or ''} {body.get('path') or ''}".strip() or "a request"
            why = body.get("refused") or body.get("error") or ""
            self.log(
                f"model API: {printable(what)} -> "
                + (f"HTTP {status}" if status is not None else "no answer")
                + (f" ({printable(str(why))})" if why else "")
            )
        self._refresh()

    # events: the gate -----------------------------------------------------
    def decision(self, *, tool: str, summary: str, decision: str, rule: str | None, seq: int | None = None) -> None:
        """A gate event. Once the journal feeds the view, journaled decisions come from there (with the
        call as given and the reason); an unjournaled one (the journal failed) is still shown."""
        if self._journal_fed and seq is not None:
            return
        parts = list(dict.fromkeys(p.strip() for p in summary.split(" ; ") if p.strip()))  # each statement once
        self._add_row(
            CallRow(
                time.time(),
                tool,
                printable(" ; ".join(parts)),
                decision,
                rule,
                seq,
                _who(decision, rule, None),
                "not journaled: the journal failed" if seq is None and self._journal_fed else "",
            )
        )

    def pending(self, key: str, text: str) -> None:
        with self._lock:
            self._state.pending[key] = printable(text)
        if self._live is None:
            self.console.print(f"         WAIT  approval: {printable(text)}", markup=False)
        self._refresh()

    def resolved(self, key: str, outcome: str) -> None:
        with self._lock:
            text = self._state.pending.pop(key, key)
        if self._live is None:
            self.console.print(f"         {OUTCOME_TEXT.get(outcome, outcome.replace('_', ' '))}: {text}", markup=False)
        self._refresh()

    def status(self, text: str) -> None:
        with self._lock:
            self._state.status = text
        if self._live is None:
            self.console.print(f"==> {text}", markup=False)
        self._refresh()

    def log(self, text: str) -> None:
        self.console.print(text, markup=False)

    @property
    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._state.counts)

    # rendering ----------------------------------------------------------
    def _add_row(self, row: CallRow) -> None:
        with self._lock:
            self._state.rows.append(row)
            self._state.counts[row.decision] = self._state.counts.get(row.decision, 0) + 1
        for line in self.row_lines(row):
            self.console.print(line)
        self._refresh()

    def row_lines(self, row: CallRow) -> list[Text]:
        """One line for the call (time, decision, tool, the call as given, who decided), one more for a
        deny's reason; fitted to the terminal's width on a terminal, whole elsewhere."""
        width = self.console.width if self.interactive else None
        head = f"{time.strftime('%H:%M:%S', time.localtime(row.ts))} {row.decision.upper():<5} {row.tool:<6} "
        who = f"  [{row.who}]" if row.who else ""
        body = row.summary
        if width is not None:
            room = max(width - len(head) - len(who), 12)
            if len(body) > room:
                body = body[: room - 1] + "…"
            if len(head) + len(body) + len(who) > width:
                who = who[: max(width - len(head) - len(body), 0)]
        line = Text(head)
        line.stylize(_STYLE.get(row.decision, ""), 9, 14)
        line.append(body)
        line.append(who, style="dim")
        out = [line]
        if row.reason:
            reason = "  ↳ " + printable(row.reason)
            if width is not None and len(reason) > width:
                reason = reason[: width - 1] + "…"
            out.append(Text(reason, style="red" if row.decision == "deny" else ""))
        return out

    def _refresh(self) -> None:
        if self._live is not None:
            self._live.update(self._render())

    def _render(self) -> Group:
        with self._lock:
            st = self._state
            pending = list(st.pending.values())
            counts = dict(st.counts)
            status = st.status
            model = (st.model_requests, st.model_failed)
        width = self.console.width
        parts: list[Any] = []
        for p in pending:
            t = f"⏳ waiting for approval: {p}"
            parts.append(Text(t if len(t) <= width else t[: width - 1] + "…", style="yellow"))
        summary = " · ".join(f"{k} {v}" for k, v in counts.items())
        if model[0]:
            summary += f" · model requests {model[0]}" + (f" ({model[1]} failed)" if model[1] else "")
        line = f"{status}   [{summary}]"
        parts.append(Text(line if len(line) <= width else line[: width - 1] + "…", style="dim"))
        return Group(*parts)
