"""The one place that names a sandbox backend: ``agp run`` builds its sandbox here.

A backend is a :class:`SandboxBackend`: it opens a :class:`~agp.sandbox.driver.SandboxDriver`
for a :class:`~agp.sandbox.driver.SandboxSpec` and removes what dead agp processes left
behind. Docker is the only backend today; a Kubernetes pod backend is one more entry in
:data:`BACKENDS` (and its module), with no change to :mod:`agp.run` or :mod:`agp._wiring`
(see adr/0012-run-through-interfaces.md). Backend modules are imported on first use (the
Docker one loads the docker SDK).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agp.errors import SandboxError, UsageError

if TYPE_CHECKING:
    from agp.sandbox.driver import EventSink, SandboxDriver, SandboxSpec
    from agp.sandbox.secrets import SecretResolver

__all__ = ("BACKENDS", "DEFAULT_BACKEND", "SandboxBackend", "backend", "open_sandbox", "reap_orphans")


@dataclass(frozen=True)
class SandboxBackend:
    """Where a backend's code lives: ``module`` defines the driver class ``driver`` (built as
    ``driver(spec, events=..., secrets=...)``) and ``reap_orphans() -> list[str]``."""

    name: str
    module: str
    driver: str


BACKENDS: dict[str, SandboxBackend] = {
    "docker": SandboxBackend("docker", "agp.sandbox.docker", "DockerSandbox"),
}
DEFAULT_BACKEND = "docker"


def backend(name: str = DEFAULT_BACKEND) -> SandboxBackend:
    try:
        return BACKENDS[name]
    except KeyError:
        raise UsageError(f"unknown sandbox backend {name!r}; choose one of {', '.join(sorted(BACKENDS))}") from None


def open_sandbox(
    spec: SandboxSpec,
    *,
    events: EventSink | None = None,
    secrets: SecretResolver | None = None,
    backend_name: str = DEFAULT_BACKEND,
) -> SandboxDriver:
    """A driver for one sandbox (not yet created: call ``create()``)."""
    b = backend(backend_name)
    cls = getattr(importlib.import_module(b.module), b.driver)
    return cls(spec, events=events, secrets=secrets)


def reap_orphans(backend_name: str = DEFAULT_BACKEND) -> list[str]:
    """Remove the sandboxes agp processes on this host left when they died without tearing down
    (e.g. SIGKILL). Returns their ids; SandboxError when the engine cannot be asked."""
    b = backend(backend_name)
    try:
        return list(importlib.import_module(b.module).reap_orphans())
    except SandboxError:
        raise
    except Exception as exc:  # the engine's own errors, wrapped at this edge
        raise SandboxError(f"cannot list agp containers: {exc}") from exc
