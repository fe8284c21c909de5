"""The Lua scripts: every ``.lua`` file under ``app/`` is used, compiles, and is the only
place Lua lives (no Python string of ``app/`` calls Redis from inside a script)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.kit import lua

APP = Path(__file__).resolve().parent.parent / "app"
LUA_FILES = sorted(path.relative_to(APP).as_posix() for path in APP.rglob("*.lua"))
PYTHON_SOURCES = {path: path.read_text(encoding="utf-8") for path in APP.rglob("*.py")}
INCLUDE = re.compile(r"^-- include: (\S+)", re.MULTILINE)
INCLUDES = {name: set(INCLUDE.findall((APP / name).read_text(encoding="utf-8"))) for name in LUA_FILES}


def test_lua_files_exist():
    assert len(LUA_FILES) > 30, LUA_FILES


@pytest.mark.parametrize("name", LUA_FILES)
def test_every_lua_file_is_used_by_the_code_or_another_script(name):
    named_in_python = any(f'"{name}"' in text for text in PYTHON_SOURCES.values())
    included = any(name in includes for includes in INCLUDES.values())
    assert named_in_python or included, f"{name} is loaded by nothing"


@pytest.mark.parametrize("name", LUA_FILES)
def test_every_include_names_a_file_that_exists(name):
    for included in INCLUDES[name]:
        assert included in LUA_FILES, f"{name} includes {included}, which does not exist"


@pytest.mark.parametrize("name", LUA_FILES)
async def test_every_script_compiles_in_redis(redis, name):
    """``SCRIPT LOAD`` compiles without running: a syntax error or a helper that is not
    included fails here, not on the first request that runs the script."""
    sha = await redis.script_load(lua.source(name))
    assert re.fullmatch(r"[0-9a-f]{40}", sha)


def test_a_helper_is_prepended_once_however_often_it_is_included():
    text = lua.source("builds/lua/finish_watch.lua")  # clock.lua directly and via nothing else
    assert text.count("local function now_ms()") == 1
    observe_many = lua.source("builds/lua/observe_many.lua")  # status_rules includes clock and outbox
    assert observe_many.count("local function now_ms()") == 1
    assert observe_many.count("local function record_event(") == 1


def test_no_python_module_of_the_app_holds_lua():
    holding = [str(path.relative_to(APP)) for path, text in PYTHON_SOURCES.items() if "redis.call(" in text]
    assert holding == []
