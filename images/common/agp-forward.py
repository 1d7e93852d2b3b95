#!/usr/bin/env python3
"""agp's in-sandbox model forwarder (stdlib only; runs as `python3 -I -S agp-forward.py`).

The sandbox has no network. The harness's model base URL points at
http://127.0.0.1:PORT; this forwarder accepts there and copies bytes, unchanged
and in both directions, to the host relay's Unix socket in the bind-mounted
run socket directory (default /run/agp/relay.sock). It holds no credential: the
host relay strips whatever the harness sends and adds the key on the host side.
Prints "agp-forward: listening on 127.0.0.1:PORT" once it accepts.
"""
import argparse
import socket
import sys
import threading


def pump(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def handle(client, path):
    try:
        upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        upstream.connect(path)
    except OSError as exc:
        sys.stderr.write("agp-forward: cannot reach %s: %s\n" % (path, exc))
        client.close()
        return
    t = threading.Thread(target=pump, args=(upstream, client), daemon=True)
    t.start()
    pump(client, upstream)
    t.join()
    client.close()
    upstream.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=8788)
    ap.add_argument("--socket", default="/run/agp/relay.sock")
    args = ap.parse_args()
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", args.port))
    srv.listen(64)
    sys.stdout.write("agp-forward: listening on 127.0.0.1:%d\n" % srv.getsockname()[1])
    sys.stdout.flush()
    while True:
        client, _ = srv.accept()
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=handle, args=(client, args.socket), daemon=True).start()


if __name__ == "__main__":
    main()
