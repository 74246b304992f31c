"""The export and import commands as a user runs them: files, messages, exit codes."""

from __future__ import annotations

import shutil
import sys
import textwrap
from pathlib import Path

import yaml
from export_cli_support import FIXTURES, cli

KUBE_VERSIONS = ("1.30", "1.37")

STACK = """
name: demo
settings:
  web: {greeting: hi, api_token: t0ken}
services:
  db:
    docker:
      image: postgres:16
      volumes: ["dbdata:/var/lib/postgresql/data"]
      ports: ["5432"]
      healthcheck: {command: [pg_isready], interval: 2s}
  web:
    command: python -m http.server 8080
    docker: {image: "nginx:1.27", ports: ["8080:80"]}
    healthcheck: {http: {url: "http://127.0.0.1:8080/"}}
    depends_on: {db: {condition: service_healthy}}
  notes:
    command: python -m notes
"""


def write_stack(folder: Path, text: str = STACK) -> None:
    (folder / "services.yaml").write_text(textwrap.dedent(text).lstrip())


def test_export_kubernetes_to_stdout_lists_what_is_not_exported(tmp_path: Path) -> None:
    write_stack(tmp_path)
    done = cli("export", "kubernetes", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    documents = list(yaml.safe_load_all(done.stdout))
    kinds = [d["kind"] for d in documents]
    assert kinds.count("Deployment") == 2 and "Secret" in kinds
    config_maps = {d["metadata"]["name"]: d["data"] for d in documents if d["kind"] == "ConfigMap"}
    assert config_maps == {"web-settings": {"WEB_GREETING": "hi"}}  # settings.web reaches web alone
    assert "t0ken" not in yaml.safe_dump(config_maps)
    assert "not exported" in done.stderr and "notes" in done.stderr
    assert "Traceback" not in done.stderr


def test_export_kubernetes_files_pass_kubernetes_validate_strict(tmp_path: Path) -> None:
    write_stack(tmp_path)
    out = tmp_path / "k8s"
    out.mkdir()
    (out / "99-deployment-gone.yaml").write_text("stale\n")
    (out / "README.md").write_text("kept\n")
    done = cli("export", "kubernetes", "-o", "k8s", "--namespace", "demo", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    names = sorted(p.name for p in out.iterdir())
    assert "99-deployment-gone.yaml" not in names and "README.md" in names
    tool = Path(sys.executable).parent / "kubernetes-validate"
    files = [str(p) for p in sorted(out.glob("*.yaml"))]
    for version in KUBE_VERSIONS:
        import subprocess

        checked = subprocess.run(
            [str(tool), "--strict", "-k", version, *files], capture_output=True, text=True, timeout=120
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr


def test_export_kubernetes_validate_flag(tmp_path: Path) -> None:
    write_stack(tmp_path)
    done = cli("export", "kubernetes", "--validate", "--kube-version", "1.37", "-o", "all.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "all.yaml").read_text().startswith("# Kubernetes manifests of demo")


def test_export_is_byte_for_byte_stable(tmp_path: Path) -> None:
    write_stack(tmp_path)
    first = cli("export", "kubernetes", "--env", "dev", cwd=tmp_path).stdout
    second = cli("export", "kubernetes", "--env", "dev", cwd=tmp_path).stdout
    assert first == second
    assert cli("export", "compose", cwd=tmp_path).stdout == cli("export", "compose", cwd=tmp_path).stdout


def test_export_without_any_image_is_exit_2(tmp_path: Path) -> None:
    write_stack(tmp_path, "services:\n  a: {command: sleep 1}\n")
    for kind in ("kubernetes", "compose"):
        done = cli("export", kind, cwd=tmp_path)
        assert done.returncode == 2
        assert "nothing to export" in done.stderr and "Traceback" not in done.stderr


def test_export_bad_kube_version_is_exit_2(tmp_path: Path) -> None:
    write_stack(tmp_path)
    done = cli("export", "kubernetes", "--kube-version", "v2", cwd=tmp_path)
    assert done.returncode == 2 and "invalid Kubernetes version" in done.stderr


def test_import_compose_writes_a_valid_services_yaml(tmp_path: Path) -> None:
    shutil.copy(FIXTURES / "compose" / "web-db-cache.yaml", tmp_path / "docker-compose.yml")
    done = cli("import", "compose", "docker-compose.yml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    written = yaml.safe_load((tmp_path / "services.yaml").read_text())
    assert written["services"]["web"]["docker"]["networks"] == ["front"]  # carried, not noted
    assert cli("config", "validate", cwd=tmp_path).returncode == 0
    again = cli("import", "compose", "docker-compose.yml", cwd=tmp_path)
    assert again.returncode == 2 and "already exists" in again.stderr
    assert cli("import", "compose", "docker-compose.yml", "--force", cwd=tmp_path).returncode == 0


def test_import_bad_compose_is_exit_2_with_paths(tmp_path: Path) -> None:
    done = cli("import", "compose", str(FIXTURES / "compose" / "bad-keys.yaml"), "-o", "-", cwd=tmp_path)
    assert done.returncode == 2
    assert "services.web.imgae: unknown compose key" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "services.yaml").exists()


def test_import_procfile_with_ports_and_env_file(tmp_path: Path) -> None:
    for name in ("Procfile", "app.env"):
        shutil.copy(FIXTURES / "procfile" / name, tmp_path / name)
    done = cli("import", "procfile", "Procfile", "--env-file", "app.env", "--ports", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    document = yaml.safe_load((tmp_path / "services.yaml").read_text())
    assert document["services"]["web"]["environment"] == {"PORT": "5000"}
    assert document["services"]["clock"]["env_file"] == ["./app.env"]
    shown = cli("config", "--json", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "$PORT" in shown.stdout  # the shell expands it, not the loader


SECRET_STACK = """
name: demo
orchestrator: {env_var: DEMO_ENV}
settings:
  web: {database: {url: "postgresql://demo:${DB_PASSWORD}@db/demo"}, greeting: hi}
services:
  web:
    docker: {image: "nginx:1.27", environment: {UPSTREAM_TOKEN: "${UPSTREAM_TOKEN:-none}"}}
"""


def test_export_compose_writes_secrets_as_references_and_an_env_example(tmp_path: Path) -> None:
    write_stack(tmp_path, SECRET_STACK)
    secrets = {"DB_PASSWORD": "hunter2-pw", "UPSTREAM_TOKEN": "upstream-tok"}
    done = cli("export", "compose", "-o", "deploy/compose.yaml", cwd=tmp_path, env=secrets)
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "deploy" / "compose.yaml").read_text()
    assert "hunter2-pw" not in text and "upstream-tok" not in text
    env = yaml.safe_load(text)["services"]["web"]["environment"]
    assert env == {
        "DEMO_ENV": "dev",
        "WEB_DATABASE__URL": "postgresql://demo:${DB_PASSWORD}@db/demo",
        "WEB_GREETING": "hi",
        "UPSTREAM_TOKEN": "${UPSTREAM_TOKEN:-none}",
    }
    example = (tmp_path / "deploy" / ".env.example").read_text()
    assert example.splitlines()[2:] == ["DB_PASSWORD=", "UPSTREAM_TOKEN="]
    assert "hunter2-pw" not in example
    # an .env.example of the project's own is never overwritten
    (tmp_path / ".env.example").write_text("# mine\nA=1\n")
    again = cli("export", "compose", "-o", "compose.yaml", cwd=tmp_path, env=secrets)
    assert again.returncode == 0, again.stderr
    assert (tmp_path / ".env.example").read_text() == "# mine\nA=1\n"
    assert "was not written by this export" in again.stderr and "DB_PASSWORD, UPSTREAM_TOKEN" in again.stderr
    shown = cli("export", "compose", cwd=tmp_path, env=secrets)
    assert "hunter2-pw" not in shown.stdout
    assert "set DB_PASSWORD, UPSTREAM_TOKEN in .env next to the compose file" in shown.stderr
