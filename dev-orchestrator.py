#!/usr/bin/env python3
"""Thin shim: `python dev-orchestrator.py ...` runs the same CLI as `dev-orchestrator`."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))

from dev_orchestrator.cli import main  # noqa: E402

if __name__ == "__main__":
    main()
