"""agp hook bridge core: harness PreToolUse hook -> agp gate -> the harness's hook dialect.

The harness starts a per-harness stub on every tool call,

    python3 -I -S bridge.py [--socket PATH] [--deadline SECONDS] [--session ID]

with the hook JSON on stdin; the stub (intendants/<harness>/bridge.py) names the
harness and calls :func:`main` of this module, which sits beside it in the
sandbox (with its compiled form in __pycache__, so no call pays for compiling it). It sends ONE `check` frame (4-byte big-endian
length + UTF-8 JSON) to the gate and answers:

  allow  exit 0, nothing on stdout or stderr   (only on an explicit allow
         verdict whose id matches the request)
  deny   a JSON `permissionDecision: "deny"` on stdout, a non-empty reason on
         stderr, exit 2                        (everything else: no socket,
         refused, timeout, bad frame, bad stdin, an exception anywhere)

Both Claude Code 2.1.328 and Codex 0.169.0 block on that deny (see
adr/0007-harness-versions-and-hook-contracts.md); Codex lets the tool run on
exit 2 with an empty stderr, hence the reason is always written.

Which gate: `--socket` on the command line (the hook command lives in a
read-only, host-managed configuration) wins. Without it, AGP_GATE_SOCKET is
honoured only when it names a path inside /run/agp/ (the sandbox's gate
directory), otherwise /run/agp/gate.sock is used: an agent that manages to
set the variable cannot point its own bridge at a gate of its own.

The bridge arms a SIGALRM for its whole life (`--deadline`, default 25 s),
shorter than the harness's hook timeout, so it always answers first and the
answer is a deny.

Before it reads anything, the bridge makes itself non-dumpable
(prctl(PR_SET_DUMPABLE, 0) through `_ctypes`): another process of the harness's
uid can then no longer open its /proc/<pid>/fd (its stdin, stdout, stderr) or
its memory. If that fails the call is denied: fail closed, not pretend.

Standard library only, and only C-level modules (`_json`, `_socket`,
`_signal`, `_ctypes`): `import json` and `import socket` pull in re/enum/selectors and
cost ~10 ms per call at `python3 -I -S` start-up (bench/bridge.py).
"""

import os
import sys

DEFAULT_SOCKET = "/run/agp/gate.sock"
TRUSTED_SOCKET_DIR = "/run/agp/"
DEFAULT_DEADLINE = 25.0
MAX_FRAME = 1 << 20
MAX_STDIN = 4 << 20


class _Deny(Exception):
    """A deny with a reason the model may read."""


def _unencodable(*_a):
    raise _Deny("the tool call cannot be encoded as JSON")


try:
    import _json

    _encoder = _json.make_encoder(
        None, _unencodable, _json.encode_basestring_ascii, None, ":", ",", False, False, False
    )

    class _Ctx:
        strict = True
        object_hook = None
        object_pairs_hook = None
        parse_float = float
        parse_int = int

        @staticmethod
        def parse_constant(name):
            raise ValueError("non-finite number " + name)

    _scanner = _json.make_scanner(_Ctx())  # type: ignore[arg-type]  # the C scanner reads these attributes only

    def dumps(obj):
        return "".join(_encoder(obj, 0))

    def loads(text):
        text = text.lstrip(" \t\n\r")
        obj, end = _scanner(text, 0)
        if text[end:].strip(" \t\n\r"):
            raise ValueError("trailing data after JSON value")
        return obj

except Exception:  # noqa: BLE001  # pragma: no cover - CPython always ships _json
    import json as _pyjson

    def dumps(obj):
        return _pyjson.dumps(obj, separators=(",", ":"), allow_nan=False)

    def loads(text):
        return _pyjson.loads(text)


def _write_all(fd, data):
    while data:
        n = os.write(fd, data)
        data = data[n:]


_answered = False


