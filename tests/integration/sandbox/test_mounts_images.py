"""With the real engine: a denied mount never reaches create; unpinned images are refused; pins hold."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agp.errors import ImagePinError, MountDeniedError
from agp.sandbox import ExtraMount
from agp.sandbox.docker import DockerSandbox, list_run_containers
from agp.sandbox.images import harness_versions, load_pins, resolve_image, resolve_intendant_image

pytestmark = pytest.mark.docker
ROOT = Path(__file__).resolve().parents[3]


def test_symlinked_ssh_workspace_is_refused_before_create(docker_client, spec_for, run_id, tmp_path, monkeypatch):
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    link = tmp_path / "workspace-link"
    link.symlink_to(home / ".ssh")
    with pytest.raises(MountDeniedError, match=str(link)):
        DockerSandbox(spec_for(workspace=link), client=docker_client).create()
    assert not list_run_containers(docker_client, run_id)


def test_docker_socket_as_config_mount_is_refused(docker_client, spec_for, run_id):
    with pytest.raises(MountDeniedError, match="docker.sock"):
        DockerSandbox(spec_for(config_mounts=(ExtraMount(Path("/var/run/docker.sock"), "/etc/x.json"),)),
                      client=docker_client).create()
    assert not list_run_containers(docker_client, run_id)


def test_journal_denied_via_spec(docker_client, spec_for, run_id, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "journal.jsonl").write_text("")
    with pytest.raises(MountDeniedError, match="journal.jsonl"):
        DockerSandbox(spec_for(intendant_dir=run, denied=(run / "journal.jsonl",)), client=docker_client).create()
    assert not list_run_containers(docker_client, run_id)


def test_config_mounts_are_read_only_inside(docker_client, spec_for, tmp_path):
    cfg = tmp_path / "managed-settings.json"
    cfg.write_text("{}")
    cfg.chmod(0o666)  # so only the read-only mount can stop the write
    idir = tmp_path / "intendants"
    idir.mkdir()
    (idir / "bridge.py").write_text("print('bridge')\n")
    spec = spec_for(intendant_dir=idir, config_mounts=(ExtraMount(cfg, "/etc/claude-code/managed-settings.json"),))
    with DockerSandbox(spec, client=docker_client) as sb:
        r = sb.exec(["sh", "-c", "cat /etc/claude-code/managed-settings.json; echo; "
                                 "echo x >> /etc/claude-code/managed-settings.json 2>&1; "
                                 "python3 -I -S /opt/agp/intendants/bridge.py; touch /opt/agp/intendants/y 2>&1"])
    out = r.stdout.decode() + r.stderr.decode()
    assert out.startswith("{}")
    assert out.count("Read-only file system") == 2
    assert "bridge" in out


@pytest.mark.parametrize("ref", ["agp/reference", "agp/reference:latest", "busybox", "sha256:abcd", ""])
def test_unpinned_or_latest_images_are_refused(docker_client, spec_for, run_id, ref):
    with pytest.raises(ImagePinError):
        resolve_image(ref, client=docker_client)
    with pytest.raises(ImagePinError):
        DockerSandbox(spec_for(image=ref), client=docker_client).create()
    assert not list_run_containers(docker_client, run_id)


def test_version_tag_is_accepted_with_a_warning(docker_client, reference_image, spec_for):
    img = docker_client.images.get(reference_image.id)
    img.tag("agp-test/reference", "1.0")
    try:
        ref = resolve_image("agp-test/reference:1.0", client=docker_client)
        assert ref.id == reference_image.id
        assert ref.warning and "tag" in ref.warning and reference_image.id in ref.warning
        events = []
        with DockerSandbox(spec_for(image="agp-test/reference:1.0"), client=docker_client,
                           events=lambda k, b: events.append((k, b))) as sb:
            assert docker_client.api.inspect_container(sb.container_id)["Image"] == reference_image.id
        create = dict(events)["sandbox.create"]
        assert create["image_id"] == reference_image.id and create["image_warning"]
    finally:
        docker_client.images.remove("agp-test/reference:1.0")


def test_image_id_and_digest_forms(docker_client, reference_image):
    assert resolve_image(reference_image.id, client=docker_client).warning is None
    with pytest.raises(ImagePinError, match="not present"):
        resolve_image("sha256:" + "0" * 64, client=docker_client)


def test_pins_match_images_and_harness_versions(docker_client):
    pins = load_pins()
    want = json.loads((ROOT / "intendants" / "pins.json").read_text())
    for name in ("base", "reference", "claude-code", "codex"):
        ref = resolve_intendant_image(name, client=docker_client)
        labels = docker_client.api.inspect_image(ref.id)["Config"]["Labels"]
        assert labels["agp.inputs"] == pins[name]["inputs"]
        cfg = docker_client.api.inspect_image(ref.id)["Config"]
        assert cfg["User"] == "10001:10001"
    assert harness_versions(client=docker_client) == {k: want[k]["version"] for k in ("claude-code", "codex")}


@pytest.mark.harness
@pytest.mark.parametrize("name,argv", [("claude-code", ["claude", "--version"]), ("codex", ["codex", "--version"])])
def test_harness_binary_runs_in_its_hardened_sandbox(docker_client, spec_for, name, argv):
    want = json.loads((ROOT / "intendants" / "pins.json").read_text())[name]["version"]
    ref = resolve_intendant_image(name, client=docker_client)
    with DockerSandbox(spec_for(image=ref.id), client=docker_client) as sb:
        sb.preflight()
        r = sb.exec(argv, timeout=60)
    assert r.exit_code == 0, r.stderr
    assert want in r.stdout.decode()


def test_unchanged_inputs_are_not_rebuilt(docker_client):
    """`agp images build` a second time: every image is found by its inputs digest, nothing is built."""
    from agp.sandbox.images import build_all

    before = load_pins()
    msgs = []
    res = build_all(client=docker_client, log=msgs.append)
    assert all(r["built"] is False for r in res.values()), msgs
    assert {k: v["id"] for k, v in load_pins().items()} == {k: v["id"] for k, v in before.items()}
