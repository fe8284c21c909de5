"""The list page at scale (issue 19): a partner with 5,000 packages beside one with 50.

One stack: API, worker, simulator, Redis. Each partner has its history (DONE packages) and
one build in flight that the worker watches, polled every ``POLL_INTERVAL_S`` (its polls
read the partner's list too). For each partner in turn, ``READERS`` concurrent readers
(``wrk -c8``) ``GET /v1/packages?limit=20`` for ``SECONDS``, ``ROUNDS`` rounds interleaved.

Figures: the API's CPU per page (``/proc/<pid>/stat`` over the requests answered, median of
the rounds), p50/p99 and requests/s (the best round); upstream list calls per partner per
refresh interval under that load, worker polls included (the simulator's count over a
window ÷ the window's intervals, the worst round); Redis bytes per kept package (``MEMORY
USAGE`` of the partner's list keys ÷ its rows). Also printed: a cold first read, a status
filter and a search page of the large partner.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp
from redis.asyncio import Redis

from app.kit.settings import Settings
from app.listing import keys as listing_keys
from app.listing.store import list_keys
from bench._load import LoadResult, generator, load
from bench._stack import Stack, stack

LARGE = int(os.environ.get("BENCH_LIST_LARGE", "5000"))
SMALL = int(os.environ.get("BENCH_LIST_SMALL", "50"))
SECONDS = float(os.environ.get("BENCH_LIST_SECONDS", "6"))
ROUNDS = int(os.environ.get("BENCH_LIST_ROUNDS", "3"))
READERS = 8
POLL_INTERVAL_S = 1.0
REFRESH_S = Settings().list_refresh_s
PAGE = "/v1/packages?limit=20"
# Goals (issue 19).
CPU_RATIO_GOAL = 2.0
P50_GOAL_MS = 20.0
LISTS_PER_INTERVAL_GOAL = 1.0


@dataclasses.dataclass
class Partner:
    name: str
    history: int
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    rounds: list[LoadResult] = dataclasses.field(default_factory=list)
    calls_per_interval: list[float] = dataclasses.field(default_factory=list)  # on average
    most_in_an_interval: int = 0


async def _prepare(s: Stack, partner: Partner) -> float:
    """History, one watched build in flight; then the cold first read (its seconds)."""
    async with aiohttp.ClientSession() as session:
        bulk = {"partner_id": partner.name, "count": partner.history, "status": "DONE"}
        async with session.post(f"{s.sim_url}/_sim/packages/bulk", json=bulk) as response:
            response.raise_for_status()
        body = {"partner_id": partner.name, "status": "INPROGRESS", "progress": 10}
        async with session.post(f"{s.sim_url}/_sim/packages", json=body) as response:
            building = (await response.json())["id"]
        watch = f"{s.api_url}/v1/packages/{building}/watch"
        async with session.post(watch, headers=partner.headers) as response:
            response.raise_for_status()
        started = time.perf_counter()
        async with session.get(s.api_url + PAGE, headers=partner.headers) as response:
            response.raise_for_status()
        return time.perf_counter() - started


async def _list_calls(session: aiohttp.ClientSession, sim_url: str, partner: str) -> int:
    async with session.get(f"{sim_url}/_sim/stats") as response:
        stats = await response.json()
    return int(stats.get("by_partner", {}).get(partner, {}).get("list_packages", 0))


@dataclasses.dataclass(frozen=True)
class Sample:
    sent: float  # monotonic time the stats request went out
    received: float  # ... and its answer came back
    calls: int  # the partner's list calls the simulator had counted in between


async def _loaded(s: Stack, partner: Partner, api_pid: int) -> tuple[LoadResult, list[Sample]]:
    """One round of readers, with the simulator's count of the partner's list calls sampled
    every 50 ms meanwhile."""
    samples: list[Sample] = []
    async with aiohttp.ClientSession() as session:
        reading = asyncio.create_task(
            asyncio.to_thread(
                load, s.api_url + PAGE, partner.headers, seconds=SECONDS, pids=[api_pid], connections=READERS
            )
        )
        while not reading.done():
            sent = time.monotonic()
            calls = await _list_calls(session, s.sim_url, partner.name)
            samples.append(Sample(sent, time.monotonic(), calls))
            await asyncio.sleep(0.05)
        sent = time.monotonic()
        samples.append(Sample(sent, sent, await _list_calls(session, s.sim_url, partner.name)))
    return await reading, samples


def most_calls_within_one_interval(samples: list[Sample]) -> int:
    """The most list calls counted between two samples less than a refresh interval apart
    (from the first one's request to the second one's answer, so the calls certainly fell
    within less than an interval): at most 1 means no two calls were closer than that."""
    most = 0
    for i, first in enumerate(samples):
        for later in samples[i + 1 :]:
            if later.received - first.sent >= REFRESH_S:
                break
            most = max(most, later.calls - first.calls)
    return most


async def _bytes_per_package(redis_url: str, partner: str) -> tuple[float, int]:
    redis = Redis.from_url(redis_url, decode_responses=True)
    try:
        rows = await redis.hlen(listing_keys.list_rows(partner))
        used = 0
        for key in list_keys(partner):
            used += await redis.memory_usage(key, samples=0) or 0
    finally:
        await redis.aclose()
    return used / rows, rows


def _line(label: str, r: LoadResult) -> str:
    errors = f"  ({r.errors} errors)" if r.errors else ""
    return (
        f"    {label:<34} {r.rps:7.0f} req/s  p50 {r.p50_ms:6.1f} ms  p99 {r.p99_ms:6.1f} ms  "
        f"{r.cpu_us_per_request:6.0f} µs CPU/req{errors}"
    )


def _best(results: list[LoadResult]) -> LoadResult:
    """The round with the most requests/s, carrying the median CPU per request of all rounds."""
    best = max(results, key=lambda r: r.rps)
    cpu_us = statistics.median(r.cpu_us_per_request for r in results)
    return dataclasses.replace(best, cpu_s=cpu_us * best.requests / 1e6)


async def run() -> dict[str, float]:
    large, small = Partner("bench-list-large", LARGE), Partner("bench-list-small", SMALL)
    with stack(workers=1, extra_env={"BFF_POLL_INTERVAL_S": str(POLL_INTERVAL_S)}) as s:
        api_pid = s.api.process.pid  # type: ignore[union-attr]
        cold = {}
        for partner in (large, small):
            partner.headers = s.headers(partner.name)
            cold[partner.name] = await _prepare(s, partner)
        for partner in (large, small):  # warm the pools and the page
            load(s.api_url + PAGE, partner.headers, seconds=1, pids=[api_pid], connections=READERS)
        for _ in range(ROUNDS):
            for partner in (large, small):
                result, samples = await _loaded(s, partner, api_pid)
                partner.rounds.append(result)
                window = samples[-1].received - samples[0].sent
                calls = samples[-1].calls - samples[0].calls
                partner.calls_per_interval.append(calls / (window / REFRESH_S))
                most = most_calls_within_one_interval(samples)
                partner.most_in_an_interval = max(partner.most_in_an_interval, most)
        extra = {
            "status filter (DONE)": "/v1/packages?limit=20&status=DONE",
            "search, 1 in 10 match": "/v1/packages?limit=20&q=0%20",  # "Bulk package <id>"
        }
        filtered = {
            label: load(
                s.api_url + path, large.headers, seconds=SECONDS / 2, pids=[api_pid], connections=READERS
            )
            for label, path in extra.items()
        }
        per_package, rows = await _bytes_per_package(s.redis_url, large.name)
        small_per_package, small_rows = await _bytes_per_package(s.redis_url, small.name)
    best_large, best_small = _best(large.rounds), _best(small.rounds)
    figures = {
        "cpu_us_large": best_large.cpu_us_per_request,
        "cpu_us_small": best_small.cpu_us_per_request,
        "cpu_ratio": best_large.cpu_us_per_request / best_small.cpu_us_per_request,
        "p50_ms_large": best_large.p50_ms,
        "p50_ms_small": best_small.p50_ms,
        "lists_per_interval": max(large.most_in_an_interval, small.most_in_an_interval),
        "lists_per_interval_mean": max(large.calls_per_interval + small.calls_per_interval),
        "bytes_per_package": per_package,
        "cold_first_read_s": cold[large.name],
    }
    print(
        f"list pages, {generator().replace('-c32', f'-c{READERS}')}, {ROUNDS} rounds x {SECONDS:g} s per "
        f"partner; worker polling every {POLL_INTERVAL_S:g} s; refresh interval {REFRESH_S:g} s"
    )
    print(f"  GET {PAGE} (API CPU per page: median of the rounds; req/s, p50, p99: best round)")
    print(_line(f"{rows:,} packages", best_large))
    print(_line(f"{small_rows:,} packages", best_small))
    ratio, p50 = figures["cpu_ratio"], best_large.p50_ms
    print(
        f"    CPU per page, {rows:,} / {small_rows:,} packages      {ratio:5.2f}"
        f"   (goal <= {CPU_RATIO_GOAL:g})"
    )
    print(f"    p50 at {READERS} readers, {rows:,} packages      {p50:5.1f} ms (goal <= {P50_GOAL_MS:g})")
    print(
        f"    upstream list calls per partner in any {REFRESH_S:g} s    {figures['lists_per_interval']:5.0f}"
        f"   (goal <= {LISTS_PER_INTERVAL_GOAL:g})"
    )
    means = ", ".join(f"{x:.2f}" for x in large.calls_per_interval + small.calls_per_interval)
    print(f"      on average per interval, each round (large, then small): {means}")
    for label, result in filtered.items():
        print(_line(f"{rows:,} packages, {label}", result))
    print(
        f"  cold first read (the one that fetches): {rows:,} packages {cold[large.name] * 1000:.0f} ms, "
        f"{small_rows:,} packages {cold[small.name] * 1000:.0f} ms"
    )
    print(
        f"  Redis per kept package: {per_package:,.0f} B ({rows:,} packages), {small_per_package:,.0f} B "
        f"({small_rows:,}); 1,000 partners x 5,000 packages: {per_package * 5_000_000 / 2**30:.1f} GiB"
    )
    return figures


if __name__ == "__main__":
    asyncio.run(run())
