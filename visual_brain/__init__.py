"""Visual Brain: the image and inference service of Zyron AI."""

__version__ = "0.1.0"
