"""`python -m dev_orchestrator.cli` runs the CLI."""

from . import main

main()
