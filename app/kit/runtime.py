"""Process-wide settings of the long-running processes (API and worker), applied once their
startup is done."""

from __future__ import annotations

import gc

YOUNG_GC_THRESHOLD = 10_000
"""Container allocations (net of frees) between two young collections; CPython's default is
700. Under load the 32 requests in flight alone hold more than 700 new objects, so the
default collected every request or two, found them all alive and promoted them: the
promotions then set off full collections. Cycles still die, only in batches."""


def settle_heap() -> None:
    """Freeze what startup made and collect young objects in larger batches.

    After startup the heap holds the objects (modules, routes, schemas, clients) that live
    as long as the process; a full collection traverses them all, a stall for every request
    in flight (bench/FINDINGS.md has the figures). Frozen objects are never traversed again;
    garbage made before the freeze is collected first, so none is kept forever.
    """
    gc.collect()
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_GC_THRESHOLD, middle, oldest)
