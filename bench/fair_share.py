"""Fair share (issue 27): one partner's heavy but normal use against every other partner's
latency, on one API process.

1. **Long lists.** 30 partners with 2,000 packages and one with 25,000, each list read once a
   second (an SPA tab that refreshes; one build in flight each, so every refresh sees a new
   progress and parses the whole list), beside a small partner (50 packages) read 5 times
   a second and ``/healthz`` 10 times a second. Run with the lists parsed by a helper
   process (the default) and on the API's event loop (``BFF_LIST_HELPER_PROCESSES=0``), and
   the small partner alone first: its p99 against its own alone, ``/healthz`` p99.
2. **A search that matches nothing**, on the 25,000-row list, at the partner's whole rate
   limit (50/s), beside the small partner: Redis's CPU (its ``/proc`` utime+stime) and the
   small partner's p99.
3. **A token for every partner** (``*``) rotating 300 partners against one partner's token,
   the same burst of 1,500 requests each: what each gets through.
4. **A feed page of large events**: 40 ``package.done`` events with 50 clusters named 20 KB
   each (as the worker makes them), one ``GET /v1/activity?limit=500``: its bytes, and the
   API's peak memory growth.

Figures go to ``RESULTS.md`` through ``run_all.py`` (``python bench/fair_share.py`` prints
them). ``BENCH_FAIR_SECONDS`` sets each phase's length (default 20).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp
from redis.asyncio import Redis

from app.activity.log import ActivityLog
from app.auth.tokens import issue_token
from app.builds.events import event_data
from app.upstream.models import UpstreamPackage
from app.webhooks.events import WebhookEventType, event_body
from app.webhooks.models import message_id
from bench._load import cpu_seconds
from bench._stack import SECRET, Stack, stack

SECONDS = float(os.environ.get("BENCH_FAIR_SECONDS", "20"))
MEDIUM_PARTNERS, MEDIUM, LARGE, SMALL = 30, 2_000, 25_000, 50
RATE_RPS, RATE_BURST = 50, 100  # the defaults
# Goals (issue 27).
SMALL_P99_VS_ALONE = 3.0
SMALL_P99_FLOOR_MS = 30.0
HEALTHZ_P99_MS = 50.0
SEARCH_REDIS_CORE = 0.30
STAR_VS_ONE = 2.0
FEED_PAGE_MIB = 8.0
FEED_GROWTH_MIB = 100.0


def headers(partner: str, sub: str = "bench") -> dict[str, str]:
    token = issue_token(SECRET, sub=sub, partners=[partner])
    return {"Authorization": f"Bearer {token}", "X-Preferred-Partner-Id": partner}


async def _seed(s: Stack, partner: str, count: int) -> None:
    async with aiohttp.ClientSession() as session:
        bulk = {"partner_id": partner, "count": count, "status": "DONE"}
        async with session.post(f"{s.sim_url}/_sim/packages/bulk", json=bulk) as response:
            response.raise_for_status()
        body = {"partner_id": partner, "status": "INPROGRESS", "progress": 10}
        async with session.post(f"{s.sim_url}/_sim/packages", json=body) as response:
            response.raise_for_status()


async def _every(
    period_s: float, until: float, call: Callable[[], Awaitable[float | None]], into: list[float]
) -> None:
    """``call`` every ``period_s`` (not waiting for the last one), its latencies into ``into``."""
    pending: set[asyncio.Task[None]] = set()

    async def one() -> None:
        latency = await call()
        if latency is not None:
            into.append(latency)

    next_at = time.monotonic()
    while next_at < until:
        task = asyncio.create_task(one())
        pending.add(task)
        task.add_done_callback(pending.discard)
        next_at += period_s
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
    await asyncio.gather(*pending)


def _getter(
    session: aiohttp.ClientSession, url: str, hdrs: dict[str, str]
) -> Callable[[], Awaitable[float | None]]:
    async def get() -> float | None:
        started = time.perf_counter()
        try:
            async with session.get(url, headers=hdrs) as response:
                await response.read()
                if response.status != 200:
                    return None
        except aiohttp.ClientError:
            return None
        return (time.perf_counter() - started) * 1000

    return get


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98] if len(values) >= 2 else float("nan")


async def _probe(
    s: Stack, seconds: float, background: list[tuple[float, str, dict[str, str]]]
) -> dict[str, float]:
    """The small partner's list and ``/healthz`` while ``background`` (period, url, headers)
    runs; their p99s (ms)."""
    small, health, other = [], [], []  # type: ignore[var-annotated]
    until = time.monotonic() + seconds
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        jobs = [
            _every(
                0.2, until, _getter(session, f"{s.api_url}/v1/packages?limit=20", headers("small")), small
            ),
            _every(0.1, until, _getter(session, f"{s.api_url}/healthz", {}), health),
            *(_every(period, until, _getter(session, url, hdrs), other) for period, url, hdrs in background),
        ]
        await asyncio.gather(*jobs)
    return {"small_p99_ms": p99(small), "healthz_p99_ms": p99(health), "others_p99_ms": p99(other)}


def _list_readers(s: Stack) -> list[tuple[float, str, dict[str, str]]]:
    url = f"{s.api_url}/v1/packages?limit=20"
    readers = [(1.0, url, headers(f"medium-{n}")) for n in range(MEDIUM_PARTNERS)]
    return [*readers, (1.0, url, headers("large"))]


async def _long_lists(helpers: str) -> dict[str, float]:
    with stack(extra_env={"BFF_LIST_HELPER_PROCESSES": helpers}) as s:
        for partner, count in [("small", SMALL), ("large", LARGE)]:
            await _seed(s, partner, count)
        await asyncio.gather(*(_seed(s, f"medium-{n}", MEDIUM) for n in range(MEDIUM_PARTNERS)))
        alone = await _probe(s, SECONDS / 2, [])
        await _probe(s, 3, _list_readers(s))  # every list kept once: the steady state follows
        api = [s.api.process.pid] if s.api.process else []
        cpu_before = cpu_seconds(api)
        loaded = await _probe(s, SECONDS, _list_readers(s))
        api_core = (cpu_seconds(api) - cpu_before) / SECONDS
    return {
        "alone_small_p99_ms": alone["small_p99_ms"],
        "small_p99_ms": loaded["small_p99_ms"],
        "healthz_p99_ms": loaded["healthz_p99_ms"],
        "readers_p99_ms": loaded["others_p99_ms"],
        "api_core": api_core,
    }


async def _search() -> dict[str, float]:
    env = {"BFF_RATE_LIMIT_RPS": str(RATE_RPS), "BFF_RATE_LIMIT_BURST": str(RATE_BURST)}
    with stack(extra_env=env) as s:
        await _seed(s, "small", SMALL)
        await _seed(s, "large", LARGE)
        redis_pid = [p.process.pid for p in s.processes if p.name.startswith("redis") and p.process]
        alone = await _probe(s, SECONDS / 2, [])
        search = (1 / RATE_RPS, f"{s.api_url}/v1/packages?q=zzzz&limit=50", headers("large"))
        await _probe(s, 2, [search])
        before = cpu_seconds(redis_pid)
        loaded = await _probe(s, SECONDS, [search])
        redis_core = (cpu_seconds(redis_pid) - before) / SECONDS
    return {
        "alone_small_p99_ms": alone["small_p99_ms"],
        "small_p99_ms": loaded["small_p99_ms"],
        "redis_core": redis_core,
    }


async def _burst(url: str, header_sets: list[dict[str, str]], count: int) -> int:
    """``count`` requests as fast as 32 connections go, cycling through ``header_sets``: the 200s."""
    admitted = 0
    queue = iter(range(count))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=32)) as session:

        async def worker() -> None:
            nonlocal admitted
            for n in queue:
                async with session.get(url, headers=header_sets[n % len(header_sets)]) as response:
                    await response.read()
                    admitted += response.status == 200

        await asyncio.gather(*(worker() for _ in range(32)))
    return admitted


async def _star_token() -> dict[str, float]:
    env = {"BFF_RATE_LIMIT_RPS": str(RATE_RPS), "BFF_RATE_LIMIT_BURST": str(RATE_BURST)}
    with stack(extra_env=env) as s:
        url = f"{s.api_url}/v1/drafts"
        one = await _burst(url, [headers("one", sub="one-user")], 1500)
        token = issue_token(SECRET, sub="star", partners=["*"])
        rotating = [
            {"Authorization": f"Bearer {token}", "X-Preferred-Partner-Id": f"p{n}"} for n in range(300)
        ]
        star = await _burst(url, rotating, 1500)
    return {"one_partner": one, "star_token": star, "ratio": star / max(1, one)}


def _peak_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def _feed() -> dict[str, float]:
    with stack() as s:
        redis = Redis.from_url(s.redis_url, decode_responses=True)
        log = ActivityLog(redis, retention_s=3600, max_events=1_000_000)
        content = {
            f"{n:02d}" + "c" * 20_000: {"customers": n, "items": 1, "purchase": 1.0} for n in range(50)
        }
        for n in range(40):
            package = UpstreamPackage.model_validate(
                {"id": f"pkg_{n}", "status": "DONE", "title": "Big", "content": content}
            )
            body = event_body(
                WebhookEventType.PACKAGE_DONE, event_data(package, "feed", "DONE", s.api_url), time.time()
            )
            await log.append("feed", message_id(f"feed:{n}"), "package.done", package.id, body)
        await redis.aclose()
        assert s.api.process is not None
        before = _peak_mib(s.api.process.pid)
        pages, largest = 0, 0
        async with aiohttp.ClientSession() as session:
            params = {"limit": "500"}
            while True:
                async with session.get(
                    f"{s.api_url}/v1/activity", params=params, headers=headers("feed")
                ) as r:
                    page = await r.read()
                    r.raise_for_status()
                    body_json = await r.json()
                pages, largest = pages + 1, max(largest, len(page))
                params = {"limit": "500", "iterator": body_json["iterator"]}
                if body_json["done"]:
                    break
        growth = _peak_mib(s.api.process.pid) - before
    return {"largest_page_mib": largest / 2**20, "pages": pages, "api_growth_mib": growth}


async def measure() -> dict[str, dict[str, float]]:
    return {
        "lists_helper": await _long_lists("1"),
        "lists_on_loop": await _long_lists("0"),
        "search": await _search(),
        "star": await _star_token(),
        "feed": await _feed(),
    }


def report(figures: dict[str, dict[str, float]]) -> list[str]:
    helper, loop, search, star, feed = (
        figures[k] for k in ("lists_helper", "lists_on_loop", "search", "star", "feed")
    )

    def small_goal(f: dict[str, float]) -> str:
        limit = max(SMALL_P99_VS_ALONE * f["alone_small_p99_ms"], SMALL_P99_FLOOR_MS)
        return "met" if f["small_p99_ms"] <= limit else "MISSED"

    def verdict(ok: bool) -> str:
        return "met" if ok else "MISSED"

    lines = [
        f"Long lists ({MEDIUM_PARTNERS} x {MEDIUM:,} + 1 x {LARGE:,} packages, each read once a second):"
    ]
    for name, f in (("parsed by a helper process", helper), ("parsed on the API's loop", loop)):
        lines.append(
            f"  {name:<28} small partner p99 {f['small_p99_ms']:6.1f} ms "
            f"(alone {f['alone_small_p99_ms']:.1f}: {small_goal(f)}), "
            f"/healthz p99 {f['healthz_p99_ms']:6.1f} ms ({verdict(f['healthz_p99_ms'] <= HEALTHZ_P99_MS)}), "
            f"readers p99 {f['readers_p99_ms']:6.1f} ms, API {f['api_core'] * 100:.0f}% of a core"
        )
    redis_share = search["redis_core"]
    lines += [
        f"Search for nothing in {LARGE:,} rows at {RATE_RPS}/s: Redis {redis_share * 100:.1f}% of a core "
        f"(goal <= {SEARCH_REDIS_CORE * 100:.0f}%: {verdict(redis_share <= SEARCH_REDIS_CORE)}), "
        f"small partner p99 {search['small_p99_ms']:.1f} ms "
        f"(alone {search['alone_small_p99_ms']:.1f}: {small_goal(search)})",
        f"Burst of 1,500: one partner's token got {star['one_partner']:.0f} through, a '*' token "
        f"rotating 300 partners {star['star_token']:.0f} ({star['ratio']:.2f}x; goal <= "
        f"{STAR_VS_ONE:g}x: {verdict(star['ratio'] <= STAR_VS_ONE)})",
        f"Feed of 40 events with 50 clusters named 20 KB: largest page {feed['largest_page_mib']:.2f} MiB "
        f"over {feed['pages']:.0f} pages (goal <= {FEED_PAGE_MIB:g}), API peak memory "
        f"+{feed['api_growth_mib']:.0f} MiB (goal <= {FEED_GROWTH_MIB:g})",
    ]
    return lines


def flat(figures: dict[str, dict[str, float]]) -> dict[str, float]:
    """The figures the goals of ``run_all.py`` read: each a ratio or cost of this run."""
    helper, search = figures["lists_helper"], figures["search"]

    def vs_allowed(f: dict[str, float]) -> float:
        return f["small_p99_ms"] / max(SMALL_P99_VS_ALONE * f["alone_small_p99_ms"], SMALL_P99_FLOOR_MS)

    return {
        "lists_small_p99_vs_allowed": vs_allowed(helper),
        "lists_healthz_p99_ms": helper["healthz_p99_ms"],
        "search_redis_core": search["redis_core"],
        "search_small_p99_vs_allowed": vs_allowed(search),
        "star_vs_one": figures["star"]["ratio"],
        "feed_page_mib": figures["feed"]["largest_page_mib"],
        "feed_growth_mib": figures["feed"]["api_growth_mib"],
    }


async def run() -> dict[str, float]:
    figures = await measure()
    print("\n".join(report(figures)))
    return flat(figures)


if __name__ == "__main__":
    asyncio.run(run())
