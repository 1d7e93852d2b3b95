"""Every git command agp runs on the host, in an environment agp controls.

No system configuration (``GIT_CONFIG_NOSYSTEM``), no user's global one (``GIT_CONFIG_GLOBAL`` is a
file of agp's holding the settings below, ``HOME`` a directory of agp's), no hooks (``core.hooksPath=/dev/null``), no
fsmonitor, no external diff or textconv, no prompt, no pager, no replace objects, no
lazy fetch, and no inherited ``GIT_*`` variable. The clone the agent worked in is never
given to git: results are computed in agp's own git directory (see ``result.py``).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from agp.errors import AgpError

__all__ = ("Git", "WorkspaceError")


class WorkspaceError(AgpError):
    """The workspace could not be cloned, its result computed or landed."""


#: settings given on every command line (they win over any repository configuration)
SAFE_CONFIG: tuple[str, ...] = (
    "core.hooksPath=/dev/null",
    "core.fsmonitor=false",
    "core.untrackedCache=false",
    "core.sshCommand=false",
    "core.pager=cat",
    "core.askPass=",
    "diff.external=",
    "diff.noprefix=false",
    "diff.mnemonicPrefix=false",
    "diff.relative=false",
    "protocol.allow=never",
    "protocol.file.allow=always",
    "safe.directory=*",
    "gc.auto=0",
    "maintenance.auto=false",
    "commit.gpgSign=false",
    "tag.gpgSign=false",
    "submodule.recurse=false",
    "fetch.recurseSubmodules=false",
    "advice.detachedHead=false",
    "init.defaultBranch=main",
    "transfer.fsckObjects=false",
)


class Git:
    """Runs git with agp's environment. ``home`` is an empty directory agp owns."""

    def __init__(self, home: Path, *, binary: str = "git") -> None:
        self.home = Path(home)
        self.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.binary = binary
        # the same settings as a "global" file of agp's: git clears -c settings (GIT_CONFIG_PARAMETERS) for
        # the process serving a local clone or fetch, and that process must get them too
        self.config = self.home / "gitconfig"
        lines = []
        for c in SAFE_CONFIG:
            key, _, value = c.partition("=")
            section, _, name = key.rpartition(".")
            lines.append(f'[{section}]\n\t{name} = "{value}"\n')
        self.config.write_text("".join(lines))

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.home),
            "XDG_CONFIG_HOME": str(self.home / ".config"),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": str(self.config),
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_ASKPASS": "",
            "SSH_ASKPASS": "",
            "GIT_PAGER": "cat",
            "GIT_NO_REPLACE_OBJECTS": "1",
            "GIT_NO_LAZY_FETCH": "1",
            "GIT_OPTIONAL_LOCKS": "0",
            "GIT_ATTR_NOSYSTEM": "1",
            "GIT_PROTOCOL_FROM_USER": "0",
            "LC_ALL": "C",
            "TZ": "UTC",
        }
        if extra:
            env.update(extra)
        return env

    def argv(self, args: Sequence[str]) -> list[str]:
        out = [self.binary]
        for c in SAFE_CONFIG:
            out += ["-c", c]
        return out + list(args)

    def run(
        self,
        args: Sequence[str],
        *,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        input: bytes | None = None,
        check: bool = True,
        timeout: float = 600,
    ) -> subprocess.CompletedProcess:
        try:
            p = subprocess.run(
                self.argv(args),
                cwd=str(cwd) if cwd else str(self.home),
                env=self.env(env),
                input=input,
                capture_output=True,
                timeout=timeout,
                check=False,
                stdin=None if input is not None else subprocess.DEVNULL,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise WorkspaceError(f"git {args[0]} could not run: {exc}") from exc
        if check and p.returncode != 0:
            msg = p.stderr.decode("utf-8", "replace").strip()[-2000:]
            raise WorkspaceError(f"git {' '.join(args[:2])} failed (status {p.returncode}): {msg}")
        return p

    def out(self, args: Sequence[str], **kw) -> str:
        return self.run(args, **kw).stdout.decode("utf-8", "surrogateescape").strip()
