"""The service uses its libraries through their public APIs only: no ``x._name`` of an object
it did not make, no ``getattr(x, "_name")``, no private module or name imported, no override
of (or reach into) a library class's ``_method`` or ``_attribute``. Read from the source, so
an upgrade of FastAPI, redis-py, arq or httpx cannot break the service through its internals.
The simulator, a stand-in upstream kept apart from the service, is not read."""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from pathlib import Path

APP = Path(__file__).resolve().parent.parent / "app"
SOURCES = sorted(p for p in APP.rglob("*.py") if "simulator" not in p.relative_to(APP).parts)


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _shown(path: Path) -> str:
    return str(path.relative_to(APP.parent)) if APP in path.parents else path.name


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(APP.parent).with_suffix("").parts).removesuffix(".__init__")


def _own_names(cls: ast.ClassDef) -> set[str]:
    """Names a class of ours defines: its methods, class attributes and ``self._x = ...``."""
    names: set[str] = set()
    for node in ast.walk(cls):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def _reaches(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    found: list[str] = []
    own_classes = {node.name for node in ast.walk(tree) if isinstance(node, ast.ClassDef)}
    for node in ast.walk(tree):
        where = f"{_shown(path)}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Attribute) and _private(node.attr):
            owner = node.value
            if not (isinstance(owner, ast.Name) and owner.id in ("self", "cls", *own_classes)):
                found.append(f"{where} {ast.unparse(node)}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            arguments = node.args
            if (
                node.func.id in ("getattr", "setattr", "hasattr", "delattr")
                and len(arguments) > 1
                and isinstance(arguments[1], ast.Constant)
                and isinstance(arguments[1].value, str)
                and _private(arguments[1].value)
            ):
                found.append(f"{where} {ast.unparse(node)}")
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] == "app" or node.module == "__future__":
                continue
            private_module = any(_private(part) for part in node.module.split("."))
            private_name = any(_private(alias.name) for alias in node.names)
            if private_module or private_name or node.module.startswith("fastapi.dependencies"):
                found.append(f"{where} {ast.unparse(node)}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] != "app" and any(_private(p) for p in alias.name.split(".")):
                    found.append(f"{where} import {alias.name}")
    return found


def _foreign_bases(cls: type) -> list[type]:
    return [base for base in cls.__mro__[1:] if not base.__module__.startswith("app.") and base is not object]


def _private_members(base: type) -> set[str]:
    """A library class's private methods and class attributes, and the private instance
    attributes its methods set (``self._pool = ...``)."""
    names = {name for name in vars(base) if _private(name)}
    try:
        source = inspect.getsource(base)
    except (OSError, TypeError):  # a class without Python source (C): its dict says it all
        return names
    return names | set(re.findall(r"self\.(_[A-Za-z0-9]\w*)\s*(?::[^=]*)?=", source))


def _reaches_into_bases(path: Path) -> list[str]:
    """A class built on a library class may neither override its ``_methods`` nor touch its
    ``self._attributes``: both are that library's internals."""
    module = importlib.import_module(_module_name(path))
    tree = ast.parse(path.read_text())
    found: list[str] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.ClassDef):
            continue
        cls = getattr(module, node.name, None)
        if not inspect.isclass(cls):
            continue
        bases = _foreign_bases(cls)
        if not bases:
            continue
        inherited = {name for base in bases for name in _private_members(base)}
        own = _own_names(node)
        for name in sorted(own & inherited):
            found.append(f"{_shown(path)}:{node.lineno} {node.name} overrides {name}")
        for sub in ast.walk(node):
            if (
                isinstance(sub, ast.Attribute)
                and _private(sub.attr)
                and isinstance(sub.value, ast.Name | ast.Call)
                and (sub.attr not in own or sub.attr in inherited)
            ):
                found.append(f"{_shown(path)}:{sub.lineno} {node.name} uses {ast.unparse(sub)}")
    return found


def test_no_reach_into_a_librarys_private_parts() -> None:
    found = [reach for path in SOURCES for reach in _reaches(path)]
    assert not found, "\n".join(found)


def test_no_class_overrides_or_reads_a_librarys_private_members() -> None:
    found = [reach for path in SOURCES for reach in _reaches_into_bases(path)]
    assert not found, "\n".join(found)


def test_the_checks_catch_what_they_are_for(tmp_path: Path) -> None:
    """Each kind of reach, written once, is found (so an empty finding above means something)."""
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from fastapi.dependencies.utils import request_params_to_args\n"
        "from httpx._config import Limits\n"
        "import logging\n"
        "logging._srcfile = None\n"
        "x = getattr(object(), '_reader', None)\n"
    )
    reaches = [reach.split(" ", 1)[1] for reach in _reaches(sample)]
    assert reaches == [
        "from fastapi.dependencies.utils import request_params_to_args",
        "from httpx._config import Limits",
        "logging._srcfile",
        "getattr(object(), '_reader', None)",
    ]
