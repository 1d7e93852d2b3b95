"""Policy regular expressions that can backtrack exponentially are refused when a policy is read.

A policy's ``re:`` matchers run in the gate process on words the agent writes; ``(a+)+$`` on forty
``a`` and a ``!`` takes longer than a human waits. The shipped policies still load, each bad shape
is refused naming its rule, ``agp policy check`` reports it, and a rule that reached the engine
without the model's check is refused there too.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from agp.errors import PolicyError
from agp.paths import repo_root
from agp.policy import load_policy
from agp.policy._regex_safety import backtracking_problem
from agp.policy.engine import Policy
from agp.policy.model import PolicyFile, Rule, parse_policy_text

POLICIES = sorted((repo_root() / "policies").glob("*.toml"))

#: nested repeats of varying count, and repeated alternations whose branches overlap
BAD = [
    r"^(a+)+$",
    r"(a*)*b",
    r"(.*)*x",
    r"(.+)+$",
    r"((ab)*)+c",
    r"(x+x+)+y",
    r"^(\s*x?)+$",
    r"(?:\d{1,3})+x",
    r"(?:a+b?)+$",
    r"(a|a)*b",
    r"(a|aa)+$",
    r"(\w|_x)+!",
    r"(?:[a-z]+|\d)+!",
    r"(?:a|b|a?)*c",
    r"^(?:(?:a+))+$",
    r"(?>a+)+b",
]

#: the shapes the shipped policies use, and others that do not backtrack badly
GOOD = [
    r"(?:^|[0-9$/!;{}\s])[eEwWrR](?:\s|;|}|$)",
    r"^s(.)(?:\\.|(?!\1)[^\\])*\1(?:\\.|(?!\1)[^\\])*\1[^;}\s]*[ewW]",
    r"^[ugoa]*[-+=][rwxXt]*s",
    r"^[0-7]?[2-7][0-7]{3}$",
    r"(^|/)\.(github|gitlab-ci\.yml|circleci|envrc)(/|$)",
    r"(?:ab|cd)*x",
    r"(?:\d{3}-)+",
    r"a+b+c*",
    r"(\w|\d)+",
    r"^--?(?:config|rcfile)(?:=|$)",
]


@pytest.mark.parametrize("path", POLICIES, ids=lambda p: p.name)
def test_the_shipped_policies_still_load(path):
    assert load_policy(path).rules


@pytest.mark.parametrize("pattern", BAD)
def test_a_backtracking_pattern_is_refused_naming_its_rule(pattern):
    assert backtracking_problem(pattern) is not None
    # a TOML literal string: the pattern as written
    text = f"[[rule]]\nid = \"slow-matcher\"\neffect = \"deny\"\nprogram = [\"echo\"]\nargs_any = ['re:{pattern}']\n"
    with pytest.raises(PolicyError) as e:
        parse_policy_text(text, source="p.toml")
    msg = str(e.value)
    assert "slow-matcher" in msg and "refused" in msg and "backtrack" in msg and "p.toml:5" in msg


@pytest.mark.parametrize("pattern", GOOD)
def test_a_pattern_without_those_shapes_loads(pattern):
    assert backtracking_problem(pattern) is None
    re.compile(pattern)


def test_a_rule_that_bypassed_the_model_is_refused_by_the_engine():
    rule = Rule.model_construct(**{**Rule(id="r", effect="deny", program=("echo",)).__dict__, "args_any": ("re:(a+)+$",)})
    pf = PolicyFile.model_construct(**{**parse_policy_text("").__dict__, "rule": (rule,)})
    with pytest.raises(PolicyError, match="refused"):
        Policy([pf])


def test_policy_check_reports_the_rule(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text('[policy]\nname = "bad"\n\n[[rule]]\nid = "deny-slow"\neffect = "deny"\nprogram = ["sed"]\n'
                 'args_none = ["re:^(\\\\s*x?)+$"]\n')
    r = subprocess.run([sys.executable, "-m", "agp.cli", "policy", "check", str(p)], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode != 0
    assert "deny-slow" in r.stderr and "args_none" in r.stderr and "backtrack" in r.stderr, r.stderr
