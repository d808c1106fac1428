"""A partner endpoint that answers only when the test says so: the slow endpoint of the webhook tests,
a real HTTP server on loopback."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.loans.api.test_webhooks import Receiver


class HeldEndpoint:
    """Holds every request until `release` is set (then answers 204), counting what arrives and the
    most requests it held at once."""

    def __init__(self):
        self.release = threading.Event()
        self.received: list[str] = []  # webhook-id of each request, in arrival order
        self.held = 0
        self.most_held = 0
        self._lock = threading.Lock()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers["Content-Length"]))
                with endpoint._lock:
                    endpoint.received.append(self.headers["webhook-id"])
                    endpoint.held += 1
                    endpoint.most_held = max(endpoint.most_held, endpoint.held)
                try:
                    endpoint.release.wait(timeout=120)
                    self.send_response(204)
                    self.end_headers()
                except OSError:
                    pass  # the sender gave up on us (its timeout): nobody to answer
                finally:
                    with endpoint._lock:
                        endpoint.held -= 1

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def held_endpoint():
    endpoint = HeldEndpoint()
    yield endpoint
    endpoint.close()


@pytest.fixture
def fast_endpoint():
    endpoint = Receiver()
    yield endpoint
    endpoint.close()
