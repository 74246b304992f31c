"""export kubernetes --kustomize: kubectl renders each overlay into that environment's own export.

The overlays are computed from differences, so the strongest check is the round trip:
``kubectl kustomize overlays/<env>`` must give, object for object, what
``export kubernetes --env <env>`` writes (up to the name hash Kustomize adds to
generated ConfigMaps), and every rendered object must validate strictly.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from export_cli_support import cli as run_cli

from dev_orchestrator.export.kubevalidate import validate

SERVICES = """
name: shop
orchestrator: {env_var: SHOP_ENV}
settings:
  api: {port: 8080, workers: 2, api_token: base-token}
secrets:
  db_password: {file: ./db_password.txt}
services:
  db:
    docker:
      image: postgres:16
      volumes: ["pgdata:/var/lib/postgresql/data"]
      ports: ["5432"]
      healthcheck: {command: [pg_isready], interval: 5s}
    secrets: [db_password]
  api:
    docker:
      image: shop/api:1
      ports: ["8080"]
      healthcheck: {http: {url: "http://127.0.0.1:8080/health"}}
    depends_on: {db: {condition: service_healthy}}
  worker:
    docker: {image: shop/api:1, command: [worker]}
    depends_on: [db]
  debug:
    docker: {image: busybox:1.36, command: [sleep, infinity]}
"""

STAGING = """
settings:
  api: {workers: 4}
"""

PROD = """
settings:
  api: {workers: 8, log_level: warning, api_token: prod-token}
services:
  api:
    docker:
      image: registry.example.com:5000/shop/api:2
      ports: ["8080", "9090"]
    deploy: {replicas: 3}
    healthcheck: {http: {url: "http://127.0.0.1:8080/ready"}, start_period: 20s}
  worker:
    deploy: {replicas: 2}
  metrics:
    docker: {image: prom/statsd-exporter:v0.26.0, ports: ["9102"]}
  debug:
    enabled: false
"""

HASHED = re.compile(r"^(?P<name>.+)-[a-z0-9]{10}$")


def kubectl() -> str:
    found = shutil.which("kubectl")
    if found is None:
        pytest.fail("kubectl is not installed: these tests render the overlays with kubectl kustomize "
                    "(./dev test installs it on CI's machine image; install kubectl to run them)")
    return found


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "config").mkdir()
    (tmp_path / "services.yaml").write_text(SERVICES.lstrip())
    (tmp_path / "config" / "shop.staging.yaml").write_text(STAGING.lstrip())
    (tmp_path / "config" / "shop.prod.yaml").write_text(PROD.lstrip())
    (tmp_path / "db_password.txt").write_text("hunter2\n")
    return tmp_path


def cli(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, cwd=project, env={"SHOP_ENV": ""})


def by_key(objects: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(o["kind"], o["metadata"]["name"]): o for o in objects}


def unhash(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Generated ConfigMaps and the references to them, without Kustomize's name hash."""
    names: dict[str, str] = {}
    for obj in objects:
        if obj["kind"] == "ConfigMap":
            match = HASHED.match(obj["metadata"]["name"])
            assert match, f"a generated ConfigMap has a name hash: {obj['metadata']['name']}"
            names[obj["metadata"]["name"]] = match["name"]
            obj["metadata"]["name"] = match["name"]
    for obj in objects:
        for container in obj.get("spec", {}).get("template", {}).get("spec", {}).get("containers", []):
            for source in container.get("envFrom", []):
                ref = source.get("configMapRef")
                if ref is not None:
                    assert ref["name"] in names, f"{ref['name']} points at the generated ConfigMap"
                    ref["name"] = names[ref["name"]]
    return objects


