"""agp/policy/classify/paths.py: is a path inside the workspace, the way the kernel would resolve it?"""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agp.policy.classify import normalize_path

WS = "/ws"


@pytest.mark.parametrize("p,cwd,path,inside", [
    ("a/b", WS, "/ws/a/b", True), ("./a", WS, "/ws/a", True), (".", WS, "/ws", True), ("..", WS, "/", False),
    ("../x", WS, "/x", False), ("a/../../x", WS, "/x", False), ("/ws/a/../b", "/", "/ws/b", True),
    ("/ws/../ws/x", "/", "/ws/x", True), ("/etc/passwd", WS, "/etc/passwd", False), ("//ws//a", WS, "/ws/a", True),
    ("x", "/ws/sub", "/ws/sub/x", True), ("/wsx/a", WS, "/wsx/a", False), ("/w", WS, "/w", False),
])
def test_lexical_resolution(p, cwd, path, inside):
    r = normalize_path(p, cwd, WS, host_root="")
    assert (r.path, r.inside_workspace) == (path, inside)


@pytest.mark.parametrize("p", ["~", "~/x", "~root/x", "", "a\x00b"])
def test_home_and_invalid_are_outside(p):
    assert not normalize_path(p, WS, WS, host_root="").inside_workspace


def test_relative_with_unknown_cwd_is_outside():
    assert not normalize_path("x", "", WS, host_root="").inside_workspace


def test_workspace_root_is_marked():
    assert normalize_path(".", WS, WS, host_root="").is_workspace_root
    assert not normalize_path("a", WS, WS, host_root="").is_workspace_root


def test_dotdot_after_an_uninspectable_directory_is_outside():
    # /tmp/x could be a symlink in the sandbox: where its '..' leads cannot be known
    assert not normalize_path("/tmp/x/../../ws/f", "/", WS, host_root="").inside_workspace


def test_symlinks_inside_the_workspace_are_followed(tmp_path):
    ws = tmp_path / "ws"
    (ws / "sub").mkdir(parents=True)
    (ws / "to_etc").symlink_to("/etc")
    (ws / "to_sub").symlink_to("sub")
    (ws / "sub" / "up").symlink_to("../..")
    (ws / "loop").symlink_to("loop")
    w = str(ws)
    r = normalize_path("to_etc/passwd", w, w)
    assert (r.path, r.inside_workspace, r.resolved_links) == ("/etc/passwd", False, 1)
    assert normalize_path("to_sub/f", w, w).path == f"{w}/sub/f"
    assert normalize_path("to_sub/f", w, w).inside_workspace
    # '..' applies after the link: to_etc/../x is /x, not ws/x
    assert normalize_path("to_etc/../x", w, w).path == "/x"
    assert not normalize_path("sub/up/secret", w, w).inside_workspace
    assert not normalize_path("loop/x", w, w).inside_workspace
    assert "too many" in normalize_path("loop/x", w, w).note


def test_host_root_maps_the_sandbox_workspace(tmp_path):
    host = tmp_path / "host-ws"
    host.mkdir()
    (host / "l").symlink_to("/workspace/real")
    (host / "out").symlink_to("/etc")
    assert normalize_path("l/f", "/workspace", "/workspace", host_root=str(host)).path == "/workspace/real/f"
    assert not normalize_path("out/f", "/workspace", "/workspace", host_root=str(host)).inside_workspace
    # host_root="" never touches the filesystem
    assert normalize_path("out/f", "/workspace", "/workspace", host_root="").inside_workspace


@given(st.lists(st.sampled_from(["a", "b", "..", ".", "", "ws"]), max_size=8).map("/".join))
def test_lexical_agrees_with_posixpath_when_no_links(rel):
    r = normalize_path(rel or ".", WS, WS, host_root="")
    expect = os.path.normpath(os.path.join(WS, rel or "."))
    if expect.startswith("//"):
        expect = "/" + expect.lstrip("/")  # Linux reads a leading '//' as '/'; posixpath keeps it
    if r.note:
        assert not r.inside_workspace
    else:
        assert r.path == expect
        assert r.inside_workspace == (expect == WS or expect.startswith(WS + "/"))
