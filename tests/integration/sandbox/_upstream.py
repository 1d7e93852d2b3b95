"""A scripted HTTP upstream on 127.0.0.1 for the model relay tests (stdlib only).

Records every request it receives (method, path, headers, body) and serves:

- ``POST /v1/messages``: a JSON reply;
- ``GET|POST /v1/stream``: a chunked ``text/event-stream`` that sends ``event: one``,
  then WAITS until the test sets ``release`` (after it saw event one through the
  relay), then ``event: two`` and the end. A relay that buffers would deadlock there;
- ``GET /v1/big?n=N``: N bytes with a Content-Length.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["Upstream"]


class Upstream:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.release = threading.Event()
        self.first_sent = threading.Event()
        outer = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a: Any) -> None:
                pass

            def _record(self) -> bytes:
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0], 16)
                        if size == 0:
                            self.rfile.readline()
                            break
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                    body = b"".join(chunks)
                outer.requests.append({"method": self.command, "path": self.path,
                                       "headers": [(k.lower(), v) for k, v in self.headers.items()], "body": body})
                return body

            def _handle(self) -> None:
                body = self._record()
                if self.path.startswith("/v1/stream"):
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()

                    def chunk(b: bytes) -> None:
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(b), b))
                        self.wfile.flush()

                    chunk(b"event: one\ndata: {\"n\": 1}\n\n")
                    outer.first_sent.set()
                    outer.release.wait(10)
                    chunk(b"event: two\ndata: {\"n\": 2}\n\n")
                    self.wfile.write(b"0\r\n\r\n")
                    self.wfile.flush()
                    return
                if self.path.startswith("/v1/big"):
                    n = int(self.path.split("n=", 1)[1]) if "n=" in self.path else 1024
                    data = b"x" * n
                else:
                    data = json.dumps({"ok": True, "echo_len": len(body)}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._t = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                   daemon=True)

    def __enter__(self) -> "Upstream":
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
