"""A small HTTP service for the zero-downtime tests: serves $PORT (proxy mode) or fd 3 (fd mode).

Why its own program: each behaviour a new version can have (exits at start, never
healthy, flaps) is chosen by an environment variable, so a test makes a "new version"
by editing services.yaml, exactly as a user would.

Paths: ``/`` answers ``<pid> <version>``, ``/health`` the health (see APP_FAIL),
``/slow?s=1.5`` answers after that many seconds.
"""

import http.server
import os
import signal
import socket
import socketserver
import sys
import threading
import time
from urllib.parse import parse_qs, urlsplit

VERSION = os.environ.get("APP_VERSION", "1")
FAIL = os.environ.get("APP_FAIL", "")
health_calls = 0
lock = threading.Lock()

if FAIL == "exit":
    print("version", VERSION, "cannot start: configuration error", flush=True)
    sys.exit(3)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def do_GET(self) -> None:
        global health_calls
        parts = urlsplit(self.path)
        status = 200
        body = f"{os.getpid()} {VERSION}".encode()
        if parts.path == "/health":
            with lock:
                health_calls += 1
                calls = health_calls
            if FAIL == "never" or (FAIL == "flap" and calls > 2):
                status = 503
        elif parts.path == "/slow":
            time.sleep(float(parse_qs(parts.query).get("s", ["1"])[0]))
        self.send_response(status)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = False  # server_close() waits for the requests in flight

    def get_request(self):  # type: ignore[no-untyped-def]
        conn, addr = self.socket.accept()
        conn.setblocking(True)  # the shared fd-mode socket is non-blocking; this connection is ours alone
        return conn, addr


if os.environ.get("LISTEN_FDS") == "1" and os.environ.get("LISTEN_PID") == str(os.getpid()):
    server = Server(("127.0.0.1", 0), Handler, bind_and_activate=False)
    server.socket.close()
    server.socket = socket.socket(fileno=3)
    where = "fd 3"
else:
    server = Server(("127.0.0.1", int(os.environ["PORT"])), Handler)
    where = f"port {os.environ['PORT']}"
print("version", VERSION, "serving on", where, flush=True)
address = os.environ.get("NOTIFY_SOCKET")
if address and FAIL != "never":
    target = "\0" + address[1:] if address.startswith("@") else address
    socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(f"READY=1\nSTATUS=version {VERSION}".encode(), target)
# SIGTERM: stop accepting, finish the requests in flight, exit (as uvicorn or gunicorn do).
signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
server.serve_forever()
server.server_close()
