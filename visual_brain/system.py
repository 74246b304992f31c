"""What the service runs on: CPU, memory, disk, Python and library versions."""

from __future__ import annotations

import os
import platform
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

LIBRARIES = (
    "fastapi",
    "starlette",
    "uvicorn",
    "pydantic",
    "pydantic-settings",
    "redis",
    "Pillow",
    "psutil",
    "nvidia-ml-py",
    "torch",
)

_STARTED = time.time()


def library_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def system_info(data_dir: Path) -> dict[str, Any]:
    mem = psutil.virtual_memory()
    path = data_dir if data_dir.exists() else Path.cwd()
    disk = psutil.disk_usage(str(path))
    proc = psutil.Process()
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "hostname": platform.node(),
        "platform": platform.platform(),
        "python": {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
            "executable": sys.executable,
        },
        "cpu": {
            "logical": psutil.cpu_count(logical=True),
            "physical": psutil.cpu_count(logical=False),
            "percent": psutil.cpu_percent(interval=None),
            "load_average": list(load) if load else None,
        },
        "memory": {
            "total_bytes": mem.total,
            "available_bytes": mem.available,
            "percent": mem.percent,
        },
        "disk": {
            "path": str(path),
            "total_bytes": disk.total,
            "free_bytes": disk.free,
            "percent": disk.percent,
        },
        "process": {
            "pid": proc.pid,
            "rss_bytes": proc.memory_info().rss,
            "uptime_s": round(time.time() - _STARTED, 3),
        },
        "libraries": library_versions(),
    }
