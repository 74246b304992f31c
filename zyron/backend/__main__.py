"""``python -m zyron.backend``: serve the backend API with uvicorn."""

from __future__ import annotations

import logging
import sys

import uvicorn
from pydantic import ValidationError

from ..settings_errors import settings_error
from .config import get_settings
from .server import create_app


def main() -> int:
    try:
        settings = get_settings()
    except ValidationError as exc:
        print(settings_error("backend", "BACKEND_", exc), file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level.upper() if settings.log_level != "trace" else "DEBUG",
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        timeout_graceful_shutdown=5,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
