"""With the real engine: the reference-node toolchain image (node and npm on the reference image) is
pinned, built on the pinned reference image, and runs node and npm in the hardened sandbox; an image
that inherits an agp image's labels is never taken for it."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest

from agp.errors import AgpError, ImagePinError
from agp.sandbox.docker import DockerSandbox
from agp.sandbox.images import (
    _find_image_by_inputs,
    load_pins,
    pin_file,
    resolve_intendant_image,
    resolve_toolchain_image,
)

pytestmark = pytest.mark.docker
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def node_image(docker_client):
    try:
        return resolve_toolchain_image("reference-node", "reference", client=docker_client)
    except AgpError as exc:
        msg = (f"the reference-node image is not built: {exc}. Build it with `agp images build reference-node` "
               "(scripts/setup.sh does)")
        if os.environ.get("AGP_SKIP_DOCKER") == "1":
            pytest.skip(msg + " (AGP_SKIP_DOCKER=1)")
        pytest.fail(msg, pytrace=False)


def test_node_image_is_built_on_the_pinned_reference_and_runs_npm(docker_client, node_image, spec_for):
    reference = resolve_intendant_image("reference", client=docker_client)
    inspect = docker_client.api.inspect_image(node_image.id)
    labels = inspect["Config"]["Labels"]
    assert labels["agp.inputs"] == load_pins()["reference-node"]["inputs"]
    assert (labels["agp.toolchain"], labels["agp.intendant"]) == ("reference-node", "reference")
    assert inspect["Config"]["User"] == "10001:10001"
    # its layers start with the reference image's: it was built FROM the pinned id
    ref_layers = docker_client.api.inspect_image(reference.id)["RootFS"]["Layers"]
    assert inspect["RootFS"]["Layers"][: len(ref_layers)] == ref_layers
    npm = json.loads((ROOT / "images" / "reference-node" / "npm.json").read_text())
    with DockerSandbox(spec_for(image=node_image.id), client=docker_client) as sb:
        sb.preflight()
        node = sb.exec(["node", "-e", "console.log(process.version)"], timeout=60)
        npm_v = sb.exec(["npm", "--version"], timeout=60)
    assert node.exit_code == 0 and node.stdout.decode().startswith("v18."), node.stderr
    assert npm_v.exit_code == 0 and npm_v.stdout.decode().strip() == npm["version"], npm_v.stderr


def test_a_toolchain_image_is_refused_for_another_intendant(docker_client):
    with pytest.raises(ImagePinError, match="not built on the 'codex' image"):
        resolve_toolchain_image("reference-node", "codex", client=docker_client)
    with pytest.raises(ImagePinError, match="not built on"):
        resolve_toolchain_image("reference", "reference", client=docker_client)


def test_an_image_inheriting_the_inputs_label_is_not_taken_for_the_pinned_one(docker_client):
    """An image built FROM an agp image (or the untagged layer a failed build leaves) carries the
    parent's agp.inputs label; looking images up by that label alone returned it instead of the parent
    (a failed reference-node build was pinned as the reference image)."""
    pin = load_pins()["reference"]
    dockerfile = f"FROM {pin['id']}\nLABEL agp.test=inherits-the-inputs-label\n".encode()
    child, _ = docker_client.images.build(fileobj=io.BytesIO(dockerfile), network_mode="none", rm=True, pull=False)
    try:
        assert child.labels["agp.inputs"] == pin["inputs"]  # the trap: the label is inherited
        assert _find_image_by_inputs(docker_client, pin["inputs"], pin["tag"]) == pin["id"]
    finally:
        docker_client.images.remove(child.id, force=True, noprune=False)


def test_agp_run_refuses_an_image_that_is_not_built_before_anything_starts(tmp_path):
    """`agp run --image reference-node` where the pin file lacks it: exit 2, one line, no run directory."""
    import subprocess
    import sys

    pins = json.loads(pin_file().read_text())
    pins["images"].pop("reference-node", None)
    (tmp_path / "images.json").write_text(json.dumps(pins))
    ws = tmp_path / "ws"
    ws.mkdir()
    os.chown(ws, 10001, 10001)
    (tmp_path / "script.json").write_text('[{"tool": "Bash", "input": {"command": "ls"}}]')
    r = subprocess.run([sys.executable, "-m", "agp.cli", "run", "--intendant", "reference", "--image", "reference-node",
                        "--script", str(tmp_path / "script.json"), "--workspace", str(ws), "--approver", "none",
                        "--out", str(tmp_path / "runs")], capture_output=True, text=True, cwd=ROOT, timeout=120,
                       env={**os.environ, "PYTHONPATH": str(ROOT), "AGP_IMAGES_FILE": str(tmp_path / "images.json")})
    assert r.returncode == 2, r.stderr
    assert "--image reference-node: no pinned image for 'reference-node'" in " ".join(r.stderr.split())
    assert "agp images build reference-node" in r.stderr
    assert not (tmp_path / "runs").exists()

