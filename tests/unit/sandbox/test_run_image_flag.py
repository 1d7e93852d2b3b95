"""`agp run --image NAME`: only an image built on the intendant's own is accepted, refused before
anything starts (exit 2, one line)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def run(tmp_path: Path, intendant: str, image: str) -> subprocess.CompletedProcess:
    (tmp_path / "ws").mkdir(exist_ok=True)
    (tmp_path / "script.json").write_text('[{"tool": "Bash", "input": {"command": "ls"}}]')
    task = ["--script", str(tmp_path / "script.json")] if intendant == "reference" else ["--task", "x"]
    return subprocess.run([sys.executable, "-m", "agp.cli", "run", "--intendant", intendant, *task, "--image", image,
                           "--workspace", str(tmp_path / "ws"), "--out", str(tmp_path / "runs")],
                          capture_output=True, text=True, cwd=ROOT, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


@pytest.mark.parametrize(("intendant", "image", "names"), [
    ("codex", "reference-node", "for codex: none"),
    ("reference", "codex", "for reference: reference-node"),
    ("reference", "no-such-image", "for reference: reference-node"),
])
def test_an_image_not_built_on_the_intendant_is_refused(tmp_path, intendant, image, names):
    r = run(tmp_path, intendant, image)
    assert r.returncode == 2, r.stderr
    text = " ".join(r.stderr.split())
    assert f"--image {image}: not an image built on the {intendant} image ({names})" in text, r.stderr
    assert not (tmp_path / "runs").exists()
