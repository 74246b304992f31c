#!/usr/bin/env python3
"""Thin shim: `python check-gpu.py [--json]` runs the same check as `check-gpu`."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))

from dev_orchestrator.gpu import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
