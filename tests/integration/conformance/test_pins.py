"""The binaries the conformance suite ran are exactly the pinned versions (intendants/pins.json)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.support.harness_host import harness_binary
from tests.support.harness_run import HARNESSES, harness_available

pytestmark = [pytest.mark.harness]

PINS = json.loads((Path(__file__).resolve().parents[3] / "intendants" / "pins.json").read_text())


@pytest.mark.parametrize("harness", HARNESSES)
def test_installed_binary_is_the_pinned_version(harness):
    harness_available(harness)
    out = subprocess.run([str(harness_binary(harness)), "--version"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    want = PINS[harness]["version"]
    assert want in out.stdout.split() or f"codex-cli {want}" in out.stdout, out.stdout
    assert PINS == {
        "_comment": PINS["_comment"],
        "claude-code": {"npm": "@anthropic-ai/claude-code", "version": "2.1.328"},
        "codex": {"npm": "@openai/codex", "version": "0.169.0"},
    }
