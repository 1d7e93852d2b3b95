"""agp.gate._flood: what a denied call or a rejected frame costs the journal, and the flood budget."""

from __future__ import annotations

import hashlib

from agp.gate._flood import INLINE_MAX, PREFIX, FloodGuard, compact_decision, digest_record, render_prefix
from agp.journal.canonical import canonicalize


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_prefix_is_rendered_printable_and_short():
    assert render_prefix(b"\x1b[31mred\x00\xff tail") == "\\x1b[31mred\\x00\\xff tail"
    assert render_prefix("a\u202eb\nc") == "a\\u202eb\\x0ac"
    assert len(render_prefix(b"x" * 10_000)) == PREFIX
    rec = digest_record(b"abc")
    assert rec == {"sha256": hashlib.sha256(b"abc").hexdigest(), "size": 3, "prefix": "abc"}


def test_a_small_denied_call_is_kept_whole():
    call = {"id": "1", "tool": "Bash", "input": {"command": "rm -rf build"}}
    st = [{"kind": "exec", "text": "rm -rf build", "argv": ["rm", "-rf", "build"], "effect": "deny"}]
    assert compact_decision(call, st) == (call, st, {})


def test_a_large_denied_call_keeps_its_digest_size_prefix_and_short_statements():
    inp = {"command": "rm " + "x" * INLINE_MAX}
    call = {"id": "1", "harness": "h", "tool": "Bash", "input": inp, "cwd": "/w", "tool_use_id": "t"}
    st = [{"kind": "exec", "text": inp["command"], "argv": ["rm", "x" * INLINE_MAX], "program": "rm",
           "paths": [{"path": "/w/x"}], "effect": "deny", "rule": "no-rm", "matched": ["no-rm"]}] * 40
    small, kept, extra = compact_decision(call, st)
    assert "input" not in small and small["tool_use_id"] == "t" and small["cwd"] == "/w"
    om = small["input_omitted"]
    assert om["size"] == len(canonicalize(inp)) and om["sha256"] == hashlib.sha256(canonicalize(inp)).hexdigest()
    assert om["call_digest"] == hashlib.sha256(canonicalize(call)).hexdigest()
    assert len(kept) == 32 and extra == {"statements_omitted": 8}
    assert kept[0] == {"kind": "exec", "effect": "deny", "rule": "no-rm", "program": "rm",
                       "text": "rm " + "x" * (PREFIX - 3) + "…", "matched": ["no-rm"]}
    assert len(canonicalize({"call": small, "statements": kept})) < 16 * 1024


def test_the_flood_budget_admits_a_burst_per_window_and_counts_the_rest():
    clock = Clock()
    g = FloodGuard(burst=2, window=10.0, clock=clock, wall=lambda: 0.0)
    assert [g.admit("k", size=5, digest="d1", session="s") for _ in range(5)] == [True, True, False, False, False]
    assert g.admit("other") is True  # each kind has its own budget
    assert not g.due()
    clock.t += 10
    assert g.due()
    body = g.take()
    assert body["total"] == 3 and body["kinds"]["k"]["count"] == 3 and body["kinds"]["k"]["bytes"] == 15
    assert body["kinds"]["k"]["distinct_digests"] == 1 and body["kinds"]["k"]["sessions"] == {"s": 3}
    assert g.take() is None
    assert g.admit("k") is True  # a new window
