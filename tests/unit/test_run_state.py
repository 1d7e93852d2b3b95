"""Run state is typed (agp/_state.py), approvers are reached only through the Approver protocol."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

import agp
from agp._state import BoxState, RunOptions, RunRecord
from tests.support.protocols import incompatibilities

ROOT = Path(agp.__file__).resolve().parent


def test_run_options_are_frozen_and_carry_no_untyped_extras(tmp_path):
    opts = RunOptions(intendant="reference", task="t", workspace=tmp_path)
    with pytest.raises(dataclasses.FrozenInstanceError):
        opts.approver = "auto"  # type: ignore[misc]
    assert not any(f.name == "extra" for f in dataclasses.fields(RunOptions))
    assert "extra" not in {f.name for f in dataclasses.fields(BoxState)}


def test_the_run_json_record_keeps_its_keys():
    r = RunRecord(run_id="r", task="t", intendant="codex", harness_version="0.169.0", workspace="/w",
                  policy_path="/p", policy_digest="d", approver="none", started=1.0)
    assert sorted(r.to_json_dict()) == sorted([
        "run_id", "task", "intendant", "harness", "harness_version", "workspace", "policy_path", "policy_digest",
        "approver", "started", "ended", "exit_code", "exit_reason"])
    assert r.to_json_dict()["harness"] == "codex"
    r.image, r.relay = "agp/codex -> sha256:x", {"requests": 0}
    assert r.to_json_dict()["image"] == "agp/codex -> sha256:x" and r.to_json_dict()["relay"] == {"requests": 0}
    assert "preflight" not in r.to_json_dict()
    assert r.start_body() == {"run_id": "r", "task": "t", "intendant": "codex", "workspace": "/w",
                              "policy_digest": "d", "approver": "none"}


@pytest.mark.parametrize("rel", ["run.py", "_wiring.py", "commands/run.py"])
def test_the_wiring_keeps_no_state_in_dicts_or_class_names(rel):
    tree = ast.parse((ROOT / rel).read_text(encoding="utf-8"))
    names = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    assert "extra" not in names, f"agp/{rel} uses an untyped extra dict"
    class_checks = [ast.unparse(n) for n in ast.walk(tree) if isinstance(n, ast.Compare)
                    and any(isinstance(a, ast.Attribute) and a.attr in ("__name__", "__class__") for a in ast.walk(n))]
    assert "__class__" not in names and class_checks == [], f"agp/{rel} checks a class name: {class_checks}"
    words = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} | {
        a.arg for n in ast.walk(tree) if isinstance(n, ast.arguments) for a in n.args + n.kwonlyargs}
    assert not ({"meta", "box_holder"} & words), f"agp/{rel} passes run state as a dict"


def _approver_classes():
    from agp.approvers import NoApprover, SlackApprover, SlackSocketApprover, TerminalApprover, UnsafeAutoApprover

    return [NoApprover, SlackApprover, SlackSocketApprover, TerminalApprover, UnsafeAutoApprover]


@pytest.mark.parametrize("cls", _approver_classes(), ids=lambda c: c.__name__)
def test_every_approver_satisfies_the_protocol(cls):
    from agp.gate.approvals import Approver

    assert incompatibilities(Approver, cls) == []


def test_the_slack_transports_describe_themselves():
    from agp.approvers import SlackApprover, SlackSocketApprover

    assert SlackSocketApprover.transport.fget(object.__new__(SlackSocketApprover)) == "Socket Mode"
    assert isinstance(SlackApprover.transport, property)
