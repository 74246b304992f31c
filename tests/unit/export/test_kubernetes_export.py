"""Kubernetes export: what each part of a stack becomes, and strict schema validity."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from export_unit_support import FIXTURES, KUBE_VERSIONS, MakeStack

from dev_orchestrator.config.loader import load
from dev_orchestrator.config.resolve import resolve
from dev_orchestrator.errors import ConfigError, UsageError
from dev_orchestrator.export.compose_import import import_compose
from dev_orchestrator.export.kubernetes import KubeOptions, export_kubernetes, k8s_name
from dev_orchestrator.export.kubevalidate import validate

SHOP = """
name: shop
orchestrator: {env_var: SHOP_ENV}
settings:
  api:
    port: 8080
    db_password: s3cret
    nested: {api_key: k, level: 3}
services:
  db:
    docker:
      image: postgres:16
      volumes: ["pgdata:/var/lib/postgresql/data", "/scratch"]
      environment: {POSTGRES_PASSWORD: pw, POSTGRES_USER: shop}
      ports: ["5432"]
      healthcheck: {command: [pg_isready], interval: 5s, timeout: 3s, retries: 5, start_period: 12s}
  migrate:
    docker: {image: "shop/api:1", command: "python manage.py migrate"}
    depends_on: {db: {condition: service_healthy}}
    restart: on-failure:2
  api:
    command: python -m api
    environment: {API_TOKEN: tok, LOG: "a$$(b)"}
    healthcheck:
      http: {url: "http://127.0.0.1:8081/health?full=1"}
      interval: 1500ms
      deep: {http: {url: "http://127.0.0.1:8081/deep"}}
    docker:
      image: shop/api:1
      entrypoint: [/entry.sh]
      command: [serve, --port, "8080"]
      ports: ["8081:8080", "9090:9090/udp"]
      volumes: ["./src:/app", "pgdata:/shared:ro"]
      user: "1000:1000"
    depends_on:
      db: {condition: service_healthy}
      migrate: {condition: service_completed_successfully}
    gpus: 2
    stop_grace_period: 30s
    restart: always
  local_tool:
    command: python -m tool
