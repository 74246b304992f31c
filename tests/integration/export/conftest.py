"""Fixtures of the export integration tests (helpers live in export_cli_support)."""

from export_cli_support import busybox_image, project_factory

__all__ = ["busybox_image", "project_factory"]
