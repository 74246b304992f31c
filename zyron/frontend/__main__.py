"""``python -m zyron.frontend``: serve the page on FRONTEND_HOST:FRONTEND_PORT."""

from __future__ import annotations

import logging
import sys

from .config import get_settings
from .server import serve


def main() -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    return serve(get_settings())


if __name__ == "__main__":
    sys.exit(main())
