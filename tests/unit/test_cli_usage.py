"""Every command answers a usage error with exit 2 and a message, not a traceback; errors are not
wrapped mid-sentence off a terminal; `agp --version` and `agp completion` work."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

import pytest

from agp import __version__
from agp.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[2]


def _leaves(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path
        return
    if path:
        yield path  # a group without its action is a usage error too
    for name, p in subs[0].choices.items():
        yield from _leaves(p, (*path, name))


LEAVES = sorted(set(_leaves(build_parser())))


def test_every_command_is_covered():
    names = {p[0] for p in LEAVES}
    assert {"run", "demo", "doctor", "gate", "verify", "journal", "keys", "policy", "evidence", "images", "witness",
            "completion"} <= names


@pytest.mark.parametrize("path", LEAVES, ids=lambda p: " ".join(p))
def test_unknown_option_is_exit_2(path, capsys):
    with pytest.raises(SystemExit) as exc:
        main([*path, "--no-such-option"])
    assert exc.value.code == 2
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize("path", [p for p in LEAVES if len(p) == 1 and any(q[:1] == p and len(q) > 1 for q in LEAVES)],
                         ids=lambda p: " ".join(p))
def test_a_group_without_its_action_is_exit_2(path, capsys):
    assert main(list(path)) == 2


BAD = [
    ["verify", "/nonexistent/bundle"],
    ["keys", "show", "--dir", "/nonexistent/keys"],
    ["policy", "check", "/nonexistent.toml"],
    ["policy", "check", "no-such-shipped-policy"],
    ["policy", "test", "/nonexistent.toml"],
    ["policy", "explain", "--policy", "default", "--tool", "Bash", "--input", "not json"],
    ["policy", "replay", "/nonexistent.jsonl", "--policy", "default"],
    ["doctor", "--policy", "/nonexistent.toml"],
    ["doctor", "--model-upstream", "http://127.0.0.1:9"],
    ["run", "--intendant", "reference", "--workspace", "/tmp"],
    ["run", "--intendant", "codex", "--workspace", "/tmp"],
    ["run", "--intendant", "reference", "--script", "x.json", "--workspace", "/tmp", "--timeout", "-1"],
    ["run", "--intendant", "reference", "--script", "x.json", "--workspace", "/tmp", "--approval-timeout", "999"],
    ["demo", "--out", "/dev/null/demo"],
    ["completion", "fish"],
    ["evidence", "/nonexistent/run"],
    ["gate", "--socket-dir", "/tmp/agp-x", "--policy", "/nonexistent.toml", "--journal", "/tmp/agp-x/j.jsonl",
     "--key-dir", "/nonexistent/keys"],
]


@pytest.mark.parametrize("argv", BAD, ids=lambda a: " ".join(a))
def test_bad_arguments_are_exit_2_with_one_message(argv, capsys):
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err and "None" not in err
    assert not re.search(r"\b[A-Z][A-Za-z]+(Error|Exception)\b", err), err


def test_errors_are_not_wrapped_off_a_terminal(tmp_path):
    long_dir = tmp_path / ("d" * 120)
    r = subprocess.run([sys.executable, "-m", "agp.cli", "keys", "show", "--dir", str(long_dir)], capture_output=True,
                       text=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "COLUMNS": "80"}, timeout=60)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and str(long_dir) in lines[0], r.stderr


def test_version_and_completion(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0 and capsys.readouterr().out.strip() == f"agp {__version__}"
    assert main(["completion", "bash"]) == 0
    script = capsys.readouterr().out
    assert "agp" in script and "policy" in script and "--intendant" in script
    assert subprocess.run(["bash", "-n"], input=script, text=True).returncode == 0
