"""Keeping a long list off the API's event loop.

Parsing a partner's whole list and turning it into rows costs CPU in proportion to the
partner's history (about a third of a second for 25,000 packages): on the API's one event
loop that is every other partner's latency. So an API hands the body of a long list to a
helper process, which parses it, builds the rows and writes them to the kept list with a
Redis connection of its own; the loop only moves bytes and gets back what changed. A list
whose body is the one kept last (same digest, nothing written since) is not parsed at all.

The helpers are started on first use (``spawn``: nothing of the parent's loop or sockets is
inherited), one task at a time each; when one dies the pool is rebuilt on the next use.
"""

from __future__ import annotations

import asyncio
import hashlib
import multiprocessing
import signal
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from app.kit.redis import make_redis
from app.kit.settings import Settings
from app.listing.rows import kept_rows
from app.listing.store import KeptListStore, Timing
from app.upstream.client import parse_package_list
from app.upstream.errors import UpstreamBadResponse
from app.upstream.models import BUILDING_STATUSES, ListedPackage


@dataclass(frozen=True, slots=True)
class Building:
    """A package the list shows still building (what the API watches), without the rest."""

    id: str
    status: str


@dataclass(frozen=True, slots=True)
class Kept:
    """What a refresh wrote: the store's outcome (-1 superseded, 1 unchanged, 2 changed),
    and the builds the list shows in progress (none when the body was the one kept)."""

    outcome: int
    building: list[Building]


def body_digest(body: bytes) -> str:
    """What tells a list's body from the last one kept (hashlib releases the GIL on it)."""
    return hashlib.blake2b(body, digest_size=16).hexdigest()


async def keep_body(
    store: KeptListStore,
    partner_id: str,
    body: bytes,
    packages: list[ListedPackage] | None,
    *,
    started_ms: int,
    token: str,
) -> Kept:
    """A list body into the kept list: only the time moves when it is the body kept last;
    else it is parsed (unless ``packages`` already are), turned into rows and applied."""
    digest, size = body_digest(body), len(body)
    outcome = await store.check(partner_id, digest=digest, size=size, started_ms=started_ms, token=token)
    if outcome:
        return Kept(outcome, [])
    if packages is None:
        packages = parse_package_list(body)
    rows = kept_rows(packages)
    outcome = await store.apply(
        partner_id, rows, digest=digest, size=size, started_ms=started_ms, token=token
    )
    return Kept(outcome, [Building(p.id, p.status) for p in packages if p.status in BUILDING_STATUSES])


# -- the helper process ---------------------------------------------------------------------

_loop: asyncio.AbstractEventLoop | None = None
_store: KeptListStore | None = None


def _start_helper(settings: Settings, timing: Timing) -> None:
    """Runs once in each helper: a loop and a Redis pool of its own. Ctrl-C is the parent's
    to handle (the helper ends with it)."""
    global _loop, _store
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _loop = asyncio.new_event_loop()
    asyncio.set_event_loop(_loop)
    _store = KeptListStore(make_redis(settings), timing)


def _keep_in_helper(partner_id: str, body: bytes, started_ms: int, token: str) -> Kept | str:
    """In the helper: ``keep_body``; a body that is no list comes back as its message."""
    assert _loop is not None and _store is not None
    try:
        kept = keep_body(_store, partner_id, body, None, started_ms=started_ms, token=token)
        return _loop.run_until_complete(kept)
    except UpstreamBadResponse as exc:
        return exc.detail


class ListHelpers:
    """The API's pool of helper processes; ``keep`` runs ``keep_body`` in one of them."""

    def __init__(self, settings: Settings, timing: Timing) -> None:
        self._settings = settings
        self._timing = timing
        self._size = settings.list_helper_processes
        self.min_bytes = settings.list_helper_min_bytes
        self._pool: ProcessPoolExecutor | None = None

    @property
    def enabled(self) -> bool:
        return self._size > 0

    async def keep(self, partner_id: str, body: bytes, *, started_ms: int, token: str) -> Kept:
        loop = asyncio.get_running_loop()
        pool = self._pool or self._start()
        try:
            done = await loop.run_in_executor(pool, _keep_in_helper, partner_id, body, started_ms, token)
        except BrokenProcessPool:
            self._pool = None  # a helper died (killed, out of memory): a new pool next time
            raise
        if isinstance(done, str):
            raise UpstreamBadResponse(done)
        return done

    def _start(self) -> ProcessPoolExecutor:
        self._pool = ProcessPoolExecutor(
            max_workers=self._size,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_helper,
            initargs=(self._settings, self._timing),
        )
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
