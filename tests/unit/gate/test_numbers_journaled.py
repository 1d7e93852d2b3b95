"""A tool call's numbers reach the journal and the journal still verifies.

RFC 8785 reads every JSON number as an IEEE double: a float such as 1e16 is written as
``10000000000000000``, which a plain JSON parser reads back as an integer outside the range the
canonicalization takes. Code in the box chooses what a call's input holds, so an input with such a
number must not make the run's journal fail verification (which would make an honest journal look
edited)."""

from __future__ import annotations

import pytest

from agp.gate.protocol import request_verdict
from tests.support.live_gate import live_gate

POLICY_TEXT = """
[policy]
name = "t"

[[rule]]
id = "ls"
effect = "allow"
program = "ls"
"""

NUMBERS = [1e16, 2.0**53, -(2.0**60), 1e20, 123456789012345680.0, 1e21, 1e300, 0.1, -2.5e-7, 5e-324,
           9007199254740991, -9007199254740991, 0, -0.0]


@pytest.mark.parametrize("n", NUMBERS, ids=repr)
def test_a_number_in_a_call_input_leaves_the_journal_verifiable(tmp_path, n):
    policy = tmp_path / "p.toml"
    policy.write_text(POLICY_TEXT)
    with live_gate(tmp_path / "gate", policy, session="s1", harness="claude-code") as g:
        v = request_verdict(g.socket, {"v": 1, "type": "check", "id": "r1", "session": "s1",
                                       "harness": "claude-code", "tool": "Bash",
                                       "input": {"command": "ls", "n": n, "deep": [{"m": n}]},
                                       "cwd": "/workspace", "tool_use_id": None})
        assert v.decision == "allow", v.reason
        (body,) = g.decisions()
    # journaled as RFC 8785 writes the double (-2**60 as -1152921504606847000): the same double read back
    assert float(body["call"]["input"]["n"]) == n
    assert float(body["call"]["input"]["deep"][0]["m"]) == n
    report = g.verify()
    assert report.ok and report.errors == []
