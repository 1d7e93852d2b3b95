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
