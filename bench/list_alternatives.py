"""Ways to keep a partner's list, measured side by side in one process against one
redis-server, for ``PACKAGES`` (5,000) packages (issue 19: "measure the alternatives").

A. Redis sorted sets of positions + a hash of serialised rows (what ``app/listing`` does):
   a page is one Lua call that reads its rows; nothing is kept in the API process.
B. A parsed snapshot per API process, checked against a version stamp in Redis on every
   page: a page is one Redis GET plus a bisect in memory; every change of the list (an own
   create, a status the worker saw, a refresh that found something new) makes every replica
   reload the whole snapshot.
C. What the list did before: parse the upstream list, sort, build every row, per page.

Figures per page: the client's CPU (``time.process_time``), wall time, and Redis's own time
(``INFO commandstats``); per package: Redis bytes (``MEMORY USAGE``) and, for B, the API
process's memory (``tracemalloc``); per change: B's reload.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import os
import random
import shutil
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, cast

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pydantic import TypeAdapter
from redis.asyncio import Redis

from app.kit.settings import Settings
from app.listing.keeper import ListKeeper
from app.listing.offload import keep_body
from app.listing.rows import (
    STAMP_DIGITS,
    KeptRow,
    PageQuery,
    bound_after,
    created_sort_key,
    kept_rows,
    position,
    summary,
)
from app.listing.store import KeptListStore, Timing, list_keys
from app.upstream import CallContext, PackageBuilderClient
from app.upstream.models import ListedPackage
from tests.support.processes import RedisServer, free_port

PACKAGES = int(os.environ.get("BENCH_ALT_PACKAGES", "5000"))
PAGES = int(os.environ.get("BENCH_ALT_PAGES", "2000"))
LIMIT = 20
LISTED = TypeAdapter(list[ListedPackage])


def upstream_body(count: int) -> bytes:
    """What the upstream answers for ``count`` packages (the simulator's shape)."""
    statuses = ["DONE"] * 8 + ["FAILED", "EXPIRED"]
    return json.dumps(
        [
            {
                "id": str(100_000 + n),
                "title": f"Weekly package {n} for team {n % 7}",
                "status": statuses[n % len(statuses)],
                "merge_id": f"{100_000 + n - 2}_{100_000 + n - 1}" if n % 50 == 49 else None,
                "created_at": f"2025-{1 + n % 12:02d}-{1 + n % 28:02d}T10:{n % 60:02d}:00Z",
                "events": [
                    {"id": str(n), "title": "Munich, Olympiahalle"},
                    {"id": str(n + 1), "title": "Berlin"},
                ],
                "targeting_mode": "lookalike",
                "progress": None,
            }
            for n in range(count)
        ]
    ).encode()


class FixedList:
    def __init__(self, packages: list[ListedPackage]) -> None:
        self.packages = packages

    async def list_packages_body(self, ctx: CallContext) -> bytes:
        return json.dumps([package.model_dump() for package in self.packages]).encode()


async def redis_usec(redis: Redis) -> float:
    """Redis's own time spent in commands so far (µs), from ``INFO commandstats``."""
    stats = await redis.info("commandstats")
    return sum(float(v["usec"]) for v in stats.values() if isinstance(v, dict))


async def measure(call: Callable[[int], Awaitable[Any]], redis: Redis) -> tuple[float, float, float]:
    """Client CPU µs, wall µs and Redis µs per call, over ``PAGES`` calls."""
    await call(0)
    server_before, cpu_before, wall_before = await redis_usec(redis), time.process_time(), time.perf_counter()
    for n in range(PAGES):
        await call(n)
    cpu, wall = time.process_time() - cpu_before, time.perf_counter() - wall_before
    server = await redis_usec(redis) - server_before
    return cpu / PAGES * 1e6, wall / PAGES * 1e6, server / PAGES


# -- B: a parsed snapshot per process ------------------------------------------------------------


class Snapshot:
    """Positions ascending, rows alongside; a page walks down from a bisect."""

    def __init__(self, values: list[str], ids: list[str]) -> None:
        pairs = sorted(
            zip((v[:STAMP_DIGITS] + i for v, i in zip(values, ids, strict=True)), values, strict=True)
        )
        self.positions = [p for p, _ in pairs]
        self.rows = [v[STAMP_DIGITS + 1 :] for _, v in pairs]

    def page(self, bound: str, limit: int) -> list[str]:
        end = len(self.positions) if bound == "+" else bisect.bisect_left(self.positions, bound[1:])
        return self.rows[max(0, end - limit) : end][::-1]


async def snapshot_alternative(redis: Redis, rows: list[KeptRow], bounds: list[str]) -> dict[str, float]:
    blob_key, version_key = "bench:alt:snapshot", "bench:alt:version"
    blob = "\n".join(f"{row.id}\t{row.value}" for row in rows)
    await redis.set(blob_key, blob)
    await redis.set(version_key, "1")

    async def reload() -> Snapshot:
        text = await redis.get(blob_key)
        ids, values = zip(*(line.split("\t", 1) for line in text.split("\n")), strict=True)
        return Snapshot(list(values), list(ids))

    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    snapshot = await reload()
    memory = (tracemalloc.get_traced_memory()[0] - before) / len(rows)
    tracemalloc.stop()
    cpu_before = time.process_time()
    for _ in range(20):
        await reload()
    reload_ms = (time.process_time() - cpu_before) / 20 * 1000
    version = "1"

    async def page(n: int) -> str:
        nonlocal version
        current = await redis.get(version_key)
        if current != version:  # never here: the cost of a change is the reload above
            version = current
        return ",".join(snapshot.page(bounds[n % len(bounds)], LIMIT))

    cpu, wall, server = await measure(page, redis)
    blob_bytes = await redis.memory_usage(blob_key, samples=0) or 0
    return {
        "cpu_us": cpu,
        "wall_us": wall,
        "redis_us": server,
        "process_bytes_per_package": memory,
        "redis_bytes_per_package": blob_bytes / len(rows),
        "reload_ms": reload_ms,
    }


# -- C: before: the whole upstream list per page ----------------------------------------------


def page_before(body: bytes) -> str:
    packages = LISTED.validate_json(body)
    ordered = sorted(packages, key=created_sort_key, reverse=True)[:LIMIT]
    return json.dumps([summary(p) for p in ordered])


async def run() -> dict[str, float]:
    data_dir = Path(tempfile.mkdtemp(prefix="bench-alt-redis-"))
    server = RedisServer(free_port(), data_dir).start()
    redis = Redis.from_url(server.url, decode_responses=True)
    try:
        body = upstream_body(PACKAGES)
        packages = LISTED.validate_json(body)
        rows = kept_rows(packages)
        positions = sorted(row.position for row in rows)
        rng = random.Random(7)
        bounds = ["+"] + ["(" + positions[rng.randrange(len(positions))] for _ in range(499)]

        # A: the kept list
        keeper = ListKeeper(redis, cast(PackageBuilderClient, FixedList(packages)), Settings())
        ctx = CallContext("Bearer x", "bench-alt")
        queries = [PageQuery(frozenset(), "", LIMIT, None if b == "+" else _after(b)) for b in bounds]
        await keeper.page(ctx, queries[0])  # the first read keeps it

        async def kept_page(n: int) -> bytes:
            return (await keeper.page(ctx, queries[n % len(queries)])).body()

        a_cpu, a_wall, a_redis = await measure(kept_page, redis)
        used = sum([await redis.memory_usage(key, samples=0) or 0 for key in list_keys(ctx.partner_id)])
        a_bytes = used / PACKAGES
        unchanged, one_changed = await refresh_costs(redis, ctx.partner_id, packages)

        b = await snapshot_alternative(redis, rows, bounds)

        cpu_before = time.process_time()
        for _ in range(5):
            page_before(body)
        c_ms = (time.process_time() - cpu_before) / 5 * 1000
    finally:
        await redis.aclose()
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)

    print(
        f"keeping a list of {PACKAGES:,} packages ({len(body) / 1e6:.2f} MB upstream); "
        f"{PAGES:,} pages of {LIMIT}"
    )
    print("  per page                                      client CPU   wall     Redis")
    print(
        f"    A. Redis sorted sets + rows (chosen)        {a_cpu:7.0f} µs {a_wall:6.0f} µs {a_redis:6.0f} µs"
    )
    print(
        f"    B. snapshot per process + version stamp     {b['cpu_us']:7.0f} µs {b['wall_us']:6.0f} µs "
        f"{b['redis_us']:6.0f} µs"
    )
    print(f"    C. before: the upstream list per page       {c_ms * 1000:7.0f} µs")
    print("  per package kept")
    print(f"    A. Redis {a_bytes:,.0f} B; the API process nothing")
    print(
        f"    B. Redis {b['redis_bytes_per_package']:,.0f} B; each API process "
        f"{b['process_bytes_per_package']:,.0f} B (x replicas)"
    )
    print(
        f"  per change of the list: A writes the rows that changed; B reloads {PACKAGES:,} rows in "
        f"every replica: {b['reload_ms']:.0f} ms of CPU each"
    )
    print(
        f"  A's refresh, rows built and written (the upstream call and its parsing aside): "
        f"nothing changed {unchanged[0]:.0f} ms CPU + {unchanged[1]:.1f} ms Redis; one row changed "
        f"{one_changed[0]:.0f} ms CPU + {one_changed[1]:.1f} ms Redis"
    )
    return {
        "a_cpu_us": a_cpu,
        "a_redis_us": a_redis,
        "a_bytes": a_bytes,
        "b_cpu_us": b["cpu_us"],
        "b_process_bytes": b["process_bytes_per_package"],
        "b_reload_ms": b["reload_ms"],
        "c_ms": c_ms,
    }


