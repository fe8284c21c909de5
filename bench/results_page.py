"""The results page: one aggregated BFF call vs the three sequential upstream calls the
reference webapp makes (package, evaluation details, evaluation).

The simulator adds the same latency to each upstream call (BENCH_UPSTREAM_LATENCY_MS,
default 40 ms) as a real network would; prints median latency of both and the ratio.
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
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "30"))
PARTNER = "bench-results"


async def timed_get(session: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> None:
    async with session.get(url, headers=headers) as response:
        response.raise_for_status()
        await response.read()


async def run() -> dict[str, float]:
    with stack() as s:
        async with aiohttp.ClientSession() as session:
            package_ids = []
            for _ in range(ROUNDS):  # a fresh package per round: the first view is uncached
                async with session.post(
                    f"{s.sim_url}/_sim/packages",
                    json={"partner_id": PARTNER, "status": "DONE", "customers_per_cluster": 500},
                ) as r:
                    package_ids.append((await r.json())["id"])
            for route in ("get_package", "get_evaluation_details", "get_evaluation"):
                await session.post(
                    f"{s.sim_url}/_sim/faults",
                    json={"route": route, "mode": "delay", "latency_ms": LATENCY_MS},
                )
            headers = s.headers(PARTNER)
            sequential, cold, warm = [], [], []
            for package_id in package_ids:
                upstream = f"{s.sim_url}/package_builder/packages/{package_id}"
                started = time.perf_counter()
                for suffix in ("", "/backhaul_evaluation_details", "/backhaul_evaluation"):
                    await timed_get(session, upstream + suffix, headers)
                sequential.append(time.perf_counter() - started)
                for samples in (cold, warm):  # first view fetches upstream, the second may not
                    started = time.perf_counter()
                    await timed_get(session, f"{s.api_url}/v1/packages/{package_id}", headers)
                    samples.append(time.perf_counter() - started)
    seq_ms, cold_ms, warm_ms = (statistics.median(x) * 1000 for x in (sequential, cold, warm))
    print(f"results page, {ROUNDS} packages, {LATENCY_MS} ms per upstream call (median):")
    print(f"  three sequential upstream calls (reference webapp)  {seq_ms:7.1f} ms")
    print(
        f"  one BFF call, first view (concurrent upstream)      {cold_ms:7.1f} ms"
        f"   {seq_ms / cold_ms:5.2f}x faster"
    )
    print(
        f"  one BFF call, repeat view (DONE view cached)        {warm_ms:7.1f} ms"
        f"   {seq_ms / warm_ms:5.2f}x faster"
    )
    return {
        "sequential_ms": seq_ms,
        "bff_first_ms": cold_ms,
        "bff_repeat_ms": warm_ms,
        "ratio_first": seq_ms / cold_ms,
        "ratio_repeat": seq_ms / warm_ms,
    }


if __name__ == "__main__":
    asyncio.run(run())
