"""Where a harness runs: a hardened container with no network, pinned images, secrets after the gate,
and a model relay.

- :mod:`agp.sandbox.driver`: the :class:`SandboxDriver` Protocol and its data (spec, results).
- :mod:`agp.sandbox.docker`: :class:`DockerSandbox`, the Docker implementation.
- :mod:`agp.sandbox.preflight`: the in-container egress probe and its verdict.
- :mod:`agp.sandbox.mounts`: the host-path deny-list and the paths the host runs unread.
- :mod:`agp.sandbox.collect`: agp's reader for what a stopped sandbox left (no link followed, capped).
- :mod:`agp.sandbox.watchdog`: the host-side bound on how much a sandbox writes.
- :mod:`agp.sandbox.images`: pinned image references and the offline image build.
- :mod:`agp.sandbox.secrets`: ``{{secret:NAME}}`` resolution at the exec boundary.
- :mod:`agp.sandbox.relay`: the host side of the model relay (one upstream, key injected on the host).

The sandbox knows nothing about policy; ``agp.run`` wires it to the gate and the journal.
"""

from agp.sandbox.driver import ExecResult, ExtraMount, PreflightResult, SandboxDriver, SandboxSpec, StateDir
from agp.sandbox.images import ImageRef, resolve_image, resolve_intendant_image

__all__ = (
    "DockerSandbox",
    "ExecResult",
    "ExtraMount",
    "ImageRef",
    "PreflightResult",
    "SandboxDriver",
    "SandboxSpec",
    "StateDir",
    "resolve_image",
    "resolve_intendant_image",
)


def __getattr__(name: str):  # DockerSandbox imports the docker SDK: load it on first use
    if name == "DockerSandbox":
        from agp.sandbox.docker import DockerSandbox

        return DockerSandbox
    raise AttributeError(name)
