"""The egress preflight passes on network none and refuses a container on an --internal network."""

from __future__ import annotations

import uuid

import pytest

from agp.errors import PreflightError
from agp.sandbox.docker import DockerSandbox, list_run_containers
from agp.sandbox.preflight import PreflightFailed

pytestmark = pytest.mark.docker


def test_preflight_passes_on_network_none(docker_client, spec_for):
    events = []
    with DockerSandbox(spec_for(), client=docker_client, events=lambda k, b: events.append((k, b))) as sb:
        res = sb.preflight()
    assert res.ok
    assert res.interfaces == ("lo",)
    assert res.routes == ()
    assert res.connect["attempted"] is True
    assert res.connect["errno"] == "ENETUNREACH"
    body = dict(events)["sandbox.preflight"]
    assert body["ok"] is True and body["connect"]["errno"] == "ENETUNREACH"


class _OnNetwork(DockerSandbox):
    """A sandbox that (wrongly) joins a network: hardening is bypassed to reach the preflight."""

    network = ""

    def _create_kwargs(self):
        kw = super()._create_kwargs()
        kw["network_mode"] = self.network
        return kw

    def inspect_hardening(self):
        return {}

    def create(self):
        # the driver's post-start check also refuses networks; bypass it to test the preflight alone
        from agp.sandbox import images

        self.image = images.resolve_image(self.spec.image, client=self.client)
        from agp.sandbox.docker import _expected_mounts

        self._mounts = _expected_mounts(self.spec)
        c = self.client.containers.create(**self._create_kwargs())
        self.container_id = c.id
        c.start()
        return c.id


@pytest.fixture
def internal_network(docker_client):
    """A network this test creates with --internal (no gateway, no route off the machine); removed after."""
    name = "agp-test-internal-" + uuid.uuid4().hex[:8]
    net = docker_client.networks.create(name, driver="bridge", internal=True, labels={"agp.test": "1"})
    try:
        assert docker_client.api.inspect_network(net.id)["Internal"] is True
        yield name
    finally:
        net.reload()
        for c in net.containers:
            c.remove(force=True)
        net.remove()
    assert not docker_client.networks.list(names=[name])


def test_preflight_refuses_internal_network_before_any_connect(docker_client, spec_for, run_id, internal_network):
    events = []
    sb = _OnNetwork(spec_for(), client=docker_client, events=lambda k, b: events.append((k, b)))
    sb.network = internal_network
    sb.create()
    try:
        with pytest.raises(PreflightFailed) as ei:
            sb.preflight()
    finally:
        sb.teardown()
    res = ei.value.result
    assert isinstance(ei.value, PreflightError)
    assert not res.ok
    assert "eth0" in res.interfaces
    assert res.connect == {"attempted": False}, "the probe must not connect where a route exists"
    assert "interfaces other than lo" in res.reason
    body = dict(events)["sandbox.preflight"]
    assert body["ok"] is False and body["connect"] == {"attempted": False} and "eth0" in body["interfaces"]
    assert "sandbox.teardown" in dict(events)
    assert not list_run_containers(docker_client, run_id)


def test_preflight_sees_the_route_on_an_internal_network(docker_client, spec_for, internal_network):
    """Even with only the route (interface check aside), the probe records it and never connects."""
    sb = _OnNetwork(spec_for(), client=docker_client)
    sb.network = internal_network
    sb.create()
    try:
        r = sb.exec(["python3", "-I", "-S", "-c", __import__("agp.sandbox.preflight").sandbox.preflight.PROBE_SOURCE])
    finally:
        sb.teardown()
    import json

    seen = json.loads(r.stdout)
    assert any(x.startswith("ipv4 eth0") for x in seen["routes"]), seen
    assert seen["connect"] == {"attempted": False}


def test_create_refuses_a_network_even_if_inspect_were_skipped(docker_client, spec_for, run_id, internal_network):
    """The driver's own post-start check also refuses a container that joined a network."""
    from agp.errors import HardeningError

    class NoInspect(DockerSandbox):
        def _create_kwargs(self):
            kw = super()._create_kwargs()
            kw["network_mode"] = internal_network
            return kw

        def inspect_hardening(self):
            return {}

    with pytest.raises(HardeningError, match="networks"):
        NoInspect(spec_for(), client=docker_client).create()
    assert not list_run_containers(docker_client, run_id)
