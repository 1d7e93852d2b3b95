"""The model relay is a door: only the model endpoints, no server-side fetching or tools, strict framing,
bounded bodies, heads and connections. A real relay on a Unix socket, a real upstream on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import time

import pytest

from agp.sandbox.relay import ENDPOINTS, Credential, ModelRelay, RelayLimits, RelayRules, RelayThread, Upstream
from tests.integration.sandbox._upstream import Upstream as ScriptedUpstream

HOST_KEY = "sk-host-KEY-door-0123456789"


@pytest.fixture
def upstream():
    with ScriptedUpstream() as up:
        yield up


def _start(tmp_path, upstream, provider="anthropic", *, allow=frozenset(), name="relay.sock", **limits):
    log: list[dict] = []
    r = ModelRelay(tmp_path / name, Upstream.parse(upstream.url), Credential("x-api-key", HOST_KEY),
                   rules=RelayRules.for_provider(provider, allow_server_tools=frozenset(allow)),
                   limits=RelayLimits(**limits), on_request=log.append)
    return r, log


@pytest.fixture
def anthropic(tmp_path, upstream):
    r, log = _start(tmp_path, upstream, "anthropic")
    with RelayThread(r):
        yield r, log


@pytest.fixture
def openai(tmp_path, upstream):
    r, log = _start(tmp_path, upstream, "openai")
    with RelayThread(r):
        yield r, log


def _send(path, raw: bytes, *, shut: bool = True, timeout: float = 10) -> bytes:
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(timeout)
    s.connect(str(path))
    s.sendall(raw)
    if shut:
        s.shutdown(socket.SHUT_WR)
    out = b""
    try:
        while chunk := s.recv(65536):
            out += chunk
    except ConnectionResetError:
        pass
    s.close()
    return out


def _post(path: str, body: bytes | dict, *, extra: str = "") -> bytes:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:8788\r\nContent-Type: application/json\r\n{extra}"
            f"Content-Length: {len(raw)}\r\n\r\n").encode() + raw


def _status(resp: bytes) -> int:
    return int(resp.split(b" ", 2)[1])


def _refusal(resp: bytes) -> str:
    """The JSON error both SDKs read; returns its message."""
    head, _, body = resp.partition(b"\r\n\r\n")
    assert b"X-Agp-Relay: refused" in head and b"application/json" in head, head
    err = json.loads(body)
    assert err["type"] == "error" and err["error"]["code"] == "agp_relay_refused"
    return err["error"]["message"]


def _assert_refused(r, log, upstream, resp: bytes, status: int, words: str) -> None:
    assert _status(resp) == status, resp[:400]
    assert words in _refusal(resp), _refusal(resp)
    assert upstream.requests == [], "a refused request reached the upstream"
    rec = log[-1]
    assert rec["status"] == status and words in rec["refused"]
    assert HOST_KEY not in json.dumps(log)


# ----------------------------------------------------------------------------- endpoints


def test_the_allowlist_is_what_the_real_harnesses_send():
    """Measured from Claude Code 2.1.328 and Codex 0.169.0 against the scripted model (adr/0005)."""
    assert ENDPOINTS == {
        "anthropic": {("POST", "/v1/messages"), ("POST", "/v1/messages/count_tokens")},
        "openai": {("POST", "/v1/responses")},
    }


@pytest.mark.parametrize("path", ["/v1/messages?beta=true", "/v1/messages", "/v1/messages/count_tokens?beta=true"])
def test_model_endpoints_pass_with_the_host_key(anthropic, upstream, path):
    r, log = anthropic
    resp = _send(r.socket_path, _post(path, {"model": "m", "messages": [], "tools": [{"name": "Bash"}]}))
    assert _status(resp) == 200, resp
    assert upstream.requests[-1]["path"] == path
    assert ("x-api-key", HOST_KEY) in upstream.requests[-1]["headers"]
    assert log[-1]["status"] == 200 and "refused" not in log[-1]


@pytest.mark.parametrize("method,path", [
    ("GET", "/v1/models"), ("POST", "/v1/files"), ("GET", "/v1/files"), ("DELETE", "/v1/files/file_1"),
    ("GET", "/v1/files/file_1/content"), ("POST", "/v1/messages/batches"), ("GET", "/v1/organizations/api_keys"),
    ("POST", "/v1/organizations/invites"), ("GET", "/v1/organizations/users"), ("POST", "/v1/skills"),
    ("GET", "/v1/messages"), ("HEAD", "/v1/messages"), ("PUT", "/v1/messages"), ("POST", "/v1/messages/"),
    ("POST", "/v1/messages/../files"), ("POST", "/v1//messages"), ("POST", "/v1/%6Dessages"),
    ("POST", "/V1/messages"), ("POST", "/v1/messages;x"), ("POST", "/v1/messages#frag"), ("POST", "/v1/responses"),
    ("POST", "/v1/messages?x=<script>"), ("POST", "/v1/messages?a=b/../../files"),
])
def test_other_endpoints_are_refused_with_a_json_403_and_journaled(anthropic, upstream, method, path):
    r, log = anthropic
    body = b'{"model": "m", "messages": []}'
    raw = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
    resp = _send(r.socket_path, raw)
    _assert_refused(r, log, upstream, resp, 403, "relay")
    assert log[-1]["method"] == method and log[-1]["bytes_in"] == 0
    assert "messages\": []" not in json.dumps(log)  # never the body


@pytest.mark.parametrize("method,path,ok", [
    ("POST", "/v1/responses", True), ("GET", "/v1/models", False), ("POST", "/v1/files", False),
    ("POST", "/v1/responses/compact", False), ("GET", "/v1/responses/resp_1", False),
    ("DELETE", "/v1/responses/resp_1", False), ("POST", "/v1/vector_stores", False),
    ("POST", "/v1/messages", False), ("POST", "/v1/organization/admin_api_keys", False),
])
def test_openai_endpoints(openai, upstream, method, path, ok):
    r, log = openai
    body = json.dumps({"model": "m", "input": [], "tools": [{"type": "function", "name": "f"}]}).encode()
    raw = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
    resp = _send(r.socket_path, raw)
    if ok:
        assert _status(resp) == 200 and upstream.requests[-1]["path"] == path
    else:
        _assert_refused(r, log, upstream, resp, 403, "not a model endpoint")


# ----------------------------------------------------------------------------- server-side features

_MSG = {"role": "user", "content": "hi"}

ANTHROPIC_SERVER_SIDE = {
    "mcp_servers": {"mcp_servers": [{"type": "url", "url": "https://mcp.example/sse", "name": "x"}]},
    "container": {"container": "container_011"},
    "web_search": {"tools": [{"type": "web_search_20250305", "name": "web_search"}]},
    "web_search_new": {"tools": [{"type": "web_search_20260209", "name": "web_search"}]},
    "web_fetch": {"tools": [{"name": "Bash"}, {"type": "web_fetch_20250910", "name": "web_fetch"}]},
    "code_execution": {"tools": [{"type": "code_execution_20250825", "name": "code_execution"}]},
    "tool_search": {"tools": [{"type": "tool_search_tool_regex_20251119", "name": "tool_search"}]},
    "mcp_toolset": {"tools": [{"type": "mcp_toolset", "mcp_server_name": "x"}]},
    "advisor": {"tools": [{"type": "advisor_20260301", "name": "advisor"}]},
    "computer": {"tools": [{"type": "computer_20250124", "name": "computer", "display_width_px": 1}]},
    "bash_builtin": {"tools": [{"type": "bash_20250124", "name": "bash"}]},
    "non_string_type": {"tools": [{"type": ["custom"], "name": "x"}]},
    "url_document": {"messages": [{"role": "user", "content": [
        {"type": "document", "source": {"type": "url", "url": "https://example.com/a.pdf"}}]}]},
    "url_image": {"messages": [{"role": "user", "content": [
        {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}}]}]},
    "url_in_tool_result": {"messages": [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t",
        "content": [{"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}}]}]}]},
    "url_in_system": {"system": [{"type": "document", "source": {"type": "url", "url": "https://example.com"}}]},
    "file_source": {"messages": [{"role": "user", "content": [
        {"type": "document", "source": {"type": "file", "file_id": "file_011"}}]}]},
    "container_upload": {"messages": [{"role": "user", "content": [{"type": "container_upload",
                                                                     "file_id": "file_011"}]}]},
}


@pytest.mark.parametrize("case", sorted(ANTHROPIC_SERVER_SIDE))
def test_anthropic_server_side_features_are_refused(anthropic, upstream, case):
    r, log = anthropic
    body = {"model": "m", "max_tokens": 10, "messages": [_MSG]} | ANTHROPIC_SERVER_SIDE[case]
    resp = _send(r.socket_path, _post("/v1/messages?beta=true", body))
    status = 400 if case == "non_string_type" else 403
    _assert_refused(r, log, upstream, resp, status, "")
    assert "https://" not in json.dumps(log)  # the reason names the field, never the body's values


@pytest.mark.parametrize("body", [
    {"tools": [{"name": "Bash", "input_schema": {"type": "object"}}, {"type": "custom", "name": "Read"}]},
    {"tools": [], "mcp_servers": []},
    {"messages": [{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
        {"type": "text", "text": "a url in text is just text: https://example.com"}]}]},
])
def test_custom_tools_and_inline_content_pass(anthropic, upstream, body):
    r, _ = anthropic
    resp = _send(r.socket_path, _post("/v1/messages", {"model": "m", "messages": [_MSG]} | body))
    assert _status(resp) == 200, resp


def test_the_policy_can_allow_a_server_tool_by_name(tmp_path, upstream):
    r, log = _start(tmp_path, upstream, allow={"web_search", "mcp_servers"})
    with RelayThread(r):
        ok = _send(r.socket_path, _post("/v1/messages", {"model": "m", "messages": [_MSG]}
                                        | ANTHROPIC_SERVER_SIDE["web_search"] | ANTHROPIC_SERVER_SIDE["mcp_servers"]))
        still = _send(r.socket_path, _post("/v1/messages", {"model": "m", "messages": [_MSG]}
                                           | ANTHROPIC_SERVER_SIDE["web_fetch"]))
    assert _status(ok) == 200
    assert _status(still) == 403 and "web_fetch_20250910" in _refusal(still)


OPENAI_SERVER_SIDE = {
    "web_search": {"tools": [{"type": "web_search"}]},
    "web_search_preview": {"tools": [{"type": "web_search_preview_2025_03_11"}]},
    "file_search": {"tools": [{"type": "file_search", "vector_store_ids": ["vs_1"]}]},
    "code_interpreter": {"tools": [{"type": "code_interpreter", "container": {"type": "auto"}}]},
    "mcp": {"tools": [{"type": "mcp", "server_label": "x", "server_url": "https://mcp.example"}]},
    "computer_use": {"tools": [{"type": "computer_use_preview", "display_width": 1, "display_height": 1}]},
    "image_generation": {"tools": [{"type": "image_generation"}]},
    "hosted_shell": {"tools": [{"type": "shell", "environment": {"type": "container_auto"}}]},
    "local_shell": {"tools": [{"type": "local_shell"}]},
    "in_namespace": {"tools": [{"type": "namespace", "name": "mcp__x", "tools": [
        {"type": "function", "name": "f"}, {"type": "web_search"}]}]},
    "file_url": {"input": [{"role": "user", "content": [{"type": "input_file", "file_url": "https://x/a.pdf"}]}]},
    "image_url": {"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "https://x/a.png"}]}]},
    "file_id": {"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "file-1"}]}]},
    "conversation": {"conversation": "conv_1"},
    "prompt": {"prompt": {"id": "pmpt_1"}},
}


@pytest.mark.parametrize("case", sorted(OPENAI_SERVER_SIDE))
def test_openai_hosted_tools_and_fetches_are_refused(openai, upstream, case):
    r, log = openai
    body = {"model": "m", "input": [{"role": "user", "content": "hi"}]} | OPENAI_SERVER_SIDE[case]
    _assert_refused(r, log, upstream, _send(r.socket_path, _post("/v1/responses", body)), 403, "")


def test_what_codex_sends_passes(openai, upstream):
    body = {"model": "m", "store": False, "stream": True, "input": [
        {"type": "message", "role": "user", "content": [
            {"type": "input_text", "text": "hi"},
            {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo="}]}],
        "tools": [{"type": "function", "name": "exec_command", "parameters": {}},
                  {"type": "custom", "name": "apply_patch", "format": {"type": "grammar"}},
                  {"type": "namespace", "name": "mcp__agpmarker", "tools": [{"type": "function", "name": "t"}]}]}
    r, _ = openai
    assert _status(_send(r.socket_path, _post("/v1/responses", body))) == 200


@pytest.mark.parametrize("raw,status,words", [
    (b'{"model": "m", "tools": [], "tools": [{"type": "web_search_20250305", "name": "w"}]}', 400, "duplicate key"),
    (b'{"model": "m", "max_tokens": NaN}', 400, "NaN"),
    (b'{"model": "m", "messages": [', 400, "not JSON"),
    (b'not json at all', 400, "not JSON"),
    ('{"model": "m", "mcp_servers": [{"url": "https://x"}]}'.encode("utf-16"), 400, "not JSON"),
    (b'[{"tools": [{"type": "web_search_20250305"}]}]', 400, "not a JSON object"),
    (b'{"tools": {"type": "web_search_20250305"}}', 400, "not a list"),
    (b'{"a": ' * 100000 + b'1' + b'}' * 100000, 400, "not JSON"),
])
def test_bodies_the_relay_cannot_read_exactly_are_refused(anthropic, upstream, raw, status, words):
    r, log = anthropic
    _assert_refused(r, log, upstream, _send(r.socket_path, _post("/v1/messages", raw)), status, words)


def test_an_encoded_body_is_refused(anthropic, upstream):
    import gzip

    r, log = anthropic
    raw = gzip.compress(json.dumps({"mcp_servers": [{"url": "https://x"}]}).encode())
    resp = _send(r.socket_path, _post("/v1/messages", raw, extra="Content-Encoding: gzip\r\n"))
    _assert_refused(r, log, upstream, resp, 415, "encoded")


# ----------------------------------------------------------------------------- framing

_HEAD = b"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n"
_CHUNKED = _HEAD + b"Transfer-Encoding: chunked\r\n\r\n"


@pytest.mark.parametrize("raw", [
    _CHUNKED + b"0x2\r\n{}\r\n0\r\n\r\n",  # int(x, 16) took these
    _CHUNKED + b"+2\r\n{}\r\n0\r\n\r\n",
    _CHUNKED + b"0_2\r\n{}\r\n0\r\n\r\n",
    _CHUNKED + b"-0\r\n\r\n",
    _CHUNKED + b" 2\r\n{}\r\n0\r\n\r\n",
    _CHUNKED + b"2 \r\n{}\r\n0\r\n\r\n",
    _CHUNKED + b"2\t\r\n{}\r\n0\r\n\r\n",
    _CHUNKED + b"\r\n{}\r\n0\r\n\r\n",
    _CHUNKED + b"2 ;x\r\n{}\r\n0\r\n\r\n",
    _CHUNKED + b"2;x y\r\n{}\r\n0\r\n\r\n",
    _CHUNKED + b"1" * 17 + b"\r\n{}\r\n0\r\n\r\n",  # huge
    _CHUNKED + b"\xef\xbc\x92\r\n{}\r\n0\r\n\r\n",  # a full-width digit
    _CHUNKED + b"2\n{}\r\n0\r\n\r\n",  # bare LF after the size
    _CHUNKED + b"2\r\n{}\n0\r\n\r\n",  # no CRLF after the data
    _CHUNKED + b"2\r\n{}XX0\r\n\r\n",
    _CHUNKED + b"2\r\n{}\r\n0\r\nX: a\r\n b\r\n\r\n",  # obs-fold in a trailer
    _CHUNKED + b"2\r\n{}\r\n0\r\nno colon\r\n\r\n",
    _CHUNKED + b"2\r\n{}\r\n0\r\n" + b"X-T: " + b"a" * 9000 + b"\r\n\r\n",  # trailers too large
    _HEAD + b"Transfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
    _HEAD + b"Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n{}",
    _HEAD + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
    _HEAD + b"Transfer-Encoding: gzip, chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
    _HEAD + b"Transfer-Encoding: chunked, identity\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
    _HEAD + b"Transfer-Encoding: xchunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
    _HEAD + b"Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}",  # duplicate, even equal
    _HEAD + b"Content-Length: 2, 2\r\n\r\n{}",
    _HEAD + b"Content-Length: +2\r\n\r\n{}",
    _HEAD + b"Content-Length: 0x2\r\n\r\n{}",
    _HEAD + b"Content-Length: -1\r\n\r\n{}",
    _HEAD + b"Content-Length:\r\n\r\n{}",
    _HEAD + b"Content-Length: 2\r\n X-Folded: y\r\n\r\n{}",  # obs-fold
    _HEAD + b"Content-Length : 2\r\n\r\n{}",
    _HEAD + b"X-A: a\x01b\r\nContent-Length: 2\r\n\r\n{}",
    b"POST /v1/messages HTTP/1.0\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
    b"POST  /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\n{}",
    b"POST /v1/messages HTTP/1.1 \r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\n{}",
    b"POST /v1/messages HTTP/2.0\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\n{}",
])
def test_smuggling_tricks_are_refused_and_nothing_is_sent(anthropic, upstream, raw):
    r, log = anthropic
    resp = _send(r.socket_path, raw)
    assert _status(resp) == 400, resp[:300]
    _refusal(resp)
    assert upstream.requests == []
    assert log[-1]["status"] == 400 and log[-1]["refused"]


def test_chunk_extensions_and_leading_zeros_are_valid(anthropic, upstream):
    r, _ = anthropic
    raw = _CHUNKED + b'0002;a=b;c="d e"\r\n{}\r\n0;z\r\nX-Trailer: ok\r\n\r\n'
    assert _status(_send(r.socket_path, raw)) == 200
    assert upstream.requests[-1]["body"] == b"{}"


# ----------------------------------------------------------------------------- limits


def test_body_size_cap(tmp_path, upstream):
    r, log = _start(tmp_path, upstream, max_body=1000)
    with RelayThread(r):
        big = _send(r.socket_path, _HEAD + b"Content-Length: 1001\r\n\r\n" + b" " * 1001)
        chunked = _send(r.socket_path, _CHUNKED + (b"1f4\r\n" + b" " * 500 + b"\r\n") * 3 + b"0\r\n\r\n")
        fits = _send(r.socket_path, _post("/v1/messages", b"{}" + b" " * 998))
        assert r._buffered == 0
    assert _status(big) == 413 and "larger than 1000" in _refusal(big)
    assert _status(chunked) == 413
    assert _status(fits) == 200
    assert [m["status"] for m in log] == [413, 413, 200]
    assert len(upstream.requests) == 1


def test_bodies_held_at_once_are_bounded(tmp_path, upstream):
    """Two slow bodies fill max_buffered; a third is refused 503 at once; all is released afterwards."""
    r, log = _start(tmp_path, upstream, max_body=1000, max_buffered=1500)
    with RelayThread(r):
        a = socket.socket(socket.AF_UNIX)
        a.connect(str(r.socket_path))
        a.sendall(_HEAD + b"Content-Length: 1000\r\n\r\n{")  # holds 1000 bytes of the budget
        _wait(lambda: r._buffered == 1000)
        third = _send(r.socket_path, _HEAD + b"Content-Length: 600\r\n\r\n" + b" " * 600)
        a.sendall(b"}" + b" " * 998)
        assert _status(a.recv(65536)) == 200
        a.close()
        _wait(lambda: r._buffered == 0)
    assert _status(third) == 503 and "retry" in _refusal(third)


def _wait(cond, timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "condition not reached"
        time.sleep(0.01)


def test_slow_head_is_cut_at_the_deadline(tmp_path, upstream):
    r, log = _start(tmp_path, upstream, head_timeout=0.5)
    with RelayThread(r):
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(10)
        s.connect(str(r.socket_path))
        t0 = time.monotonic()
        s.sendall(b"POST /v1/messages HTTP/1.1\r\n")
        out = b""
        for _ in range(20):  # one header byte every 0.1 s: each recv() would reset a per-read timeout
            s.sendall(b"X")
            time.sleep(0.1)
            try:
                s.setblocking(False)
                out += s.recv(65536)
            except BlockingIOError:
                pass
            finally:
                s.setblocking(True)
            if out:
                break
        took = time.monotonic() - t0
        s.close()
    assert _status(out) == 408 and "did not arrive within 0.5 s" in _refusal(out)
    assert took < 1.5
    assert log[-1]["status"] == 408 and upstream.requests == []


def test_slow_body_is_cut_at_the_deadline(tmp_path, upstream):
    r, log = _start(tmp_path, upstream, body_timeout=0.5)
    with RelayThread(r):
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(5)
        s.connect(str(r.socket_path))
        s.sendall(_HEAD + b"Content-Length: 100\r\n\r\n{")
        out = s.recv(65536)
        s.close()
    assert _status(out) == 408 and "body" in _refusal(out)
    assert upstream.requests == [] and r._buffered == 0


def _hold_body(path) -> socket.socket:
    """A connection past its head, in the middle of a body: not evictable."""
    s = socket.socket(socket.AF_UNIX)
    s.connect(str(path))
    s.sendall(_HEAD + b"Content-Length: 100\r\n\r\n{")
    return s


def test_connection_cap_refuses_the_excess_at_once(tmp_path, upstream):
    r, log = _start(tmp_path, upstream, max_connections=4)
    with RelayThread(r):
        assert r.connection_cap == 4
        held = [_hold_body(r.socket_path) for _ in range(4)]
        _wait(lambda: r.active == 4 and r._buffered == 400)
        t0 = time.monotonic()
        over = _send(r.socket_path, _post("/v1/messages", {"model": "m"}), timeout=5)
        took = time.monotonic() - t0
        for s in held:
            s.close()
        _wait(lambda: r.active == 0)
        after = _send(r.socket_path, _post("/v1/messages", {"model": "m"}))
    assert _status(over) == 503 and "too many connections" in _refusal(over) and b"Retry-After: 1" in over
    assert took < 1.0
    assert _status(after) == 200
    assert any(m["status"] == 503 and "too many connections" in m["refused"] for m in log)


def test_slow_heads_cannot_keep_a_request_out(tmp_path, upstream):
    """At capacity, the connection that has waited longest for its head gives its place to a new one."""
    r, log = _start(tmp_path, upstream, max_connections=4, head_timeout=30)
    with RelayThread(r):
        slow = []
        for _ in range(4):
            s = socket.socket(socket.AF_UNIX)
            s.settimeout(5)
            s.connect(str(r.socket_path))
            s.sendall(b"POST /v1/mess")
            slow.append(s)
        _wait(lambda: len(r._waiting_head) == 4)
        ok = _send(r.socket_path, _post("/v1/messages", {"model": "m"}))
        evicted = slow[0].recv(65536)
        for s in slow:
            s.close()
    assert _status(ok) == 200
    assert _status(evicted) == 503 and "evicted" in _refusal(evicted)
    assert r.stats["evicted"] == 1


def test_connection_cap_stays_within_a_share_of_the_descriptor_limit(monkeypatch):
    import resource

    monkeypatch.setattr(resource, "getrlimit", lambda which: (256, 4096))
    assert RelayLimits(max_connections=1000).connection_cap() == 32  # 2 descriptors each within 1/4 of 256
    assert RelayLimits(max_connections=10).connection_cap() == 10


def test_refusals_are_rate_limited_in_the_journal(tmp_path, upstream):
    r, log = _start(tmp_path, upstream, refusal_records_per_s=1.0)  # burst 10
    with RelayThread(r):
        for _ in range(30):
            _send(r.socket_path, b"GET /v1/files HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        ok = _send(r.socket_path, _post("/v1/messages", {"model": "m"}))
    assert _status(ok) == 200
    refused = [m for m in log if "refused" in m]
    assert 10 <= len(refused) < 15
    assert [m["status"] for m in log if "refused" not in m] == [200]  # forwarded requests are always recorded
    assert log[-1]["refused"] == "refusals not recorded one by one"  # the summary at shutdown
    # what was left out is counted: in a later refusal record or in the summary at shutdown
    one_by_one = [m for m in refused if m["method"] == "GET"]
    assert sum(m.get("suppressed", 0) for m in refused) + len(one_by_one) == 30
