"""copy_out: files from the tmpfs HOME and the workspace come out; hostile members stay in."""

from __future__ import annotations

import pytest

from agp.errors import SandboxError
from agp.sandbox.docker import DockerSandbox

pytestmark = pytest.mark.docker


def test_copy_out_tmpfs_home_directory_and_file(docker_client, spec_for, tmp_path):
    with DockerSandbox(spec_for(), client=docker_client) as sb:
        sb.exec(["sh", "-c", "mkdir -p $HOME/.claude/projects/-workspace && "
                             "echo '{\"type\":\"assistant\"}' > $HOME/.claude/projects/-workspace/s.jsonl && "
                             "ln -s /etc/passwd $HOME/.claude/projects/-workspace/evil && "
                             "ln -s ../../../../../../etc $HOME/.claude/projects/up && "
                             "chmod u+s $HOME/.claude/projects/-workspace/s.jsonl; echo ok > /workspace/w.txt"])
        out = sb.copy_out("/home/agent/.claude/projects", tmp_path / "transcript")
        skipped = list(sb.copy_out_skipped)
        single = sb.copy_out("/workspace/w.txt", tmp_path / "single")
        with pytest.raises(SandboxError, match="tar exited"):
            sb.copy_out("/home/agent/nope", tmp_path / "x")
        with pytest.raises(SandboxError, match="absolute"):
            sb.copy_out("relative/path", tmp_path / "x")
    got = out / "-workspace" / "s.jsonl"
    assert got.read_text() == '{"type":"assistant"}\n'
    assert not (got.stat().st_mode & 0o4000), "set-id bits must be cleared"
    assert not (out / "-workspace" / "evil").exists() and not (out / "-workspace" / "evil").is_symlink()
    assert not (out / "up").is_symlink()
    assert set(skipped) >= {"projects/-workspace/evil", "projects/up"}
    assert single.read_text() == "ok\n"
