"""The web server the platform is served by: granian's WSGI server (docs/deploy.md).

Chosen for its cost per request under load: the HTTP side runs in Rust, and Python sees only the
application. Serving the same site to the same load (`bench/bench_apply.py`, 40 applications a second on
2 cores), gunicorn's threaded worker took 25 CPU-ms per application and fell behind. Granian took 12
and kept up (docs/capacity.md). The tests' live servers and the benches start it with this command, as
production does; a worker that dies is started again (`--respawn-failed-workers`), as gunicorn's
arbiter did.
"""

from __future__ import annotations

import sys


def web_server_command(
    *, port: int, workers: int, threads: int, host: str = "127.0.0.1", app: str = "config.wsgi:application",
    access_log: bool = False, log_level: str = "warning",
) -> list[str]:
    """The command line serving `app` on host:port with `workers` processes of `threads` request threads."""
    command = [
        sys.executable, "-m", "granian", "--interface", "wsgi", "--host", host, "--port", str(port),
        "--workers", str(workers), "--blocking-threads", str(threads), "--runtime-threads", "1",
        "--respawn-failed-workers", "--log-level", log_level,
    ]
    if access_log:
        command.append("--access-log")
    return [*command, app]
