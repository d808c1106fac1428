"""Real loopback listeners for the webhook tests, and a record of the addresses this process connects to."""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Listener:
    """An HTTP server on `host` (a port of its own unless `port` is given) that records every request
    (request line, lower-cased headers, body) and answers `status` with `headers`."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, status: int = 204, headers: dict | None = None,
                 ssl_context=None):
        self.received: list[tuple[str, dict[str, str], bytes]] = []
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                listener.received.append((self.requestline, {k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_POST = do_GET = do_CONNECT = _any

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((host, port), Handler)
        if ssl_context is not None:
            self.server.socket = ssl_context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextlib.contextmanager
def listening(**kwargs):
    listener = Listener(**kwargs)
    try:
        yield listener
    finally:
        listener.close()


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Hangup:
    """A TCP listener that accepts each connection and closes it without a word (an open port that does
    not speak HTTP)."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            conn.close()

    def close(self):
        self.sock.close()


# Every `socket.connect` of this process, seen through the interpreter's audit events (Python offers no
# way to remove a hook, so it records only inside `connects()`).
_recording: list | None = None


def _audit(event: str, args: tuple) -> None:
    if event == "socket.connect" and _recording is not None:
        _recording.append(args[1])


sys.addaudithook(_audit)


@contextlib.contextmanager
def connects():
    """The (host, port) of every connection this process opens inside the block."""
    global _recording
    _recording = []
    try:
        yield _recording
    finally:
        _recording = None


def resolver_answering(monkeypatch, host: str, *answers: list[str]) -> list[str]:
    """Makes `socket.getaddrinfo` answer `host` with each list of addresses in turn (the last one again
    once they run out), as a DNS server rebinding the name would; other names resolve as usual.
    Returns the list of calls made for `host`."""
    real = socket.getaddrinfo
    calls: list[str] = []

    def getaddrinfo(name, port, *args, **kwargs):
        if name != host:
            return real(name, port, *args, **kwargs)
        addresses = answers[min(len(calls), len(answers) - 1)]
        calls.append(name)
        port = int(port or 0)
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "",
             (a, port, 0, 0) if ":" in a else (a, port))
            for a in addresses
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return calls
