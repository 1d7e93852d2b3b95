"""agp/policy/classify/tools.py: harness tool calls -> statements (non-shell tools, path resolution)."""

import os

import pytest

from agp.policy import ToolCall, classify


def stmts(tool, inp, *, harness="claude-code", ws="/workspace", cwd=None, host_workspace=""):
    c = ToolCall(harness=harness, tool=tool, input=inp, cwd=cwd or ws, workspace=ws, session="s",
                 host_workspace=host_workspace)
    return classify(c).statements


def one(tool, inp, **kw):
    (s,) = stmts(tool, inp, **kw)
    return s


@pytest.mark.parametrize("tool, key", [("Read", "file_path"), ("NotebookRead", "notebook_path")])
def test_read_tools_read_their_path(tool, key):
    s = one(tool, {key: "src/a.py"})
    assert s.kind == "read" and s.paths[0].path == "/workspace/src/a.py" and s.paths[0].location == "inside"


@pytest.mark.parametrize("tool, key", [("Write", "file_path"), ("Edit", "file_path"), ("MultiEdit", "file_path"),
                                       ("NotebookEdit", "notebook_path")])
def test_write_tools_write_their_path(tool, key):
    s = one(tool, {key: "/workspace/x.ipynb"})
    assert s.kind == "write" and s.paths[0].location == "inside"


@pytest.mark.parametrize("path, location", [
    ("/workspace", "root"),
    ("/workspace/", "root"),
    ("/workspace/a/../b", "inside"),
    ("/workspace/../etc/passwd", "outside"),
    ("/workspacex/a", "outside"),
    ("../secret", "outside"),
    ("~/.ssh/id_rsa", "outside"),
    ("/etc/passwd", "outside"),
    ("/dev/null", "null"),
    ("/dev/sda", "outside"),
    ("", None),
])
def test_path_locations(path, location):
    s = one("Read", {"file_path": path})
    if location is None:
        assert s.kind == "unknown"
    else:
        assert s.paths[0].location == location, s.paths


def test_a_symlink_inside_the_workspace_that_leads_out_is_outside(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "ok.txt").write_text("x")
    os.symlink("/etc", ws / "etc-link")
    os.symlink("ok.txt", ws / "inner-link")
    assert one("Read", {"file_path": str(ws / "etc-link" / "passwd")}, ws=str(ws), host_workspace=None).paths[0].location == "outside"
    assert one("Read", {"file_path": str(ws / "inner-link")}, ws=str(ws), host_workspace=None).paths[0].location == "inside"
    # the sandbox view: workspace /workspace backed by the host directory ws
    assert one("Read", {"file_path": "/workspace/etc-link/shadow"}, host_workspace=str(ws)).paths[0].location == "outside"
    # lexical only: the link is not seen
    assert one("Read", {"file_path": "/workspace/etc-link/shadow"}, host_workspace="").paths[0].location == "inside"


def test_glob_reads_the_base_and_the_pattern():
    s = one("Glob", {"pattern": "**/*.py"})
    assert [p.location for p in s.paths] == ["root", "root"]
    s = one("Glob", {"pattern": "src/**/*.py"})
    assert [p.location for p in s.paths] == ["root", "inside"]
    assert "outside" in [p.location for p in one("Glob", {"pattern": "../**/*.key"}).paths]
    assert "outside" in [p.location for p in one("Glob", {"pattern": "/etc/*"}).paths]
    assert "outside" in [p.location for p in one("Glob", {"pattern": "*.py", "path": "/home"}).paths]
    assert None in [p.location for p in one("Glob", {"pattern": "src/*/../../../x"}).paths]


def test_grep_reads_its_path_or_the_cwd():
    assert one("Grep", {"pattern": "x"}).paths[0].location == "root"
    assert one("Grep", {"pattern": "x", "path": "/"}).paths[0].location == "outside"


def test_apply_patch_writes_every_file_it_names():
    patch = ("*** Begin Patch\n*** Add File: src/new.py\n+x\n*** Update File: src/old.py\n*** Move to: ../../etc/cron.d/x\n"
             "@@\n-a\n+b\n*** Delete File: gone.txt\n*** End Patch\n")
    ss = stmts("apply_patch", {"input": patch})
    assert [s.kind for s in ss] == ["write"] * 4
    assert [s.paths[0].location for s in ss] == ["inside", "inside", "outside", "inside"]
    assert one("apply_patch", {"input": "hello"}).kind == "unknown"
    assert one("apply_patch", {"input": "*** Begin Patch\n*** End Patch"}).kind == "unknown"


def test_web_tools_are_url_statements_with_hosts():
    s = one("WebFetch", {"url": "https://user@Example.COM:8443/x", "prompt": "p"})
    assert s.kind == "url" and s.host == "example.com"
    s = one("WebSearch", {"query": "x"})
    assert s.kind == "url" and s.host is None


