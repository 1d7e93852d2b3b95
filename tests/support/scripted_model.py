"""Scripted model servers on 127.0.0.1 for driving the real harness binaries offline.

Two dialects, one script format:

- ``anthropic``: the Anthropic Messages API (``POST /v1/messages``, streaming SSE
  and plain JSON), for Claude Code via ``ANTHROPIC_BASE_URL``.
- ``responses``: the OpenAI Responses API (``POST /v1/responses``, streaming SSE),
  for Codex via a custom ``model_providers`` entry.

A script maps a conversation tag to a list of steps. The harness is started
with a prompt that contains ``AGP-SCRIPT:<tag>``; a subagent's prompt carries its
own tag. Each model request that offers tools is matched to its conversation
by the tag in its first user message, and answered with step N where N is the
number of tool results already in the request (every step makes at most one
tool call, so N counts the steps completed). A step is either
``{"tool": NAME, "input": {...}, "id": ID}`` (one tool call; ``"input_fn":
f(results)`` instead of ``input`` computes it when served; for the
Responses API optionally ``"namespace"`` for a namespaced tool such as an MCP
server's, or ``"custom": True`` for a freeform tool) or ``{"text": "..."}``
(the final answer). Requests that offer no tools (titles, summaries, probes)
get a short text answer.

Every tool result the harness sends back is captured in ``results`` keyed by
the tool call id, so a test can assert what the model was told (for example the
gate's deny reason). The server binds 127.0.0.1 only.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["ScriptedModel", "ToolResult", "TAG_RE"]

TAG_RE = re.compile(r"AGP-SCRIPT:([A-Za-z0-9_.-]+)")


@dataclass
class ToolResult:
    tool_use_id: str
    text: str
    is_error: bool
    conversation: str


@dataclass
class _State:
    results: dict[str, ToolResult] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    served: list[tuple[str, int, str]] = field(default_factory=list)  # (conversation, step, tool id or "text")
    tool_names: dict[str, list[str]] = field(default_factory=dict)


def _flatten_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for c in content:
            if isinstance(c, dict):
                if "text" in c and isinstance(c["text"], str):
                    parts.append(c["text"])
                elif "content" in c:
                    parts.append(_flatten_text(c["content"]))
                elif "output" in c:
                    parts.append(_flatten_text(c["output"]))
            elif isinstance(c, str):
                parts.append(c)
        return "\n".join(parts)
    if isinstance(content, dict):
        return _flatten_text(content.get("content") or content.get("text") or "")
    return "" if content is None else str(content)


class ScriptedModel:
    """A scripted model server. Use as a context manager or call start()/stop()."""

    def __init__(self, dialect: str, script: dict[str, list[dict[str, Any]]], *, model: str = "agp-scripted"):
        if dialect not in ("anthropic", "responses"):
            raise ValueError(f"unknown dialect {dialect!r}")
        self.dialect = dialect
        self.script = script
        self.model = model
        self.state = _State()
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._seq = 0
        #: called as on_step(conversation, index) just before a step is served (e.g. to stop the gate)
        self.on_step: Any = None

    # ---- lifecycle ----
    def start(self) -> "ScriptedModel":
        handler = self._make_handler()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="scripted-model", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> "ScriptedModel":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        """Claude Code: ANTHROPIC_BASE_URL. Codex: the provider base_url (with /v1)."""
        return f"http://127.0.0.1:{self.port}" + ("/v1" if self.dialect == "responses" else "")

    @property
    def results(self) -> dict[str, ToolResult]:
        with self._lock:
            return dict(self.state.results)

    @property
    def served(self) -> list[tuple[str, int, str]]:
        with self._lock:
            return list(self.state.served)

    @property
    def requests(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.state.requests)

    def tool_names(self, conversation: str) -> list[str]:
        with self._lock:
            return list(self.state.tool_names.get(conversation, []))

    # ---- decision logic (dialect independent) ----
    def _next_step(self, conversation: str, done: int) -> dict[str, Any]:
        steps = self.script.get(conversation, [])
        step = steps[done] if done < len(steps) else {"text": f"AGP-SCRIPT-END:{conversation}"}
        if "input_fn" in step:  # an input that depends on an earlier result (e.g. a subagent's id)
            step = {k: v for k, v in step.items() if k != "input_fn"} | {"input": step["input_fn"](self.results)}
        if self.on_step is not None:
            self.on_step(conversation, done)
        return step

    def _nid(self, prefix: str) -> str:
        with self._lock:
            self._seq += 1
            return f"{prefix}{self._seq:04d}"

    # ---- anthropic ----
    def _anthropic(self, body: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
        """Returns (content blocks, stop_reason)."""
        messages = body.get("messages") or []
        tools = body.get("tools") or []
        first_user = ""
        done = 0
        for m in messages:
            if m.get("role") != "user":
                continue
            content = m.get("content")
            if not first_user:
                first_user = _flatten_text(content)
            if isinstance(content, list):
                for block in content:
                    if isinstance(block, dict) and block.get("type") == "tool_result":
                        done += 1
        tag = TAG_RE.search(first_user)
        if not tools or tag is None:
            return [{"type": "text", "text": "ok"}], "end_turn"
        conv = tag.group(1)
        with self._lock:
            self.state.tool_names.setdefault(conv, [t.get("name", "") for t in tools if isinstance(t, dict)])
            for m in messages:
                if m.get("role") == "user" and isinstance(m.get("content"), list):
                    for block in m["content"]:
                        if isinstance(block, dict) and block.get("type") == "tool_result":
                            tid = block.get("tool_use_id", "")
                            self.state.results.setdefault(
                                tid,
                                ToolResult(tid, _flatten_text(block.get("content")), bool(block.get("is_error")), conv),
                            )
        step = self._next_step(conv, done)
        with self._lock:
            self.state.served.append((conv, done, step.get("id", "text") if "tool" in step else "text"))
        if "tool" in step:
            return [{"type": "tool_use", "id": step["id"], "name": step["tool"], "input": step["input"]}], "tool_use"
        return [{"type": "text", "text": step["text"]}], "end_turn"

    def _anthropic_sse(self, blocks: list[dict[str, Any]], stop: str) -> bytes:
        mid = self._nid("msg_agp")
        ev: list[tuple[str, dict[str, Any]]] = [
            (
                "message_start",
                {
                    "type": "message_start",
                    "message": {
                        "id": mid,
                        "type": "message",
                        "role": "assistant",
                        "model": self.model,
                        "content": [],
                        "stop_reason": None,
                        "stop_sequence": None,
                        "usage": {"input_tokens": 10, "output_tokens": 1},
                    },
                },
            )
        ]
        for i, b in enumerate(blocks):
            if b["type"] == "text":
                ev.append(("content_block_start", {"type": "content_block_start", "index": i, "content_block": {"type": "text", "text": ""}}))
                ev.append(("content_block_delta", {"type": "content_block_delta", "index": i, "delta": {"type": "text_delta", "text": b["text"]}}))
            else:
                ev.append(
                    (
                        "content_block_start",
                        {"type": "content_block_start", "index": i, "content_block": {"type": "tool_use", "id": b["id"], "name": b["name"], "input": {}}},
                    )
                )
                ev.append(
                    (
                        "content_block_delta",
                        {"type": "content_block_delta", "index": i, "delta": {"type": "input_json_delta", "partial_json": json.dumps(b["input"])}},
                    )
                )
            ev.append(("content_block_stop", {"type": "content_block_stop", "index": i}))
        ev.append(("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None}, "usage": {"output_tokens": 5}}))
        ev.append(("message_stop", {"type": "message_stop"}))
        return b"".join(f"event: {n}\ndata: {json.dumps(d)}\n\n".encode() for n, d in ev)

    def _anthropic_json(self, blocks: list[dict[str, Any]], stop: str) -> bytes:
        return json.dumps(
            {
                "id": self._nid("msg_agp"),
                "type": "message",
                "role": "assistant",
                "model": self.model,
                "content": blocks,
                "stop_reason": stop,
                "stop_sequence": None,
                "usage": {"input_tokens": 10, "output_tokens": 5},
            }
        ).encode()

    # ---- responses ----
    def _responses(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        items = body.get("input") or []
        tools = body.get("tools") or []
        first_user = ""
        done = 0
        outputs: list[dict[str, Any]] = []
        for it in items:
            if not isinstance(it, dict):
                continue
            t = it.get("type")
            if t == "message" and it.get("role") == "user":
                text = _flatten_text(it.get("content"))
                if not first_user and TAG_RE.search(text):
                    first_user = text
            elif t in ("function_call_output", "custom_tool_call_output", "mcp_tool_call_output"):
                done += 1
                outputs.append(it)
        tag = TAG_RE.search(first_user)
        if not tools or tag is None:
            return [self._resp_message("ok")]
        conv = tag.group(1)
        with self._lock:
            names = []
            for t in tools:
                if isinstance(t, dict):
                    names.append(t.get("name") or t.get("type") or "")
            self.state.tool_names.setdefault(conv, names)
            for it in outputs:
                cid = it.get("call_id", "")
                out = it.get("output")
                self.state.results.setdefault(cid, ToolResult(cid, _flatten_text(out) if not isinstance(out, str) else out, False, conv))
        step = self._next_step(conv, done)
        with self._lock:
            self.state.served.append((conv, done, step.get("id", "text") if "tool" in step else "text"))
        if "tool" in step:
            if step.get("custom"):
                return [
                    {
                        "type": "custom_tool_call",
                        "id": self._nid("ctc_agp"),
                        "call_id": step["id"],
                        "name": step["tool"],
                        "input": step["input"],
                        "status": "completed",
                    }
                ]
            item = {
                "type": "function_call",
                "id": self._nid("fc_agp"),
                "call_id": step["id"],
                "name": step["tool"],
                "arguments": json.dumps(step["input"]),
                "status": "completed",
            }
            if step.get("namespace"):
                item["namespace"] = step["namespace"]
            return [item]
        return [self._resp_message(step["text"])]

    def _resp_message(self, text: str) -> dict[str, Any]:
        return {
            "type": "message",
            "id": self._nid("msg_agp"),
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": text, "annotations": []}],
        }

    def _responses_sse(self, output: list[dict[str, Any]]) -> bytes:
        rid = self._nid("resp_agp")
        base = {"id": rid, "object": "response", "model": self.model, "status": "in_progress", "output": []}
        ev: list[tuple[str, dict[str, Any]]] = [("response.created", {"type": "response.created", "response": base})]
        for i, item in enumerate(output):
            ev.append(("response.output_item.added", {"type": "response.output_item.added", "output_index": i, "item": item}))
            ev.append(("response.output_item.done", {"type": "response.output_item.done", "output_index": i, "item": item}))
        done = dict(base, status="completed", output=output)
        done["usage"] = {
            "input_tokens": 10,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": 5,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 15,
        }
        ev.append(("response.completed", {"type": "response.completed", "response": done}))
        return b"".join(f"event: {n}\ndata: {json.dumps(d)}\n\n".encode() for n, d in ev)

    # ---- HTTP ----
    def _make_handler(self) -> type[BaseHTTPRequestHandler]:
        model = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a: Any) -> None:
                pass

            def _send(self, code: int, ctype: str, data: bytes) -> None:
                self.send_response(code)
                self.send_header("content-type", ctype)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802
                path = self.path.split("?", 1)[0]
                with model._lock:
                    model.state.requests.append({"method": "GET", "path": self.path})
                if path.endswith("/models"):
                    self._send(200, "application/json", json.dumps({"object": "list", "data": [], "models": []}).encode())
                else:
                    self._send(404, "application/json", b'{"error":{"type":"not_found","message":"scripted model"}}')

            def do_HEAD(self) -> None:  # noqa: N802
                self._send(200, "text/plain", b"")

            def do_POST(self) -> None:  # noqa: N802
                n = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(n) if n else b""
                path = self.path.split("?", 1)[0]
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {}
                with model._lock:
                    model.state.requests.append({"method": "POST", "path": self.path, "body": body})
                if path.endswith("/messages/count_tokens"):
                    self._send(200, "application/json", b'{"input_tokens": 10}')
                    return
                if model.dialect == "anthropic" and path.endswith("/messages"):
                    blocks, stop = model._anthropic(body)
                    if body.get("stream"):
                        self._send(200, "text/event-stream", model._anthropic_sse(blocks, stop))
                    else:
                        self._send(200, "application/json", model._anthropic_json(blocks, stop))
                    return
                if model.dialect == "responses" and path.endswith("/responses"):
                    self._send(200, "text/event-stream", model._responses_sse(model._responses(body)))
                    return
                self._send(404, "application/json", b'{"error":{"type":"not_found","message":"scripted model"}}')

        return Handler
