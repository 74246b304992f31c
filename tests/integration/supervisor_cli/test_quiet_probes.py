"""Once healthy, liveness probes every interval (default 10 s), not at start-up's pace."""

from __future__ import annotations

import time

from .conftest import Project


def requests_seen(project: Project, name: str) -> int:
    return (project.root / "logs" / f"{name}.log").read_text().count("request /")


def test_a_healthy_service_is_probed_at_its_liveness_interval(project: Project, ports: list[int]) -> None:
    quiet, chatty = ports[0], ports[1]
    project.write(
        f"""
        name: demo
        services:
          quiet:
            command: {project.server(quiet, 0.5)}
            healthcheck: {{http: {{url: "http://127.0.0.1:{quiet}/"}}}}
          chatty:
            command: {project.server(chatty, 0.5)}
            healthcheck: {{http: {{url: "http://127.0.0.1:{chatty}/"}}, interval: 500ms}}
        """
    )
    project.run("start", check=True)
    time.sleep(0.3)  # let the last start-up request reach the log
    quiet_after_start = requests_seen(project, "quiet")
    chatty_after_start = requests_seen(project, "chatty")
    assert quiet_after_start >= 1 and chatty_after_start >= 1
    time.sleep(3.0)
    # default interval 10s: no probe in 3 s; interval 500ms: about 6 (at least 3, at most 8)
    assert requests_seen(project, "quiet") == quiet_after_start
    assert 3 <= requests_seen(project, "chatty") - chatty_after_start <= 8
