"""Render a kustomization without a kustomize binary: the subset of kustomize that deploy/ uses.

    python deploy/render.py deploy/overlays/production      # prints the objects as YAML

Supported fields: ``resources`` (files and directories with a kustomization), ``namespace``,
``labels`` (pairs, includeSelectors, includeTemplates), ``images`` (newName, newTag, digest),
``replicas`` and ``patches`` given as strategic-merge patches without a ``target`` (the patch
names its object by kind and metadata.name). Anything else fails loudly instead of being
ignored: use ``kubectl kustomize`` for it, and extend this file only together with a check that
both agree (``deploy/check.py`` compares the two whenever kubectl or kustomize is on PATH).
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

import yaml

Obj = dict[str, Any]

SUPPORTED = {"apiVersion", "kind", "resources", "namespace", "labels", "images", "replicas", "patches"}
KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
# Kinds without a namespace (the ones a deployment like ours could contain).
CLUSTER_SCOPED = {
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "PersistentVolume",
    "StorageClass",
    "PriorityClass",
    "IngressClass",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
}
WORKLOADS_WITH_TEMPLATE = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}
SCALABLE = {"Deployment", "StatefulSet", "ReplicaSet"}
# patchMergeKey of the lists a strategic-merge patch of our objects can touch
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "env": "name",
    "envFrom": None,  # no merge key in the API: replaced whole
    "volumes": "name",
    "volumeMounts": "mountPath",
    "imagePullSecrets": "name",
    "topologySpreadConstraints": "topologyKey",
}


class RenderError(Exception):
    pass


def _load_kustomization(directory: Path) -> Obj:
    for name in KUSTOMIZATION_FILES:
        path = directory / name
        if path.is_file():
            docs = _load_yaml(path)
            data = docs[0] if docs else {}
            unknown = set(data) - SUPPORTED
            if unknown:
                raise RenderError(f"{path}: fields not supported by deploy/render.py: {sorted(unknown)}")
            return data
    raise RenderError(f"{directory}: no kustomization.yaml")


def _load_yaml(path: Path) -> list[Any]:
    try:
        return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]
    except yaml.YAMLError as exc:
        raise RenderError(f"{path}: {exc}") from exc
    except OSError as exc:
        raise RenderError(f"{path}: {exc.strerror}") from exc


def _load_objects(path: Path) -> list[Obj]:
    objs = _load_yaml(path)
    for obj in objs:
        if not isinstance(obj, dict) or "kind" not in obj or "metadata" not in obj:
            raise RenderError(f"{path}: not a Kubernetes object: {str(obj)[:80]}")
    return objs


def _merge_list(base: list[Any], patch: list[Any], key: str) -> list[Any]:
    merged = copy.deepcopy(base)
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            raise RenderError(f"list item without its merge key {key!r}: {item!r}")
        for existing in merged:
            if isinstance(existing, dict) and existing.get(key) == item[key]:
                strategic_merge(existing, item)
                break
        else:
            merged.append(copy.deepcopy(item))
    return merged


def strategic_merge(base: Obj, patch: Obj) -> Obj:
    """Merge ``patch`` into ``base`` in place: maps recursively, keyed lists by key, the rest replaced."""
    for key, value in patch.items():
        if key.startswith("$"):
            raise RenderError(f"patch directive {key!r} is not supported by deploy/render.py")
        if value is None:
            base.pop(key, None)
        elif isinstance(value, dict) and isinstance(base.get(key), dict):
            strategic_merge(base[key], value)
        elif isinstance(value, list) and isinstance(base.get(key), list):
            merge_key = MERGE_KEYS.get(key)
            if key == "ports":  # containers: containerPort; Service: port
                merge_key = "containerPort" if all("containerPort" in p for p in value) else "port"
            base[key] = _merge_list(base[key], value, merge_key) if merge_key else copy.deepcopy(value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def _apply_patch(objs: list[Obj], patch: Obj, where: str) -> None:
    if not isinstance(patch, dict) or "kind" not in patch or "name" not in patch.get("metadata", {}):
        raise RenderError(f"{where}: only strategic-merge patches naming kind and metadata.name")
    kind, name = patch["kind"], patch["metadata"]["name"]
    namespace = patch["metadata"].get("namespace")
    hits = [
        o
        for o in objs
        if o["kind"] == kind
        and o["metadata"]["name"] == name
        and (namespace is None or o["metadata"].get("namespace") == namespace)
    ]
    if len(hits) != 1:
        raise RenderError(f"{where}: the patch of {kind}/{name} matches {len(hits)} objects")
    strategic_merge(hits[0], patch)


def _pod_specs(obj: Obj) -> list[Obj]:
    if obj["kind"] in WORKLOADS_WITH_TEMPLATE:
        return [obj.get("spec", {}).get("template", {}).get("spec", {})]
    if obj["kind"] == "CronJob":
        return [obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]]
    if obj["kind"] == "Pod":
        return [obj.get("spec", {})]
    return []


def _split_image(image: str) -> tuple[str, str]:
    """``name[:tag][@digest]`` -> (name, the rest with its separator)."""
    name, at, digest = image.partition("@")
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        return name[:colon], name[colon:] + at + digest
    return name, at + digest


def _set_images(objs: list[Obj], images: list[Obj]) -> None:
    for obj in objs:
        for spec in _pod_specs(obj):
            for container in spec.get("initContainers", []) + spec.get("containers", []):
                name, suffix = _split_image(container["image"])
                for entry in images:
                    if entry["name"] != name:
                        continue
                    new_name = entry.get("newName", name)
                    if "digest" in entry:
                        suffix = "@" + entry["digest"]
                    elif "newTag" in entry:
                        suffix = ":" + str(entry["newTag"])
                    container["image"] = new_name + suffix
                    break


def _set_labels(objs: list[Obj], entry: Obj) -> None:
    pairs = {str(k): str(v) for k, v in entry.get("pairs", {}).items()}
    if entry.get("includeSelectors"):
        raise RenderError("labels with includeSelectors: true are not supported by deploy/render.py")
    for obj in objs:
        obj["metadata"].setdefault("labels", {}).update(pairs)
        if entry.get("includeTemplates"):
            for template in _templates(obj):
                template.setdefault("metadata", {}).setdefault("labels", {}).update(pairs)


def _templates(obj: Obj) -> list[Obj]:
    if obj["kind"] in WORKLOADS_WITH_TEMPLATE:
        return [obj.setdefault("spec", {}).setdefault("template", {})]
    if obj["kind"] == "CronJob":
        return [obj["spec"]["jobTemplate"]["spec"].setdefault("template", {})]
    return []


def render(directory: str | Path) -> list[Obj]:
    directory = Path(directory)
    kustomization = _load_kustomization(directory)
    objs: list[Obj] = []
    for resource in kustomization.get("resources", []):
        path = directory / resource
        if "://" in resource or resource.startswith("github.com/"):
            raise RenderError(f"{directory}: remote resource {resource!r} is not supported")
        objs.extend(render(path) if path.is_dir() else _load_objects(path))

    # kustomize's order: patches, namespace, labels, replicas, images
    for patch_entry in kustomization.get("patches", []):
        if "target" in patch_entry or "options" in patch_entry:
            raise RenderError(f"{directory}: patches with target/options are not supported")
        if "path" in patch_entry:
            where = str(directory / patch_entry["path"])
            docs = _load_yaml(directory / patch_entry["path"])
        else:
            where, docs = f"{directory}: inline patch", list(yaml.safe_load_all(patch_entry["patch"]))
        for doc in docs:
            if doc is not None:
                _apply_patch(objs, doc, where)

    namespace = kustomization.get("namespace")
    if namespace:
        for obj in objs:
            if obj["kind"] not in CLUSTER_SCOPED:
                obj["metadata"]["namespace"] = namespace

    for entry in kustomization.get("labels", []):
        _set_labels(objs, entry)

    for entry in kustomization.get("replicas", []):
        hits = [o for o in objs if o["kind"] in SCALABLE and o["metadata"]["name"] == entry["name"]]
        if not hits:
            raise RenderError(f"{directory}: replicas for {entry['name']!r} match no workload")
        for obj in hits:
            obj["spec"]["replicas"] = int(entry["count"])

    _set_images(objs, kustomization.get("images", []))

    seen: set[tuple[str, str, str | None, str]] = set()
    for obj in objs:
        ident = key(obj)
        if ident in seen:
            raise RenderError(f"{directory}: {ident} is defined twice")
        seen.add(ident)
    return objs


def key(obj: Obj) -> tuple[str, str, str | None, str]:
    meta = obj["metadata"]
    return (obj.get("apiVersion", ""), obj["kind"], meta.get("namespace"), meta["name"])


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        objs = render(argv[0])
    except RenderError as exc:
        print(f"render: {exc}", file=sys.stderr)
        return 1
    yaml.safe_dump_all(objs, sys.stdout, sort_keys=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
