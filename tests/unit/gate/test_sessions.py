"""agp.gate.sessions: registration, the per-session sliding-window rate limit, the session cap."""

from __future__ import annotations

import pytest

from agp.gate.sessions import RefusalReason, SessionRefused, SessionTable


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_unknown_session_is_refused():
    t = SessionTable()
    refusal, new = t.admit("nobody")
    assert refusal is not None and refusal.reason is RefusalReason.UNKNOWN_SESSION and not new


def test_registered_session_is_admitted_and_closed_session_is_unknown():
    t = SessionTable()
    assert t.register("s1") is True
    assert t.register("s1") is False
    assert t.admit("s1") == (None, False)
    assert t.close("s1")
    assert t.admit("s1")[0].reason is RefusalReason.UNKNOWN_SESSION


def test_session_cap_at_register():
    t = SessionTable(max_sessions=2)
    t.register("a")
    t.register("b")
    with pytest.raises(SessionRefused) as ei:
        t.register("c")
    assert ei.value.refusal.reason is RefusalReason.SESSION_LIMIT
    assert "at most 2" in str(ei.value)
    t.close("a")
    assert t.register("c")


def test_session_cap_with_auto_register():
    t = SessionTable(max_sessions=1, auto_register=True)
    assert t.admit("a") == (None, True)
    refusal, new = t.admit("b")
    assert refusal.reason is RefusalReason.SESSION_LIMIT and not new
    assert t.admit("a") == (None, False)


def test_rate_limit_sliding_window():
    clock = Clock()
    t = SessionTable(rate=3, window=10.0, clock=clock)
    t.register("s")
    for _ in range(3):
        assert t.admit("s")[0] is None
        clock.t += 1
    refusal, _ = t.admit("s")
    assert refusal.reason is RefusalReason.RATE_LIMITED and "limit 3" in refusal.detail
    clock.t = 1000.0 + 10.0  # the first call leaves the window
    assert t.admit("s")[0] is None
    assert t.admit("s")[0].reason is RefusalReason.RATE_LIMITED
    # a refused call does not count against the window
    clock.t = 1000.0 + 12.0
    assert t.admit("s")[0] is None


def test_rate_limit_is_per_session():
    t = SessionTable(rate=1, window=60, clock=Clock())
    t.register("a")
    t.register("b")
    assert t.admit("a")[0] is None
    assert t.admit("a")[0].reason is RefusalReason.RATE_LIMITED
    assert t.admit("b")[0] is None
    assert t.snapshot() == {"a": 1, "b": 1}


def test_bad_parameters():
    with pytest.raises(ValueError):
        SessionTable(max_sessions=0)
    with pytest.raises(ValueError):
        SessionTable().register("")


def test_an_idle_session_expires_and_frees_its_place_under_the_cap():
    clock = Clock()
    t = SessionTable(max_sessions=2, idle_ttl=60.0, clock=clock)
    t.register("a")
    t.register("b")
    clock.t += 30
    assert t.admit("a") == (None, False)  # a call keeps a session alive
    clock.t += 45  # b idle 75 s, a idle 45 s
    assert t.register("c") is True  # at the cap: b, idle past its ttl, made room
    assert t.take_expired() == [("b", 75.0)]
    assert "b" not in t and "a" in t
    assert t.admit("b")[0].reason is RefusalReason.UNKNOWN_SESSION
    clock.t += 60
    assert t.admit("a")[0].reason is RefusalReason.UNKNOWN_SESSION  # expired lazily on its next call
    assert t.take_expired() == [("a", 105.0)]
    assert t.expire() == [("c", 60.0)] and len(t) == 0


def test_an_expired_session_registers_afresh_when_auto_register_is_on():
    clock = Clock()
    t = SessionTable(idle_ttl=10.0, auto_register=True, clock=clock)
    assert t.admit("s") == (None, True)
    clock.t += 10
    assert t.admit("s") == (None, True)
    assert t.take_expired() == [("s", 10.0)]


def test_idle_ttl_must_be_positive():
    with pytest.raises(ValueError):
        SessionTable(idle_ttl=0)