def test_mcp_tools_and_sql_in_database_tools():
    s = one("mcp__github__create_issue", {"title": "x"})
    assert (s.kind, s.mcp_server, s.mcp_tool) == ("mcp", "github", "create_issue")
    ss = stmts("mcp__postgres__query", {"sql": "select 1; delete from users"})
    assert [s.kind for s in ss] == ["mcp", "sql", "sql"]
    assert [s.sql_kind for s in ss[1:]] == ["select", "delete"]
    assert "no_where" in ss[2].sql_flags
    # a non-database tool's "query" is not SQL
    assert [s.kind for s in stmts("mcp__search__find", {"query": "drop table x"})] == ["mcp"]
    for bad in ("mcp__", "mcp__x", "mcp____y", "mcp__x__"):
        assert one(bad, {}).kind == "unknown", bad


def test_task_is_its_own_kind():
    s = one("Task", {"description": "explore", "prompt": "p", "subagent_type": "general-purpose"})
    assert s.kind == "task"


@pytest.mark.parametrize("tool, inp", [
    ("Agent", {"description": "explore", "prompt": "p", "subagent_type": "general-purpose"}),
    ("spawn_agent", {"message": "go"}),
    ("multi_agent_v1wait_agent", {"targets": ["a1"], "timeout_ms": 1000}),
    ("multi_agent_v1send_input", {"id": "a1", "message": "more"}),
    ("multi_agent_v1resume_agent", {"id": "a1"}),
    ("multi_agent_v1close_agent", {"id": "a1"}),
])
def test_subagent_tools_of_both_harnesses_are_tasks(tool, inp):
    assert one(tool, inp).kind == "task"
    # only the names the harnesses report: the bare name or another namespace is not a task
    if tool.startswith("multi_agent_v1"):
        assert one(tool.replace("multi_agent_v1", "multi_agent_v2"), inp).kind == "unknown"
    assert one("wait_agent", inp).kind == "unknown"


@pytest.mark.parametrize("tool, inp, reason", [
    ("SomethingNew", {}, "no classifier for the tool"),
    ("Bash", {"command": 5}, "no command string"),
    ("Bash", {}, "no command string"),
    ("Read", {"file_path": None}, "no file_path"),
    ("WebFetch", {}, "no url"),
    ("Grep", {"path": "/workspace"}, "no pattern"),
])
def test_unknown_tools_and_malformed_inputs_are_unknown(tool, inp, reason):
    s = one(tool, inp)
    assert s.kind == "unknown" and reason in s.reason


def test_unknown_harness_and_non_object_input_are_unknown():
    assert one("Read", {"file_path": "a"}, harness="other").reason.startswith("unknown harness")
    c = ToolCall(harness="codex", tool="Read", input=["a"], cwd="/w", workspace="/w")
    assert classify(c).statements[0].kind == "unknown"
    c = ToolCall(harness="codex", tool="Read", input={"file_path": "a"}, cwd="w", workspace="w")
    assert classify(c).statements[0].kind == "unknown"


def test_codex_apply_patch_through_the_shell_writes_the_patch_files():
    cmd = "apply_patch <<'EOF'\n*** Begin Patch\n*** Update File: src/a.py\n@@\n-a\n+b\n*** Add File: ../out.txt\n+x\n*** End Patch\nEOF"
    ss = stmts("Bash", {"command": cmd}, harness="codex")
    assert [(s.kind, s.paths[0].location) for s in ss] == [("write", "inside"), ("write", "outside")]
    # an unquoted here-doc expands $VAR in file names: decided at run time
    cmd = "apply_patch <<EOF\n*** Begin Patch\n*** Add File: $HOME/x\n+x\n*** End Patch\nEOF"
    (s,) = stmts("Bash", {"command": cmd}, harness="codex")
    assert s.kind == "write" and s.paths[0].location is None
    # anything else in the same command: judged statement by statement (apply_patch itself matches no rule)
    ss = stmts("Bash", {"command": "ls; apply_patch <<'EOF'\n*** Begin Patch\n*** Add File: a\n+x\n*** End Patch\nEOF"})
    assert "apply_patch" in [s.program for s in ss]


def test_wildcard_paths_are_placed_by_their_fixed_directory():
    s = one("Read", {"file_path": "/workspace/src/*.py"})
    assert (s.paths[0].path, s.paths[0].location, s.paths[0].glob) == ("/workspace/src", "inside", True)
    s = one("Read", {"file_path": "/workspace/*"})
    assert (s.paths[0].location, s.paths[0].glob) == ("root", True)
    assert one("Read", {"file_path": "/*/passwd"}).paths[0].location == "outside"
    assert one("Read", {"file_path": "/workspace/*/../../etc"}).paths[0].location is None
