"""A tiny configurable service for engine tests: records its life in files, serves HTTP.

Kept to fast imports (no http.server) so it starts in a few milliseconds.
Files under --record: NAME.events gets "start T PID", "ready T PID", "exit T PID" lines;
NAME.pids gets the pid of this process and of every child it spawns.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
import time

OUT = threading.Lock()  # whole lines only: the request handler and a burst share stdout


def note(args: argparse.Namespace, what: str) -> None:
    with open(os.path.join(args.record, f"{args.name}.events"), "a") as fh:
        fh.write(f"{what} {time.time():.6f} {os.getpid()}\n")


def remember_pid(args: argparse.Namespace, pid: int) -> None:
    with open(os.path.join(args.record, f"{args.name}.pids"), "a") as fh:
        fh.write(f"{pid}\n")


def serve(args: argparse.Namespace, sock: socket.socket) -> None:
    sick = os.path.join(args.record, f"{args.name}.sick")
    count = 0
    while True:
        conn, _ = sock.accept()
        try:
            conn.settimeout(5)
            data = b""
            while b"\r\n\r\n" not in data:
                part = conn.recv(4096)
                if not part:
                    break
                data += part
            path = data.split(b" ", 2)[1].decode() if data.count(b" ") >= 2 else "/"
            count += 1
            if args.chatty:
                with OUT:
                    print(f"request {count} {path}", flush=True)
            status = 200
            if path.startswith("/status/"):
                status = int(path.rsplit("/", 1)[1])
            elif os.path.exists(sick):
                status = 500
            body = b"ok\n"
            conn.sendall(
                f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body
            )
        except OSError:
            pass
        finally:
            conn.close()


def burst(total: int) -> None:
    out = sys.stdout
    n = 0
    written = 0
    block = []
    while written < total:
        line = f"line {n:09d} " + "x" * 30 + "\n"
        block.append(line)
        written += len(line)
        n += 1
        if len(block) == 512:
            with OUT:
                out.write("".join(block))
                out.flush()
            block = []
    with OUT:
        out.write("".join(block))
        out.write(f"burst done {n}\n")
        out.flush()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("name")
    p.add_argument("--record", required=True)
    p.add_argument("--port", type=int)
    p.add_argument("--delay", type=float, default=0.0, help="seconds before becoming ready")
    p.add_argument("--exit", type=int, help="exit with this code after --exit-after seconds")
    p.add_argument("--exit-after", type=float, default=0.0)
    p.add_argument("--ignore-term", action="store_true")
    p.add_argument("--child", action="store_true", help="spawn a child that sleeps")
    p.add_argument("--setsid-child", action="store_true", help="spawn a child in its own session")
    p.add_argument("--burst", type=int, default=0, help="bytes of numbered lines to print once ready")
    p.add_argument("--chatty", action="store_true", help="print a line for each request")
    p.add_argument("--sleep", action="store_true", help="no server: just sleep (a child)")
    args = p.parse_args()

    remember_pid(args, os.getpid())
    note(args, "start")
    if args.ignore_term:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    else:
        signal.signal(signal.SIGTERM, lambda *_: (note(args, "term"), os._exit(0)))
    for flag, new_session in ((args.child, False), (args.setsid_child, True)):
        if flag:
            child = subprocess.Popen(
                [sys.executable, __file__, f"{args.name}-child", "--record", args.record, "--sleep",
                 *(["--ignore-term"] if args.ignore_term else [])],
                start_new_session=new_session,
            )
            remember_pid(args, child.pid)
    if args.delay:
        time.sleep(args.delay)
    sock = None
    if args.port:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", args.port))
        sock.listen(64)
    note(args, "ready")
    print(f"{args.name} ready", flush=True)
    if sock is not None:
        threading.Thread(target=serve, args=(args, sock), daemon=True).start()
    if args.burst:
        burst(args.burst)
    if args.exit is not None:
        time.sleep(args.exit_after)
        note(args, "exit")
        print(f"{args.name} exiting with {args.exit}", flush=True)
        os._exit(args.exit)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