async def refresh_costs(
    redis: Redis, partner: str, packages: list[ListedPackage]
) -> tuple[tuple[float, float], tuple[float, float]]:
    """Client CPU ms and Redis ms of writing a refresh: the same list, then one status changed."""
    store = KeptListStore(redis, Timing(refresh_ms=1, lease_ms=5000, ttl_ms=600_000, stale_ms=600_000))
    costs = []
    started_ms = 2**50
    for changed in (packages, [packages[0].model_copy(update={"status": "EXPIRED"}), *packages[1:]]):
        for _ in range(2):  # the second write of each list is the one measured for "unchanged"
            started_ms += 1
            server, cpu = await redis_usec(redis), time.process_time()
            body = json.dumps([package.model_dump() for package in changed]).encode()
            await keep_body(store, partner, body, None, started_ms=started_ms, token="")
            costs.append(((time.process_time() - cpu) * 1000, (await redis_usec(redis) - server) / 1000))
    return costs[1], costs[2]


def _after(bound: str) -> tuple[float, str]:
    pos = bound[1:]
    micros = int(pos[:STAMP_DIGITS]) - 2 * 10**18
    stamp, package_id = micros / 1e6, pos[STAMP_DIGITS:]
    assert "(" + position(stamp, package_id) == bound and bound_after((stamp, package_id)) == bound
    return stamp, package_id


if __name__ == "__main__":
    asyncio.run(run())
