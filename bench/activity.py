"""The activity log: a feed page's cost against the log's length, and live streams' Redis cost.

1. Feed pages: the API's CPU per page (``/proc/<pid>/stat`` over the requests answered) of
   one partner with 10 events and one with 100,000 (BENCH_ACTIVITY_EVENTS), the same page
   size, read after a position in the middle of the long log: the goal is ≤ 2×.
2. Live streams: BENCH_ACTIVITY_STREAMS (1,000) open streams of one partner on one API
   process, BENCH_ACTIVITY_APPENDS events appended; Redis commands per appended event
   (``INFO commandstats``) with the streams open, less the same appends with none open,
   measured in the same run: the goal is ≤ 2 per event per process. Every stream must
   receive every event.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp
from redis.asyncio import Redis

from app.activity import keys as activity_keys
from app.activity.log import ActivityLog
from app.activity.positions import START, Position, encode_iterator
from bench._load import cpu_seconds
from bench._stack import Stack, stack

EVENTS = int(os.environ.get("BENCH_ACTIVITY_EVENTS", "100000"))
STREAMS = int(os.environ.get("BENCH_ACTIVITY_STREAMS", "1000"))
APPENDS = int(os.environ.get("BENCH_ACTIVITY_APPENDS", "200"))
PAGES = int(os.environ.get("BENCH_ACTIVITY_PAGES", "1500"))
PAGE = 10
READERS = 4
CPU_RATIO_GOAL = 2.0
COMMANDS_GOAL = 2.0


def body(partner: str, n: int) -> str:
    """A 400-byte event like an ``export.done``."""
    data = {
        "export_id": f"exp_{n:08d}",
        "partner_id": partner,
        "package_id": f"pkg-{n % 50}",
        "pad": "x" * 250,
    }
    return json.dumps({"type": "export.done", "timestamp": "2026-12-04T10:00:00.000Z", "data": data})


async def fill(redis: Redis, partner: str, count: int) -> None:
    """``count`` entries as the append writes them, 1,000 to a pipeline (only the length of the
    log matters here; the append's own cost is part 2)."""
    key = activity_keys.activity_log(partner)
    for start in range(0, count, 1000):
        async with redis.pipeline(transaction=False) as pipe:
            for n in range(start, min(count, start + 1000)):
                fields = {
                    "id": f"msg_{n}",
                    "type": "export.done",
                    "pkg": f"pkg-{n % 50}",
                    "body": body(partner, n),
                }
                pipe.xadd(key, fields)  # type: ignore[arg-type]
            await pipe.execute()


async def page_cpu(
    session: aiohttp.ClientSession, url: str, headers: dict[str, str], iterator: str, pid: int
) -> float:
    """Microseconds of API CPU per page, READERS readers asking the same page PAGES times in all."""
    params = {"iterator": iterator, "limit": str(PAGE)}

    async def reader(count: int) -> None:
        for _ in range(count):
            async with session.get(url, params=params, headers=headers) as response:
                assert response.status == 200, await response.text()
                assert len((await response.json())["data"]) == PAGE

    await asyncio.gather(*(reader(20) for _ in range(READERS)))  # warm-up
    before = cpu_seconds([pid])
    await asyncio.gather(*(reader(PAGES // READERS) for _ in range(READERS)))
    return (cpu_seconds([pid]) - before) / (PAGES // READERS * READERS) * 1e6


async def commands(redis: Redis) -> int:
    stats = await redis.info("commandstats")
    return sum(int(v["calls"]) for v in stats.values() if isinstance(v, dict))


async def follow(
    session: aiohttp.ClientSession, url: str, last_event_id: str, expected: int, warm: asyncio.Queue[None]
) -> int:
    """Read a stream from ``last_event_id``: its first event is the warm-up (then ``warm``
    hears of it), then count the rest."""
    received = 0
    async with session.get(url, headers={"Last-Event-ID": last_event_id}) as response:
        response.raise_for_status()
        async for line in response.content:
            if line.startswith(b"data:"):
                if received == 0:
                    warm.put_nowait(None)
                received += 1
                if received > expected:
                    return received - 1
    return received - 1


async def appends_cost(log: ActivityLog, redis: Redis, partner: str, tag: str) -> int:
    """Redis commands served while APPENDS events are appended (the appends' own included)."""
    before = await commands(redis)
    for n in range(APPENDS):
        await log.append(partner, f"msg_{tag}_{n}", "export.done", "pkg-1", body(partner, n))
    return await commands(redis) - before


async def streams_part(
    s: Stack, session: aiohttp.ClientSession, redis: Redis, log: ActivityLog
) -> dict[str, float]:
    """Every stream opens after the same position, and a warm-up event reaches all of them
    (read from the log by a stream that subscribed after it was published) before the
    appends are counted: then each is relaying from the channel."""
    pid, partner = s.api.process.pid, "bench-activity-live"  # type: ignore[union-attr]
    quiet = await appends_cost(log, redis, partner, "alone")  # no stream open: the appends alone
    async with session.get(f"{s.api_url}/v1/activity/stream-link", headers=s.headers(partner)) as r:
        url = (await r.json())["stream_url"]
    before = str(await log.last(partner))
    warm: asyncio.Queue[None] = asyncio.Queue()
    tasks = [asyncio.create_task(follow(session, url, before, APPENDS, warm)) for _ in range(STREAMS)]
    await log.append(partner, "msg_warm_up", "export.done", "pkg-1", body(partner, -1))
    for _ in range(STREAMS):
        await warm.get()
    cpu_before, started = cpu_seconds([pid]), time.perf_counter()
    busy = await appends_cost(log, redis, partner, "streams")
    received = await asyncio.gather(*tasks)
    took, cpu = time.perf_counter() - started, cpu_seconds([pid]) - cpu_before
    per_event = (busy - quiet) / APPENDS
    complete = sum(1 for r in received if r == APPENDS)
    print(f"{STREAMS} open streams of one partner on one API process, {APPENDS} events appended:")
    print(f"  Redis commands per appended event, streams open       {busy / APPENDS:6.2f}")
    print(f"  Redis commands per appended event, none (baseline)    {quiet / APPENDS:6.2f}")
    print(f"  commands the streams add per event (goal <= {COMMANDS_GOAL:g})       {per_event:6.2f}")
    print(f"  streams that received every event                    {complete:6d} / {STREAMS}")
    print(
        f"  API CPU per event and stream                          {cpu / (APPENDS * STREAMS) * 1e6:6.1f} µs"
    )
    print(f"  every event at every stream after                     {took:6.2f} s")
    return {"commands_per_event": per_event, "complete_streams": float(complete)}


async def run() -> dict[str, float]:
    env = {"BFF_MAX_STREAMS_PER_PARTNER": str(max(STREAMS, 1000))}
    with stack(workers=0, extra_env=env) as s:
        redis = Redis.from_url(s.redis_url, decode_responses=True)
        log = ActivityLog(redis, retention_s=30 * 24 * 3600, max_events=1_000_000)
        connector = aiohttp.TCPConnector(limit=0)
        timeout = aiohttp.ClientTimeout(total=None, sock_read=300)
        try:
            async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
                short, long = "bench-activity-short", "bench-activity-long"
                await fill(redis, short, PAGE)
                await fill(redis, long, EVENTS)
                middle = await redis.xrange(activity_keys.activity_log(long), count=EVENTS // 2)
                url, pid = f"{s.api_url}/v1/activity", s.api.process.pid  # type: ignore[union-attr]
                start_short = encode_iterator(START, short)
                start_long = encode_iterator(Position.parse(middle[-1][0]), long)
                small = await page_cpu(session, url, s.headers(short), start_short, pid)
                large = await page_cpu(session, url, s.headers(long), start_long, pid)
                small_again = await page_cpu(session, url, s.headers(short), start_short, pid)
                baseline = (small + small_again) / 2
                print(f"Feed page of {PAGE} events, {READERS} readers, {PAGES} pages in all:")
                print(f"  API CPU per page, log of {PAGE} events               {baseline:8.0f} µs")
                print(f"  API CPU per page, log of {EVENTS:,} events (middle) {large:8.0f} µs")
                ratio = large / baseline
                print(f"  ratio (goal <= {CPU_RATIO_GOAL:g}x)                     {ratio:8.2f}x")
                figures = {"page_cpu_ratio": large / baseline, "page_cpu_us": large}
                figures.update(await streams_part(s, session, redis, log))
        finally:
            await redis.aclose()
    return figures


if __name__ == "__main__":
    asyncio.run(run())
