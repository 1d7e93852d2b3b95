"""Keeping the journal small under a flood of frames from a hostile box.

Two mechanisms, both used by :mod:`agp.gate.server`:

- **Digests instead of bodies.** A frame the gate rejects, and the input of a call it
  denies, is journaled whole only up to :data:`INLINE_MAX` bytes; above that it is
  journaled as its sha256, its size and a short prefix (:data:`PREFIX` bytes, rendered as
  printable text). An allowed call is always journaled whole (that is what ran). 16 KiB
  is twice the gate's own "ordinary call" bound (``eval_inline_max``, 8 KiB) and far above
  a shell command or an edit of a source file, so what ``agp policy explain`` replays and
  what the evidence timeline shows is whole for every ordinary call; a 1 MiB denied
  command costs about 1 KiB of journal instead of 2-3 MiB (its input plus the classified
  statements that repeat its text).
- **Aggregation of noise.** Entries that record no policy decision (rejected frames,
  session refusals, refused or evicted connections, frames that missed their deadline) are
  journaled individually up to ``burst`` per kind per ``window`` seconds; beyond that each
  is counted (number, bytes, distinct digests, sessions) and the counts are journaled as one
  ``gate.suppressed`` entry when the window closes and when the gate stops. Nothing is
  dropped without being counted in the journal.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agp.journal.canonical import canonicalize

__all__ = ("INLINE_MAX", "PREFIX", "FloodGuard", "compact_decision", "digest_record", "render_prefix")

#: inputs (canonical JSON bytes) of denied calls journaled whole up to this size
INLINE_MAX = 16 * 1024
#: bytes of a long body kept, rendered, in the journal
PREFIX = 256
#: statements kept (each cut to PREFIX characters) in a compacted decision
_MAX_STATEMENTS = 32
#: distinct digests / sessions remembered per suppressed kind (beyond: counted only)
_MAX_DISTINCT = 1024


def render_prefix(data: bytes | str, limit: int = PREFIX) -> str:
    """The first ``limit`` bytes (or characters) as printable text: invalid UTF-8 and control
    characters become ``\\xNN`` / ``\\uNNNN`` escapes, so a journal reader's terminal never
    receives raw control bytes."""
    text = data[:limit].decode("utf-8", "backslashreplace") if isinstance(data, (bytes, bytearray)) else data[:limit]
    out = []
    for c in text:
        if c.isprintable() or c == " ":
            out.append(c)
        elif ord(c) < 0x100:
            out.append(f"\\x{ord(c):02x}")
        else:
            out.append(f"\\u{ord(c):04x}")
    return "".join(out)


def digest_record(data: bytes) -> dict[str, Any]:
    """``{"sha256", "size", "prefix"}`` of a body."""
    return {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "prefix": render_prefix(data)}


def _short_statement(s: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {k: s[k] for k in ("kind", "effect", "rule") if k in s}
    for k in ("program", "text"):
        v = s.get(k)
        if isinstance(v, str):
            out[k] = v if len(v) <= PREFIX else render_prefix(v) + "…"
    m = s.get("matched")
    if isinstance(m, list):
        out["matched"] = m[:_MAX_STATEMENTS]
    return out


def compact_decision(
    call: dict[str, Any], statements: Sequence[Mapping[str, Any]], *, inline_max: int = INLINE_MAX
) -> tuple[dict[str, Any], list[Mapping[str, Any]], dict[str, Any]]:
    """For a denied call: (call, statements, extra body fields) to journal.

    Unchanged when the canonical input is at most ``inline_max`` bytes. Otherwise ``input``
    is replaced by ``input_omitted`` (sha256, size and rendered prefix of its canonical
    JSON, and ``call_digest``, the sha256 of the whole canonical call that approvals bind
    to), and the statements are cut to their kind, program, effect, rule, matched rules and
    a prefix of their text (at most 32; ``statements_omitted`` counts the rest).
    """
    inp = canonicalize(call.get("input", {}))
    if len(inp) <= inline_max:
        return call, list(statements), {}
    small = {k: v for k, v in call.items() if k != "input"}
    small["input_omitted"] = {**digest_record(inp), "call_digest": hashlib.sha256(canonicalize(call)).hexdigest()}
    kept: list[Mapping[str, Any]] = [_short_statement(s) for s in statements[:_MAX_STATEMENTS]]
    extra: dict[str, Any] = {}
    if len(statements) > _MAX_STATEMENTS:
        extra["statements_omitted"] = len(statements) - _MAX_STATEMENTS
    return small, kept, extra


@dataclass
class _Tally:
    count: int = 0
    bytes: int = 0
    first: float = 0.0
    last: float = 0.0
    digests: set[str] = field(default_factory=set)
    digests_overflow: bool = False
    sessions: dict[str, int] = field(default_factory=dict)
    sessions_other: int = 0

    def add(self, now: float, size: int, digest: str | None, session: str | None) -> None:
        if self.count == 0:
            self.first = now
        self.count += 1
        self.bytes += size
        self.last = now
        if digest is not None:
            if len(self.digests) < _MAX_DISTINCT:
                self.digests.add(digest)
            elif digest not in self.digests:
                self.digests_overflow = True
        if session:
            if session in self.sessions or len(self.sessions) < 16:
                self.sessions[session] = self.sessions.get(session, 0) + 1
            else:
                self.sessions_other += 1


class FloodGuard:
    """Per-kind budget of individually journaled noise entries; the excess is counted.

    ``admit(kind, ...)`` answers True (journal this one individually) for the first
    ``burst`` of a kind in each ``window`` seconds, False afterwards (the event is counted).
    ``take()`` returns the ``gate.suppressed`` body for the counts so far (or None) and
    resets them; ``due()`` says a window has closed with counts pending. Not thread-safe:
    the server uses it from its event loop only.
    """

    def __init__(
        self,
        *,
        burst: int = 20,
        window: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        if burst < 0 or window <= 0:
            raise ValueError("burst must be >= 0 and window > 0")
        self.burst = burst
        self.window = window
        self._clock = clock
        self._wall = wall
        self._start = clock()
        self._used: dict[str, int] = {}
        self._tallies: dict[str, _Tally] = {}
        self.total_suppressed = 0

    def _roll(self, now: float) -> None:
        if now - self._start >= self.window:
            self._start = now
            self._used.clear()

    def admit(self, kind: str, *, size: int = 0, digest: str | None = None, session: str | None = None) -> bool:
        now = self._clock()
        self._roll(now)
        used = self._used.get(kind, 0)
        if used < self.burst:
            self._used[kind] = used + 1
            return True
        self._tallies.setdefault(kind, _Tally()).add(self._wall(), size, digest, session)
        self.total_suppressed += 1
        return False

    def due(self) -> bool:
        return bool(self._tallies) and self._clock() - self._start >= self.window

    @property
    def pending(self) -> int:
        return sum(t.count for t in self._tallies.values())

    def take(self) -> dict[str, Any] | None:
        self._roll(self._clock())
        if not self._tallies:
            return None
        kinds = {}
        for kind, t in sorted(self._tallies.items()):
            kinds[kind] = {
                "count": t.count,
                "bytes": t.bytes,
                "distinct_digests": len(t.digests) if not t.digests_overflow else f"more than {_MAX_DISTINCT}",
                "first": _iso(t.first),
                "last": _iso(t.last),
                **({"sessions": t.sessions} if t.sessions else {}),
                **({"sessions_other": t.sessions_other} if t.sessions_other else {}),
            }
        self._tallies = {}
        return {
            "burst": self.burst,
            "window_s": self.window,
            "total": sum(k["count"] for k in kinds.values()),
            "kinds": kinds,
        }


def _iso(t: float) -> str:
    import datetime as _dt

    return _dt.datetime.fromtimestamp(t, _dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
