#!/usr/bin/env python3
"""Loopback upstream servers for the proxy's integration tests (tests/integration/test_proxy.c).

Standard library only. Every server listens on 127.0.0.1 on an ephemeral port, and on [::1] on
the same port when the host has IPv6 loopback (so a name such as "localhost" that resolves to
both reaches the same server whichever address the proxy picks). The port is written to
--port-file (atomically) once the sockets listen.

Modes:
  (default)     HTTP/1.1 with keep-alive, the routes below.
  --tls C K     the same routes over TLS; --sni-log gets one line per ClientHello: the server name
                it carried, or "<none>".
  --sink        a plain TCP listener that answers nothing: the listener nothing may reach.

Routes (any method; a request body is always read, Content-Length or chunked):
  /hello                  "hello\\n"
  /echo[/...]             JSON: method, path (as received), query, headers (as received, in
                          order), body_len, body_sha256, chunked
  /big?bytes=N[&chunked=1]  N deterministic bytes (big_stream below), Content-Length or chunked
  /redirect               302 to --redirect
  /slow?s=N               sleeps N seconds, then "slow\\n"
  /gzip                   a fixed gzip body with Content-Encoding: gzip

Logs (each optional, one line per event, appended and flushed at once):
  --log       "METHOD RAW-PATH HOST" per HTTP request served
  --conn-log  "accept PEER" per TCP connection; then "data PEER" when the peer sent at least one
              byte, or "close PEER bytes=0" when it closed without sending any; in --sink mode
              "close PEER bytes=N" when the peer closes

  upstream.py --big-sha256 N    prints the sha256 of the first N bytes of the /big stream.
"""

import argparse
import ctypes
import gzip
import hashlib
import http.server
import json
import os
import socket
import socketserver
import ssl
import struct
import sys
import threading
import time
import urllib.parse

BLOCK = 65536
BASE = hashlib.shake_256(b"airlock-upstream-big").digest(BLOCK)
GZIP_BODY = gzip.compress(b"airlock gzip body, passed through untouched\n" * 64, mtime=0)
REDIRECT = "http://127.0.0.1:9/"


def big_stream(n):
    """n bytes in blocks of 64 KiB: each block is its 8-byte big-endian index followed by a fixed
    pseudo-random pattern, so a dropped, repeated or reordered block changes the digest."""
    k = 0
    while n > 0:
        block = struct.pack(">Q", k) + BASE[8:]
        if n < BLOCK:
            block = block[:n]
        yield block
        n -= len(block)
        k += 1


def big_sha256(n):
    h = hashlib.sha256()
    for block in big_stream(n):
        h.update(block)
    return h.hexdigest()


class Log:
    def __init__(self, path):
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644) if path else -1
        self.lock = threading.Lock()

    def write(self, line):
        if self.fd < 0:
            return
        with self.lock:
            os.write(self.fd, (line.replace("\n", "\\n") + "\n").encode("utf-8", "replace"))


REQ_LOG = Log(None)
CONN_LOG = Log(None)
SNI_LOG = Log(None)


def peer_name(addr):
    return "%s:%s" % (addr[0], addr[1])


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "airlock-upstream"
    sys_version = ""
    timeout = 60

    def log_message(self, fmt, *args):
        pass

    def version_string(self):
        return self.server_version

    # -- bodies --

    def read_body(self):
        """Returns (body bytes, came chunked). Raises ValueError on a malformed chunked body."""
        te = self.headers.get("Transfer-Encoding")
        if te is not None and te.strip().lower() == "chunked":
            parts = []
            while True:
                line = self.rfile.readline(4098)
                if not line.endswith(b"\r\n"):
                    raise ValueError("chunk size line without CRLF: %r" % line)
                size = int(line[:-2].split(b";", 1)[0].strip(), 16)
                if size == 0:
                    while True:
                        t = self.rfile.readline(8194)
                        if t == b"\r\n":
                            return b"".join(parts), True
                        if not t.endswith(b"\r\n"):
                            raise ValueError("bad trailer line: %r" % t)
                data = self.rfile.read(size)
                if len(data) != size or self.rfile.read(2) != b"\r\n":
                    raise ValueError("short chunk")
                parts.append(data)
        n = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(n) if n else b""
        if len(data) != n:
            raise ValueError("short body")
        return data, False

    def send(self, code, body, ctype="text/plain", extra=()):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    # -- routes --

    def do_any(self):
        REQ_LOG.write("%s %s %s" % (self.command, self.path, self.headers.get("Host", "<none>")))
        path, _, query = self.path.partition("?")
        try:
            body, chunked = self.read_body()
        except (ValueError, OSError) as e:
            self.close_connection = True
            self.send(400, ("bad body: %s\n" % e).encode())
            return
        params = urllib.parse.parse_qs(query)
        try:
            if path == "/hello":
                self.send(200, b"hello\n")
            elif path == "/echo" or path.startswith("/echo/"):
                out = {
                    "method": self.command,
                    "path": self.path,
                    "query": query if "?" in self.path else None,
                    "version": self.request_version,
                    "headers": [[k, v] for k, v in self.headers.items()],
                    "body_len": len(body),
                    "body_sha256": hashlib.sha256(body).hexdigest(),
                    "chunked": chunked,
                }
                self.send(200, json.dumps(out).encode(), "application/json")
            elif path == "/big":
                self.big(int(params.get("bytes", ["0"])[0]), params.get("chunked") == ["1"])
            elif path == "/redirect":
                self.send(302, b"", extra=[("Location", REDIRECT)])
            elif path == "/slow":
                time.sleep(float(params.get("s", ["1"])[0]))
                self.send(200, b"slow\n")
            elif path == "/gzip":
                self.send(200, GZIP_BODY, extra=[("Content-Encoding", "gzip")])
            else:
                self.send(404, b"not found\n")
        except OSError:
            self.close_connection = True

    def big(self, n, chunked):
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(n))
        self.end_headers()
        if self.command == "HEAD":
            return
        for block in big_stream(n):
            if chunked:
                self.wfile.write(b"%x\r\n" % len(block) + block + b"\r\n")
            else:
                self.wfile.write(block)
        if chunked:
            self.wfile.write(b"0\r\n\r\n")

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = do_any
    do_TRACE = do_any


