"""Upstream cost of watching builds: one partner with 1 build in flight vs one with many.

A naive poller costs one GET per package per interval; ours costs one list call per
partner per interval. Prints upstream requests per interval for both partners over
the same wall-clock window and the ratio (≈ 1 means cost does not grow with builds).
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp

from bench._stack import stack

INTERVAL_S = float(os.environ.get("BENCH_POLL_INTERVAL_S", "0.5"))
WINDOW_S = float(os.environ.get("BENCH_WINDOW_S", "10"))
MANY = int(os.environ.get("BENCH_BUILDS", "200"))


async def open_watches(session: aiohttp.ClientSession, s, partner: str, count: int) -> None:
    headers = s.headers(partner)
    for _ in range(count):
        async with session.post(
            f"{s.sim_url}/_sim/packages", json={"partner_id": partner, "status": "INPROGRESS", "progress": 10}
        ) as r:
            package_id = (await r.json())["id"]
        async with session.post(f"{s.api_url}/v1/packages/{package_id}/watch", headers=headers) as r:
            assert r.status in (200, 202), await r.text()


async def run() -> dict[str, float]:
    env = {"BFF_POLL_INTERVAL_S": str(INTERVAL_S)}
    with stack(workers=1, extra_env=env) as s:
        async with aiohttp.ClientSession() as session:
            await open_watches(session, s, "bench-one", 1)
            await open_watches(session, s, "bench-many", MANY)
            await asyncio.sleep(2 * INTERVAL_S)  # let the worker pick both partners up
            await session.post(f"{s.sim_url}/_sim/stats/reset")
            await asyncio.sleep(WINDOW_S)  # a wall-clock window is what is being measured
            async with session.get(f"{s.sim_url}/_sim/stats") as r:
                by_partner = (await r.json())["by_partner"]
    intervals = WINDOW_S / INTERVAL_S
    one = sum(by_partner.get("bench-one", {}).values()) / intervals
    many = sum(by_partner.get("bench-many", {}).values()) / intervals
    print(f"watch polling, interval {INTERVAL_S}s, window {WINDOW_S}s (upstream requests per interval):")
    print(f"  partner with 1 build in flight       {one:6.2f}")
    print(f"  partner with {MANY} builds in flight   {many:6.2f}   (naive: {MANY:.0f})")
    print(f"  ratio many/one                       {many / one if one else float('nan'):6.2f}")
    return {"one": one, "many": many, "ratio": many / one if one else float("nan")}


if __name__ == "__main__":
    asyncio.run(run())
