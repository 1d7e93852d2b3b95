"""The project policy: ``.agp/policy.toml`` as committed at the user's HEAD.

A repository may carry a policy of its own. It is read from the commit the user's checkout
points at (``git show HEAD:.agp/policy.toml``), never from the working tree, which the agent
can write; and it is composed as a *tighten-only* tier (``tighten_only = true``): its deny and
require rules count, its allow rules never allow anything on their own. So a project policy
can make a run stricter and never looser.

git runs with configuration agp controls: no system or global configuration, no hooks, no
fsmonitor, no textconv or external diff, no pager, no prompts, and none of the caller's
``GIT_*`` variables. The repository's own ``.git/config`` is still read by git (that is how a
repository is found); every setting of it that could start a program during ``git show`` of a
blob is overridden on the command line.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from agp.errors import PolicyError
from agp.policy.model import PolicyFile, parse_policy_text

__all__ = ("PROJECT_POLICY_PATH", "ProjectPolicy", "read_project_policy")

PROJECT_POLICY_PATH = ".agp/policy.toml"
_MAX_BYTES = 1 << 20
_TIMEOUT_S = 20

#: settings given with -c: the highest precedence git has, over the repository's own config
_GIT_OVERRIDES = (
    "core.fsmonitor=false",
    "core.hooksPath=/dev/null",
    "core.pager=cat",
    "diff.external=",
    "core.untrackedCache=false",
    "protocol.allow=never",
    "core.askPass=",
    "credential.helper=",
)


@dataclass(frozen=True)
class ProjectPolicy:
    """What was found: ``policy`` is None when the repository has no project policy at HEAD."""

    policy: PolicyFile | None
    source: str
    commit: str | None
    note: str


def _git_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_CONFIG_SYSTEM=os.devnull,
        GIT_TERMINAL_PROMPT="0",
        GIT_OPTIONAL_LOCKS="0",
        GIT_ATTR_NOSYSTEM="1",
        GIT_NO_REPLACE_OBJECTS="1",
        LC_ALL="C",
    )
    return env


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    cmd = ["git", "--no-pager", "--no-replace-objects"]
    for o in _GIT_OVERRIDES:
        cmd += ["-c", o]
    cmd += ["-C", str(repo), *args]
    try:
        return subprocess.run(
            cmd, capture_output=True, env=_git_env(), timeout=_TIMEOUT_S, stdin=subprocess.DEVNULL, check=False
        )
    except FileNotFoundError as exc:
        raise PolicyError(f"cannot read the project policy: git is not installed ({exc})") from exc
    except subprocess.TimeoutExpired as exc:
        raise PolicyError(f"cannot read the project policy: git did not answer in {_TIMEOUT_S} s") from exc


def read_project_policy(repo: str | os.PathLike[str]) -> ProjectPolicy:
    """The project policy committed at HEAD of the repository at ``repo``, as a tighten-only tier.

    No repository, no commit yet, or no ``.agp/policy.toml`` at HEAD: ``policy`` is None (the
    note says which). A file that is there but invalid, or does not fit in 1 MiB, is a
    PolicyError: a project that asked for stricter rules does not silently run without them.
    ``extends`` is not followed in a project policy (it would name files outside the commit).
    """
    repo = Path(repo)
    top = _git(repo, "rev-parse", "--show-toplevel")
    if top.returncode != 0:
        return ProjectPolicy(None, str(repo / PROJECT_POLICY_PATH), None, "not a git repository: no project policy")
    head = _git(repo, "rev-parse", "--verify", "--quiet", "HEAD^{commit}")
    if head.returncode != 0:
        return ProjectPolicy(None, str(repo / PROJECT_POLICY_PATH), None, "the repository has no commit yet")
    commit = head.stdout.decode().strip()
    # the path is relative to the repository's top, whatever subdirectory `repo` is
    toplevel = Path(top.stdout.decode().strip())
    source = f"{toplevel / PROJECT_POLICY_PATH}@{commit[:12]}"
    kind = _git(repo, "cat-file", "-t", f"{commit}:{PROJECT_POLICY_PATH}")
    if kind.returncode != 0:
        return ProjectPolicy(None, source, commit, f"no {PROJECT_POLICY_PATH} at HEAD")
    if kind.stdout.decode().strip() != "blob":
        raise PolicyError(f"{source}: {PROJECT_POLICY_PATH} at HEAD is not a file")
    shown = _git(repo, "show", "--no-textconv", "--no-ext-diff", f"{commit}:{PROJECT_POLICY_PATH}")
    if shown.returncode != 0:
        raise PolicyError(f"{source}: git show failed: {shown.stderr.decode(errors='replace').strip()[:300]}")
    if len(shown.stdout) > _MAX_BYTES:
        raise PolicyError(f"{source}: larger than {_MAX_BYTES} bytes")
    try:
        text = shown.stdout.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PolicyError(f"{source}: not UTF-8: {exc}") from exc
    pf = parse_policy_text(text, source=source)
    if pf.extends:
        raise PolicyError(
            f"{source}: a project policy cannot use extends (it is read from the commit alone); "
            "copy the rules in, or pass the other policy with --policy"
        )
    pf = pf.model_copy(update={"policy": pf.policy.model_copy(update={"tighten_only": True})})
    return ProjectPolicy(pf, source, commit, f"project policy from {PROJECT_POLICY_PATH} at commit {commit[:12]}")
