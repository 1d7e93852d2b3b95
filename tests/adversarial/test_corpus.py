"""The adversarial corpus through the real classifier, the real engine and policies/default.toml.

- must_not_allow.txt: no string may come out 'allow' (most are 'deny'; writes inside the workspace
  come out 'require', which is not 'allow' either).
- must_allow.txt: every string must come out 'allow'. A denial is a false positive and fails the
  test, so the file states exactly what the default policy lets an agent do without asking. The
  false-positive rate is printed (run with -s) and recorded by test_false_positive_rate_is_zero.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from agp.policy import ToolCall, evaluate, load_policy

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
WS = "/workspace"
NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.timezone.utc)


def load_corpus(name: str) -> list[tuple[str, str]]:
    """(group, command) pairs from a corpus file (format described at the top of each file)."""
    out: list[tuple[str, str]] = []
    group, in_header = "", False
    for raw in (HERE / name).read_text(encoding="utf-8").splitlines():
        if raw.startswith("# =="):
            text = raw[4:].strip()
            group = f"{group} {text}" if in_header else text
            in_header = True
            continue
        in_header = False
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        cmd = json.loads(raw[len("json: "):]) if raw.startswith("json: ") else raw
        out.append((group, cmd))
    return out


MUST_NOT = load_corpus("must_not_allow.txt")
MUST = load_corpus("must_allow.txt")
MUST_NOT_CLONE = load_corpus("must_not_allow_clone.txt")


@pytest.fixture(scope="module")
def policy():
    return load_policy(str(ROOT / "policies" / "default.toml"))


def decide(policy, command: str, mode: str = "mount"):
    call = ToolCall(harness="claude-code", tool="Bash", input={"command": command}, cwd=WS, workspace=WS,
                    session="adversarial", host_workspace="", workspace_mode=mode)
    return evaluate(call, policy, now=NOW)


def test_corpus_sizes():
    assert len(MUST_NOT) >= 150, len(MUST_NOT)
    assert len(MUST) >= 50, len(MUST)
    assert len({c for _, c in MUST_NOT}) == len(MUST_NOT), "duplicate strings in must_not_allow.txt"


@pytest.mark.parametrize("group,command", MUST_NOT, ids=[repr(c)[:60] for _, c in MUST_NOT])
def test_must_not_allow(policy, group, command):
    d = decide(policy, command)
    assert d.effect != "allow", (
        f"ALLOWED: {command!r} ({group}) via rule {d.rule}; statements: "
        f"{[s.to_json_dict() for s in d.statements]}")


@pytest.mark.parametrize("group,command", MUST, ids=[repr(c)[:60] for _, c in MUST])
def test_must_allow(policy, group, command):
    d = decide(policy, command)
    assert d.effect == "allow", f"false positive: {command!r} -> {d.effect} ({d.rule}): {d.reason}"


def test_false_positive_rate_is_zero(policy, capsys):
    denied = [c for _, c in MUST if decide(policy, c).effect != "allow"]
    blocked = sum(decide(policy, c).effect != "allow" for _, c in MUST_NOT)
    with capsys.disabled():
        print(f"\nadversarial corpus: {blocked}/{len(MUST_NOT)} not allowed; "
              f"false positives {len(denied)}/{len(MUST)} = {len(denied) / len(MUST):.1%}")
    assert blocked == len(MUST_NOT)
    assert denied == []


@pytest.mark.parametrize("name", ["strict.toml", "ci.toml"])
def test_no_other_shipped_policy_allows_the_corpus(name):
    """The stricter shipped policies allow none of the strings either."""
    path = ROOT / "policies" / name
    if not path.exists():
        pytest.skip(f"{name} is not shipped")
    other = load_policy(str(path))
    allowed = [c for _, c in MUST_NOT if decide(other, c).effect == "allow"]
    assert allowed == [], allowed


@pytest.mark.parametrize("group,command", MUST_NOT_CLONE, ids=[repr(c)[:60] for _, c in MUST_NOT_CLONE])
def test_must_not_allow_in_clone_mode(policy, group, command):
    """Clone mode lets builds, linters and installs run without asking: their options are read."""
    d = decide(policy, command, "clone")
    assert d.effect != "allow", (
        f"ALLOWED in clone mode: {command!r} ({group}) via rule {d.rule}; statements: "
        f"{[s.to_json_dict() for s in d.statements]}")


def test_the_clone_corpus_is_allowed_nowhere_else(policy):
    strict = load_policy(str(ROOT / "policies" / "strict.toml"))
    assert len(MUST_NOT_CLONE) >= 80 and len({c for _, c in MUST_NOT_CLONE}) == len(MUST_NOT_CLONE)
    allowed = [(p, m, c) for p, pol in (("default", policy), ("strict", strict)) for m in ("mount", "clone")
               if not (p == "default" and m == "clone") for _, c in MUST_NOT_CLONE if decide(pol, c, m).effect == "allow"]
    assert allowed == []
