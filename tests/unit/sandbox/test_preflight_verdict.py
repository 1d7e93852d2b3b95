"""The preflight verdict over what the probe printed: only one outcome passes."""

from __future__ import annotations

import json

import pytest

from agp.sandbox.preflight import evaluate_probe

GOOD = {"interfaces": ["lo"], "routes": [],
        "connect": {"attempted": True, "outcome": "error", "errno": "ENETUNREACH", "elapsed_ms": 0.2},
        "families": {"AF_VSOCK": {"created": False, "errno": "EPERM"},
                     "AF_NETLINK": {"created": False, "errno": "EPERM"}},
        "seccomp": "2", "elapsed_ms": 1.0}


def _with(**kw):
    d = json.loads(json.dumps(GOOD))
    d.update(kw)
    return json.dumps(d)


def test_clean_result_passes():
    r = evaluate_probe(json.dumps(GOOD), container="c1")
    assert r.ok and r.to_json_dict()["container"] == "c1"


@pytest.mark.parametrize("raw,reason", [
    (_with(interfaces=["eth0", "lo"]), "interfaces other than lo: eth0"),
    (_with(interfaces=[]), "no lo"),
    (_with(routes=["ipv4 eth0 00000000 ..."]), "route"),
    (_with(connect={"attempted": False}), "did not run"),
    (_with(connect={"attempted": True, "outcome": "connected"}), "succeeded"),
    (_with(connect={"attempted": True, "outcome": "timeout"}), "hung"),
    (_with(connect={"attempted": True, "outcome": "error", "errno": "ECONNREFUSED", "elapsed_ms": 1}), "ECONNREFUSED"),
    (_with(connect={"attempted": True, "outcome": "error", "errno": "ENETUNREACH", "elapsed_ms": 900}), "took"),
    (_with(error="cannot read /proc/net/route"), "could not look"),
    ("", "unreadable"),
    ("not json", "unreadable"),
    ("[1, 2]", "unreadable"),
])
def test_anything_else_fails(raw, reason):
    r = evaluate_probe(raw)
    assert not r.ok
    assert reason in r.reason


def test_nonzero_exit_fails_even_with_clean_output():
    assert not evaluate_probe(json.dumps(GOOD), exit_code=1).ok