"""


def objects_by(result: Any) -> dict[tuple[str, str], dict[str, Any]]:
    return {(o["kind"], o["metadata"]["name"]): o for o in result.objects}


def container(obj: dict[str, Any]) -> dict[str, Any]:
    spec = obj["spec"]["template"]["spec"]
    return spec["containers"][0]


def test_workloads_services_and_claims(make_stack: MakeStack) -> None:
    result = export_kubernetes(make_stack(SHOP), environ={})
    objs = objects_by(result)
    assert ("Deployment", "db") in objs and ("Deployment", "api") in objs
    assert ("Job", "migrate") in objs and ("Deployment", "migrate") not in objs
    assert ("Service", "db") in objs and ("Service", "migrate") not in objs
    assert ("PersistentVolumeClaim", "pgdata") in objs
    api_ports = objs[("Service", "api")]["spec"]["ports"]
    assert [(p["port"], p["protocol"]) for p in api_ports] == [(8080, "TCP"), (9090, "UDP")]
    # one claim used twice in one pod becomes one volume, a Recreate strategy keeps RWO safe
    db = objs[("Deployment", "db")]
    assert db["spec"]["strategy"] == {"type": "Recreate"}
    volumes = db["spec"]["template"]["spec"]["volumes"]
    assert {"name": "pgdata", "persistentVolumeClaim": {"claimName": "pgdata"}} in volumes
    assert any("emptyDir" in v for v in volumes)


def test_process_only_services_are_reported_not_exported(make_stack: MakeStack) -> None:
    result = export_kubernetes(make_stack(SHOP), environ={})
    assert result.skipped == ["local_tool"]
    assert all(o["metadata"]["name"] != "local-tool" for o in result.objects)


def test_settings_to_configmap_and_secrets_to_secret(make_stack: MakeStack) -> None:
    objs = objects_by(export_kubernetes(make_stack(SHOP), environ={}))
    config = objs[("ConfigMap", "api-settings")]["data"]
    secret = objs[("Secret", "api-secrets")]["stringData"]
    # envFrom does not expand $(VAR), so the value is written as it is, unescaped
    assert config == {"SHOP_ENV": "dev", "API_PORT": "8080", "API_NESTED__LEVEL": "3", "LOG": "a$(b)"}
    assert secret == {"API_DB_PASSWORD": "s3cret", "API_NESTED__API_KEY": "k", "API_TOKEN": "tok"}
    api = container(objs[("Deployment", "api")])
    assert api["envFrom"] == [{"configMapRef": {"name": "api-settings"}}, {"secretRef": {"name": "api-secrets"}}]
    assert "env" not in api
    # one Secret per service: no service reads another one's secrets
    assert objs[("Secret", "db-secrets")]["stringData"] == {"POSTGRES_PASSWORD": "pw"}
    assert objs[("ConfigMap", "db-settings")]["data"] == {"SHOP_ENV": "dev", "POSTGRES_USER": "shop"}
    assert container(objs[("Deployment", "db")])["envFrom"] == [
        {"configMapRef": {"name": "db-settings"}}, {"secretRef": {"name": "db-secrets"}}]
    assert ("Secret", "shop-secrets") not in objs
    for (kind, _), obj in objs.items():
        if kind == "ConfigMap":
            assert not {"s3cret", "k", "tok", "pw"} & set(obj["data"].values())


def test_probes_map_with_container_ports_and_timings(make_stack: MakeStack) -> None:
    result = export_kubernetes(make_stack(SHOP), environ={})
    objs = objects_by(result)
    api = container(objs[("Deployment", "api")])
    assert api["readinessProbe"]["httpGet"] == {"path": "/health?full=1", "port": 8080}
    assert api["readinessProbe"]["periodSeconds"] == 2  # 1.5s rounds up
    assert api["readinessProbe"]["failureThreshold"] == 3  # compose and kubernetes: 3 failures in a row
    assert "startupProbe" not in api
    assert "livenessProbe" not in api  # only when the service asks for it
    assert any("deep probe" in n for n in result.notes)
    db = container(objs[("Deployment", "db")])
    assert db["readinessProbe"]["exec"] == {"command": ["pg_isready"]}
    assert db["readinessProbe"]["timeoutSeconds"] == 3
    assert db["startupProbe"]["failureThreshold"] == 3 + 5  # ceil(12/5) + retries
    assert "livenessProbe" not in db


def test_tcp_and_log_probes(make_stack: MakeStack) -> None:
    result = export_kubernetes(make_stack("""
        services:
          cache:
            docker: {image: redis:7, ports: ["6380:6379"]}
            healthcheck: {tcp: {port: 6380}}
          logger:
            docker: {image: busybox}
            healthcheck: {log: "ready"}
    """), environ={})
    objs = objects_by(result)
    assert container(objs[("Deployment", "cache")])["readinessProbe"]["tcpSocket"] == {"port": 6379}
    assert "readinessProbe" not in container(objs[("Deployment", "logger")])
    assert any("log probe" in n for n in result.notes)


def test_dependencies_become_init_containers(make_stack: MakeStack) -> None:
    objs = objects_by(export_kubernetes(make_stack(SHOP), environ={}))
    pod = objs[("Deployment", "api")]["spec"]["template"]["spec"]
    init = {c["name"]: c for c in pod["initContainers"]}
    assert init["wait-for-db"]["image"] == "busybox:1.36"
    assert "nc -z -w 2 db 5432" in init["wait-for-db"]["command"][-1]  # db's check is a command: TCP
    assert init["wait-for-migrate"]["args"] == ["wait", "--for=condition=complete", "job/migrate", "--timeout=300s"]
    assert pod["serviceAccountName"] == "shop-job-waiter"
    assert ("Role", "shop-job-waiter") in objs and ("RoleBinding", "shop-job-waiter") in objs


def test_restart_grace_gpu_user(make_stack: MakeStack) -> None:
    objs = objects_by(export_kubernetes(make_stack(SHOP), environ={}))
    job = objs[("Job", "migrate")]
    assert job["spec"]["backoffLimit"] == 2
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "OnFailure"
    api_pod = objs[("Deployment", "api")]["spec"]["template"]["spec"]
    assert api_pod["terminationGracePeriodSeconds"] == 30
    api = api_pod["containers"][0]
    assert api["resources"] == {"limits": {"nvidia.com/gpu": 2}}
    assert api["securityContext"] == {"runAsUser": 1000, "runAsGroup": 1000}
    assert api["command"] == ["/entry.sh"] and api["args"] == ["serve", "--port", "8080"]


def test_labels_and_namespace(make_stack: MakeStack) -> None:
    result = export_kubernetes(make_stack(SHOP), KubeOptions(namespace="shop-prod"), environ={})
    for obj in result.objects:
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/part-of"] == "shop"
        assert labels["app.kubernetes.io/managed-by"] == "dev-orchestrator"
        assert obj["metadata"]["namespace"] == "shop-prod"
    deployment = objects_by(result)[("Deployment", "api")]
    assert deployment["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] == "api"


def test_bind_mounts_and_claims_without_a_storage_class_are_reported(make_stack: MakeStack) -> None:
    result = export_kubernetes(make_stack(SHOP), environ={})
    assert any("host bind mount ./src -> /app has no Kubernetes form" in n for n in result.notes)
    assert any("volume claims pgdata: no storage class given" in n for n in result.notes)
    assert "storageClassName" not in objects_by(result)[("PersistentVolumeClaim", "pgdata")]["spec"]
    named = export_kubernetes(make_stack(SHOP), KubeOptions(storage_class="fast-ssd"), environ={})
    assert objects_by(named)[("PersistentVolumeClaim", "pgdata")]["spec"]["storageClassName"] == "fast-ssd"
    assert not any("storage class" in n for n in named.notes)
    with pytest.raises(UsageError, match="invalid storage class"):
        KubeOptions(storage_class="Fast SSD")


def test_output_is_deterministic(make_stack: MakeStack) -> None:
    first = export_kubernetes(make_stack(SHOP), environ={}).text()
    second = export_kubernetes(make_stack(SHOP), environ={}).text()
    assert first == second
    assert list(yaml.safe_load_all(first))[0]["kind"] == "ConfigMap"


def test_files_one_per_object(make_stack: MakeStack) -> None:
    result = export_kubernetes(make_stack(SHOP), environ={})
    files = result.files()
    assert len(files) == len(result.objects)
    assert "01-configmap-db-settings.yaml" in files


def test_nothing_exportable_is_a_usage_error(make_stack: MakeStack) -> None:
    with pytest.raises(UsageError, match="nothing to export"):
        export_kubernetes(make_stack("services:\n  a: {command: sleep 1}\n"), environ={})


@pytest.mark.parametrize(("name", "expected"), [("api", "api"), ("my_svc.v2", "my-svc-v2"), ("9lives", "s-9lives")])
def test_names_become_dns_labels(name: str, expected: str) -> None:
    assert k8s_name(name) == expected


def test_bad_options() -> None:
    with pytest.raises(UsageError):
        KubeOptions(kube_version="latest")
    with pytest.raises(UsageError):
        KubeOptions(namespace="Bad_NS")


@pytest.mark.parametrize("version", KUBE_VERSIONS)
def test_shop_validates_strictly(make_stack: MakeStack, version: str) -> None:
    result = export_kubernetes(make_stack(SHOP), KubeOptions(kube_version=version), environ={})
    assert validate(result.objects, [version]) == []


@pytest.mark.parametrize("fixture", ["web-db-cache", "worker-migrate", "healthchecks", "interpolation"])
def test_compose_fixtures_validate_strictly(tmp_path: Path, fixture: str) -> None:
    for extra in (FIXTURES / "compose").glob("*.env"):
        (tmp_path / extra.name).write_text(extra.read_text())
    imported = import_compose(FIXTURES / "compose" / f"{fixture}.yaml")
    (tmp_path / "services.yaml").write_text(imported.text())
    stack = resolve(load(tmp_path / "services.yaml", cwd=tmp_path, environ={}), docker=True, environ={})
    result = export_kubernetes(stack, environ={})
    assert validate(result.objects, list(KUBE_VERSIONS)) == []


def repository_environ(root: Path, env: str) -> dict[str, str]:
    """Variables for the repository's stack: .env.example's (commented ones too), else placeholders."""
    environ = {"ZYRON_ENV": env}
    example = root / ".env.example"
    lines = example.read_text().splitlines() if example.is_file() else []
    for line in lines:
        match = re.fullmatch(r"#?\s*([A-Z][A-Z0-9_]*)=(.*)", line.strip())
        if match:
            environ[match.group(1)] = match.group(2) or "placeholder-value"
    for _ in range(5):  # variables the example does not list: placeholders, found by their errors
        try:
            load(root / "services.yaml", env, cwd=root, environ=environ)
            break
        except ConfigError as exc:
            missing = re.findall(r"variable (\w+) is unset", str(exc))
            if not missing:
                raise
            environ.update({name: "placeholder-value" for name in missing})
    return environ


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_repository_stack_validates_strictly(env: str) -> None:
    root = Path(__file__).resolve().parents[3]
    environ = repository_environ(root, env)
    loaded = load(root / "services.yaml", env, cwd=root, environ=environ)
    result = export_kubernetes(resolve(loaded, docker=True, environ=environ), environ=environ)
    assert validate(result.objects, list(KUBE_VERSIONS)) == []
    kinds = {o["kind"] for o in result.objects}
    assert {"Deployment", "Service", "ConfigMap"} <= kinds


TAINTED = """
name: shop
settings:
  api:
    database: {url: "postgresql://shop:${DB_PASSWORD}@db/shop"}
    port: 8080
  web: {title: Shop}
