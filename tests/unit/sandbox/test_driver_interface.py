"""`agp run` reaches the sandbox only through the SandboxDriver protocol, and the Docker driver
really implements it: every protocol member exists with a compatible signature (inspect.signature,
not runtime_checkable's name-only isinstance)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import agp
from agp.errors import UsageError
from agp.sandbox.driver import ExecHandle, SandboxDriver, SandboxSpec
from tests.support.protocols import incompatibilities, members

ROOT = Path(agp.__file__).resolve().parent
DRIVER_MODULES = ("agp.sandbox.docker",)
#: the modules that wire a run: they name no backend
WIRING = ("run.py", "_wiring.py", "_state.py")


def _imports(path: Path) -> list[tuple[str, str | None]]:
    """(module, name) for every import in the file, at any depth (a function-level import counts)."""
    out: list[tuple[str, str | None]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            out += [(a.name, None) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            out += [(node.module, a.name) for a in node.names]
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
                "import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant):
            out.append((str(node.args[0].value), None))
    return out


@pytest.mark.parametrize("name", WIRING)
def test_the_run_imports_no_sandbox_backend(name):
    found = [(m, n) for m, n in _imports(ROOT / name)
             if m in DRIVER_MODULES or f"{m}.{n}" in DRIVER_MODULES or n == "DockerSandbox" or m == "docker"]
    assert found == [], f"agp/{name} names a sandbox backend: {found} (go through agp.sandbox.backends)"


def test_the_import_check_sees_a_backend_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from agp.sandbox.docker import DockerSandbox\n    from agp.sandbox import docker\n")
    mods = _imports(bad)
    assert ("agp.sandbox.docker", "DockerSandbox") in mods and ("agp.sandbox", "docker") in mods


def test_the_docker_driver_satisfies_the_protocol():
    from agp.sandbox.docker import DockerSandbox

    assert incompatibilities(SandboxDriver, DockerSandbox) == []


def test_the_docker_exec_process_satisfies_the_handle_protocol():
    from agp.sandbox.docker import ExecProcess

    assert incompatibilities(ExecHandle, ExecProcess) == []


def test_the_signature_check_finds_what_breaks_a_caller():
    class Wrong:
        container_id = None

        def create(self) -> int: ...  # another return type

        def exec(self, argv, env=None): ...  # env positional, stdin and the rest missing

        def exec_stream(self, argv, *, env=None, stdin=None, user=None, workdir=None, keep_stdin_open=True,
                        extra): ...

        def stop(self) -> None: ...  # no timeout

        stopped = False  # not a property

    found = "\n".join(incompatibilities(SandboxDriver, Wrong))
    for what in ("create: returns", "exec(env): positional or keyword", "exec: no parameter 'stdin'",
                 "exec_stream(keep_stdin_open): default True", "extra parameter 'extra'", "stop: no parameter 'timeout'",
                 "stopped: the protocol has a property", "preflight: missing", "teardown: missing",
                 "start_forwarder: missing", "inspect_hardening: missing"):
        assert what in found, (what, found)


def test_the_protocol_documents_every_member():
    for name, member in members(SandboxDriver).items():
        if name.startswith("__") or member is None:
            continue
        fn = member.fget if isinstance(member, property) else member
        assert (fn.__doc__ or "").strip(), f"SandboxDriver.{name} has no docstring"


# ---------------------------------------------------------------------------------------- the factory

def _spec(tmp_path: Path) -> SandboxSpec:
    (tmp_path / "ws").mkdir()
    (tmp_path / "sock").mkdir()
    return SandboxSpec(image="sha256:" + "0" * 64, run_id="t", workspace=tmp_path / "ws", socket_dir=tmp_path / "sock")


def test_open_sandbox_builds_the_docker_driver_without_touching_the_engine(tmp_path):
    from agp.sandbox.backends import open_sandbox
    from agp.sandbox.docker import DockerSandbox

    seen = []
    box = open_sandbox(_spec(tmp_path), events=lambda k, b: seen.append(k))
    assert type(box) is DockerSandbox and isinstance(box, SandboxDriver)
    assert box.container_id is None and not box.stopped and seen == []


def test_an_unknown_backend_is_refused(tmp_path):
    from agp.sandbox.backends import open_sandbox, reap_orphans

    with pytest.raises(UsageError, match="unknown sandbox backend 'kubernetes'"):
        open_sandbox(_spec(tmp_path), backend_name="kubernetes")
    with pytest.raises(UsageError, match="unknown sandbox backend"):
        reap_orphans("kubernetes")


def test_every_backend_module_has_what_the_factory_calls():
    import importlib

    from agp.sandbox.backends import BACKENDS

    for b in BACKENDS.values():
        mod = importlib.import_module(b.module)
        assert incompatibilities(SandboxDriver, getattr(mod, b.driver)) == []
        assert callable(mod.reap_orphans)
