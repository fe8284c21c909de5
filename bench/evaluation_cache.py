"""Evaluation cache: a cold key under a crowd of readers, then warm reads.

Prints how many upstream evaluation calls 100 concurrent cold readers cost (single
flight: 1 each, not 100), and the median latency of a warm read vs a cold one with
BENCH_UPSTREAM_LATENCY_MS (default 40) added to each upstream call.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp

from bench._stack import stack

LATENCY_MS = int(os.environ.get("BENCH_UPSTREAM_LATENCY_MS", "40"))
READERS = 100
PARTNER = "bench-eval"


async def get(session: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> float:
    started = time.perf_counter()
    async with session.get(url, headers=headers) as response:
        response.raise_for_status()
        await response.read()
    return time.perf_counter() - started


async def run() -> dict[str, float]:
    with stack() as s:
        async with aiohttp.ClientSession() as session:
            for route in ("get_evaluation", "get_evaluation_details"):
                await session.post(
                    f"{s.sim_url}/_sim/faults",
                    json={"route": route, "mode": "delay", "latency_ms": LATENCY_MS},
                )
            headers = s.headers(PARTNER)
            cold, warm = [], []
            for _ in range(5):
                async with session.post(
                    f"{s.sim_url}/_sim/packages", json={"partner_id": PARTNER, "status": "DONE"}
                ) as r:
                    package_id = (await r.json())["id"]
                url = f"{s.api_url}/v1/packages/{package_id}/evaluation"
                await session.post(f"{s.sim_url}/_sim/stats/reset")
                cold += await asyncio.gather(*(get(session, url, headers) for _ in range(READERS)))
                async with session.get(f"{s.sim_url}/_sim/stats") as r:
                    calls = (await r.json())["by_partner"].get(PARTNER, {}).get("get_evaluation", 0)
                warm += [await get(session, url, headers) for _ in range(50)]
    cold_ms, warm_ms = statistics.median(cold) * 1000, statistics.median(warm) * 1000
    print(f"evaluation cache, {LATENCY_MS} ms per upstream call:")
    print(f"  upstream evaluation calls for {READERS} concurrent cold readers   {calls}")
    print(f"  median latency, cold crowd                                 {cold_ms:7.1f} ms")
    print(f"  median latency, warm read                                  {warm_ms:7.1f} ms")
    print(f"  ratio cold/warm                                            {cold_ms / warm_ms:7.1f}x")
    return {"cold_calls": float(calls), "cold_ms": cold_ms, "warm_ms": warm_ms}


if __name__ == "__main__":
    asyncio.run(run())
