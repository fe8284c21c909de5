"""Memory and file descriptors per open event stream, to size BFF_MAX_STREAMS_PER_PROCESS.

Opens BENCH_STREAMS (default 500) streams of one partner on as many building packages
(each its own pub/sub channel: the costlier case, and what one greedy partner can do), waits
until every stream has its first status event, and prints the API process's RSS growth and
descriptor growth divided by the number of streams. A few streams are opened and closed
first, so that what the first stream of a process sets up once is not counted.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp

from bench._stack import Stack, rss_mib, stack

STREAMS = int(os.environ.get("BENCH_STREAMS", "500"))
WARM_UP = 20
WAVE = 100  # streams opened at once: tabs arrive over time, not in one burst of thousands
SETTLE_S = 1.0  # the API is idle for this long before each reading (a snapshot, not a sync)


def descriptors(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


async def hold(
    session: aiohttp.ClientSession, url: str, headers: dict[str, str], opened: asyncio.Queue[None]
) -> None:
    """One stream: announce its first status event, then keep reading until cancelled."""
    async with session.get(url, headers=headers) as response:
        response.raise_for_status()  # a refused stream must fail the run, not shrink it
        announced = False
        async for line in response.content:
            if line.startswith(b"data:") and not announced:
                announced = True
                opened.put_nowait(None)


async def open_streams(
    session: aiohttp.ClientSession, s: Stack, partner: str, count: int
) -> list[asyncio.Task[None]]:
    """``count`` streams on as many packages, each with its first event received."""
    urls = []
    for _ in range(count):
        async with session.post(
            f"{s.sim_url}/_sim/packages", json={"partner_id": partner, "status": "INPROGRESS", "progress": 10}
        ) as r:
            urls.append(f"{s.api_url}/v1/packages/{(await r.json())['id']}/events")
    opened: asyncio.Queue[None] = asyncio.Queue()
    headers = s.headers(partner)
    tasks: list[asyncio.Task[None]] = []
    for start in range(0, count, WAVE):
        wave = urls[start : start + WAVE]
        tasks += [asyncio.create_task(hold(session, url, headers, opened)) for url in wave]
        for _ in wave:
            waiting = asyncio.ensure_future(opened.get())
            await asyncio.wait([waiting, *tasks], return_when=asyncio.FIRST_COMPLETED)
            failed = next((t for t in tasks if t.done() and t.exception() is not None), None)
            if failed is not None:
                waiting.cancel()
                raise failed.exception()  # type: ignore[misc]
            await waiting
    return tasks


async def close(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def run() -> dict[str, float]:
    env = {"BFF_MAX_STREAMS_PER_PARTNER": str(max(STREAMS, 1000))}
    with stack(extra_env=env) as s:
        assert s.api.process is not None
        pid = s.api.process.pid
        connector = aiohttp.TCPConnector(limit=0)
        timeout = aiohttp.ClientTimeout(total=None, sock_read=120)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            await close(await open_streams(session, s, "bench-streams-warm-up", WARM_UP))
            await asyncio.sleep(SETTLE_S)
            rss_before, fds_before = rss_mib(pid), descriptors(pid)
            tasks = await open_streams(session, s, "bench-streams", STREAMS)
            await asyncio.sleep(SETTLE_S)
            rss_after, fds_after = rss_mib(pid), descriptors(pid)
            await close(tasks)
    kib = (rss_after - rss_before) * 1024 / STREAMS
    fds = (fds_after - fds_before) / STREAMS
    print(f"Open event streams: {STREAMS} on as many building packages, one partner")
    print(f"  API RSS before / with them      {rss_before:8.1f} / {rss_after:.1f} MiB")
    print(f"  API memory per open stream      {kib:8.1f} KiB")
    print(f"  API file descriptors per stream {fds:8.2f}")
    return {"kib_per_stream": kib, "fds_per_stream": fds}


if __name__ == "__main__":
    asyncio.run(run())
