"""What `status`, `health` and `logs` print, without click: the quick path (cli/quick.py)
and the click commands (look_cmd.py) render through these, so the two cannot differ.

Colours are ANSI SGR codes, as click.style writes them, and only on a terminal without
NO_COLOR.
"""

from __future__ import annotations

import os
import re
import sys
import time
from typing import Any

from ..control.protocol import age, memory

PALETTE = ("cyan", "yellow", "green", "magenta", "blue", "bright_cyan", "bright_yellow", "bright_green",
           "bright_magenta", "bright_blue", "red", "bright_red")
_COLORS = {"black": 30, "red": 31, "green": 32, "yellow": 33, "blue": 34, "magenta": 35, "cyan": 36, "white": 37}
_COLORS |= {f"bright_{name}": code + 60 for name, code in list(_COLORS.items())}


def use_color(stream: Any) -> bool:
    return stream.isatty() and not os.environ.get("NO_COLOR")


def ansi(text: str, fg: str | None = None, bold: bool = False) -> str:
    """``text`` in colour ``fg`` (and bold): the codes click.style gives."""
    codes = (f"\x1b[{_COLORS[fg]}m" if fg else "") + ("\x1b[1m" if bold else "")
    return f"{codes}{text}\x1b[0m"


def style(text: str, fg: str | None = None, bold: bool = False) -> str:
    """``ansi`` when standard output is a terminal (and NO_COLOR is not set), else ``text``."""
    return ansi(text, fg, bold) if use_color(sys.stdout) else text


