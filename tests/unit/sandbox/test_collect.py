"""agp's reader for what a stopped sandbox left: hostile trees never make it follow a link, read a
non-regular file, exceed its caps or fail without saying what it left behind."""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

import pytest

from agp.sandbox.collect import Limits, collect, diff_snapshots, open_dir_nofollow, snapshot, strip_setid, tree_bytes
from agp.sandbox.mounts import host_run_paths_present
from agp.sandbox.watchdog import WriteWatchdog


def _problems(rep) -> dict[str, str]:
    return {p.path: f"{p.what} {p.error}" for p in rep.problems}


@pytest.fixture
def dirs(tmp_path):
    src, dest, outside = tmp_path / "src", tmp_path / "dest", tmp_path / "outside"
    for d in (src, dest, outside):
        d.mkdir()
    (outside / "secret").write_text("host secret\n")
    return src, dest, outside


def test_copies_regular_files_and_directories(dirs):
    src, dest, _ = dirs
    (src / "projects" / "a" / "b").mkdir(parents=True)
    (src / "projects" / "a" / "b" / "s.jsonl").write_text("{}\n")
    (src / "projects" / "top.jsonl").write_text("x\n")
    rep = collect(src, "projects", dest)
    assert sorted(rep.copied) == ["projects/a/b/s.jsonl", "projects/top.jsonl"] and not rep.problems
    assert (dest / "projects" / "a" / "b" / "s.jsonl").read_text() == "{}\n"
    assert rep.bytes == 5


def test_a_single_file(dirs):
    src, dest, _ = dirs
    (src / "transcript.jsonl").write_text("line\n")
    rep = collect(src, "transcript.jsonl", dest)
    assert rep.copied == ["transcript.jsonl"] and (dest / "transcript.jsonl").read_text() == "line\n"


@pytest.mark.parametrize("where", ["root", "middle", "leaf-dir", "leaf-file"])
def test_a_symlink_at_any_component_is_never_followed(dirs, where):
    src, dest, outside = dirs
    if where == "root":
        (src / "projects").symlink_to(outside)
    elif where == "middle":
        (src / "projects").mkdir()
        (src / "projects" / "mid").symlink_to(outside)
    elif where == "leaf-dir":
        (src / "projects" / "d").mkdir(parents=True)
        (src / "projects" / "d" / "up").symlink_to("../../../outside")
    else:
        (src / "projects").mkdir()
        (src / "projects" / "secret.jsonl").symlink_to(outside / "secret")
    rep = collect(src, "projects", dest)
    for p in dest.rglob("*"):
        assert not p.is_symlink()
        if p.is_file():
            assert p.read_text() != "host secret\n"
    assert rep.problems and all(("symlink" in v) or ("ELOOP" in v) or ("ENOTDIR" in v)
                                for v in _problems(rep).values()), _problems(rep)


def test_the_collection_root_itself_behind_a_symlink_is_refused(dirs, tmp_path):
    src, dest, outside = dirs
    link = tmp_path / "linked-root"
    link.symlink_to(outside)
    rep = collect(link, "secret", dest)
    assert not rep.copied and next(iter(_problems(rep).values())).endswith(("ELOOP", "ENOTDIR"))
    (outside / "d").mkdir()
    with pytest.raises(OSError):
        open_dir_nofollow(link / "d")


def test_fifos_sockets_and_hard_links(dirs):
    src, dest, _ = dirs
    p = src / "projects"
    p.mkdir()
    os.mkfifo(p / "fifo")
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(p / "sock"))
    (p / "real.jsonl").write_text("r\n")
    os.link(p / "real.jsonl", p / "hard.jsonl")
    rep = collect(src, "projects", dest)  # the fifo is never opened: this would block
    s.close()
    probs = _problems(rep)
    assert "fifo" in probs["projects/fifo"] and "socket" in probs["projects/sock"]
    assert "hard links" in probs["projects/hard.jsonl"]
    assert not (dest / "projects" / "fifo").exists()
    assert (dest / "projects" / "hard.jsonl").read_text() == "r\n"
    assert os.stat(dest / "projects" / "hard.jsonl").st_nlink == 1


