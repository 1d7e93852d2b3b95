"""The connection to the local Docker engine, shared by the driver and the image builder."""

from __future__ import annotations

from typing import Any

from agp.errors import SandboxError

__all__ = ("docker_client",)


def docker_client(timeout: float = 60.0) -> Any:
    """A docker SDK client for the local engine, or SandboxError when none answers."""
    import docker
    from docker.errors import DockerException

    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except DockerException as exc:
        raise SandboxError(f"no Docker engine answers ({exc}); run scripts/setup.d/30-docker.sh") from exc
    return client
