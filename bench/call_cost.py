"""What one upstream call costs besides its bytes: the figure behind the poller's
``CALL_OVERHEAD_BYTES`` (``app/builds/schedule.py``).

Calls the simulator with the worker's own client, in this process, one call at a time: a
GET of one package, and list calls of partners with 100 and 1,000 packages. CPU per call on
both sides, this process (as the worker pays it) and the simulator (as an upstream pays it),
from ``/proc/<pid>/stat``. A straight line through the two list sizes gives each side's cost
per listed byte and its fixed cost per call; the fixed cost divided by the cost per byte is
what one call weighs in list bytes.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp
from pydantic import SecretStr

from app.builds.schedule import CALL_OVERHEAD_BYTES
from app.kit.settings import Settings
from app.upstream import CallContext
from app.upstream.factory import make_upstream
from bench._load import cpu_seconds
from bench._stack import stack
from bench.hot_path import _make
from bench.watch_scale import _bulk

SERVICE_TOKEN = "bench-service"  # what bench._stack gives the simulator's callers
SIZES = (100, 1000)
CALLS = {"get": 1000, 100: 300, 1000: 100}


async def _per_call(call: Callable[[], Awaitable[object]], calls: int, sim_pid: int) -> tuple[float, float]:
    """CPU µs per call here and in the simulator (after 20 warm-up calls)."""
    for _ in range(20):
        await call()
    ours, theirs = time.process_time(), cpu_seconds([sim_pid])
    for _ in range(calls):
        await call()
    return (time.process_time() - ours) / calls * 1e6, (cpu_seconds([sim_pid]) - theirs) / calls * 1e6


async def run() -> dict[str, float]:
    with stack() as s:
        sim_pid = s.processes[-2].process.pid  # type: ignore[union-attr]
        async with aiohttp.ClientSession() as session:
            building = await _make(session, s.sim_url, "bench-cost-get", "INPROGRESS", progress=10)
            for size in SIZES:
                await _bulk(session, s, f"bench-cost-{size}", size, status="DONE")
        upstream = make_upstream(Settings(upstream_url=s.sim_url, upstream_service_token=SERVICE_TOKEN))

        def ctx(partner: str) -> CallContext:
            return CallContext.of_service(SecretStr(SERVICE_TOKEN), partner, "bench-call-cost")

        try:
            get_bytes = (await upstream.get_package_sized(ctx("bench-cost-get"), building)).size
            get = await _per_call(
                lambda: upstream.get_package_sized(ctx("bench-cost-get"), building), CALLS["get"], sim_pid
            )
            lists: dict[int, tuple[float, float]] = {}
            list_bytes: dict[int, int] = {}
            for size in SIZES:
                partner = f"bench-cost-{size}"
                list_bytes[size] = (await upstream.list_package_heads(ctx(partner))).size
                lists[size] = await _per_call(
                    lambda partner=partner: upstream.list_package_heads(ctx(partner)),  # type: ignore[misc]
                    CALLS[size],
                    sim_pid,
                )
        finally:
            await upstream.aclose()
    small, large = SIZES
    extra_bytes = list_bytes[large] - list_bytes[small]
    figures: dict[str, float] = {"get_bytes": get_bytes}
    print(f"one call at a time, CPU per call; list bytes: {list_bytes[small]:,} and {list_bytes[large]:,}")
    print(f"  {'':34} {'worker (client)':>16} {'simulator':>12}")
    print(f"  {'GET of one package':34} {get[0]:13.0f} µs {get[1]:9.0f} µs")
    for size in SIZES:
        print(f"  {f'list of {size:,} packages':34} {lists[size][0]:13.0f} µs {lists[size][1]:9.0f} µs")
    weights = []
    for side, name in ((0, "worker"), (1, "simulator")):
        per_byte = (lists[large][side] - lists[small][side]) / extra_bytes
        fixed = lists[small][side] - per_byte * list_bytes[small]
        weight = get[side] / per_byte
        weights.append(weight)
        figures[f"{name}_ns_per_list_byte"] = per_byte * 1000
        figures[f"{name}_fixed_us_per_list"] = fixed
        figures[f"{name}_get_as_list_bytes"] = weight
        print(
            f"  {name}: {per_byte * 1000:.1f} ns per list byte, {fixed:.0f} µs fixed per list call; "
            f"one GET weighs as much as {weight / 1024:,.0f} KiB of list"
        )
    print(
        f"  the poller counts each call as {CALL_OVERHEAD_BYTES / 1024:.0f} KiB besides its bytes "
        f"(the lighter side here: {min(weights) / 1024:.0f} KiB)"
    )
    return figures


if __name__ == "__main__":
    asyncio.run(run())
