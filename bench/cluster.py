"""One Redis against a Redis Cluster of 3 primaries (and 3 replicas), in the same run.

For each: the hot paths (``/status`` with its upstream GET, the cached results view, the list)
under ``wrk -t1 -c32``, interleaved rounds, req/s and CPU per request of the API and of Redis
(every primary's, on the cluster); then the worker polling ``BENCH_CLUSTER_PARTNERS`` (30)
partners with one build in flight each: worker and Redis CPU per partner poll. The cluster's
keys are spelled with hash tags (``BFF_REDIS_CLUSTER``), arq's queue on a Redis of its own.

    .venv/bin/python bench/cluster.py
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp

from app.kit.keyspace import use_cluster_keys
from app.kit.redis import close_redis, make_redis
from app.kit.settings import Settings
from bench import watch_scale
from bench._load import LoadResult, cpu_seconds, generator, load
from bench._stack import Stack, stack
from tests.support.cluster import LocalCluster, running_cluster
from tests.support.processes import ManagedProcess, RedisServer, free_port

SECONDS = float(os.environ.get("BENCH_CLUSTER_SECONDS", "4"))
ROUNDS = int(os.environ.get("BENCH_CLUSTER_ROUNDS", "3"))
PARTNERS = int(os.environ.get("BENCH_CLUSTER_PARTNERS", "30"))
POLL_WINDOW_S = float(os.environ.get("BENCH_CLUSTER_POLL_WINDOW_S", "10"))
INTERVAL_S = 1.0
PARTNER = "bench-cluster"


@contextmanager
def _setup(kind: str) -> Iterator[tuple[Stack, list[int], Settings]]:
    """The stack on one Redis or on a cluster; the pids of its Redis primaries; the settings
    of its data Redis (for a client of the bench's own)."""
    env = {"BFF_POLL_INTERVAL_S": str(INTERVAL_S), "BFF_WEBHOOK_ALLOW_PRIVATE_TARGETS": "true"}
    with ExitStack() as exits:
        if kind == "cluster":
            cluster: LocalCluster = exits.enter_context(running_cluster())
            queue_dir = Path(tempfile.mkdtemp(prefix="bench-queue-"))
            exits.callback(shutil.rmtree, queue_dir, True)
            queue = RedisServer(free_port(), queue_dir).start()
            exits.callback(queue.stop)
            env |= {
                "BFF_REDIS_CLUSTER": "true",
                "BFF_REDIS_URL": cluster.url,
                "BFF_QUEUE_REDIS_URL": queue.url,
            }
            s = exits.enter_context(stack(workers=1, extra_env=env))
            redis_pids = [node.process.pid for node in cluster.primaries()]  # type: ignore[union-attr]
            data = Settings(redis_cluster=True, redis_url=cluster.url, queue_redis_url=queue.url)
        else:
            s = exits.enter_context(stack(workers=1, extra_env=env))
            redis_pids = [s.processes[-1].process.pid]  # type: ignore[union-attr]
            data = Settings(redis_url=s.redis_url)
        yield s, redis_pids, data


async def _make(session: aiohttp.ClientSession, sim_url: str, partner: str, status: str) -> str:
    body = {"partner_id": partner, "status": status, **({"progress": 40} if status == "INPROGRESS" else {})}
    async with session.post(f"{sim_url}/_sim/packages", json=body) as response:
        response.raise_for_status()
        return str((await response.json())["id"])


async def _prepare(s: Stack) -> dict[str, str]:
    headers = s.headers(PARTNER)
    async with aiohttp.ClientSession() as session:
        building = await _make(session, s.sim_url, PARTNER, "INPROGRESS")
        done = await _make(session, s.sim_url, PARTNER, "DONE")
        for _ in range(50):
            await _make(session, s.sim_url, PARTNER, "DONE")
        async with session.get(f"{s.api_url}/v1/packages/{done}", headers=headers) as response:
            response.raise_for_status()  # fills the view cache
        async with session.get(f"{s.api_url}/v1/packages?limit=100", headers=headers) as response:
            response.raise_for_status()  # keeps the list
    return {
        "status": f"{s.api_url}/v1/packages/{building}/status",
        "view": f"{s.api_url}/v1/packages/{done}",
        "list": f"{s.api_url}/v1/packages?limit=100",
    }


async def _watch_partners(s: Stack) -> None:
    """``PARTNERS`` partners with one build in flight each, watched (the worker polls them)."""
    async with aiohttp.ClientSession() as session:
        for index in range(PARTNERS):
            partner = f"bench-poll-{index:02d}"
            package = await _make(session, s.sim_url, partner, "INPROGRESS")
            url = f"{s.api_url}/v1/packages/{package}/watch"
            async with session.post(url, headers=s.headers(partner)) as response:
                response.raise_for_status()


def _poll_cost(s: Stack, redis_pids: list[int]) -> tuple[float, float]:
    """Worker and Redis CPU (µs) per partner poll over ``POLL_WINDOW_S`` (one poll per partner
    per interval)."""
    worker_pid = s.processes[0].process.pid  # type: ignore[union-attr]
    time.sleep(2 * INTERVAL_S)  # every partner polled once at least
    worker_before, redis_before = cpu_seconds([worker_pid]), cpu_seconds(redis_pids)
    time.sleep(POLL_WINDOW_S)
    polls = PARTNERS * POLL_WINDOW_S / INTERVAL_S
    worker = (cpu_seconds([worker_pid]) - worker_before) / polls * 1e6
    redis = (cpu_seconds(redis_pids) - redis_before) / polls * 1e6
    return worker, redis


async def _fan_out(s: Stack, data: Settings) -> float:
    """``bench/watch_scale.py``'s fan-out (20 endpoints x 100 builds ending together) on this
    stack: verified deliveries per second from one worker."""
    port = free_port()
    receiver_script = str(Path(__file__).with_name("receiver.py"))
    receiver = ManagedProcess(
        "bench-receiver", [sys.executable, receiver_script, str(port)], port=port
    ).start()
    redis = make_redis(data)  # spells keys as the stack does (the cluster's hash tags)
    try:
        timeout = aiohttp.ClientTimeout(total=60)
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(keepalive_timeout=2), timeout=timeout
        ) as session:
            figures, _ = await watch_scale.fan_out(session, s, redis, f"http://127.0.0.1:{port}")
    finally:
        await close_redis(redis)
        use_cluster_keys(False)
        receiver.stop()
    return float(figures["per_s"])