def render(folder: Path) -> list[dict[str, Any]]:
    done = subprocess.run([kubectl(), "kustomize", str(folder)], capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr
    return [d for d in yaml.safe_load_all(done.stdout) if d]


def test_each_overlay_renders_to_its_environments_own_export(project: Path) -> None:
    done = cli(project, "export", "kubernetes", "--kustomize", "k8s", "--namespace", "shop", "--validate")
    assert done.returncode == 0, done.stderr
    assert "rendered base and every overlay; valid for Kubernetes 1.33" in done.stderr
    assert sorted(p.name for p in (project / "k8s" / "overlays").iterdir()) == ["prod", "staging"]
    for env in ["staging", "prod"]:
        direct = cli(project, "export", "kubernetes", "--env", env, "--namespace", "shop")
        assert direct.returncode == 0, direct.stderr
        expected = by_key([d for d in yaml.safe_load_all(direct.stdout) if d])
        rendered = by_key(unhash(render(project / "k8s" / "overlays" / env)))
        assert rendered == expected, env
        assert validate(list(rendered.values()), ["1.33"]) == []


def test_overlays_use_kustomize_forms_for_what_they_change(project: Path) -> None:
    assert cli(project, "export", "kubernetes", "--kustomize", "k8s").returncode == 0
    prod = yaml.safe_load((project / "k8s" / "overlays" / "prod" / "kustomization.yaml").read_text())
    assert prod["resources"][0] == "../../base"
    assert {"service-metrics.yaml", "deployment-metrics.yaml"} <= set(prod["resources"])  # only prod has it
    generators = {g["name"]: g for g in prod["configMapGenerator"]}
    assert generators["api-settings"] == {
        "name": "api-settings", "behavior": "merge",
        "literals": ["SHOP_ENV=prod", "API_WORKERS=8", "API_LOG_LEVEL=warning"],
    }
    assert "behavior" not in generators["metrics-settings"]  # new in prod
    assert {r["name"]: r["count"] for r in prod["replicas"]} == {"api": 3, "worker": 2}
    # worker keeps shop/api:1, so the api's new image is a patch, not an images: entry
    assert "images" not in prod
    patches = {p["path"]: p for p in prod["patches"]}
    api_patch = yaml.safe_load((project / "k8s" / "overlays" / "prod" / "patches" / "deployment-api.yaml").read_text())
    assert {"op": "replace", "path": "/spec/template/spec/containers/0/image",
            "value": "registry.example.com:5000/shop/api:2"} in api_patch
    assert patches["patches/deployment-api.yaml"]["target"] == {"kind": "Deployment", "name": "api"}
    deleted = yaml.safe_load((project / "k8s" / "overlays" / "prod" / "patches" / "delete-deployment-debug.yaml")
                             .read_text())
    assert deleted == {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "debug"},
                       "$patch": "delete"}
    staging = yaml.safe_load((project / "k8s" / "overlays" / "staging" / "kustomization.yaml").read_text())
    assert set(staging) == {"apiVersion", "kind", "resources", "configMapGenerator"}
    # the base holds no environment's file, and a secret value stays out of every ConfigMap
    base = yaml.safe_load((project / "k8s" / "base" / "kustomization.yaml").read_text())
    api = next(g for g in base["configMapGenerator"] if g["name"] == "api-settings")
    assert api["literals"] == ["SHOP_ENV=base", "API_PORT=8080", "API_WORKERS=2"]
    text = "".join(p.read_text() for p in (project / "k8s").rglob("*.yaml"))
    assert "hunter2" not in text
    assert "prod-token" in (project / "k8s" / "overlays" / "prod" / "patches" / "secret-api-secrets.yaml").read_text()


def test_an_image_that_changes_everywhere_becomes_an_images_entry(project: Path) -> None:
    (project / "config" / "shop.prod.yaml").write_text(
        "services:\n  api: {docker: {image: shop/api:2}}\n  worker: {docker: {image: shop/api:2}}\n")
    assert cli(project, "export", "kubernetes", "--kustomize", "k8s", "--validate").returncode == 0
    prod = yaml.safe_load((project / "k8s" / "overlays" / "prod" / "kustomization.yaml").read_text())
    assert prod["images"] == [{"name": "shop/api", "newTag": "2"}]
    assert "patches" not in prod
    rendered = by_key(render(project / "k8s" / "overlays" / "prod"))
    images = {n: o["spec"]["template"]["spec"]["containers"][0]["image"] for (k, n), o in rendered.items()
              if k == "Deployment"}
    assert images == {"db": "postgres:16", "api": "shop/api:2", "worker": "shop/api:2", "debug": "busybox:1.36"}


def test_a_second_export_removes_what_no_longer_belongs(project: Path) -> None:
    assert cli(project, "export", "kubernetes", "--kustomize", "k8s").returncode == 0
    prod = project / "k8s" / "overlays" / "prod"
    mine = [prod / "my-notes.txt", prod / "extra-patch.yaml"]  # the user's: kept
    for path in mine:
        path.write_text("kept")
    assert (prod / "patches" / "delete-deployment-debug.yaml").is_file()
    assert (prod / "deployment-metrics.yaml").is_file() and (prod / "service-metrics.yaml").is_file()
    (project / "config" / "shop.prod.yaml").write_text(
        PROD.replace("  debug:\n    enabled: false\n", "").split("  metrics:")[0])
    assert cli(project, "export", "kubernetes", "--kustomize", "k8s").returncode == 0
    assert not (prod / "patches" / "delete-deployment-debug.yaml").exists()
    assert not (prod / "deployment-metrics.yaml").exists() and not (prod / "service-metrics.yaml").exists()
    assert all(path.read_text() == "kept" for path in mine)


def test_kustomize_with_env_or_output_is_a_usage_error(project: Path) -> None:
    done = cli(project, "export", "kubernetes", "--kustomize", "k8s", "--env", "prod")
    assert done.returncode == 2
    assert "--kustomize writes every environment" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (project / "k8s").exists()


def test_the_repositorys_stack_renders_and_validates_in_every_environment(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[3]
    variables = {"DB_PASSWORD": "pw", "DB_HOST": "db", "PUBLIC_FRONTEND_URL": "https://app.example.com",
                 "VISUAL_BRAIN_API_KEY": "key", "REDIS_URL": "redis://redis:6379/0",
                 "PUBLIC_BACKEND_URL": "https://api.example.com"}
    done = run_cli("export", "kubernetes", "--kustomize", str(tmp_path / "k8s"), "--validate", cwd=root,
                   env=variables)
    assert done.returncode == 0, done.stderr
    overlays = sorted(p.name for p in (tmp_path / "k8s" / "overlays").iterdir())
    assert overlays == ["dev", "prod", "staging"]
    for env in overlays:
        direct = run_cli("export", "kubernetes", "--env", env, cwd=root, env=variables)
        assert direct.returncode == 0, direct.stderr
        expected = by_key([d for d in yaml.safe_load_all(direct.stdout) if d])
        assert by_key(unhash(render(tmp_path / "k8s" / "overlays" / env))) == expected, env
