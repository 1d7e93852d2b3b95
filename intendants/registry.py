"""The one registry of harnesses: every place that needs a harness's name, upstream, image, launch
module, transcript locations, pin or hook check reads it here.

Standard library only: the launchers (which run on the host and in the conformance suite) and
agp both import it, and it imports nothing of either. ``agp/policy`` keeps its own copy of the
names (it imports nothing outside itself); a unit test holds the two equal.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ("HARNESSES", "NAMES", "REAL", "Harness", "get")


@dataclass(frozen=True)
class Harness:
    """One harness agp can run in the sandbox."""

    #: the name on the command line, in the journal, the policy (``harness = ...``) and images.json
    name: str
    #: the package under intendants/ holding its bridge.py and launch.py
    package: str
    #: the model provider the relay forwards to (agp.sandbox.relay.PROVIDERS); None: no model
    upstream: str | None
    #: where the harness writes its transcripts inside the sandbox (all below a state directory)
    transcripts: tuple[str, ...]
    #: the transcript file names below agp's transcript directory (a glob)
    transcript_glob: str
    #: its entry in intendants/pins.json (the validated harness version); None: agp's own agent
    pins_key: str | None
    #: the read-only admin file that installs agp's hook (managed settings, requirements); None: none
    admin_config: str | None
    #: where its bridge stub is mounted inside the sandbox
    bridge_path: str
    #: the harness may skip a hook silently: confirm from the harness itself that agp's hook is live
    #: before the task starts
    hook_check: bool = False
    #: it runs a task script (``--script``) instead of a task given to a model (``--task``)
    runs_script: bool = False

    @property
    def launch_module(self) -> str:
        """The module whose ``launch_spec(...)`` builds its LaunchSpec."""
        return f"{self.package}.launch"

    @property
    def image(self) -> str:
        """Its image's name in images.json (``agp/<name>``)."""
        return self.name


HARNESSES: dict[str, Harness] = {
    h.name: h
    for h in (
        Harness(
            name="reference",
            package="intendants.reference",
            upstream=None,
            transcripts=("/home/agent/.agp/transcript.jsonl",),
            transcript_glob="transcript.jsonl",
            pins_key=None,
            admin_config=None,
            bridge_path="/opt/agp/reference/bridge.py",
            runs_script=True,
        ),
        Harness(
            name="claude-code",
            package="intendants.claude_code",
            upstream="anthropic",
            transcripts=("/home/agent/.claude/projects",),
            transcript_glob="*.jsonl",
            pins_key="claude-code",
            admin_config="/etc/claude-code/managed-settings.json",
            bridge_path="/opt/agp/claude-code/bridge.py",
        ),
        Harness(
            name="codex",
            package="intendants.codex",
            upstream="openai",
            transcripts=("/home/agent/.codex/sessions",),
            transcript_glob="rollout-*.jsonl",
            pins_key="codex",
            admin_config="/etc/codex/requirements.toml",
            bridge_path="/opt/agp/codex/bridge.py",
            hook_check=True,
        ),
    )
}

#: every harness, agp's own reference agent first
NAMES: tuple[str, ...] = tuple(HARNESSES)
#: the real harnesses (a pinned third-party binary reached through the model relay)
REAL: tuple[str, ...] = tuple(n for n, h in HARNESSES.items() if h.pins_key is not None)


def get(name: str) -> Harness:
    """The harness called ``name``; ValueError naming the known ones otherwise."""
    try:
        return HARNESSES[name]
    except KeyError:
        raise ValueError(f"unknown harness {name!r} (one of {', '.join(NAMES)})") from None
