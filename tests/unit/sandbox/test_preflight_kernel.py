"""The preflight proves from inside that agp's seccomp profile is in force: no AF_VSOCK, no AF_NETLINK socket."""

from __future__ import annotations

import json

import pytest

from agp.sandbox.preflight import REFUSED_FAMILIES, evaluate_probe

GOOD = {"interfaces": ["lo"], "routes": [],
        "connect": {"attempted": True, "outcome": "error", "errno": "ENETUNREACH", "elapsed_ms": 0.2},
        "families": {"AF_VSOCK": {"created": False, "errno": "EPERM"},
                     "AF_NETLINK": {"created": False, "errno": "EPERM"}},
        "seccomp": "2", "elapsed_ms": 1.0}


def _with(**kw):
    d = json.loads(json.dumps(GOOD))
    d.update(kw)
    return json.dumps(d)


def test_refused_families_and_a_seccomp_filter_pass_and_are_recorded():
    r = evaluate_probe(json.dumps(GOOD))
    assert r.ok, r.reason
    assert "AF_VSOCK" in r.reason
    d = r.to_json_dict()
    assert d["families"]["AF_VSOCK"] == {"created": False, "errno": "EPERM"} and d["seccomp"] == "2"


def test_a_family_unsupported_by_the_kernel_counts_as_refused():
    fam = {"AF_VSOCK": {"created": False, "errno": "EAFNOSUPPORT"}, "AF_NETLINK": {"created": False, "errno": "EPERM"}}
    assert evaluate_probe(_with(families=fam)).ok


@pytest.mark.parametrize("family", REFUSED_FAMILIES)
def test_a_created_socket_fails_the_preflight(family):
    fam = dict(GOOD["families"], **{family: {"created": True}})
    r = evaluate_probe(_with(families=fam))
    assert not r.ok
    assert f"an {family} socket could be created" in r.reason


@pytest.mark.parametrize("families", [{}, {"AF_VSOCK": {"created": False, "errno": "EPERM"}},
                                      {"AF_VSOCK": {}, "AF_NETLINK": {"created": False}}, None, "no"])
def test_a_probe_that_did_not_try_fails(families):
    r = evaluate_probe(_with(families=families))
    assert not r.ok
    assert "did not try to create" in r.reason


@pytest.mark.parametrize("created", ["false", 0, None, "yes"])
def test_only_an_explicit_false_counts_as_refused(created):
    fam = dict(GOOD["families"], AF_VSOCK={"created": created})
    assert not evaluate_probe(_with(families=fam)).ok


@pytest.mark.parametrize("mode", ["0", "1", "", "unreadable: ENOENT"])
def test_a_probe_outside_a_seccomp_filter_fails(mode):
    r = evaluate_probe(_with(seccomp=mode))
    assert not r.ok
    assert "seccomp filter" in r.reason


def test_the_probe_source_never_connects_a_refused_family():
    from agp.sandbox.preflight import PROBE_SOURCE

    assert "(\"AF_VSOCK\", 40," in PROBE_SOURCE and "(\"AF_NETLINK\", 16," in PROBE_SOURCE
    assert "_s.connect" not in PROBE_SOURCE