def color_for(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def echo(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def print_error(message: str, *, hint: str | None = None) -> None:
    """``✗ message`` (``error:`` without colour) and its hint lines, on standard error."""
    mark = ansi("✗", fg="red", bold=True) if use_color(sys.stderr) else "error:"
    lines = message.splitlines() or [""]
    out = [f"{mark} {lines[0]}", *lines[1:], *(f"  hint: {line}" for line in (hint or "").splitlines())]
    sys.stderr.write("\n".join(out) + "\n")


# -- status ---------------------------------------------------------------------------------

STATUS_JSON_KEYS = ("state", "health", "runtime", "pid", "container", "image", "started_at", "restarts",
                    "exit_code", "ports", "cpu_percent", "rss_bytes", "detail", "drift", "watch")


def status_json(data: dict[str, Any]) -> dict[str, Any]:
    """The documented `status --json` shape (docs/SERVICES.md) of a status reply."""
    return {
        "project": data["project"],
        "env": data["env"],
        "supervisor": {"running": data["supervisor"].get("running", False), "pid": data["supervisor"].get("pid"),
                       **({"busy": True} if data["supervisor"].get("busy") else {})},
        "problems": data.get("problems") or [],
        "services": {
            name: {k: record.get(k) for k in STATUS_JSON_KEYS} | _replicas_json(record)
            for name, record in data["services"].items()
        },
    }


def _replicas_json(record: dict[str, Any]) -> dict[str, Any]:
    """deploy.replicas: one entry per instance (1 is the service's own)."""
    if not record.get("replicas"):
        return {}
    keys = ("replica", "state", "health", "pid", "container", "started_at", "restarts", "exit_code", "detail")
    return {"replicas": [{k: rep.get(k) for k in keys} for rep in record["replicas"]]}


def unknown_service(data: dict[str, Any], names: list[str]) -> str | None:
    """The first of ``names`` the status does not have, or None."""
    return next((name for name in names if name not in data["services"]), None)


def only(data: dict[str, Any], names: list[str]) -> None:
    """Keep the named services (exit 2 for a name the stack does not have)."""
    known = list(data["services"])
    missing = unknown_service(data, names)
    if missing is not None:
        import difflib

        from ..errors import UsageError

        close = difflib.get_close_matches(missing, known, n=1)
        hint = f'did you mean "{close[0]}"?' if close else f"services: {', '.join(sorted(known))}"
        raise UsageError(f'unknown service "{missing}"', hint=hint)
    data["services"] = {n: data["services"][n] for n in names}
    data["order"] = [n for n in (data.get("order") or known) if n in names]


def _age(iso: str | None) -> str:
    return age(iso, time.time())


_mem = memory


STATE_COLORS = {"running": "green", "starting": "yellow", "stopping": "yellow", "failed": "red", "exited": "white"}
HEALTH_COLORS = {"healthy": "green", "unhealthy": "red", "starting": "yellow"}


def print_status(data: dict[str, Any]) -> None:
    sup = data["supervisor"]
    if sup.get("busy"):
        head = style(f"supervisor pid {sup.get('pid') or '?'} is alive but busy ({sup['busy']}); "
                     "showing the last recorded state", fg="yellow")
    elif sup.get("running"):
        head = f"supervisor pid {sup['pid']} · up {_age(sup.get('started_at'))}"
    elif data.get("orphans"):
        head = style("supervisor NOT running (it died); still alive: " + ", ".join(data["orphans"]), fg="red")
    else:
        head = "supervisor not running"
    echo(f"{data['project']} · env {data['env']} · {head}")
    header = ["SERVICE", "RUNTIME", "STATE", "HEALTH", "PID/CONTAINER", "UPTIME", "RESTARTS", "PORTS", "CPU", "MEM"]
    images = any(r.get("image") for r in data["services"].values())
    if images:
        header.append("IMAGE")
    watching = any(r.get("watch") for r in data["services"].values())
    if watching:
        header.append("WATCH")
    rows = []
    order = data.get("order") or list(data["services"])
    entries: list[tuple[str, dict[str, Any]]] = []
    for name in order:
        r = data["services"][name]
        entries.append((name, r))
        # deploy.replicas: a row per further instance, under the service's (which is replica 1)
        entries.extend((f"{name}#{rep['replica']}", {**r, **rep, "cpu_percent": None, "rss_bytes": None})
                       for rep in r.get("replicas") or () if rep.get("replica") != 1)
    for name, r in entries:
        ident = str(r.get("pid") or (str(r.get("container"))[:12] if r.get("container") else "-"))
        running = r["state"] in ("running", "starting")
        cpu = r.get("cpu_percent")
        rows.append([
            name, r.get("runtime", "process"), r["state"], r["health"] if r["health"] != "none" else "-", ident,
            _age(r.get("started_at")) if running else "-", str(r.get("restarts", 0)),
            ",".join(str(p) for p in r.get("ports") or []) or "-",
            f"{cpu:.1f}%" if cpu is not None else "-", _mem(r.get("rss_bytes")),
        ] + ([r.get("image") or "-"] if images else []) + (["watching" if r.get("watch") else "-"] if watching else []))
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(header)]
    echo("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip())
    for row in rows:
        cells = [c.ljust(w) for c, w in zip(row, widths, strict=True)]
        cells[2] = style(cells[2], fg=STATE_COLORS.get(row[2]))
        cells[3] = style(cells[3], fg=HEALTH_COLORS.get(row[3]))
        echo("  ".join(cells).rstrip())
    for name in order:
        r = data["services"][name]
        if r["state"] == "failed" and r.get("detail"):
            echo(style(f"{name}: {r['detail']}", fg="red"))
        elif r.get("notify_status") and r["state"] in ("running", "starting"):
            echo(f"{name}: {r['notify_status']}")  # what the service says of itself (STATUS=)
    for name, why in (data.get("foreign") or {}).items():
        echo(style(f"note: {name}: not ours any more: {why}; left alone", fg="yellow"))
    for problem in data.get("problems") or []:
        echo(style(f"warning: {problem}", fg="yellow"))
    drifted = {n: r.get("drift_detail") or r["drift"] for n, r in data["services"].items() if r.get("drift")}
    for name, fields in drifted.items():
        echo(style(f"changed: {name}: {', '.join(fields)}", fg="yellow"))
    if data.get("config_problem"):
        echo(style(f"the files have an error, so what runs may differ from them: {data['config_problem']}",
                         fg="yellow"))
    if drifted:
        echo(style("what runs differs from the files: dev-orchestrator start applies them "
                         "(--dry-run shows the plan)", fg="yellow"))


# -- health ---------------------------------------------------------------------------------

def print_health(report: dict[str, Any], began: float) -> None:
    """The health table and its summary line; ``began``: perf_counter at the command's start."""
    results = report["services"]
    width = max((len(n) for n in results), default=0)
    for name, r in results.items():
        word = style("healthy  ", fg="green") if r["healthy"] else style("UNHEALTHY", fg="red", bold=True)
        echo(f"{name.ljust(width)}  {word}  {r['latency_ms']:>6.0f} ms   {r['detail']}")
    bad = [n for n, r in results.items() if not r["healthy"]]
    total = (time.perf_counter() - began) * 1000
    if bad:
        echo(f"{style('✗', fg='red', bold=True)} {len(bad)} of {len(results)} unhealthy "
             f"({', '.join(bad)}) in {total:.0f} ms")
    else:
        echo(f"{style('✓', fg='green', bold=True)} {len(results)} healthy in {total:.0f} ms")


# -- logs -----------------------------------------------------------------------------------

class LogLines:
    """`logs` output: ``12:01:07.311 backend | text``, each service's prefix in its colour."""

    def __init__(self, names: list[str]) -> None:
        width = max((len(n) for n in names), default=0)
        # each service's prefix styled once (a style per line asked the terminal each time)
        self.prefixes = {n: style(f"{n.ljust(width)} |", fg=color_for(i)) for i, n in enumerate(sorted(names))}
        self.out = sys.stdout

    def show(self, line: Any) -> None:
        self.show_all([line])

    def show_all(self, lines: list[Any]) -> None:
        """Many lines in one write (a write a line cost more than the rest of `logs -f`)."""
        self.out.write(self._format(lines))

    def _format(self, lines: list[Any]) -> str:
        prefixes = self.prefixes
        return "".join([f"{s[11:23] if len(s) >= 23 else s} {prefixes[service]} {text}\n"
                        for s, service, text in lines])

    def show_text(self, service: str, blocks: list[str]) -> None:
        """Blocks of one service's lines as written (logs.reader ``poll_text``), in one write.

        A block whose every line carries the sink's time stamp and some text, and no carriage
        return, is cut at the stamps by one split in C and put together again with the
        prefix (3-4 times faster than line by line: `logs -f` keeps up with a service
        writing millions of lines); any other block goes line by line, as ``show_all``.
        Both give the same text (tests/unit/cli/test_log_lines.py).
        """
        from ..logs.reader import parse

        middle = f" {self.prefixes[service]} "
        out = []
        for block in blocks:
            if "\r" not in block:
                parts = _STAMP.split(block)  # ["", clock, text + "\n", clock, text, ...]
                if not parts[0] and len(parts) == 2 * (block.count("\n") + 1) + 1:
                    parts[1::2] = [clock + middle for clock in parts[1::2]]
                    out.append("".join(parts) + "\n")
                    continue
            out.append(self._format([parse(service, raw) for raw in block.split("\n")]))
        self.out.write("".join(out))


# The sink's time stamp at the start of a line, as logs.reader.parse reads it: the date with
# "-" and "T" at their places, the clock (12 characters, kept), one separator.
_STAMP = re.compile(r"^.{4}-.{5}T(.{12}).", re.MULTILINE)
