"""Clone mode: the agent works on a clone; its work comes back as a journaled patch agp lands as a branch.

``clone.py`` makes the clone and records the base, ``result.py`` computes the patch without
running or trusting anything the agent controlled, ``land.py`` lands it (a branch, or
``--apply``), ``door.py`` decides the landing of paths the host runs without reading them.
"""

from agp.workspace._git import Git, WorkspaceError
from agp.workspace.clone import Clone, detect_mode, make_clone
from agp.workspace.result import WorkspaceResult, compute_result

__all__ = ("Clone", "Git", "WorkspaceError", "WorkspaceResult", "compute_result", "detect_mode", "make_clone")
