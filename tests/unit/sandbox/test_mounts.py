"""The host-path deny-list: denied paths, paths inside them, symlinks into them, and their ancestors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agp.errors import MountDeniedError
from agp.sandbox.mounts import check_mount_source, default_denied


@pytest.fixture
def home(tmp_path, monkeypatch):
    h = tmp_path / "home"
    for d in (".ssh", ".aws", ".config/gcloud", ".docker", ".kube", ".gnupg", "project"):
        (h / d).mkdir(parents=True)
    (h / ".ssh" / "id_ed25519").write_text("not a key")
    monkeypatch.setenv("HOME", str(h))
    monkeypatch.delenv("SUDO_USER", raising=False)
    monkeypatch.setenv("USER", "nobody-agp-test")
    return h


@pytest.mark.parametrize("rel", [".ssh", ".aws", ".config/gcloud", ".docker", ".kube", ".gnupg", ".ssh/id_ed25519"])
def test_home_secrets_are_denied(home, rel):
    with pytest.raises(MountDeniedError, match=str(home / rel)):
        check_mount_source(home / rel)


def test_symlink_into_ssh_is_denied_and_named(home, tmp_path):
    link = tmp_path / "innocent"
    link.symlink_to(home / ".ssh")
    with pytest.raises(MountDeniedError, match=rf"{link}.*resolves to {home / '.ssh'}"):
        check_mount_source(link)


def test_symlink_chain_into_docker_socket_dir_is_denied(tmp_path):
    a = tmp_path / "a"
    b = tmp_path / "b"
    b.symlink_to("/var/run")
    a.symlink_to(b / "docker.sock")
    if not os.path.exists("/var/run/docker.sock"):
        pytest.skip("no docker socket on this host to point at")
    with pytest.raises(MountDeniedError, match="docker.sock"):
        check_mount_source(a)


def test_ancestor_of_a_denied_path_is_denied(home):
    with pytest.raises(MountDeniedError, match="contains the denied path"):
        check_mount_source(home)
    with pytest.raises(MountDeniedError):
        check_mount_source("/")


@pytest.mark.parametrize("path", ["/etc/shadow", "/var/run/docker.sock", "/proc/self", "/etc"])
def test_system_paths_are_denied(path):
    if not os.path.exists(path):
        pytest.skip(f"{path} does not exist here")
    with pytest.raises(MountDeniedError):
        check_mount_source(path)


def test_agp_key_dir_and_extra_denied(tmp_path, monkeypatch):
    monkeypatch.setenv("AGP_HOME", str(tmp_path / "agp"))
    keys = tmp_path / "agp" / "keys"
    keys.mkdir(parents=True)
    assert keys in default_denied()
    with pytest.raises(MountDeniedError, match="keys"):
        check_mount_source(keys)
    journal = tmp_path / "run" / "journal.jsonl"
    journal.parent.mkdir()
    journal.write_text("")
    with pytest.raises(MountDeniedError, match="journal.jsonl"):
        check_mount_source(journal.parent, extra_denied=[journal])
    # the run's socket dir next to the journal is fine
    (journal.parent / "sock").mkdir()
    assert check_mount_source(journal.parent / "sock", extra_denied=[journal]) == journal.parent / "sock"


def test_ordinary_workspace_is_allowed_and_resolved(home, tmp_path):
    link = tmp_path / "ws-link"
    link.symlink_to(home / "project")
    assert check_mount_source(link) == home / "project"


def test_missing_source_is_refused(tmp_path):
    with pytest.raises(MountDeniedError, match="does not resolve"):
        check_mount_source(tmp_path / "nope")
