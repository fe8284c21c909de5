"""Upstream client throughput: httpx's own pool vs the aiohttp-backed transport.

Same client class, same calls, same simulator, same run; prints requests/s of
each and the ratio. Why: NOTES.md measured httpx's pool as the bottleneck
under concurrency (encode/httpx#3215).
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from app.upstream import CallContext, PackageBuilderClient
from bench._stack import ManagedProcess, free_port, python_module

REQUESTS = 4000
CONCURRENCY = 100


async def throughput(client: PackageBuilderClient, package_id: str, n: int) -> float:
    ctx = CallContext("Bearer bench", "bench-partner")
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one() -> None:
        async with gate:
            await client.get_package(ctx, package_id)

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(n)))
    return n / (time.perf_counter() - started)


async def main() -> dict[str, float]:
    port = free_port()
    sim = ManagedProcess(
        "bench-sim", python_module("app", "simulator", "--port", str(port)), port=port
    ).start()
    try:
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base) as control:
            package = (
                await control.post("/_sim/packages", json={"partner_id": "bench-partner", "status": "DONE"})
            ).json()
        results: dict[str, list[float]] = {"httpx": [], "aiohttp": []}
        for _ in range(2):  # interleaved rounds, so drift hits both alike
            for kind in results:
                client = PackageBuilderClient(base, base, transport=kind, max_connections=CONCURRENCY)
                await throughput(client, package["id"], 300)  # warm the pool
                results[kind].append(await throughput(client, package["id"], REQUESTS))
                await client.aclose()
    finally:
        sim.stop()
    best = {kind: max(values) for kind, values in results.items()}
    print(f"upstream client, {REQUESTS} GETs at concurrency {CONCURRENCY} (requests/s, best of 2):")
    print(f"  httpx pool          {best['httpx']:8.0f}")
    print(f"  aiohttp transport   {best['aiohttp']:8.0f}")
    print(f"  ratio               {best['aiohttp'] / best['httpx']:8.2f}x")
    return {
        "httpx_rps": best["httpx"],
        "aiohttp_rps": best["aiohttp"],
        "ratio": best["aiohttp"] / best["httpx"],
    }


if __name__ == "__main__":
    asyncio.run(main())
