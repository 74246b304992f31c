"""Make the top-level ``visual_brain`` and ``zyron`` packages importable (repository root)."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