services:
  api:
    docker:
      image: shop/api
      environment: {DSN: "pg://${DB_PASSWORD}@db", MODE: web}
  web:
    docker: {image: shop/web}
"""


def test_a_value_that_interpolates_a_secret_goes_to_the_secret(tmp_path: Path) -> None:
    (tmp_path / "services.yaml").write_text(TAINTED.lstrip())
    environ = {"DB_PASSWORD": "hunter2"}
    stack = resolve(load(tmp_path / "services.yaml", cwd=tmp_path, environ=environ), docker=True, environ=environ)
    objs = objects_by(export_kubernetes(stack, environ={}))
    assert objs[("ConfigMap", "api-settings")]["data"] == {"API_PORT": "8080", "MODE": "web"}
    assert objs[("ConfigMap", "web-settings")]["data"] == {"WEB_TITLE": "Shop"}
    for kind, name in objs:
        if kind == "ConfigMap" or kind == "Deployment":
            assert "hunter2" not in yaml.safe_dump(objs[(kind, name)])
    assert objs[("Secret", "api-secrets")]["stringData"] == {
        "API_DATABASE__URL": "postgresql://shop:hunter2@db/shop",
        "DSN": "pg://hunter2@db",
    }
    assert container(objs[("Deployment", "api")])["envFrom"] == [
        {"configMapRef": {"name": "api-settings"}}, {"secretRef": {"name": "api-secrets"}}]
    assert ("Secret", "web-secrets") not in objs
    assert container(objs[("Deployment", "web")])["envFrom"] == [{"configMapRef": {"name": "web-settings"}}]


SECRET_FILES = """
name: shop
secrets:
  db_password: {file: ./db_password.txt}
  api_key: {environment: SHOP_API_KEY}
