"""Zyron AI: the backend API, the frontend page and the dev helpers of the stack."""

__version__ = "0.1.0"
