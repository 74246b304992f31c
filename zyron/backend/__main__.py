"""``python -m zyron.backend``: serve the backend API with uvicorn."""

from __future__ import annotations

import sys

from ..serve import serve
from .config import get_settings
from .server import create_app

if __name__ == "__main__":
    sys.exit(serve("backend", "BACKEND_", get_settings, create_app))
