#!/usr/bin/env python3
"""Thin shim: `python check-gpu.py [--json]` runs the same check as `check-gpu`.

With the project's .venv (made by `./dev`) the shim re-runs itself with that Python, so
the check can use NVML (nvidia-ml-py is installed there). Without it the check still runs:
detection needs only the standard library, and the report says that NVML is missing.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
VENV = os.path.join(HERE, ".venv")
VENV_PYTHON = os.path.join(VENV, "bin", "python")


def _running_venv_python() -> bool:
    if os.path.realpath(sys.prefix) == os.path.realpath(VENV):
        return True
    # After the exec below, even when .venv is not a proper venv: never exec twice.
    return os.path.abspath(sys.executable) == VENV_PYTHON


if __name__ == "__main__":
    if not _running_venv_python() and os.path.exists(VENV_PYTHON):
        os.execv(VENV_PYTHON, [VENV_PYTHON, os.path.abspath(__file__), *sys.argv[1:]])
    sys.path.insert(0, os.path.join(HERE, "src"))

    from dev_orchestrator.gpu import main

    sys.exit(main())
