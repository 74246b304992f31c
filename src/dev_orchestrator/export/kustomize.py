"""Kustomize layout of a stack: a ``base/`` and one ``overlays/<env>/`` per environment.

The base is the stack without any environment's file (services.yaml and
config/base.yaml); each overlay is what that environment's export changes in it, in
the forms Kustomize has for it:

- a service's settings: ``configMapGenerator`` entries, ``behavior: merge`` with the
  keys the environment adds or changes (``replace`` when it also drops keys); the base
  generates each ConfigMap, so Kustomize's name hash rolls the pods on a change;
- a Deployment's count: ``replicas``;
- a container's image: ``images`` (name, newName, newTag), when every container of that
  image changes the same way; otherwise the image goes into the patch below;
- anything else that differs (ports, probes, environment, volumes, init containers...):
  one JSON 6902 patch per object, of the exact fields that differ;
- an object only the environment has: a resource of the overlay; one it does not have:
  a ``$patch: delete`` patch.

Applying an overlay's patches to the base gives the environment's own export, object
for object: the test renders every overlay with ``kubectl kustomize`` and compares.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .kubernetes import KubeExport
from .render import dump_all
from .view import Notes

Key = tuple[str, str]  # (kind, name)


@dataclass
class KustomizeExport:
    """Files by path relative to the output folder, and what could not be carried."""

    files: dict[str, str]
    notes: Notes = field(default_factory=Notes)
    envs: list[str] = field(default_factory=list)


def _key(obj: Mapping[str, Any]) -> Key:
    return (str(obj["kind"]), str(obj["metadata"]["name"]))


def _file_name(obj: Mapping[str, Any]) -> str:
    return f"{obj['kind'].lower()}-{obj['metadata']['name']}.yaml"


def _literals(data: Mapping[str, str]) -> list[str]:
    return [f"{k}={v}" for k, v in data.items()]


def _pointer(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


def json_patch(old: Any, new: Any, path: str = "") -> list[dict[str, Any]]:
    """JSON 6902 operations that turn ``old`` into ``new``, as small as the structure allows.

    Mappings are compared key by key; lists of the same length whose items are mappings
    with the same ``name`` (containers, ports, volumes...) item by item; any other list
    that differs is replaced whole.
    """
    if isinstance(old, dict) and isinstance(new, dict):
        ops: list[dict[str, Any]] = []
        for key in old:
            if key not in new:
                ops.append({"op": "remove", "path": f"{path}/{_pointer(str(key))}"})
        for key, value in new.items():
            where = f"{path}/{_pointer(str(key))}"
            if key not in old:
                ops.append({"op": "add", "path": where, "value": value})
            elif old[key] != value:
                ops.extend(json_patch(old[key], value, where))
        return ops
    if old == new:
        return []
    if (
        isinstance(old, list) and isinstance(new, list) and len(old) == len(new)
        and all(isinstance(a, dict) and isinstance(b, dict) and a.get("name") == b.get("name")
                for a, b in zip(old, new, strict=True))
    ):
        ops = []
        for index, (a, b) in enumerate(zip(old, new, strict=True)):
            ops.extend(json_patch(a, b, f"{path}/{index}"))
        return ops
    return [{"op": "replace", "path": path, "value": new}]  # "" is the whole document


def split_image(image: str) -> tuple[str, str | None, str | None]:
    """``name``, ``tag`` and ``digest`` of an image reference (a registry port is not a tag)."""
    digest = None
    if "@" in image:
        image, digest = image.split("@", 1)
    slash = image.rfind("/")
    colon = image.rfind(":")
    if colon > slash:
        return image[:colon], image[colon + 1:], digest
    return image, None, digest


def _containers(obj: Mapping[str, Any]) -> list[dict[str, Any]]:
    spec = obj.get("spec", {}).get("template", {}).get("spec", {})
    return [*spec.get("initContainers", []), *spec.get("containers", [])]


class _Overlay:
    def __init__(self, base: KubeExport, env: str, export: KubeExport, namespace: str | None) -> None:
        self.base = {_key(o): o for o in base.objects}
        self.env = env
        self.objects = {_key(o): o for o in export.objects}
        self.files: dict[str, str] = {}
        self.kustomization: dict[str, Any] = {"apiVersion": "kustomize.config.k8s.io/v1beta1",
                                              "kind": "Kustomization"}
        if namespace:  # the overlay's own generated ConfigMaps, and references to them, are namespaced too
            self.kustomization["namespace"] = namespace
        self.kustomization["resources"] = ["../../base"]

    def build(self) -> dict[str, str]:
        generators: list[dict[str, Any]] = []
        patches: list[dict[str, Any]] = []
        images = self.images()
        replicas: list[dict[str, Any]] = []
        for key, obj in self.objects.items():
            kind, name = key
            old = self.base.get(key)
            if kind == "ConfigMap":
                generator = self.config_map(name, old, obj)
                if generator is not None:
                    generators.append(generator)
                continue
            if old is None:
                self.files[_file_name(obj)] = dump_all([obj])
                self.kustomization["resources"].append(_file_name(obj))
                continue
            expected = copy.deepcopy(old)
            if kind == "Deployment" and old["spec"].get("replicas") != obj["spec"].get("replicas"):
                replicas.append({"name": name, "count": obj["spec"]["replicas"]})
                expected["spec"]["replicas"] = obj["spec"]["replicas"]
            for container in _containers(expected):
                container["image"] = images.get(container["image"], container["image"])
            ops = json_patch(expected, obj)
            if ops:
                path = f"patches/{kind.lower()}-{name}.yaml"
                self.files[path] = dump_all([ops])
                patches.append({"path": path, "target": {"kind": kind, "name": name}})
        for key, old in self.base.items():
            if key not in self.objects:
                kind, name = key
                path = f"patches/delete-{kind.lower()}-{name}.yaml"
                self.files[path] = dump_all([{"apiVersion": old["apiVersion"], "kind": kind,
                                              "metadata": {"name": name}, "$patch": "delete"}])
                patches.append({"path": path, "target": {"kind": kind, "name": name}})
        if generators:
            self.kustomization["configMapGenerator"] = generators
        if replicas:
            self.kustomization["replicas"] = replicas
        if images:
            entries = []
            for before, after in images.items():
                name, _, _ = split_image(before)
                new_name, tag, digest = split_image(after)
                entry: dict[str, Any] = {"name": name}
                if new_name != name:
                    entry["newName"] = new_name
                if digest:
                    entry["digest"] = digest
                elif tag:
                    entry["newTag"] = tag
                entries.append(entry)
            self.kustomization["images"] = entries
        if patches:
            self.kustomization["patches"] = patches
        self.files["kustomization.yaml"] = dump_all([self.kustomization])
        return self.files

    def config_map(self, name: str, old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> dict[str, Any] | None:
        data: dict[str, str] = new.get("data", {})
        if old is None:
            return {"name": name, "literals": _literals(data),
                    "options": {"labels": dict(new["metadata"]["labels"])}}
        before: dict[str, str] = old.get("data", {})
        if before == data:
            return None
        if set(before) - set(data):  # merge cannot drop a key
            return {"name": name, "behavior": "replace", "literals": _literals(data)}
        changed = {k: v for k, v in data.items() if before.get(k) != v}
        return {"name": name, "behavior": "merge", "literals": _literals(changed)}

    def images(self) -> dict[str, str]:
        """Image changes that hold for every container of that image name (Kustomize matches by name)."""
        by_name: dict[str, set[tuple[str, str]]] = {}
        for key, old in self.base.items():
            new = self.objects.get(key)
            olds = _containers(old)
            news = {c["name"]: c["image"] for c in _containers(new)} if new is not None else {}
            for container in olds:
                name = split_image(container["image"])[0]
                by_name.setdefault(name, set()).add((container["image"], news.get(container["name"], "")))
        fresh: dict[str, set[str]] = {}  # the overlay's own objects: the transformer changes them too
        for key, new in self.objects.items():
            if key not in self.base:
                for container in _containers(new):
                    fresh.setdefault(split_image(container["image"])[0], set()).add(container["image"])
        out: dict[str, str] = {}
        for name, pairs in by_name.items():
            if len(pairs) != 1:
                continue  # containers of one image change differently (or not all): patches say it
            before, after = next(iter(pairs))
            if after and after != before and fresh.get(name, {after}) <= {after}:
                out[before] = after
        return out


def _base(export: KubeExport, namespace: str | None) -> dict[str, str]:
    files: dict[str, str] = {}
    resources: list[str] = []
    generators: list[dict[str, Any]] = []
    for obj in export.objects:
        if obj["kind"] == "ConfigMap":
            generators.append({"name": obj["metadata"]["name"], "literals": _literals(obj.get("data", {})),
                               "options": {"labels": dict(obj["metadata"]["labels"])}})
            continue
        files[_file_name(obj)] = dump_all([obj], export.header)
        resources.append(_file_name(obj))
    kustomization: dict[str, Any] = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization"}
    if namespace:
        kustomization["namespace"] = namespace  # generated ConfigMaps too
    kustomization["resources"] = resources
    if generators:
        kustomization["configMapGenerator"] = generators
    files["kustomization.yaml"] = dump_all([kustomization])
    return files


def export_kustomize(base: KubeExport, envs: Mapping[str, KubeExport], namespace: str | None = None) -> KustomizeExport:
    """``base/`` from the base export, ``overlays/<env>/`` from each environment's export."""
    files = {f"base/{path}": text for path, text in _base(base, namespace).items()}
    notes = Notes()
    for note in base.notes:
        notes.add(f"base: {note}")
    for env, export in envs.items():
        for path, text in _Overlay(base, env, export, namespace).build().items():
            files[f"overlays/{env}/{path}"] = text
        for note in export.notes:
            if note not in base.notes:
                notes.add(f"{env}: {note}")
    return KustomizeExport(files, notes, list(envs))


def render(folder: str) -> list[dict[str, Any]]:
    """``kubectl kustomize FOLDER``, parsed; a UsageError when kubectl is missing or refuses."""
    import shutil
    import subprocess

    import yaml

    from ..errors import OrchestratorError, UsageError

    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise UsageError("rendering the overlays needs kubectl (kubectl kustomize)",
                         hint="install kubectl, or drop --validate")
    done = subprocess.run([kubectl, "kustomize", folder], capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise OrchestratorError(f"kubectl kustomize {folder} failed: {done.stderr.strip()}")
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]