services:
  api:
    docker:
      image: shop/api
      volumes: ["./conf:/conf"]
    secrets: [db_password, {source: api_key, target: /etc/shop/key}]
"""


def test_stack_secrets_are_mounted_from_secrets_the_user_creates(tmp_path: Path) -> None:
    (tmp_path / "services.yaml").write_text(SECRET_FILES.lstrip())
    (tmp_path / "db_password.txt").write_text("hunter2\n")
    environ = {"SHOP_API_KEY": "k-123"}
    stack = resolve(load(tmp_path / "services.yaml", cwd=tmp_path, environ=environ), docker=True, environ=environ)
    result = export_kubernetes(stack, KubeOptions(namespace="shop"), environ=environ)
    text = result.text()
    assert "hunter2" not in text and "k-123" not in text  # values stay where they are kept
    pod = objects_by(result)[("Deployment", "api")]["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["run-secrets"] == {"name": "run-secrets", "projected": {"sources": [
        {"secret": {"name": "shop-db-password", "items": [{"key": "db_password", "path": "db_password"}]}}]}}
    assert volumes["secret-1"]["projected"]["sources"] == [
        {"secret": {"name": "shop-api-key", "items": [{"key": "api_key", "path": "key"}]}}]
    mounts = pod["containers"][0]["volumeMounts"]
    assert mounts == [
        {"name": "run-secrets", "mountPath": "/run/secrets", "readOnly": True},
        {"name": "secret-1", "mountPath": "/etc/shop/key", "subPath": "key", "readOnly": True},
    ]  # the secret files' own bind mounts are not reported as bind mounts; ./conf is
    notes = list(result.notes)
    assert ("secret db_password: not written into the manifests; create Secret shop-db-password before "
            "applying: kubectl create secret generic shop-db-password -n shop "
            "--from-file=db_password=./db_password.txt") in notes
    assert any('--from-literal=api_key="$SHOP_API_KEY"' in n for n in notes)
    assert [n for n in notes if "bind mount" in n] == [
        "api: host bind mount ./conf -> /conf has no Kubernetes form (a pod runs on any node); left out: "
        "bake the files into the image, or use a ConfigMap or a volume"]
    assert validate(result.objects, ["1.33"]) == []
