"""Configuration: models, the load pipeline, interpolation, merge, schema."""

from .loader import LoadedConfig, find_services_file, load
from .models import StackFile

__all__ = ["LoadedConfig", "StackFile", "find_services_file", "load"]
