"""Serving a Zyron API (backend, Visual Brain) with uvicorn: settings first, then the app.

A wrong setting ends the process with exit code 2 and one line per problem, named as its
environment variable; uvicorn handles SIGTERM/SIGINT (stop accepting, finish requests,
run the app's shutdown) before the process exits.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from .settings_errors import settings_error


def serve(service: str, prefix: str, get_settings: Callable[[], Any], create_app: Callable[[Any], Any]) -> int:
    import uvicorn

    try:
        settings = get_settings()
    except ValidationError as exc:
        print(settings_error(service, prefix, exc), file=sys.stderr)
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