def test_a_device_node_is_left_behind(dirs):
    src, dest, _ = dirs
    (src / "projects").mkdir()
    try:
        os.mknod(src / "projects" / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("mknod needs CAP_MKNOD")
    rep = collect(src, "projects", dest)
    assert "character device" in _problems(rep)["projects/null"]
    assert not (dest / "projects" / "null").exists()


def test_size_caps_per_file_and_in_total(dirs):
    src, dest, _ = dirs
    p = src / "projects"
    p.mkdir()
    (p / "big").write_bytes(b"x" * 2000)
    for i in range(5):
        (p / f"f{i}").write_bytes(b"y" * 300)
    rep = collect(src, "projects", dest, limits=Limits(max_file=1000, max_total=1000))
    probs = _problems(rep)
    assert "too big" in probs["projects/big"] and not (dest / "projects" / "big").exists()
    assert rep.bytes <= 1000 and len(rep.copied) == 3
    assert sum("total cap" in v for v in probs.values()) == 2


def test_a_sparse_file_claiming_a_huge_size_is_refused_without_reading(dirs):
    src, dest, _ = dirs
    (src / "projects").mkdir()
    with open(src / "projects" / "huge", "wb") as f:
        f.truncate(1 << 40)  # a terabyte of holes
    rep = collect(src, "projects", dest)
    assert "too big" in _problems(rep)["projects/huge"]


def test_deep_nesting_and_long_names_are_reported_not_fatal(dirs):
    src, dest, _ = dirs
    fd = os.open(src, os.O_RDONLY | os.O_DIRECTORY)
    os.mkdir("projects", dir_fd=fd)
    cur = os.open("projects", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
    os.close(fd)
    name = "d" * 250
    for _ in range(40):  # ~10,000 bytes of path: past PATH_MAX, reachable only with dir fds
        os.mkdir(name, dir_fd=cur)
        nxt = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=cur)
        os.close(cur)
        cur = nxt
    f = os.open("leaf.jsonl", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=cur)
    os.write(f, b"deep\n")
    os.close(f)
    os.close(cur)
    rep = collect(src, "projects", dest, limits=Limits(max_depth=64))
    assert len(rep.copied) == 1 and rep.copied[0].endswith("leaf.jsonl") and not rep.problems
    rep2 = collect(src, "projects", _fresh(dest), limits=Limits(max_depth=10))
    assert any("nested deeper" in v for v in _problems(rep2).values())


def _fresh(dest: Path) -> Path:
    d = dest.parent / "dest2"
    d.mkdir()
    return d


def test_too_many_entries(dirs):
    src, dest, _ = dirs
    (src / "projects").mkdir()
    for i in range(30):
        (src / "projects" / f"f{i}").write_text("x")
    rep = collect(src, "projects", dest, limits=Limits(max_entries=10))
    assert len(rep.copied) < 10 and any("more than 10 entries" in v for v in _problems(rep).values())


def test_emfile_is_reported_not_raised(dirs):
    import resource

    src, dest, _ = dirs
    (src / "projects" / "a").mkdir(parents=True)
    (src / "projects" / "a" / "f").write_text("x")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # leave just enough descriptors to open the roots, none for what is below them
    held = []
    try:
        while True:
            try:
                held.append(os.open("/dev/null", os.O_RDONLY))
            except OSError:
                break
        for _ in range(4):
            os.close(held.pop())
        rep = collect(src, "projects", dest)
    finally:
        for fd in held:
            os.close(fd)
    assert any("EMFILE" in v for v in _problems(rep).values()), _problems(rep)


def test_a_missing_source_is_a_problem(dirs):
    src, dest, _ = dirs
    rep = collect(src, "projects", dest)
    assert not rep.copied and "ENOENT" in _problems(rep)["projects"]


def test_relative_paths_with_dotdot_are_refused(dirs):
    src, dest, _ = dirs
    with pytest.raises(ValueError):
        collect(src, "../outside", dest)


def test_snapshot_sees_creation_change_and_links_without_following(tmp_path):
    ws = tmp_path / "ws"
    (ws / ".git" / "hooks").mkdir(parents=True)
    (ws / ".git" / "config").write_text("[core]\n")
    rels = (".git/hooks", ".git/config", ".vscode", ".envrc")
    before, _ = snapshot(ws, rels)
    (ws / ".git" / "hooks" / "pre-commit").write_text("#!/bin/sh\n")
    (ws / ".git" / "config").write_text("[core]\nhooksPath=/tmp\n")
    (ws / ".vscode").mkdir()
    (ws / ".envrc").symlink_to("/etc/passwd")
    after, _ = snapshot(ws, rels)
    changes = {c["path"]: c["change"] for c in diff_snapshots(before, after)}
    assert changes == {".git/hooks/pre-commit": "created", ".git/config": "changed", ".vscode": "created",
                       ".envrc": "created"}
    assert after[".envrc"] == ("symlink", "/etc/passwd")
    assert diff_snapshots(after, snapshot(ws, rels)[0]) == []


def test_strip_setid_clears_files_and_never_follows_links(tmp_path):
    ws = tmp_path / "ws"
    (ws / "sub").mkdir(parents=True)
    outside = tmp_path / "outside-suid"
    outside.write_text("x")
    os.chmod(outside, 0o4755)
    (ws / "sub" / "tool").write_text("x")
    os.chmod(ws / "sub" / "tool", 0o6755)
    (ws / "link").symlink_to(outside)
    cleared, problems = strip_setid(ws)
    assert cleared == [{"path": "sub/tool", "mode_before": "0o6755", "mode_after": "0o755"}] and not problems
    assert stat.S_IMODE(os.stat(ws / "sub" / "tool").st_mode) == 0o755
    assert os.stat(outside).st_mode & 0o4000  # the link target outside was not touched


def test_host_run_paths_present_skips_links(tmp_path):
    ws = tmp_path / "ws"
    (ws / ".git" / "hooks").mkdir(parents=True)
    (ws / ".git" / "config").write_text("")
    (ws / ".vscode").symlink_to("/etc")
    (ws / ".envrc").write_text("")
    assert host_run_paths_present(ws) == [".git/hooks", ".git/config", ".envrc"]
    (tmp_path / "wt").mkdir()
    (tmp_path / "wt" / ".git").write_text("gitdir: /elsewhere\n")
    assert host_run_paths_present(tmp_path / "wt") == [".git"]


def test_tree_bytes_counts_each_inode_once_and_skips_links(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    (d / "a").write_bytes(b"x" * 100_000)
    os.link(d / "a", d / "b")
    (d / "l").symlink_to("/usr")
    n = tree_bytes(d)
    assert 100_000 <= n < 200_000


def test_watchdog_trips_once_past_the_limit(tmp_path):
    d = tmp_path / "w"
    d.mkdir()
    (d / "old").write_bytes(b"o" * 50_000)  # present before: not counted
    hits = []
    wd = WriteWatchdog({"workspace": d}, 100_000, hits.append, interval=0.05)
    wd.start()
    assert wd.check_once() is None
    (d / "new").write_bytes(b"n" * 200_000)
    import time

    deadline = time.monotonic() + 5
    while not hits and time.monotonic() < deadline:
        time.sleep(0.05)
    wd.stop()
    assert len(hits) == 1 and "write limit of 0.1 MB" in hits[0] and "--max-write-mb" in hits[0]
    assert wd.to_json_dict()["tripped"] == hits[0]
