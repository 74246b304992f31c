#!/usr/bin/env python3
"""Thin shim: `python dev-orchestrator.py ...` runs the same CLI as `dev-orchestrator`.

Whatever Python runs it, the CLI runs with the project's .venv (made by `./dev`), whose
packages it needs: the shim re-runs itself with that Python first. Only the standard
library is used before that.
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


def _use_venv() -> None:
    if _running_venv_python():
        return
    if os.path.exists(VENV_PYTHON):
        os.execv(VENV_PYTHON, [VENV_PYTHON, os.path.abspath(__file__), *sys.argv[1:]])
    dev = "./dev" if os.path.realpath(os.getcwd()) == os.path.realpath(HERE) else os.path.join(HERE, "dev")
    sys.stderr.write(f"dev-orchestrator: no .venv in {HERE}; run {dev} once to create it (needs Python 3.11+)\n")
    sys.exit(2)


if __name__ == "__main__":
    _use_venv()
    sys.path.insert(0, os.path.join(HERE, "src"))

    from dev_orchestrator.cli import main

    main()
