"""Configuration: models, the load pipeline, interpolation, merge, schema.

Names are imported lazily so that ``config.locate`` stays cheap for quick commands.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .loader import LoadedConfig, load
    from .locate import find_services_file
    from .models import StackFile

__all__ = ["LoadedConfig", "StackFile", "find_services_file", "load"]


def __getattr__(name: str) -> Any:
    if name in ("LoadedConfig", "load"):
        from . import loader

        return getattr(loader, name)
    if name == "find_services_file":
        from .locate import find_services_file

        return find_services_file
    if name == "StackFile":
        from .models import StackFile

        return StackFile
    raise AttributeError(name)
