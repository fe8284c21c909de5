"""``settle_heap``: what startup made is frozen, garbage is not, young collections batch."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from app.kit.runtime import YOUNG_GC_THRESHOLD, settle_heap


class _Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the collector frees it


@pytest.fixture
def restored_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


@pytest.mark.usefixtures("restored_gc")
def test_startup_objects_are_frozen_and_garbage_is_collected_first() -> None:
    kept = _Node()
    garbage = _Node()
    dead = weakref.ref(garbage)
    del garbage
    _, middle_before, oldest_before = gc.get_threshold()
    settle_heap()
    assert dead() is None, "garbage made before the freeze must not be frozen for ever"
    assert gc.get_freeze_count() > 0
    assert not any(obj is kept for obj in gc.get_objects()), "a frozen object is in no generation"
    young, middle, oldest = gc.get_threshold()
    assert young == YOUNG_GC_THRESHOLD > 700
    assert (middle, oldest) == (middle_before, oldest_before)  # only the young threshold changes


@pytest.mark.usefixtures("restored_gc")
def test_cycles_made_after_the_freeze_are_still_collected() -> None:
    settle_heap()
    garbage = _Node()
    dead = weakref.ref(garbage)
    del garbage
    gc.collect()
    assert dead() is None