def deny(reason, tool=None):
    """Write the deny dialect and exit 2. Never returns."""
    global _answered  # noqa: PLW0603 - one answer per process, also from the deadline's signal handler
    if _answered:  # pragma: no cover - the deadline fired while answering
        os._exit(2)
    _answered = True
    _disarm()
    reason = " ".join(str(reason).split()) or "denied by agp"
    text = "agp gate denied this call: " + reason
    out = dumps(
        {
            "hookSpecificOutput": {
                "hookEventName": "PreToolUse",
                "permissionDecision": "deny",
                "permissionDecisionReason": text,
            }
        }
    )
    try:
        _write_all(1, (out + "\n").encode("utf-8"))
    except Exception:  # noqa: BLE001, S110 - nothing left to tell; exit 2 still denies
        pass
    try:
        _write_all(2, (text + "\n").encode("utf-8"))
    except Exception:  # noqa: BLE001, S110 - nothing left to tell; exit 2 still denies
        pass
    os._exit(2)


def allow():
    global _answered  # noqa: PLW0603 - one answer per process, also from the deadline's signal handler
    if _answered:  # pragma: no cover
        os._exit(2)
    _answered = True
    _disarm()
    os._exit(0)


# ---- the deadline -----------------------------------------------------------

try:
    import _signal
except ImportError:  # pragma: no cover
    _signal = None


def _on_deadline(signum, frame):
    deny("the gate did not answer within the bridge deadline")


def _arm(seconds):
    if _signal is None:  # pragma: no cover
        return
    _signal.signal(_signal.SIGALRM, _on_deadline)
    _signal.setitimer(_signal.ITIMER_REAL, seconds)


def _disarm():
    if _signal is not None:
        try:
            _signal.setitimer(_signal.ITIMER_REAL, 0)
        except Exception:  # noqa: BLE001, S110  # pragma: no cover - disarming is best effort
            pass


# ---- non-dumpable ----------------------------------------------------------------

PR_GET_DUMPABLE = 3
PR_SET_DUMPABLE = 4


def _prctl_fn():
    """libc's prctl through _ctypes directly (`import ctypes` costs ~4 ms more; bench/bridge.py)."""
    import _ctypes

    class _Int(_ctypes._SimpleCData):
        _type_ = "i"

    class _Fn(_ctypes.CFuncPtr):
        _flags_ = _ctypes.FUNCFLAG_CDECL | _ctypes.FUNCFLAG_USE_ERRNO
        _restype_ = _Int

    class _Libc:
        _handle = _ctypes.dlopen(None)

    return _Fn(("prctl", _Libc))


def make_undumpable():
    """prctl(PR_SET_DUMPABLE, 0) and read it back; a _Deny when either fails.

    A non-dumpable process's /proc/<pid>/fd, /proc/<pid>/mem and friends belong to root, and
    ptrace_may_access() refuses a process without CAP_SYS_PTRACE (every sandbox process): another
    process of the harness's uid can no longer open the bridge's stdin, stdout or memory. Fail
    closed: a bridge that cannot protect its own pipes does not answer allow.
    """
    try:
        prctl = _prctl_fn()
        if prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0 or prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0:
            raise OSError("prctl")
    except Exception:  # noqa: BLE001 - fail closed: any failure here is a deny
        raise _Deny("the hook bridge could not make itself non-dumpable (prctl PR_SET_DUMPABLE failed)") from None


# ---- arguments and the socket path -------------------------------------------


def parse_args(argv):
    opts = {"socket": None, "deadline": DEFAULT_DEADLINE, "session": None}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("--socket", "--deadline", "--session") and i + 1 < len(argv):
            v = argv[i + 1]
            i += 2
        elif a.startswith(("--socket=", "--deadline=", "--session=")):
            a, v = a.split("=", 1)
            i += 1
        else:
            raise _Deny("the hook bridge was started with an unknown argument")
        if a == "--deadline":
            d = float(v)
            if not (0.05 <= d <= 3600.0):
                raise _Deny("the hook bridge deadline is out of range")
            opts["deadline"] = d
        else:
            opts[a[2:]] = v
    return opts


def socket_path(pinned, environ):
    """The gate socket: the pinned path, else AGP_GATE_SOCKET if inside /run/agp/, else the default."""
    if pinned:
        return pinned
    env = environ.get("AGP_GATE_SOCKET")
    if env:
        norm = os.path.normpath(env)
        if norm.startswith(TRUSTED_SOCKET_DIR) and os.path.realpath(norm).startswith(TRUSTED_SOCKET_DIR):
            return norm
    return DEFAULT_SOCKET


# ---- hook input ----------------------------------------------------------------


def read_stdin():
    chunks = []
    total = 0
    while True:
        b = os.read(0, 65536)
        if not b:
            break
        total += len(b)
        if total > MAX_STDIN:
            raise _Deny("the hook input is larger than the bridge accepts")
        chunks.append(b)
    return b"".join(chunks)


