"""The README a user follows: its first two commands, every AGP_* variable the code reads documented,
every relative link resolving inside the repository."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_the_first_two_commands_are_unchanged():
    block = README.split("```sh\n", 1)[1].split("```", 1)[0].splitlines()
    assert block[0].startswith("bash scripts/setup.sh ") and block[1].startswith(".venv/bin/python -m pytest ")


def test_every_agp_variable_is_documented():
    used: set[str] = set()
    for base in ("agp", "intendants", "scripts", "tests/support"):
        for p in (ROOT / base).rglob("*"):
            if p.is_file() and p.suffix in (".py", ".sh") and "_shipped" not in p.parts:
                used |= set(re.findall(r"\bAGP_[A-Z0-9_]*[A-Z0-9]", p.read_text(errors="replace")))
    assert used
    missing = sorted(v for v in used if v not in README and not v.startswith("AGP_SLACK_APPROVERS_"))
    assert not missing, missing


def test_links_stay_inside_the_repository():
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", README):
        if re.match(r"[a-z]+://", target):
            continue
        path = (ROOT / target).resolve()
        assert path.is_relative_to(ROOT), target
        assert path.exists(), target
    assert "../" not in README


def test_the_project_policy_example_passes_its_tests_with_the_default_policy(capsys):
    from agp.cli import main

    assert main(["policy", "test", "default", str(ROOT / "docs" / "examples" / "project.toml")]) == 0
    assert "0 failed" in capsys.readouterr().out
