"""The gate puts the run's workspace mode into each call's context (once the policy side has the field)."""

from __future__ import annotations

import dataclasses
import json

import anyio
import pytest

from agp.gate.protocol import parse_request
from agp.gate.server import GateServer
from agp.policy import ToolCall


def _evaluate_with(mode: str | None, tmp_path):
    import agp.policy

    seen = {}

    class Policy:
        digest = "x"

    def fake_evaluate(call, policy, now):
        seen["call"] = call
        return None

    gate = GateServer(socket_dir=tmp_path, policy=Policy(), journal=None, workspace_mode=mode)
    req = parse_request(json.dumps({"v": 1, "type": "check", "id": "1", "session": "s", "harness": "reference",
                                    "tool": "Bash", "input": {"command": "ls"}, "cwd": "/workspace"}).encode())
    real = agp.policy.evaluate
    agp.policy.evaluate = fake_evaluate
    try:
        anyio.run(gate._evaluate, req)
    finally:
        agp.policy.evaluate = real
    return seen["call"]


def test_the_gate_sets_the_workspace_mode(tmp_path):
    if "workspace_mode" not in {f.name for f in dataclasses.fields(ToolCall)}:
        pytest.skip("the policy's call context has no workspace_mode field yet")
    assert _evaluate_with("clone", tmp_path).workspace_mode == "clone"
    assert _evaluate_with("mount", tmp_path).workspace_mode == "mount"


def test_without_the_field_the_gate_still_evaluates(tmp_path):
    call = _evaluate_with("clone", tmp_path)
    assert call.tool == "Bash"