def build_check(raw, session_override, req_id, harness):
    try:
        hook = loads(raw.decode("utf-8"))
    except Exception:  # noqa: BLE001 - fail closed: any parse failure is a deny
        raise _Deny("the hook input is not valid JSON") from None
    if not isinstance(hook, dict):
        raise _Deny("the hook input is not a JSON object")
    event = hook.get("hook_event_name")
    if event != "PreToolUse":
        raise _Deny("the hook bridge only answers PreToolUse events")
    tool = hook.get("tool_name")
    if not isinstance(tool, str) or not tool:
        raise _Deny("the hook input names no tool")
    tool_input = hook.get("tool_input")
    if tool_input is None:
        tool_input = {}
    if not isinstance(tool_input, dict):
        raise _Deny("the tool input is not a JSON object")
    cwd = hook.get("cwd")
    if not isinstance(cwd, str):
        cwd = ""
    session = session_override or hook.get("session_id")
    if not isinstance(session, str) or not session:
        raise _Deny("the hook input names no session")
    tuid = hook.get("tool_use_id")
    if not isinstance(tuid, str) or not tuid:
        tuid = None
    return {
        "v": 1,
        "type": "check",
        "id": req_id,
        "session": session,
        "harness": harness,
        "tool": tool,
        "input": tool_input,
        "cwd": cwd,
        "tool_use_id": tuid,
    }


# ---- the gate round trip ----------------------------------------------------------


def _recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(min(65536, n - len(buf)))
        if not chunk:
            raise _Deny("the gate closed the connection before answering")
        buf += chunk
    return bytes(buf)


def gate_round_trip(path, request, timeout):
    import _socket

    body = dumps(request).encode("utf-8")
    if len(body) > MAX_FRAME:
        raise _Deny("the tool call is larger than the gate accepts")
    s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        s.settimeout(timeout)
        try:
            s.connect(path)
        except OSError:
            raise _Deny("the gate is not reachable") from None
        try:
            s.sendall(len(body).to_bytes(4, "big") + body)
            head = _recv_exact(s, 4)
            n = int.from_bytes(head, "big")
            if n == 0 or n > MAX_FRAME:
                raise _Deny("the gate sent a malformed reply")
            data = _recv_exact(s, n)
        except TimeoutError:
            raise _Deny("the gate did not answer within the bridge deadline") from None
        except OSError:
            raise _Deny("the connection to the gate failed") from None
    finally:
        s.close()
    try:
        reply = loads(data.decode("utf-8"))
    except Exception:  # noqa: BLE001 - fail closed: any parse failure is a deny
        raise _Deny("the gate sent a malformed reply") from None
    return reply


def judge(reply, req_id):
    """True only for an explicit allow verdict for this request; raises _Deny otherwise."""
    if not isinstance(reply, dict) or reply.get("type") != "verdict" or reply.get("v") != 1:
        raise _Deny("the gate sent a malformed reply")
    if reply.get("id") != req_id:
        raise _Deny("the gate answered a different request")
    decision = reply.get("decision")
    if decision == "allow":
        return True
    reason = reply.get("reason")
    rule = reply.get("rule")
    if not isinstance(reason, str) or not reason.strip():
        reason = "no reason given"
    if isinstance(rule, str) and rule:
        reason = reason + " (rule: " + rule + ")"
    if decision == "deny":
        raise _Deny(reason)
    raise _Deny("the gate sent an unknown decision")


def main(harness, argv=None, environ=None):
    try:
        make_undumpable()  # first: before anything is read, no other process may open our fds
        argv = sys.argv[1:] if argv is None else argv
        environ = os.environ if environ is None else environ
        opts = parse_args(argv)
        _arm(opts["deadline"])
        req_id = "b-" + os.urandom(12).hex()
        request = build_check(read_stdin(), opts["session"], req_id, harness)
        reply = gate_round_trip(socket_path(opts["socket"], environ), request, opts["deadline"])
        if judge(reply, req_id):
            allow()
        deny("the gate did not allow this call")
    except _Deny as d:
        deny(str(d))
    except BaseException:  # noqa: BLE001 - fail closed: anything else is a deny
        deny("the hook bridge failed")
