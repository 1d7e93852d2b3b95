"""Clone mode's door: landing a change to a path the host runs without the user reading it.

Such a change (CI configuration, git configuration and attributes, ``.envrc``, editor tasks and
settings, harness and MCP configuration, package manager configuration: the list in DESIGN.md,
:data:`agp.sandbox.mounts.HOST_RUN_PATHS`, plus ``.gitattributes``, ``.gitmodules`` and ``.envrc``
at any depth) is flagged in the report, and landing it is decided by the policy: one statement
of kind ``workspace.result`` per flagged path, matchable by ``path`` / ``touches_path``; no rule
that names the kind means deny (the patch is kept, nothing lands).
"""

from __future__ import annotations

import datetime as _dt
import posixpath
from collections.abc import Iterable
from typing import Any

from agp.policy.call import ClassifiedCall, ClassifiedStatement, PathFact, ToolCall
from agp.policy.engine import Decision, Policy, evaluate_classified
from agp.sandbox.mounts import HOST_RUN_PATHS

__all__ = ("ANY_DEPTH", "DOOR_TOOL", "decide_landing", "host_run_changes")

#: names the host acts on wherever they are in the tree
ANY_DEPTH = (".gitattributes", ".gitmodules", ".envrc")
DOOR_TOOL = "workspace.result"
WORKSPACE = "/workspace"


def _is_host_run(path: str) -> bool:
    if posixpath.basename(path) in ANY_DEPTH:
        return True
    return any(path == p or path.startswith(p + "/") for p in HOST_RUN_PATHS)


def host_run_changes(files: Iterable[dict[str, Any]]) -> list[str]:
    """The changed paths (``WorkspaceResult.files``) the host runs without the user reading them."""
    return [f["path"] for f in files if _is_host_run(f["path"])]


def decide_landing(policy: Policy, harness: str, flagged: list[str], *, now: _dt.datetime | None = None) -> Decision:
    """The policy's decision on landing a result that changes ``flagged`` (non-empty)."""
    call = ToolCall(
        harness=harness, tool=DOOR_TOOL, input={"paths": flagged}, cwd=WORKSPACE, workspace=WORKSPACE, host_workspace=""
    )
    stmts = tuple(
        ClassifiedStatement(
            kind="workspace.result",
            text=f"land a change to {p}",
            paths=(PathFact(written=p, path=posixpath.join(WORKSPACE, p), location="inside"),),
        )
        for p in flagged
    )
    return evaluate_classified(ClassifiedCall(call, stmts), policy, now or _dt.datetime.now(_dt.UTC))
