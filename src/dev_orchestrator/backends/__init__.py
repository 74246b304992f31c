"""Backends run one service each: local processes (process.py) and containers (docker.py)."""
