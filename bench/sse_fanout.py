"""Live status fan-out: many open SSE streams on one building package.

Prints the upstream requests per poll interval while BENCH_STREAMS (default 500) tabs
watch (vs the same window with 1 tab, measured in the same run), the API's memory per
stream, and how long the DONE event takes to reach every stream once the build ends.
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

from bench._stack import rss_mib, stack

STREAMS = int(os.environ.get("BENCH_STREAMS", "500"))
INTERVAL_S = 0.5
WINDOW_S = 5.0


class Opened:
    """Set once every stream has received its first status event."""

    def __init__(self, expected: int) -> None:
        self.count, self.expected, self.all = 0, expected, asyncio.Event()

    def one(self) -> None:
        self.count += 1
        if self.count >= self.expected:
            self.all.set()


async def follow(
    session: aiohttp.ClientSession, url: str, headers: dict[str, str], opened: Opened, done_at: list[float]
) -> None:
    """Read one stream until its DONE event; note when it arrived."""
    first = True
    async with session.get(url, headers=headers) as response:
        response.raise_for_status()  # a refused stream would otherwise leave the run waiting
        async for line in response.content:
            if line.startswith(b"data:"):
                if first:
                    opened.one()
                    first = False
                if b'"DONE"' in line:
                    done_at.append(time.perf_counter())
                    return


async def wait_opened(opened: Opened, tasks: list[asyncio.Task[None]]) -> None:
    """Every stream has its first event, or the first stream that failed raises."""
    waiting = asyncio.ensure_future(opened.all.wait())
    await asyncio.wait([waiting, *tasks], return_when=asyncio.FIRST_COMPLETED)
    for task in tasks:
        if task.done() and task.exception() is not None:
            waiting.cancel()
            raise task.exception()  # type: ignore[misc]
    await waiting


async def upstream_requests(session: aiohttp.ClientSession, sim_url: str, partner: str) -> int:
    async with session.get(f"{sim_url}/_sim/stats") as r:
        return sum((await r.json())["by_partner"].get(partner, {}).values())


async def window(session: aiohttp.ClientSession, sim_url: str, partner: str) -> float:
    before = await upstream_requests(session, sim_url, partner)
    await asyncio.sleep(WINDOW_S)  # a wall-clock window is what is being measured
    return (await upstream_requests(session, sim_url, partner) - before) / (WINDOW_S / INTERVAL_S)


async def run() -> dict[str, float]:
    env = {"BFF_POLL_INTERVAL_S": str(INTERVAL_S)}
    with stack(workers=1, extra_env=env) as s:
        connector = aiohttp.TCPConnector(limit=0)
        timeout = aiohttp.ClientTimeout(total=None, sock_read=120)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            results = {}
            for label, count in (("one", 1), ("many", STREAMS)):
                partner = f"bench-sse-{label}"
                async with session.post(
                    f"{s.sim_url}/_sim/packages",
                    json={"partner_id": partner, "status": "INPROGRESS", "progress": 20},
                ) as r:
                    package_id = (await r.json())["id"]
                url = f"{s.api_url}/v1/packages/{package_id}/events"
                opened, done_at = Opened(count), []
                rss_before = rss_mib(s.api.process.pid)  # type: ignore[union-attr]
                headers = s.headers(partner)
                tasks = [
                    asyncio.create_task(follow(session, url, headers, opened, done_at)) for _ in range(count)
                ]
                await wait_opened(opened, tasks)
                per_interval = await window(session, s.sim_url, partner)
                rss = rss_mib(s.api.process.pid)  # type: ignore[union-attr]
                finished = time.perf_counter()
                async with session.post(
                    f"{s.sim_url}/_sim/packages/{package_id}/status", json={"status": "DONE"}
                ):
                    pass
                await asyncio.gather(*tasks)
                results[label] = (
                    per_interval,
                    rss - rss_before,
                    statistics.median(t - finished for t in done_at),
                )
    one, many = results["one"], results["many"]
    print(f"SSE fan-out, poll interval {INTERVAL_S}s:")
    print(f"  upstream requests per interval, 1 open stream       {one[0]:6.2f}")
    print(f"  upstream requests per interval, {STREAMS} open streams   {many[0]:6.2f}")
    print(f"  API memory per open stream                          {many[1] * 1024 / STREAMS:6.1f} KiB")
    print(
        f"  DONE reaches the streams, median after the upstream  {many[2] * 1000:6.0f} ms "
        f"(1 stream: {one[2] * 1000:.0f} ms)"
    )
    return {"one": one[0], "many": many[0], "kib_per_stream": many[1] * 1024 / STREAMS}


if __name__ == "__main__":
    asyncio.run(run())
