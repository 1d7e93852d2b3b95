"""A tiny MCP server (stdio, newline-delimited JSON-RPC 2.0) for the conformance suite.

Two tools, `touch_marker(path, text)` and `forbidden_marker(path, text)`, write
`text` to `path`: a gated MCP call that was denied leaves no file behind (the
conformance policy allows the first and denies the second). Standard library only; started by the
harness as `python3 tests/support/mcp_marker.py`.
"""

import json
import sys

__all__: list[str] = []

TOOL = {
    "name": "touch_marker",
    "description": "Write text to a file (agp conformance marker).",
    "inputSchema": {
        "type": "object",
        "properties": {"path": {"type": "string"}, "text": {"type": "string"}},
        "required": ["path", "text"],
    },
}


TOOLS = [TOOL, dict(TOOL, name="forbidden_marker", description="Write text to a file (denied by the conformance policy).")]


def _reply(msg_id, result=None, error=None):
    out = {"jsonrpc": "2.0", "id": msg_id}
    if error is not None:
        out["error"] = error
    else:
        out["result"] = result
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()


def main() -> None:
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        method, mid = msg.get("method"), msg.get("id")
        if mid is None:
            continue  # notifications
        if method == "initialize":
            ver = (msg.get("params") or {}).get("protocolVersion") or "2025-06-18"
            _reply(mid, {"protocolVersion": ver, "capabilities": {"tools": {}}, "serverInfo": {"name": "agpmarker", "version": "1.0"}})
        elif method == "tools/list":
            _reply(mid, {"tools": TOOLS})
        elif method == "tools/call":
            args = (msg.get("params") or {}).get("arguments") or {}
            try:
                with open(args["path"], "w") as f:
                    f.write(str(args.get("text", "")))
                _reply(mid, {"content": [{"type": "text", "text": "marker written"}], "isError": False})
            except Exception as exc:  # report, do not crash the server
                _reply(mid, {"content": [{"type": "text", "text": f"failed: {exc}"}], "isError": True})
        elif method == "ping":
            _reply(mid, {})
        else:
            _reply(mid, error={"code": -32601, "message": f"no method {method}"})


if __name__ == "__main__":
    main()
