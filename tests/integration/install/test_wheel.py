"""agp installed from its wheel, in a fresh virtual environment outside the checkout: the wheel carries
the policies, the image recipes and the intendants, so `agp --version`, `agp policy check` and the
governed demo (the real sandbox, offline) work from any directory.

Offline: the wheel is built without build isolation and installed with --no-index; its dependencies
come from the environment running the tests (a path line in the new venv, which runs no code), so
the agp that runs is the wheel's, never the checkout's (asserted)."""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.docker]

ROOT = Path(__file__).resolve().parents[3]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def _sh(argv, *, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    r = subprocess.run([str(a) for a in argv], cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"{argv}: exit {r.returncode}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"  # built from a copy: building writes build/ and *.egg-info next to the sources
    shutil.copytree(ROOT, src, symlinks=True,
                    ignore=shutil.ignore_patterns(".git", ".venv", ".cache", "build", "dist", "*.egg-info",
                                                  "__pycache__", ".pytest_cache"))
    _sh([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", tmp / "dist",
         src], cwd=tmp)
    (wheel,) = (tmp / "dist").glob("agp-*.whl")
    venv = tmp / "venv"
    _sh([sys.executable, "-m", "venv", venv], cwd=tmp)
    deps = Path(site.getsitepackages()[0])
    (py_site,) = (venv / "lib").glob("python3.*/site-packages")
    (py_site / "agp-test-deps.pth").write_text(f"{deps}\n")
    _sh([venv / "bin" / "python", "-m", "pip", "install", "--no-deps", "--no-index", wheel], cwd=tmp)
    shutil.rmtree(src)
    return venv


def test_wheel_carries_the_shipped_files(installed):
    r = _sh([installed / "bin" / "python", "-c",
             "import agp, intendants, agp.paths as p; print(agp.__file__); print(p.default_policy()); "
             "print(p.shipped('images')); print(p.intendant_pins())"], cwd=Path("/tmp"))
    mod, policy, images, pins = r.stdout.split()
    assert mod.startswith(str(installed)), f"the checkout's agp ran, not the wheel's: {mod}"
    assert policy.startswith(str(installed)) and Path(policy).is_file()
    assert (Path(images) / "reference" / "Dockerfile").is_file() and (Path(images) / "base" / "packages.txt").is_file()
    assert Path(pins).is_file() and pins.startswith(str(installed))


def test_version_and_policy_check_from_outside(installed, tmp_path):
    agp = installed / "bin" / "agp"
    from agp import __version__

    assert _sh([agp, "--version"], cwd=tmp_path).stdout.strip() == f"agp {__version__}"
    for name in ("default", "ci", "strict"):
        doc = json.loads(_sh([agp, "policy", "check", name, "--json"], cwd=tmp_path).stdout)
        assert doc["ok"] is True and doc["digest"]
    assert "complete -o" in _sh([agp, "completion", "bash"], cwd=tmp_path).stdout or \
        "_shtab_agp" in _sh([agp, "completion", "bash"], cwd=tmp_path).stdout


def test_demo_from_outside(installed, tmp_path):
    r = _sh([installed / "bin" / "agp", "demo", "--out", tmp_path / "demo", "--key-dir", tmp_path / "keys", "--json"],
            cwd=tmp_path)
    doc = json.loads(r.stdout)
    assert doc["exit_code"] == 0 and doc["bundle_ok"] is True, doc
    assert doc["verify"]["ok"] is True and doc["verify"]["gated"] > 0, doc["verify"]
    assert Path(doc["run_dir"]).is_relative_to(tmp_path)
