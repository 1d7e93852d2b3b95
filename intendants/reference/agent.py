"""agp reference intendant: a deterministic agent that replays a task script through the gate.

    python3 -I -S agent.py --script task.json --workspace /workspace \
        --transcript /home/agent/.agp/transcript.jsonl [--bridge bridge.py] \
        [--socket /run/agp/gate.sock] [--session ID] [--deadline 25] [--python /usr/bin/python3]

The task script is a JSON list of tool calls, each ``{"tool": T, "input": {...}}``
with T one of ``Bash`` (``command``), ``Write`` (``file_path``, ``content``) or
``Read`` (``file_path``); other keys (``expect``, comments) are ignored. For each
call, in order, the agent does what a harness does: it runs the hook bridge
beside it (``python3 -I -S bridge.py``, the same program and the same `check`
frame the Claude Code and Codex hooks use) with the PreToolUse hook JSON on
stdin, and

- on exit 0 (the gate's explicit allow) executes the call itself: the shell
  command with ``/bin/sh -c`` in the workspace, the file write, the file read;
- on anything else records a deny, with the reason the bridge gave, and moves on.

It appends one transcript line per call, flushed and fsynced before the next call:
``{tool_use_id, tool, input, decision, outcome, exit_code, reason}`` with
``tool_use_id`` ``ref-0001``…, ``decision`` allow|deny, ``outcome`` ran|blocked|error
(error: an allowed call the agent could not carry out, e.g. an unknown tool),
``exit_code`` the command's status (0/1 for file tools, null when blocked).
The transcript is what agp's evidence reconciliation compares with the journal.

Exit status: 0 when every call was processed (denies included), 2 on a bad
script or an unwritable transcript. Standard library only.
"""

import json
import os
import subprocess
import sys

__all__ = ["main", "run_script"]

HERE = os.path.dirname(os.path.abspath(__file__))
TOOLS = ("Bash", "Write", "Read")
OUTPUT_LIMIT = 64 * 1024
COMMAND_TIMEOUT = 120


def _resolve(workspace, path):
    return path if os.path.isabs(path) else os.path.join(workspace, path)


