"""Moving a stack to other engines: Kubernetes and Compose exports, Compose and Procfile imports."""

from .compose import ComposeExport, export_compose
from .compose_import import import_compose, import_compose_text
from .imported import Imported
from .kubernetes import KubeExport, KubeOptions, export_kubernetes
from .procfile import import_procfile

__all__ = [
    "ComposeExport",
    "Imported",
    "KubeExport",
    "KubeOptions",
    "export_compose",
    "export_kubernetes",
    "import_compose",
    "import_compose_text",
    "import_procfile",
]