def first_byte(sock, peer):
    """Logs the connection and whether its peer sends anything; False when it sent nothing."""
    CONN_LOG.write("accept " + peer)
    sock.settimeout(30)
    try:
        b = sock.recv(1, socket.MSG_PEEK)
    except OSError as e:
        CONN_LOG.write("close %s bytes=0 (%s)" % (peer, e))
        return False
    if not b:
        CONN_LOG.write("close %s bytes=0" % peer)
        return False
    CONN_LOG.write("data " + peer)
    return True


class HTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False
    tls = None  # an ssl.SSLContext in --tls mode

    def server_bind(self):
        # Not http.server's: it looks the address up with getfqdn (DNS) for nothing.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = "localhost", self.server_address[1]

    def finish_request(self, request, client_address):
        peer = peer_name(client_address)
        if not first_byte(request, peer):
            return
        if self.tls is not None:
            try:
                request = self.tls.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError) as e:
                CONN_LOG.write("tls-error %s %s" % (peer, e))
                return
        request.settimeout(60)
        try:
            self.RequestHandlerClass(request, client_address, self)
        finally:
            if self.tls is not None:
                request.close()

    def handle_error(self, request, client_address):
        pass


class SinkHandler(socketserver.BaseRequestHandler):
    def handle(self):
        peer = peer_name(self.client_address)
        CONN_LOG.write("accept " + peer)
        self.request.settimeout(30)
        n = 0
        try:
            while True:
                b = self.request.recv(65536)
                if not b:
                    break
                n += len(b)
        except OSError:
            pass
        CONN_LOG.write("close %s bytes=%d" % (peer, n))


class SinkServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = False


def v6_class(cls):
    return type(cls.__name__ + "6", (cls,), {"address_family": socket.AF_INET6})


def listen(server_cls, handler):
    """A server on 127.0.0.1:<ephemeral>, and one on [::1] on the same port when possible."""
    for _ in range(50):
        s4 = server_cls(("127.0.0.1", 0), handler)
        port = s4.server_address[1]
        try:
            s6 = v6_class(server_cls)(("::1", port), handler, bind_and_activate=False)
            s6.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            s6.server_bind()
            s6.server_activate()
            return port, [s4, s6]
        except OSError as e:
            if getattr(e, "errno", None) == 98:  # EADDRINUSE: try another port
                s4.server_close()
                continue
            return port, [s4]  # no IPv6 loopback here
    raise SystemExit("no port free on both 127.0.0.1 and ::1")


def die_with_parent():
    """The test that started us may crash: then we go too (PR_SET_PDEATHSIG = 1)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, 15, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    if os.getppid() == 1:
        sys.exit(0)


def main():
    global REQ_LOG, CONN_LOG, SNI_LOG, REDIRECT
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port-file")
    ap.add_argument("--log")
    ap.add_argument("--conn-log")
    ap.add_argument("--sni-log")
    ap.add_argument("--redirect", default=REDIRECT)
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    ap.add_argument("--sink", action="store_true")
    ap.add_argument("--big-sha256", type=int, metavar="N")
    a = ap.parse_args()

    if a.big_sha256 is not None:
        print(big_sha256(a.big_sha256))
        return
    if not a.port_file:
        ap.error("--port-file is required")
    die_with_parent()
    REQ_LOG, CONN_LOG, SNI_LOG = Log(a.log), Log(a.conn_log), Log(a.sni_log)
    REDIRECT = a.redirect

    if a.sink:
        port, servers = listen(SinkServer, SinkHandler)
    else:
        port, servers = listen(HTTPServer, Handler)
        if a.tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(a.tls[0], a.tls[1])
            ctx.sni_callback = lambda sock, name, c: SNI_LOG.write(name if name else "<none>")
            for s in servers:
                s.tls = ctx

    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.rename(tmp, a.port_file)
    for s in servers[1:]:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    servers[0].serve_forever()


if __name__ == "__main__":
    main()
