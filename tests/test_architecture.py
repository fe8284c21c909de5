"""The layout is the architecture: domains import each other one way only, and a router is
imported by ``app.main`` alone. Read from the source, so a new arrow that climbs back up
fails here, not in review."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

APP = Path(__file__).resolve().parent.parent / "app"
DOMAINS = {p.name for p in APP.iterdir() if p.is_dir() and (p / "__init__.py").exists()}


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


def test_routers_are_imported_by_main_only() -> None:
    for module, targets in _imports().items():
        routers = {t for t in targets if t.endswith(".router")}
        if module != "app.main":
            assert not routers, f"{module} imports {routers}"


def test_every_worker_function_takes_the_typed_context() -> None:
    """arq functions (tasks, cron, startup/shutdown) say what their ``ctx`` holds."""
    for path in [*APP.rglob("tasks.py"), APP / "worker.py"]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.AsyncFunctionDef) and node.args.args and node.args.args[0].arg == "ctx":
                annotation = node.args.args[0].annotation
                assert isinstance(annotation, ast.Name) and annotation.id == "WorkerContext", (
                    f"{path.name}:{node.name}"
                )