def ask_gate(bridge_argv, hook, timeout):
    """Run the bridge with the hook JSON; returns (allowed, reason)."""
    try:
        proc = subprocess.run(
            bridge_argv,
            input=json.dumps(hook).encode("utf-8"),
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return False, "the hook bridge did not answer in time"
    except OSError as exc:
        return False, f"the hook bridge could not be started ({exc.strerror})"
    if proc.returncode == 0 and not proc.stdout.strip():
        return True, ""
    reason = proc.stderr.decode("utf-8", "replace").strip() or f"the hook bridge exited with status {proc.returncode}"
    return False, reason


def execute(tool, tool_input, workspace):
    """Carry out an allowed call; returns (outcome, exit_code, output)."""
    if tool == "Bash":
        cmd = tool_input.get("command")
        if not isinstance(cmd, str):
            return "error", None, "Bash needs a string command"
        try:
            p = subprocess.run(
                ["/bin/sh", "-c", cmd],
                cwd=workspace,
                capture_output=True,
                timeout=COMMAND_TIMEOUT,
                stdin=subprocess.DEVNULL,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return "ran", 124, "command timed out"
        out = (p.stdout + p.stderr)[:OUTPUT_LIMIT].decode("utf-8", "replace")
        return "ran", p.returncode, out
    if tool == "Write":
        path, content = tool_input.get("file_path"), tool_input.get("content", "")
        if not isinstance(path, str) or not isinstance(content, str):
            return "error", None, "Write needs file_path and content strings"
        try:
            with open(_resolve(workspace, path), "w", encoding="utf-8") as f:
                f.write(content)
            return "ran", 0, ""
        except OSError as exc:
            return "ran", 1, exc.strerror or str(exc)
    if tool == "Read":
        path = tool_input.get("file_path")
        if not isinstance(path, str):
            return "error", None, "Read needs a file_path string"
        try:
            with open(_resolve(workspace, path), "rb") as f:
                return "ran", 0, f.read(OUTPUT_LIMIT).decode("utf-8", "replace")
        except OSError as exc:
            return "ran", 1, exc.strerror or str(exc)
    return "error", None, f"the reference agent has no tool {tool!r}"


def load_script(path):
    with open(path, "rb") as f:
        script = json.loads(f.read().decode("utf-8"))
    if not isinstance(script, list):
        raise ValueError("the task script must be a JSON list of tool calls")
    for i, call in enumerate(script, 1):
        if (
            not isinstance(call, dict)
            or not isinstance(call.get("tool"), str)
            or not isinstance(call.get("input"), dict)
        ):
            raise ValueError(f"call {i} of the task script needs a string 'tool' and an object 'input'")
    return script


def run_script(script, *, workspace, transcript, bridge_argv, session, gate_timeout):
    """Replay the script; returns the list of transcript records."""
    records = []
    fd = os.open(transcript, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        for i, call in enumerate(script, 1):
            tool, tool_input = call["tool"], call["input"]
            tuid = f"ref-{i:04d}"
            hook = {
                "session_id": session,
                "cwd": workspace,
                "hook_event_name": "PreToolUse",
                "tool_name": tool,
                "tool_input": tool_input,
                "tool_use_id": tuid,
            }
            allowed, reason = ask_gate(bridge_argv, hook, gate_timeout)
            if allowed:
                outcome, code, output = execute(tool, tool_input, workspace)
                rec = {
                    "tool_use_id": tuid,
                    "tool": tool,
                    "input": tool_input,
                    "decision": "allow",
                    "outcome": outcome,
                    "exit_code": code,
                    "output": output[:4096],
                }
            else:
                rec = {
                    "tool_use_id": tuid,
                    "tool": tool,
                    "input": tool_input,
                    "decision": "deny",
                    "outcome": "blocked",
                    "exit_code": None,
                    "reason": reason,
                }
            line = (json.dumps(rec, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
            os.write(fd, line)
            os.fsync(fd)
            records.append(rec)
            mark = "allow" if allowed else "deny "
            sys.stdout.write(f"{tuid} {mark} {tool} {json.dumps(tool_input)[:120]}\n")
            sys.stdout.flush()
    finally:
        os.close(fd)
    return records


def _parse(argv):
    opts = {
        "script": None,
        "workspace": None,
        "transcript": None,
        "bridge": os.path.join(HERE, "bridge.py"),
        "socket": None,
        "session": None,
        "deadline": "25",
        "python": "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable,
    }
    i = 0
    while i < len(argv):
        key = argv[i][2:] if argv[i].startswith("--") else None
        if key not in opts or i + 1 >= len(argv):
            raise ValueError(f"unknown or incomplete argument {argv[i]!r}")
        opts[key] = argv[i + 1]
        i += 2
    for need in ("script", "workspace", "transcript"):
        if not opts[need]:
            raise ValueError(f"--{need} is required")
    return opts


def main(argv=None):
    try:
        opts = _parse(sys.argv[1:] if argv is None else argv)
        script = load_script(opts["script"])
        deadline = float(opts["deadline"])
    except (ValueError, OSError) as exc:
        sys.stderr.write(f"agp reference agent: {exc}\n")
        return 2
    bridge_argv = [opts["python"], "-I", "-S", opts["bridge"], "--deadline", opts["deadline"]]
    if opts["socket"]:
        bridge_argv += ["--socket", opts["socket"]]
    session = opts["session"] or "reference"
    if opts["session"]:
        bridge_argv += ["--session", opts["session"]]
    try:
        os.makedirs(os.path.dirname(os.path.abspath(opts["transcript"])), exist_ok=True)
        records = run_script(
            script,
            workspace=opts["workspace"],
            transcript=opts["transcript"],
            bridge_argv=bridge_argv,
            session=session,
            gate_timeout=deadline + 5,
        )
    except OSError as exc:
        sys.stderr.write(f"agp reference agent: cannot write the transcript: {exc}\n")
        return 2
    allowed = sum(1 for r in records if r["decision"] == "allow")
    sys.stdout.write(f"agp reference agent: {len(records)} calls, {allowed} allowed, {len(records) - allowed} denied\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
