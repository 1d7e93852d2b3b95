"""Parsers for the harnesses' own transcripts: the tool calls each harness says it made.

The evidence bundle checks these against the journal (see :mod:`agp.evidence.reconcile`).
Three formats, as ``agp run`` copies them into ``<run>/transcript/``:

``claude-code``
    Claude Code's session file(s) ``<session-id>.jsonl`` (and any sub-agent files under
    ``subagents/``). One JSON object a line; ``type`` is ``user``, ``assistant``,
    ``system``, ``summary``, ``file-history-snapshot``, ... An assistant line carries
    ``message.content`` blocks, among them ``{"type": "tool_use", "id": "toolu_…",
    "name": "Bash", "input": {...}}``. Claude Code writes one line per content block, so
    the same ``message.id`` may appear on several lines. The result comes back in a user
    line as a ``{"type": "tool_result", "tool_use_id": "toolu_…", "content": str | [blocks],
    "is_error": bool}`` block (a blocked call has ``is_error: true`` and a
    ``PreToolUse:<Tool> hook error: …`` text).

``codex``
    Codex's rollout file(s) ``rollout-*.jsonl``: ``{"timestamp", "type", "payload"}`` a line,
    ``type`` one of ``session_meta``, ``turn_context``, ``response_item``, ``event_msg``,
    ``compacted``. Tool calls are ``response_item`` payloads of type ``function_call``
    (``name``, ``arguments`` as a JSON *string*, ``call_id``), ``custom_tool_call``
    (``name``, ``input`` string, ``call_id``) and ``local_shell_call`` (``call_id``,
    ``action``); results are ``function_call_output`` / ``custom_tool_call_output``
    (``call_id``, ``output``). A call the PreToolUse hook blocked gets the output
    ``Command blocked by PreToolUse hook: …``. ``event_msg`` lines repeat some calls
    (``exec_command_begin``); they are not counted twice.

``reference``
    agp's reference intendant: ``transcript.jsonl``, one line per call:
    ``{tool_use_id, tool, input, decision, outcome, exit_code}``.

Parsers never raise on odd lines: a line that is not JSON, or a tool call without an id,
becomes a :class:`TranscriptProblem` the reconciliation reports (an unreadable transcript
cannot prove anything, so problems fail the bundle).
"""

from __future__ import annotations

import fnmatch
import functools
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any

from intendants import registry

__all__ = (
    "HARNESSES",
    "Transcript",
    "TranscriptCall",
    "TranscriptFile",
    "TranscriptProblem",
    "load_transcript",
    "load_transcript_from",
    "parse_claude_code",
    "parse_codex",
    "parse_reference",
    "transcript_files",
)

HARNESSES = tuple(sorted(registry.NAMES))
_TEXT_CAP = 500


@dataclass
class TranscriptCall:
    """One tool call as the harness recorded it."""

    tool_use_id: str
    tool: str
    input: Any
    source: str  # "<file>:<line>" of the call
    ts: str | None = None
    #: the harness's record of the result: None when it recorded none (e.g. killed mid-call)
    result: dict[str, Any] | None = None
    #: what the harness itself says about the gate, when it says something (reference only)
    claimed_decision: str | None = None

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "tool_use_id": self.tool_use_id,
            "tool": self.tool,
            "input": self.input,
            "source": self.source,
            "ts": self.ts,
            "result": self.result,
            "claimed_decision": self.claimed_decision,
        }


@dataclass(frozen=True)
class TranscriptProblem:
    source: str
    reason: str

    def to_json_dict(self) -> dict[str, str]:
        return {"source": self.source, "reason": self.reason}


@dataclass
class Transcript:
    harness: str
    files: list[str] = field(default_factory=list)
    calls: list[TranscriptCall] = field(default_factory=list)
    problems: list[TranscriptProblem] = field(default_factory=list)
    #: harness-reported metadata (session ids, cli version) where the format has it
    meta: dict[str, Any] = field(default_factory=dict)