def _measure(kind: str) -> dict[str, float]:
    figures: dict[str, float] = {}
    with _setup(kind) as (s, redis_pids, data):
        targets = asyncio.run(_prepare(s))
        api_pid = s.api.process.pid  # type: ignore[union-attr]
        headers = s.headers(PARTNER)
        for url in targets.values():
            load(url, headers, seconds=1, pids=[api_pid])  # warm pools and caches
        runs: dict[str, list[tuple[LoadResult, float]]] = {name: [] for name in targets}
        for _ in range(ROUNDS):
            for name, url in targets.items():
                redis_before = cpu_seconds(redis_pids)
                result = load(url, headers, seconds=SECONDS, pids=[api_pid])
                redis_us = (cpu_seconds(redis_pids) - redis_before) / max(result.requests, 1) * 1e6
                runs[name].append((result, redis_us))
        for name, results in runs.items():
            figures[f"{name}_rps"] = max(r.rps for r, _ in results)
            figures[f"{name}_api_us"] = statistics.median(r.cpu_us_per_request for r, _ in results)
            figures[f"{name}_redis_us"] = statistics.median(us for _, us in results)
            figures[f"{name}_errors"] = sum(r.errors for r, _ in results)
        figures["fanout_per_s"] = asyncio.run(_fan_out(s, data))
        asyncio.run(_watch_partners(s))
        figures["poll_worker_us"], figures["poll_redis_us"] = _poll_cost(s, redis_pids)
    return figures


def _run() -> dict[str, float]:
    single = _measure("single")
    cluster = _measure("cluster")
    print(
        f"one Redis vs a Redis Cluster of 3 primaries, {generator()}, {ROUNDS} rounds x {SECONDS:g} s "
        "per target (req/s: best round; CPU per request: median)"
    )
    for name, label in (("status", "/status (one upstream GET)"), ("view", "cached view"), ("list", "list")):
        for kind, f in (("one Redis", single), ("cluster", cluster)):
            rps, api_us, redis_us = f[f"{name}_rps"], f[f"{name}_api_us"], f[f"{name}_redis_us"]
            print(
                f"  {label:<28} {kind:<10} {rps:7.0f} req/s  API {api_us:5.0f} µs/req"
                f"  Redis {redis_us:4.0f} µs/req  errors {f[f'{name}_errors']:.0f}"
            )
        ratio = cluster[f"{name}_rps"] / single[f"{name}_rps"]
        print(f"  {label:<28} cluster / one Redis: throughput {ratio:.2f}")
    for kind, f in (("one Redis", single), ("cluster", cluster)):
        print(
            f"  webhook fan-out, 20 endpoints x 100 builds, {kind:<10}"
            f" {f['fanout_per_s']:7,.0f} verified deliveries/s"
        )
    for kind, f in (("one Redis", single), ("cluster", cluster)):
        print(
            f"  worker poll of a partner with a build in flight, {kind:<10}"
            f" worker {f['poll_worker_us']:6.0f} µs, Redis {f['poll_redis_us']:5.0f} µs ({PARTNERS} partners)"
        )
    return {
        "status_ratio": cluster["status_rps"] / single["status_rps"],
        "view_ratio": cluster["view_rps"] / single["view_rps"],
        "list_ratio": cluster["list_rps"] / single["list_rps"],
        "fanout_ratio": cluster["fanout_per_s"] / single["fanout_per_s"],
        "poll_worker_us_single": single["poll_worker_us"],
        "poll_worker_us_cluster": cluster["poll_worker_us"],
    }


async def run() -> dict[str, float]:
    """For ``bench/run_all.py``: the stacks are driven from a thread of their own."""
    return await asyncio.to_thread(_run)


if __name__ == "__main__":
    asyncio.run(run())
