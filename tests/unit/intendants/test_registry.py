"""One registry of harnesses (intendants/registry.py): everything agp knows per harness is read
from it, and the launchers it describes agree with it."""

from __future__ import annotations

import ast
import importlib
import json
from pathlib import Path

import pytest

import intendants
from intendants import registry

INTENDANTS_DIR = Path(intendants.__file__).resolve().parent
REPO = INTENDANTS_DIR.parent


def test_every_copy_of_the_names_is_the_registry():
    from agp.evidence.transcripts import HARNESSES as transcript_harnesses
    from agp.policy.classify.tools import HARNESSES as policy_harnesses  # agp/policy imports nothing outside
    from agp.run import INTENDANTS
    from agp.sandbox.images import INTENDANTS as images

    assert set(policy_harnesses) == set(registry.NAMES)
    assert set(transcript_harnesses) == set(registry.NAMES)
    assert INTENDANTS == registry.NAMES
    assert set(images) == set(registry.NAMES)


def test_the_per_harness_code_covers_every_harness():
    """Code that is one harness's own dialect (its transcript parser, its npm package's binary) is
    keyed by the registry's names."""
    from agp.evidence.transcripts import _PARSERS

    assert set(_PARSERS) == set(registry.NAMES)


def test_the_cli_offers_the_registered_harnesses():
    import argparse

    from agp.commands import doctor, run

    for mod, cmd in ((run, "run"), (doctor, "doctor")):
        parser = argparse.ArgumentParser()
        mod.register(parser.add_subparsers())
        sub = parser._subparsers._group_actions[0].choices[cmd]  # noqa: SLF001 - reading the parser back
        action = next(a for a in sub._actions if a.dest == "intendant")  # noqa: SLF001
        assert set(action.choices) == set(registry.NAMES)


def test_the_names_are_written_out_only_in_the_registry():
    """agp's wiring modules read harness facts from the registry: no name literal decides anything there."""
    bad = {}
    for rel in ("agp/run.py", "agp/_wiring.py", "agp/commands/run.py", "agp/commands/doctor.py",
                "intendants/_launch.py"):
        tree = ast.parse((REPO / rel).read_text(encoding="utf-8"))
        found = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)
                 and n.value in registry.NAMES]
        # the launch adapter and the spec checker still branch on a harness's own launch arguments
        allowed = {"agp/_wiring.py": {"claude-code", "codex"},
                   "intendants/_launch.py": {"reference", "claude-code", "codex"}}.get(rel, set())
        if not set(found) <= allowed:
            bad[rel] = found
    assert bad == {}


@pytest.mark.parametrize("name", registry.NAMES)
def test_each_harness_entry_matches_its_launcher(name, tmp_path):
    from types import SimpleNamespace

    from agp._wiring import launch_for

    h = registry.get(name)
    assert importlib.import_module(h.package).__file__
    assert (INTENDANTS_DIR / h.package.rpartition(".")[2] / "bridge.py").is_file()
    (tmp_path / "script.json").write_text('[{"tool": "Bash", "input": {"command": "ls"}}]')
    spec = launch_for(SimpleNamespace(intendant=name, task="x", script=tmp_path / "script.json"),
                      session="s", run_dir=tmp_path)
    assert spec.harness == name
    assert h.bridge_path in spec.files
    if h.admin_config is not None:
        assert h.admin_config in spec.files
    for path in h.transcripts:  # every transcript is below a state directory agp mounts and reads back
        assert any(path.startswith(d.rstrip("/") + "/") for d in spec.writable_dirs), (path, spec.writable_dirs)
    pins = json.loads((INTENDANTS_DIR / "pins.json").read_text())
    if h.pins_key is not None:
        assert pins[h.pins_key]["version"]
    assert (REPO / "images" / h.image / "Dockerfile").is_file()


def test_an_unknown_harness_is_named():
    with pytest.raises(ValueError, match="unknown harness 'aider'.*reference, claude-code, codex"):
        registry.get("aider")


def _imported(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            out |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
    return out


def test_the_launch_core_imports_no_launcher():
    """intendants/_launch.py is imported by every launcher: it imports none of them (no circle)."""
    launchers = {f"{h.package}.launch" for h in registry.HARNESSES.values()} | {
        h.package for h in registry.HARNESSES.values()}
    assert not (_imported(INTENDANTS_DIR / "_launch.py") & launchers)


def test_the_registry_imports_only_the_standard_library():
    import sys

    mods = {m.split(".")[0] for m in _imported(INTENDANTS_DIR / "registry.py")}
    assert mods <= set(sys.stdlib_module_names) | {"__future__"}, mods
