"""dev-orchestrator: run a stack of local processes and containers from one services.yaml."""

__version__ = "0.1.0"
