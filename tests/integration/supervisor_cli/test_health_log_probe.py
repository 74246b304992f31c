"""A log probe's readiness holds once reached: `health` reports it healthy and exits 0."""

from __future__ import annotations

import json
import sys

from .conftest import Project

READY = json.dumps([sys.executable, "-c", "import time; print('server ready', flush=True); time.sleep(600)"])


def test_health_reports_a_reached_log_probe_as_healthy(project: Project) -> None:
    project.write(
        f"""
        name: demo
        services:
          worker:
            command: {READY}
            healthcheck: {{log: "server ready"}}
        """
    )
    project.run("start", check=True)
    assert project.status()["services"]["worker"]["health"] == "healthy"
    proc = project.run("health", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert report["healthy"] is True
    assert report["services"]["worker"]["healthy"] is True
    assert "matched at start-up" in report["services"]["worker"]["detail"]
    project.run("stop", "worker", check=True)
    proc = project.run("health", "--json")
    assert proc.returncode == 1
