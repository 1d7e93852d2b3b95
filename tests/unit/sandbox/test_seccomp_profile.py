"""agp's seccomp profile (the shipped data) and how check_hardening verifies it and the CPU quota."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agp.errors import SandboxError
from agp.sandbox import SandboxSpec
from agp.sandbox.docker import check_hardening
from agp.sandbox.seccomp import (
    ALLOWED_SOCKET_FAMILIES,
    PROFILE_DIGEST,
    PROFILE_PATH,
    PROFILE_TEXT,
    REFUSED_SYSCALLS,
    profile_digest,
    security_opt,
)

PROFILE = json.loads(PROFILE_PATH.read_text())


def _entries(name):
    return [e for e in PROFILE["syscalls"] if name in e["names"]]


# --------------------------------------------------------------------------- the profile itself

def test_the_default_action_refuses_with_eperm():
    assert PROFILE["defaultAction"] == "SCMP_ACT_ERRNO" and PROFILE.get("defaultErrnoRet") in (None, 1)


def test_socket_is_allowed_only_for_unix_inet_and_inet6():
    rules = _entries("socket")
    assert all(e["action"] == "SCMP_ACT_ALLOW" for e in rules)
    assert all(e["args"] and len(e["args"]) == 1 for e in rules), "an unconditional socket() allow is back"
    families = sorted(e["args"][0]["value"] for e in rules)
    assert all(e["args"][0]["index"] == 0 and e["args"][0]["op"] == "SCMP_CMP_EQ" for e in rules)
    assert families == sorted(ALLOWED_SOCKET_FAMILIES) == [1, 2, 10]


@pytest.mark.parametrize("name", REFUSED_SYSCALLS)
def test_each_refused_syscall_is_only_in_an_eperm_entry(name):
    rules = _entries(name)
    assert rules, f"{name} is not named in the profile"
    for e in rules:
        assert e["action"] == "SCMP_ACT_ERRNO" and e["errnoRet"] == 1, (name, e)
        assert not e.get("args") and not e["includes"] and not e["excludes"], (name, e)


def test_the_rest_of_dockers_default_is_kept():
    allowed = {n for e in PROFILE["syscalls"] if e["action"] == "SCMP_ACT_ALLOW" and not e["includes"]
               for n in e["names"]}
    for name in ("read", "write", "openat", "clone", "execve", "connect", "bind", "socketpair", "prctl", "mmap"):
        assert name in allowed or _entries(name), name
    assert {"read", "write", "execve", "socketpair", "prctl"} <= allowed
    assert len(allowed) > 300


def test_the_engine_gets_compact_json_whose_digest_is_published():
    opt = security_opt()
    assert opt.startswith("seccomp={") and "\n" not in opt
    assert json.loads(opt.removeprefix("seccomp=")) == PROFILE
    assert PROFILE_DIGEST == profile_digest(PROFILE_TEXT) and PROFILE_DIGEST.startswith("sha256:")


def test_the_generator_script_documents_and_reproduces_the_profile():
    import importlib.util

    path = Path(__file__).resolve().parents[3] / "scripts" / "seccomp_profile.py"
    spec = importlib.util.spec_from_file_location("seccomp_profile", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert "moby/moby/v20.10.24/profiles/seccomp/default.json" in mod.UPSTREAM_URL
    assert set(mod.REFUSED) == set(REFUSED_SYSCALLS)
    # re-deriving the shipped profile is a fixed point: nothing it removes is left to remove
    assert mod.render(mod.derive(PROFILE)) != ""
    again = mod.derive({**PROFILE, "syscalls": [e for e in PROFILE["syscalls"] if not e["comment"].startswith("agp:")]})
    assert again == PROFILE


# --------------------------------------------------------------------------- check_hardening

def _spec(**kw):
    base = dict(image="sha256:" + "a" * 64, run_id="r", workspace=Path("/tmp"), socket_dir=Path("/tmp"))
    base.update(kw)
    return SandboxSpec(**base)


def _attrs(spec, **hc_over):
    hc = {
        "NetworkMode": "none", "CapDrop": ["ALL"], "CapAdd": None, "Privileged": False,
        "SecurityOpt": ["no-new-privileges", security_opt()], "NanoCpus": spec.nano_cpus,
        "CpuQuota": 0, "CpuPeriod": 0, "CpuShares": 0, "CpusetCpus": "",
        "PidsLimit": spec.pids_limit, "Memory": spec.mem_limit, "MemorySwap": spec.mem_limit,
        "ReadonlyRootfs": True, "Tmpfs": {"/tmp": "", "/home/agent": ""}, "Init": True,
        "IpcMode": "private", "PidMode": "", "CgroupnsMode": "private",
    }
    hc.update(hc_over)
    return {"HostConfig": hc, "Config": {"User": f"{spec.uid}:{spec.gid}"}, "Image": spec.image,
            "NetworkSettings": {"Networks": {"none": {}}}, "Mounts": []}


def _check(spec, attrs):
    return check_hardening(attrs, image_id=spec.image, spec=spec, mounts=[])


def test_the_hardened_attrs_pass():
    spec = _spec()
    assert _check(spec, _attrs(spec)) == []


def test_a_missing_seccomp_profile_is_named():
    spec = _spec()
    problems = _check(spec, _attrs(spec, SecurityOpt=["no-new-privileges"]))
    assert problems == [f"seccomp (expected agp's profile {PROFILE_DIGEST}, found none: the engine's default profile)"]


def test_a_different_seccomp_profile_is_named_by_its_digest():
    spec = _spec()
    other = json.dumps({**PROFILE, "defaultAction": "SCMP_ACT_ALLOW"}, separators=(",", ":"))
    problems = _check(spec, _attrs(spec, SecurityOpt=["no-new-privileges", "seccomp=" + other]))
    assert len(problems) == 1
    assert f"found a different profile {profile_digest(other)}" in problems[0]
    assert "SCMP_ACT" not in problems[0], "the message names the digest, never the profile text"


def test_the_same_profile_with_different_whitespace_is_a_different_profile():
    spec = _spec()
    pretty = PROFILE_PATH.read_text()
    problems = _check(spec, _attrs(spec, SecurityOpt=["no-new-privileges", "seccomp=" + pretty]))
    assert len(problems) == 1 and "different profile" in problems[0]


def test_an_unconfined_seccomp_is_named():
    spec = _spec()
    problems = _check(spec, _attrs(spec, SecurityOpt=["no-new-privileges", "seccomp=unconfined"]))
    assert problems == [f"seccomp (expected agp's profile {PROFILE_DIGEST}, found unconfined)"]


def test_two_seccomp_entries_are_refused():
    spec = _spec()
    problems = _check(spec, _attrs(spec, SecurityOpt=["no-new-privileges", security_opt(), "seccomp:unconfined"]))
    assert problems and "found 2 profiles" in problems[0]


def test_no_new_privileges_is_still_required_next_to_the_profile():
    spec = _spec()
    problems = _check(spec, _attrs(spec, SecurityOpt=[security_opt()]))
    assert len(problems) == 1 and problems[0].startswith("no_new_privileges")
    assert "SCMP_ACT" not in problems[0]


@pytest.mark.parametrize("found", [None, 0, 2_000_000_000, 1_499_999_999])
def test_a_missing_or_different_cpu_quota_is_named(found):
    spec = _spec(cpus=1.5)
    problems = _check(spec, _attrs(spec, NanoCpus=found))
    assert problems == [f"nano_cpus (expected 1500000000, found {found!r})"]


@pytest.mark.parametrize("key,value", [("CpuQuota", 200000), ("CpuPeriod", 50000), ("CpuShares", 4096),
                                       ("CpusetCpus", "0")])
def test_a_second_cpu_setting_next_to_the_quota_is_named(key, value):
    spec = _spec()
    problems = _check(spec, _attrs(spec, **{key: value}))
    assert problems == [f"{key.lower()} (expected None, found {value!r})"]


# --------------------------------------------------------------------------- the CPU quota setting

def test_the_default_quota_leaves_half_a_core_to_the_host(monkeypatch):
    from agp.sandbox import driver

    monkeypatch.setattr(driver, "host_cpus", lambda: 2)
    assert _spec().cpus == 1.5 and _spec().nano_cpus == 1_500_000_000
    monkeypatch.setattr(driver, "host_cpus", lambda: 1)
    assert _spec().cpus == 0.5
    monkeypatch.setattr(driver, "host_cpus", lambda: 16)
    assert _spec().cpus == 15.5


def test_the_quota_is_settable(monkeypatch):
    from agp.sandbox import driver

    monkeypatch.setattr(driver, "host_cpus", lambda: 2)
    assert _spec(cpus=0.25).nano_cpus == 250_000_000


@pytest.mark.parametrize("cpus", [0, -1, 0.001, 3, float("nan")])
def test_a_quota_outside_the_host_is_refused(monkeypatch, cpus):
    from agp.sandbox import driver

    monkeypatch.setattr(driver, "host_cpus", lambda: 2)
    with pytest.raises(SandboxError, match="CPU quota must be between 0.01 and the host's 2 cores"):
        _spec(cpus=cpus)


def test_the_x86_64_filter_refuses_the_32bit_abis():
    """socketcall would carry socket()'s family in memory; libseccomp drops the family condition for it."""
    x86_64 = [a for a in PROFILE["archMap"] if a["architecture"] == "SCMP_ARCH_X86_64"]
    assert x86_64 and x86_64[0]["subArchitectures"] == []
