"""Session admission: registration, a per-session rate limit, a global session cap.

Every ``check`` names a session. The table answers :meth:`SessionTable.admit`
with ``None`` (go on) or a :class:`Refusal` whose ``reason`` is one of the
typed :class:`RefusalReason` values; the server turns every refusal into a
journaled deny. The table itself does no I/O and takes its clock as an
argument, so it is tested without sleeping.

- ``unknown_session``: the session was never registered (and the table does not
  auto-register), or it was closed.
- ``session_limit``: registering one more session would exceed ``max_sessions``
  (at :meth:`register`, or at the first call of a new session when
  ``auto_register`` is on).
- ``rate_limited``: the session made ``rate`` calls within the last ``window``
  seconds (a sliding window: the limit holds over every interval, not per bucket).

Sessions expire: one that has made no call for ``idle_ttl`` seconds (counted from
its registration or its last call) is forgotten, so its later calls are
``unknown_session`` (or register it afresh when ``auto_register`` is on) and it no
longer holds a place under the cap. :meth:`SessionTable.expire` sweeps and returns
the expired ids (the server journals each as ``gate.session`` ``expire``);
:meth:`SessionTable.admit` and :meth:`SessionTable.register` expire lazily too and
report what they expired through :meth:`SessionTable.take_expired`.

Thread-safe (one lock): the in-process API registers sessions from other threads.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from agp.errors import GateError

__all__ = ("Refusal", "RefusalReason", "SessionRefused", "SessionTable")


class RefusalReason(str, Enum):
    RATE_LIMITED = "rate_limited"
    SESSION_LIMIT = "session_limit"
    UNKNOWN_SESSION = "unknown_session"


@dataclass(frozen=True)
class Refusal:
    reason: RefusalReason
    detail: str

    @property
    def text(self) -> str:
        return f"{self.reason.value}: {self.detail}"


class SessionRefused(GateError):
    """Raised by :meth:`SessionTable.register` when the session cap is reached."""

    def __init__(self, refusal: Refusal) -> None:
        self.refusal = refusal
        super().__init__(refusal.text)


@dataclass
class _Session:
    sid: str
    registered: float
    last: float
    calls: deque[float] = field(default_factory=deque)
    total: int = 0


class SessionTable:
    """Registered sessions and their recent calls."""

    def __init__(
        self,
        *,
        max_sessions: int = 16,
        rate: int = 600,
        window: float = 60.0,
        auto_register: bool = False,
        idle_ttl: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_sessions < 1 or rate < 1 or window <= 0 or idle_ttl <= 0:
            raise ValueError("max_sessions and rate must be >= 1, window and idle_ttl > 0")
        self.max_sessions = max_sessions
        self.rate = rate
        self.window = window
        self.auto_register = auto_register
        self.idle_ttl = idle_ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._sessions: dict[str, _Session] = {}
        self._expired: list[tuple[str, float]] = []  # (sid, idle seconds) expired lazily, not yet reported

    def register(self, sid: str) -> bool:
        """Register ``sid``; True if new, False if already there. Raises SessionRefused at the cap."""
        if not isinstance(sid, str) or not sid:
            raise ValueError("a session id is a non-empty string")
        with self._lock:
            self._expire_locked(self._clock(), sid)
            if sid in self._sessions:
                return False
            self._register_locked(sid)
            return True

    def _expire_locked(self, now: float, sid: str | None = None) -> None:
        """Expire ``sid`` if idle too long; at the cap (or with ``sid=None``), every idle session."""
        horizon = now - self.idle_ttl
        if sid is not None:
            s = self._sessions.get(sid)
            if s is not None and s.last <= horizon:
                del self._sessions[sid]
                self._expired.append((sid, now - s.last))
            if len(self._sessions) < self.max_sessions:
                return
        for k in [k for k, s in self._sessions.items() if s.last <= horizon]:
            self._expired.append((k, now - self._sessions.pop(k).last))

    def expire(self) -> list[tuple[str, float]]:
        """Forget every session idle for ``idle_ttl`` seconds or more; return (id, idle seconds) of
        each session expired since the last call (here or lazily in admit/register)."""
        with self._lock:
            self._expire_locked(self._clock())
            return self._take_locked()

    def take_expired(self) -> list[tuple[str, float]]:
        """(id, idle seconds) of the sessions expired lazily and not yet reported."""
        with self._lock:
            return self._take_locked()

    def _take_locked(self) -> list[tuple[str, float]]:
        out, self._expired = self._expired, []
        return out

    def _register_locked(self, sid: str) -> None:
        if len(self._sessions) >= self.max_sessions:
            raise SessionRefused(
                Refusal(
                    RefusalReason.SESSION_LIMIT,
                    f"{len(self._sessions)} sessions are open, the gate allows at most {self.max_sessions}",
                )
            )
        now = self._clock()
        self._sessions[sid] = _Session(sid, now, now)

    def close(self, sid: str) -> bool:
        """Forget ``sid`` (its later calls are ``unknown_session``); True if it was registered."""
        with self._lock:
            return self._sessions.pop(sid, None) is not None

    def admit(self, sid: str) -> tuple[Refusal | None, bool]:
        """Account one call of ``sid``. Returns (refusal or None, newly auto-registered)."""
        now = self._clock()
        with self._lock:
            self._expire_locked(now, sid)
            s = self._sessions.get(sid)
            new = False
            if s is None:
                if not self.auto_register:
                    return Refusal(RefusalReason.UNKNOWN_SESSION, "this session is not registered with the gate"), False
                try:
                    self._register_locked(sid)
                except SessionRefused as exc:
                    return exc.refusal, False
                s = self._sessions[sid]
                new = True
            calls = s.calls
            horizon = now - self.window
            while calls and calls[0] <= horizon:
                calls.popleft()
            if len(calls) >= self.rate:
                return Refusal(
                    RefusalReason.RATE_LIMITED,
                    f"this session made {len(calls)} calls in the last {self.window:g}s (limit {self.rate})",
                ), new
            calls.append(now)
            s.last = now
            s.total += 1
            return None, new

    def __contains__(self, sid: object) -> bool:
        with self._lock:
            return sid in self._sessions

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)

    def snapshot(self) -> dict[str, int]:
        """session id -> calls admitted so far."""
        with self._lock:
            return {sid: s.total for sid, s in self._sessions.items()}
