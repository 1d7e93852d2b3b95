"""`agp doctor` reports the seccomp profile, AppArmor, and the interpreter's tarfile CVEs."""

from __future__ import annotations

import pytest

from agp import doctor
from agp.doctor import CHECKS, check_apparmor, check_python, check_seccomp
from agp.sandbox.seccomp import PROFILE_DIGEST

ENGINE = ["name=seccomp,profile=default"]
ENGINE_AA = ["name=apparmor", "name=seccomp,profile=default"]


def test_seccomp_reports_the_shipped_digest_and_what_it_refuses():
    c = check_seccomp(ENGINE)
    assert c.status == "pass"
    assert PROFILE_DIGEST in c.detail
    assert "AF_UNIX/AF_INET/AF_INET6" in c.detail and "io_uring_setup" in c.detail and "pidfd_getfd" in c.detail


def test_an_engine_without_seccomp_fails():
    c = check_seccomp(["name=apparmor"])
    assert c.status == "fail" and "does not support seccomp" in c.detail and PROFILE_DIGEST in c.detail


def test_an_unreachable_engine_fails_the_seccomp_check(monkeypatch):
    def boom():
        raise ConnectionError("no engine")

    monkeypatch.setattr(doctor, "_engine_security_options", boom)
    c = check_seccomp()
    assert c.status == "fail" and "no engine" in c.detail


def test_apparmor_enabled_and_applied_passes(tmp_path):
    f = tmp_path / "enabled"
    f.write_text("Y\n")
    c = check_apparmor(f, ENGINE_AA)
    assert c.status == "pass" and "enabled on this host" in c.detail


@pytest.mark.parametrize("content,engine,fragment", [
    (None, ENGINE, "not available on this host (no "),
    ("N\n", ENGINE_AA, "not enabled on this host"),
    ("Y\n", ENGINE, "the engine does not apply it"),
])
def test_apparmor_missing_anywhere_is_a_warning_naming_where(tmp_path, content, engine, fragment):
    f = tmp_path / "enabled"
    if content is not None:
        f.write_text(content)
    c = check_apparmor(f, engine)
    assert c.status == "warn" and fragment in c.detail and "seccomp" in c.detail
    assert c.ok  # a warning never stops `agp run`


@pytest.mark.parametrize("version,cves", [
    ((3, 11, 7), ["CVE-2025-4517", "fixed in 3.11.13", "CVE-2025-8194", "fixed in 3.11.14"]),
    ((3, 11, 13), ["CVE-2025-8194", "fixed in 3.11.14"]),
    ((3, 12, 10), ["CVE-2025-4517", "fixed in 3.12.11"]),
    ((3, 13, 3), ["CVE-2025-4517", "fixed in 3.13.4"]),
    ((3, 8, 20), ["CVE-2025-4517", "no fixed 3.8"]),
])
def test_python_with_known_tarfile_cves_warns(version, cves):
    c = check_python(version, "/usr/bin/python3")
    assert c.status == "warn"
    for frag in cves:
        assert frag in c.detail
    if version == (3, 11, 13):
        assert "CVE-2025-4517" not in c.detail


@pytest.mark.parametrize("version", [(3, 11, 14), (3, 12, 12), (3, 13, 6), (3, 14, 0)])
def test_python_with_the_fixes_passes(version):
    c = check_python(version, "/usr/bin/python3")
    assert c.status == "pass", c.detail


def test_the_new_checks_are_listed():
    assert {"seccomp profile", "apparmor", "python"} <= set(CHECKS)


@pytest.mark.docker
def test_toolchain_images_pass_when_pinned_and_warn_when_not(tmp_path, monkeypatch):
    """The optional toolchain images: the pinned reference-node passes with its id; with no pin for it
    (another pin file) it is a warning naming the build command, and `agp doctor` still exits 0."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    from agp.doctor import check_toolchain_images
    from agp.sandbox.images import load_pins, pin_file

    pins = load_pins()
    if "reference-node" not in pins:
        if os.environ.get("AGP_SKIP_DOCKER") == "1":
            pytest.skip("the reference-node image is not built (AGP_SKIP_DOCKER=1)")
        pytest.fail("the reference-node image is not built: run `agp images build reference-node`", pytrace=False)
    (ok,) = check_toolchain_images(["reference"])
    assert (ok.name, ok.status) == ("image reference-node", "pass")
    assert pins["reference-node"]["id"] in ok.detail
    assert check_toolchain_images(["codex"]) == []  # no toolchain image is built on codex's

    other = tmp_path / "images.json"
    kept = json.loads(pin_file().read_text())
    del kept["images"]["reference-node"]
    other.write_text(json.dumps(kept))
    monkeypatch.setenv("AGP_IMAGES_FILE", str(other))
    assert pin_file() == other
    (missing,) = check_toolchain_images(["reference"])
    assert missing.status == "warn" and missing.ok
    assert "agp run --intendant reference --image reference-node" in missing.detail
    assert missing.fix == "agp images build reference-node"

    root = Path(__file__).resolve().parents[2]
    r = subprocess.run([sys.executable, "-m", "agp.cli", "doctor", "--intendant", "reference", "--json"],
                       capture_output=True, text=True, cwd=root, timeout=120,
                       env={**os.environ, "PYTHONPATH": str(root), "AGP_IMAGES_FILE": str(other)})
    rows = {c["name"]: c for c in json.loads(r.stdout)}
    assert rows["image reference-node"]["status"] == "warn", rows
    assert rows["image reference"]["status"] == "pass", rows
    assert r.returncode == (0 if all(c["status"] != "fail" for c in rows.values()) else 1)
