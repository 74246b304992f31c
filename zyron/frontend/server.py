"""A tiny static file server for the frontend page (stdlib only, starts in milliseconds).

Serves a fixed set of files (no path from the request ever reaches the file system),
``/config.json`` with the backend's URL for the page, and ``/health``.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import Any

from .config import FrontendSettings

log = logging.getLogger("zyron.frontend")

STATIC = Path(__file__).resolve().parent / "static"
FILES = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/style.css": ("style.css", "text/css; charset=utf-8"),
}


def make_handler(settings: FrontendSettings) -> type[BaseHTTPRequestHandler]:
    # Read at each request: in dev, `watch` syncs edited files here without a restart.
    static = Path(settings.static_dir) if settings.static_dir else STATIC
    config = json.dumps(
        {
            "backend_url": settings.backend_url.rstrip("/"),
            "refresh_ms": settings.refresh_ms,
            "env": settings.env,
            "title": settings.title,
        }
    ).encode()

    class Handler(BaseHTTPRequestHandler):
        server_version = "zyron-frontend"

        def _send(self, status: int, body: bytes, content_type: str, head: bool = False) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-cache")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.end_headers()
            if not head:
                self.wfile.write(body)

        def _route(self, head: bool) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/health":
                self._send(200, b'{"status":"ok","service":"frontend"}', "application/json", head)
            elif path == "/config.json":
                self._send(200, config, "application/json", head)
            elif path in FILES:
                name, content_type = FILES[path]
                # a file not synced yet (no watch running) comes from the package
                source = static / name if (static / name).is_file() else STATIC / name
                self._send(200, source.read_bytes(), content_type, head)
            else:
                body = f"not found: {path}\n".encode()
                self._send(HTTPStatus.NOT_FOUND, body, "text/plain; charset=utf-8", head)

        def do_GET(self) -> None:  # noqa: N802 (the stdlib's naming)
            self._route(head=False)

        def do_HEAD(self) -> None:  # noqa: N802
            self._route(head=True)

        def log_message(self, format: str, *args: Any) -> None:
            if settings.log_requests:
                log.info("%s %s", self.address_string(), format % args)

    return Handler


def make_server(settings: FrontendSettings) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer((settings.host, settings.port), make_handler(settings))
    server.daemon_threads = True
    return server


def serve(settings: FrontendSettings) -> int:
    """Serve until SIGTERM or SIGINT, then close the socket and return 0."""
    try:
        server = make_server(settings)
    except OSError as exc:
        print(f"frontend: cannot listen on {settings.host}:{settings.port}: {exc}", file=sys.stderr)
        return 1

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s, stopping", signal.Signals(signum).name)
        # shutdown() waits for serve_forever to return, so it must not run on this thread.
        threading.Thread(target=server.shutdown, name="frontend-stop").start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    host, port = server.server_address[:2]
    log.info("frontend on http://%s:%s (backend %s)", host, port, settings.backend_url)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    return 0
