"""``python -m visual_brain``: serve the API with uvicorn on the configured host and port.

On SIGTERM the lifespan returns unfinished jobs to the queue before the process exits.
"""

from __future__ import annotations

import sys

from zyron.serve import serve

from .config import get_settings
from .server import create_app

if __name__ == "__main__":
    sys.exit(serve("visual-brain", "VISUAL_BRAIN_", get_settings, create_app))
