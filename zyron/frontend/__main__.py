"""``python -m zyron.frontend``: serve the page on FRONTEND_HOST:FRONTEND_PORT."""

from __future__ import annotations

import logging
import sys

from pydantic import ValidationError

from ..settings_errors import settings_error
from .config import get_settings
from .server import serve


def main() -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        settings = get_settings()
    except ValidationError as exc:
        print(settings_error("frontend", "FRONTEND_", exc), file=sys.stderr)
        return 2
    return serve(settings)


if __name__ == "__main__":
    sys.exit(main())
