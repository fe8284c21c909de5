"""The layout is the architecture: entry points (``app/main.py``, ``app/__main__.py``) on
top of the two processes (``app/api/``, ``app/worker/``), which compose the domains, which
import each other one way only and stand on the shared kit (``app/kit/``). Read from the
source, so a new arrow that climbs back up fails here, not in review."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

APP = Path(__file__).resolve().parent.parent / "app"
PROCESSES = {"api", "worker"}
KIT = "kit"
SIMULATOR = "simulator"  # its own app: it imports nothing of the BFF
DOMAINS = (
    {p.name for p in APP.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    - PROCESSES
    - {KIT, SIMULATOR}
)


def _imports() -> dict[str, set[str]]:
    """Module name → the ``app.*`` modules it imports (at any depth of the file)."""
    graph: dict[str, set[str]] = {}
    for path in APP.rglob("*.py"):
        module = ".".join(path.relative_to(APP.parent).with_suffix("").parts).removesuffix(".__init__")
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("app"):
                targets.add(node.module)
                targets.update(f"{node.module}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.Import):
                targets.update(a.name for a in node.names if a.name.startswith("app"))
        graph[module] = targets
    return graph


def _domain(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 and parts[1] in DOMAINS else None


def test_domains_import_each_other_in_one_direction_only() -> None:
    edges: dict[str, set[str]] = {domain: set() for domain in DOMAINS}
    for module, targets in _imports().items():
        source = _domain(module)
        for target in targets:
            destination = _domain(target)
            if source and destination and destination != source:
                edges[source].add(destination)
    order = list(graphlib.TopologicalSorter(edges).static_order())  # raises CycleError on a cycle
    assert set(order) == DOMAINS
    raisers = {"builds", "packages", "exports", "live", "drafts", "catalog"}
    assert not edges["webhooks"] & raisers, "webhooks is a leaf: it imports none of the domains it serves"
    assert not edges["observability"], "metrics and logs are a leaf every domain may call"
    assert "builds" not in edges["upstream"] and not edges["upstream"] & {"packages", "live"}


def _package(module: str) -> str:
    return module.split(".")[1] if module.count(".") else ""


def test_domains_never_import_the_processes_that_compose_them() -> None:
    for module, targets in _imports().items():
        if _package(module) in DOMAINS | {KIT}:
            climbing = {t for t in targets if _package(t) in PROCESSES or t in ("app.main", "app.__main__")}
            assert not climbing, f"{module} imports {climbing}"


def test_the_kit_imports_no_domain_but_observability() -> None:
    for module, targets in _imports().items():
        if _package(module) == KIT:
            domains = {_package(t) for t in targets} & DOMAINS - {"observability"}
            assert not domains, f"{module} imports {domains}"


def test_observability_imports_nothing_of_the_kit() -> None:
    """One direction: the kit counts and logs through observability, never the reverse (the
    worker's Redis sampler, which reads domain keys, lives with the worker)."""
    for module, targets in _imports().items():
        if _package(module) == "observability":
            assert not {t for t in targets if _package(t) == KIT}, module


def test_the_api_and_the_worker_do_not_import_each_other() -> None:
    for module, targets in _imports().items():
        if _package(module) in PROCESSES:
            other = PROCESSES - {_package(module)}
            assert not {t for t in targets if _package(t) in other}, module


def test_the_simulator_imports_nothing_of_the_bff() -> None:
    for module, targets in _imports().items():
        if _package(module) == SIMULATOR:
            assert all(_package(t) in (SIMULATOR, "upstream") for t in targets), module


def test_routers_are_imported_by_the_api_app_only() -> None:
    for module, targets in _imports().items():
        routers = {t for t in targets if t.endswith(".router")}
        if module != "app.api.app":
            assert not routers, f"{module} imports {routers}"


def test_every_worker_function_takes_the_typed_context() -> None:
    """arq functions (tasks, cron, startup/shutdown) say what their ``ctx`` holds."""
    for path in [*APP.rglob("tasks.py"), *(APP / "worker").glob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.AsyncFunctionDef) and node.args.args and node.args.args[0].arg == "ctx":
                annotation = node.args.args[0].annotation
                assert isinstance(annotation, ast.Name) and annotation.id.endswith("Context"), (
                    f"{path.name}:{node.name}"
                )