def _text_of(content: Any) -> str:
    """Flatten a tool_result / output content (str, list of blocks, dict) to text."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for block in content:
            if isinstance(block, dict):
                if isinstance(block.get("text"), str):
                    parts.append(block["text"])
                elif block.get("type") in ("image", "input_image"):
                    parts.append("[image]")
                else:
                    parts.append(json.dumps(block, sort_keys=True)[:200])
            else:
                parts.append(str(block))
        return "\n".join(parts)
    if isinstance(content, dict):
        for key in ("content", "output", "text"):
            if isinstance(content.get(key), str):
                return content[key]
        return json.dumps(content, sort_keys=True)
    return str(content)


def _cap(text: str) -> str:
    return text if len(text) <= _TEXT_CAP else text[:_TEXT_CAP] + f"… [{len(text) - _TEXT_CAP} more characters]"


def _lines(path: TranscriptFile, rel: str, problems: list[TranscriptProblem]) -> Iterator[tuple[str, dict[str, Any]]]:
    try:
        f = path.open()
    except OSError as exc:
        problems.append(TranscriptProblem(rel, f"cannot read: {exc.strerror}"))
        return
    with f:
        for n, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            src = f"{rel}:{n}"
            try:
                obj = json.loads(raw)
            except (ValueError, RecursionError) as exc:
                problems.append(TranscriptProblem(src, f"not JSON: {exc}"))
                continue
            if not isinstance(obj, dict):
                problems.append(TranscriptProblem(src, "line is not a JSON object"))
                continue
            yield src, obj


class _Calls:
    """Calls in first-seen order, deduplicated by id (a repeated identical call is one call)."""

    def __init__(self, problems: list[TranscriptProblem]) -> None:
        self.by_id: dict[str, TranscriptCall] = {}
        self.problems = problems
        self.results: dict[str, tuple[str, dict[str, Any]]] = {}

    def add(self, call: TranscriptCall) -> None:
        if not call.tool_use_id:
            self.problems.append(
                TranscriptProblem(
                    call.source, f"a {call.tool or 'tool'} call without an id: it cannot be matched to a gate decision"
                )
            )
            return
        seen = self.by_id.get(call.tool_use_id)
        if seen is None:
            self.by_id[call.tool_use_id] = call
        elif seen.tool != call.tool or seen.input != call.input:
            self.problems.append(
                TranscriptProblem(
                    call.source, f"tool call id {call.tool_use_id} reused for a different call (first at {seen.source})"
                )
            )

    def result(self, call_id: Any, src: str, result: dict[str, Any]) -> None:
        if isinstance(call_id, str) and call_id:
            self.results.setdefault(call_id, (src, result))

    def finish(self) -> list[TranscriptCall]:
        for cid, (src, res) in self.results.items():
            call = self.by_id.get(cid)
            if call is not None:
                call.result = dict(res, source=src)
        return list(self.by_id.values())


@dataclass(frozen=True)
class TranscriptFile:
    """One transcript file: its path relative to the transcript directory, and how to open it."""

    rel: str
    open: Callable[[], IO[bytes]]


def _opener(path: Path) -> Callable[[], IO[bytes]]:
    return lambda: path.open("rb")


def _pattern(harness: str) -> str:
    if harness not in registry.HARNESSES:
        raise ValueError(f"unknown harness {harness!r}")
    return registry.HARNESSES[harness].transcript_glob


def transcript_files(directory: Path, harness: str) -> list[Path]:
    """The transcript files of ``harness`` under ``directory`` (recursively), sorted."""
    pattern = _pattern(harness)
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.rglob(pattern) if p.is_file())


def parse_claude_code(files: list[TranscriptFile]) -> Transcript:
    t = Transcript("claude-code", files=[p.rel for p in files])
    calls = _Calls(t.problems)
    sessions: set[str] = set()
    versions: set[str] = set()
    for path in files:
        rel = path.rel
        for src, obj in _lines(path, rel, t.problems):
            if isinstance(obj.get("sessionId"), str):
                sessions.add(obj["sessionId"])
            if isinstance(obj.get("version"), str):
                versions.add(obj["version"])
            msg = obj.get("message")
            if not isinstance(msg, dict):
                continue
            content = msg.get("content")
            if not isinstance(content, list):
                continue
            kind = obj.get("type")
            for block in content:
                if not isinstance(block, dict):
                    continue
                btype = block.get("type")
                if kind == "assistant" and btype in ("tool_use", "server_tool_use"):
                    calls.add(
                        TranscriptCall(
                            tool_use_id=unverified_id if isinstance(unverified_id := block.get("id"), str) else "",
                            tool=str(block.get("name") or ""),
                            input=block.get("input"),
                            source=src,
                            ts=obj.get("timestamp") if isinstance(obj.get("timestamp"), str) else None,
                        )
                    )
                elif kind == "user" and btype == "tool_result":
                    calls.result(
                        block.get("tool_use_id"),
                        src,
                        {
                            "is_error": block.get("is_error") is True,
                            "text": _cap(_text_of(block.get("content"))),
                        },
                    )
    t.calls = calls.finish()
    t.meta = {"sessions": sorted(sessions), "versions": sorted(versions)}
    return t


def _codex_input(payload: dict[str, Any]) -> Any:
    ptype = payload.get("type")
    if ptype == "function_call":
        args = payload.get("arguments")
        if isinstance(args, str):
            try:
                return json.loads(args)
            except (ValueError, RecursionError):
                return args
        return args
    if ptype == "custom_tool_call":
        return payload.get("input")
    if ptype in ("local_shell_call", "web_search_call"):
        return payload.get("action")
    return payload.get("arguments", payload.get("input"))


_CODEX_CALLS = ("function_call", "custom_tool_call", "local_shell_call", "tool_search_call", "web_search_call")
_CODEX_OUTPUTS = ("function_call_output", "custom_tool_call_output", "tool_search_output")


def parse_codex(files: list[TranscriptFile]) -> Transcript:
    t = Transcript("codex", files=[p.rel for p in files])
    calls = _Calls(t.problems)
    sessions: list[str] = []
    versions: set[str] = set()
    for path in files:
        rel = path.rel
        for src, obj in _lines(path, rel, t.problems):
            payload = obj.get("payload")
            if not isinstance(payload, dict):
                continue
            if obj.get("type") == "session_meta":
                if isinstance(payload.get("id"), str):
                    sessions.append(payload["id"])
                if isinstance(payload.get("cli_version"), str):
                    versions.add(payload["cli_version"])
                continue
            if obj.get("type") != "response_item":
                continue
            ptype = payload.get("type")
            if ptype in _CODEX_CALLS:
                cid = payload.get("call_id")
                name = payload.get("name")
                if ptype == "local_shell_call":
                    name = name or "local_shell"
                elif ptype == "web_search_call":
                    # run by the model provider, never by a local tool: no call_id, no hook
                    cid, name = payload.get("id"), "web_search"
                if isinstance(payload.get("namespace"), str) and name:
                    name = f"{payload['namespace']}.{name}"
                calls.add(
                    TranscriptCall(
                        tool_use_id=cid if isinstance(cid, str) else "",
                        tool=str(name or ptype),
                        input=_codex_input(payload),
                        source=src,
                        ts=obj.get("timestamp") if isinstance(obj.get("timestamp"), str) else None,
                    )
                )
            elif ptype in _CODEX_OUTPUTS:
                out = payload.get("output")
                success = out.get("success") if isinstance(out, dict) else None
                calls.result(
                    payload.get("call_id"),
                    src,
                    {
                        "is_error": success is False,
                        "text": _cap(_text_of(out)),
                    },
                )
    t.calls = calls.finish()
    t.meta = {"sessions": sessions, "versions": sorted(versions)}
    return t


def parse_reference(files: list[TranscriptFile]) -> Transcript:
    t = Transcript("reference", files=[p.rel for p in files])
    calls = _Calls(t.problems)
    for path in files:
        rel = path.rel
        for src, obj in _lines(path, rel, t.problems):
            cid = obj.get("tool_use_id")
            decision = obj.get("decision")
            call = TranscriptCall(
                tool_use_id=cid if isinstance(cid, str) else "",
                tool=str(obj.get("tool") or ""),
                input=obj.get("input"),
                source=src,
                ts=obj.get("ts") if isinstance(obj.get("ts"), str) else None,
                claimed_decision=decision if isinstance(decision, str) else None,
            )
            calls.add(call)
            if "outcome" in obj or "exit_code" in obj:
                outcome = obj.get("outcome")
                calls.result(
                    cid,
                    src,
                    {
                        "is_error": outcome not in ("ran", "ok", "success", None)
                        or obj.get("exit_code") not in (0, None),
                        "outcome": outcome,
                        "exit_code": obj.get("exit_code"),
                        "text": "",
                    },
                )
    t.calls = calls.finish()
    return t


_PARSERS = {"claude-code": parse_claude_code, "codex": parse_codex, "reference": parse_reference}


def load_transcript(directory: str | Path, harness: str) -> Transcript:
    """Parse every transcript file of ``harness`` under ``directory``.

    No directory or no file gives a transcript with no files; the reconciliation decides
    what that means (it fails: without the harness's record nothing can be reconciled).
    """
    if harness not in _PARSERS:
        raise ValueError(f"unknown harness {harness!r} (known: {', '.join(HARNESSES)})")
    root = Path(directory)
    files = [TranscriptFile(str(p.relative_to(root)), _opener(p)) for p in transcript_files(root, harness)]
    return _PARSERS[harness](files)


def load_transcript_from(
    names: Iterable[str], opener: Callable[[str], IO[bytes]], harness: str, under: str = "transcript/"
) -> Transcript:
    """Like :func:`load_transcript`, for files given by name (a bundle inside an archive):
    ``names`` are every file's posix path, ``opener(name)`` streams one."""
    if harness not in _PARSERS:
        raise ValueError(f"unknown harness {harness!r} (known: {', '.join(HARNESSES)})")
    pattern = _pattern(harness)
    picked = sorted(
        (n for n in names if n.startswith(under) and fnmatch.fnmatchcase(PurePosixPath(n).name, pattern)),
        key=PurePosixPath,
    )  # the order load_transcript gives (Path order)
    return _PARSERS[harness]([TranscriptFile(n[len(under) :], functools.partial(opener, n)) for n in picked])
