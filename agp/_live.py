"""The live view of a governed run: every gated call and every pending approval.

UI state is kept here, away from the orchestration (run.py feeds it events):

- on a terminal, a rich ``Live`` table of the last calls (time, tool, statement
  summary, decision, rule) above the pending approvals and a status line;
- elsewhere (CI, pipes), one plain line per event, so logs stay readable.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

__all__ = ("CallRow", "LiveView")

_STYLE = {"allow": "green", "deny": "red", "approved": "green", "timed-out": "red", "pending": "yellow"}


@dataclass
class CallRow:
    ts: float
    tool: str
    summary: str
    decision: str
    rule: str | None
    seq: int | None = None


@dataclass
class _State:
    rows: list[CallRow] = field(default_factory=list)
    pending: dict[str, str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=lambda: {"allow": 0, "deny": 0})
    status: str = ""


class LiveView:
    """Thread-safe; ``with LiveView(console) as view: view.decision(...)``."""

    MAX_ROWS = 18

    def __init__(self, console: Console | None = None, *, title: str = "agp run") -> None:
        self.console = console or Console(stderr=True, highlight=False, soft_wrap=True)
        self.title = title
        self._state = _State()
        self._lock = threading.Lock()
        self._live: Live | None = None
        self.interactive = self.console.is_terminal

    def __enter__(self) -> "LiveView":
        if self.interactive:
            self._live = Live(self._render(), console=self.console, refresh_per_second=8, transient=False)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._live is not None:
            self._live.update(self._render())
            self._live.__exit__(*exc)
            self._live = None

    # events -------------------------------------------------------------
    def decision(self, *, tool: str, summary: str, decision: str, rule: str | None, seq: int | None = None) -> None:
        parts = list(dict.fromkeys(p.strip() for p in summary.split(" ; ") if p.strip()))  # each statement once
        row = CallRow(time.time(), tool, " ; ".join(parts), decision, rule, seq)
        with self._lock:
            self._state.rows.append(row)
            self._state.counts[decision] = self._state.counts.get(decision, 0) + 1
        if self._live is None:
            self.console.print(
                f"{time.strftime('%H:%M:%S', time.localtime(row.ts))}  {decision.upper():<5} {tool:<10} "
                f"{row.summary[:90]}  [{rule or '-'}]" + (f"  #{seq}" if seq is not None else ""),
                markup=False,
            )
        self._refresh()

    def pending(self, key: str, text: str) -> None:
        with self._lock:
            self._state.pending[key] = text
        if self._live is None:
            self.console.print(f"          WAIT  {text}", markup=False)
        self._refresh()

    def resolved(self, key: str, outcome: str) -> None:
        with self._lock:
            text = self._state.pending.pop(key, key)
        if self._live is None:
            self.console.print(f"          {outcome.upper():<5} approval: {text}", markup=False)
        self._refresh()

    def status(self, text: str) -> None:
        with self._lock:
            self._state.status = text
        if self._live is None:
            self.console.print(f"==> {text}", markup=False)
        self._refresh()

    def log(self, text: str) -> None:
        if self._live is not None:
            self._live.console.print(text, markup=False)
        else:
            self.console.print(text, markup=False)

    @property
    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._state.counts)

    # rendering ----------------------------------------------------------
    def _refresh(self) -> None:
        if self._live is not None:
            self._live.update(self._render())

    def _render(self) -> Group:
        with self._lock:
            st = self._state
            rows = st.rows[-self.MAX_ROWS:]
            pending = list(st.pending.values())
            counts = dict(st.counts)
            status = st.status
        table = Table(title=self.title, expand=True, show_lines=False)
        table.add_column("time", width=8, no_wrap=True)
        table.add_column("tool", width=10, no_wrap=True)
        table.add_column("statements", ratio=1, overflow="ellipsis", no_wrap=True)
        table.add_column("decision", width=9)
        table.add_column("rule", width=24, overflow="ellipsis", no_wrap=True)
        for r in rows:
            table.add_row(
                time.strftime("%H:%M:%S", time.localtime(r.ts)), r.tool, r.summary,
                Text(r.decision, style=_STYLE.get(r.decision, "")), r.rule or "-",
            )
        parts: list[Any] = [table]
        for p in pending:
            parts.append(Text(f"⏳ waiting for approval: {p}", style="yellow"))
        summary = " · ".join(f"{k} {v}" for k, v in counts.items())
        parts.append(Text(f"{status}   [{summary}]", style="dim"))
        return Group(*parts)
