"""Lua scripts kept as ``.lua`` files beside the code that runs them (a domain's ``lua/``).

A script names the helper files it uses in lines ``-- include: kit/lua/clock.lua`` (paths
under ``app/``); ``source`` prepends each helper once, helpers' own includes first, so a
helper such as "release the lock if it is still mine" is written once. Files are read with
``importlib.resources``: they ship in the wheel as package data (pyproject.toml).
"""

from __future__ import annotations

import functools
import re
from importlib import resources

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

_INCLUDE = re.compile(r"^-- include: (\S+)\s*$", re.MULTILINE)


def _read(path: str) -> str:
    return resources.files("app").joinpath(*path.split("/")).read_text(encoding="utf-8")


@functools.cache
def source(path: str) -> str:
    """The text Redis runs: the helpers ``path`` includes (each once), then ``path`` itself."""
    parts: list[str] = []
    _gather(path, parts, set())
    return "\n".join(parts)


def _gather(path: str, parts: list[str], seen: set[str]) -> None:
    if path in seen:
        return
    seen.add(path)
    text = _read(path)
    for included in _INCLUDE.findall(text):
        _gather(included, parts, seen)
    parts.append(text)


def script(redis: Redis, path: str) -> AsyncScript:
    """The script at ``path`` (under ``app/``), registered on ``redis``: called with
    ``keys=`` and ``args=``, sent by its SHA1 and loaded again when Redis lost it."""
    return redis.register_script(source(path))
