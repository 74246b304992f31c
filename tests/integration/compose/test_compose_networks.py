"""A compose file's networks, aliases and container options on the real engine.

`api` is on two networks with an alias on one; `front-client` shares only the first,
`back-client` only the second: each resolves what compose would let it resolve. The
container options (hostname, labels, a read-only root with a tmpfs, dropped
capabilities, extra hosts, ulimits, shm size) are read back from the engine.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from compose_cli_support import cli

IDLE = "trap 'exit 0' TERM; sleep 1000 & wait"
COMPOSE = """
name: {project}
x-idle: &idle
  image: {image}
  command: ["sh", "-c", "{idle}"]
services:
  api:
    image: {image}
    command: ["sh", "-c", "trap 'exit 0' TERM; echo api > /www/index.html; httpd -f -p 8080 -h /www & wait"]
    hostname: api-host
    labels: [team=core]
    read_only: true
    tmpfs: ["/www:size=1m"]
    cap_drop: [NET_RAW]
    extra_hosts: {{"db.local": "10.1.2.3"}}
    ulimits: {{nofile: {{soft: 512, hard: 1024}}}}
    shm_size: 32m
    expose: ["8080"]
    networks:
      front: {{aliases: [www]}}
      back:
  front-client:
    <<: *idle
    networks: [front]
  back-client:
    <<: *idle
    networks: [back]
networks:
  front:
  back:
"""


def _exec(client: Any, name: str, *argv: str) -> tuple[int, str]:
    code, out = client.containers.get(name).exec_run(list(argv))
    return code, out.decode(errors="replace")


def test_two_networks_with_an_alias_and_the_container_options(
    tmp_path: Path, busybox_image: str, project: str, docker_client: Any
) -> None:
    (tmp_path / "compose.yaml").write_text(textwrap.dedent(COMPOSE.format(project=project, image=busybox_image,
                                                                           idle=IDLE)))
    try:
        started = cli("start", "-f", "compose.yaml", cwd=tmp_path)
        assert started.returncode == 0, started.stdout + started.stderr
        front, back, api = f"{project}-front-client", f"{project}-back-client", f"{project}-api"
        # the alias answers on front only; the service name on both networks
        assert _exec(docker_client, front, "wget", "-q", "-O", "-", "http://www:8080/") == (0, "api\n")
        assert _exec(docker_client, back, "wget", "-q", "-O", "-", "http://api:8080/") == (0, "api\n")
        assert _exec(docker_client, back, "wget", "-q", "-T", "2", "-O", "-", "http://www:8080/")[0] != 0
        assert _exec(docker_client, front, "nslookup", "back-client")[0] != 0  # not on a shared network
        attrs = docker_client.api.inspect_container(api)
        networks = attrs["NetworkSettings"]["Networks"]
        assert set(networks) == {f"{project}_front", f"{project}_back"}
        assert "www" in networks[f"{project}_front"]["Aliases"]
        config, host = attrs["Config"], attrs["HostConfig"]
        assert config["Hostname"] == "api-host"
        assert config["Labels"]["team"] == "core" and config["Labels"]["dev-orchestrator.project"] == project
        assert "8080/tcp" in config["ExposedPorts"]
        assert host["ReadonlyRootfs"] is True and "/www" in host["Tmpfs"]
        assert host["CapDrop"] == ["NET_RAW"]
        assert host["ExtraHosts"] == ["db.local:10.1.2.3"]
        assert host["Ulimits"] == [{"Name": "nofile", "Soft": 512, "Hard": 1024}]
        assert host["ShmSize"] == 32 * 1024 * 1024
        assert _exec(docker_client, api, "touch", "/x")[0] != 0  # the root is read-only
        assert _exec(docker_client, api, "hostname") == (0, "api-host\n")
    finally:
        stopped = cli("stop", "-f", "compose.yaml", cwd=tmp_path)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert docker_client.containers.list(all=True, filters={"label": f"dev-orchestrator.project={project}"}) == []
    assert docker_client.networks.list(filters={"label": f"dev-orchestrator.project={project}"}) == []
