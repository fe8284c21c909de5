"""The worker at scale: long histories, many builds in flight, and webhook fan-out.

1. Long histories: BENCH_HISTORY_PARTNERS (20) partners with BENCH_HISTORY (5,000)
   finished packages each and one build in flight, 1 s interval: bytes the worker fetches
   and worker CPU per partner per interval, against the bytes of one package GET.
2. Fan-out: one partner, 20 webhook endpoints, 100 builds finishing together: signed,
   verified deliveries per second from one worker, against the receiver's own capacity.
3. Many builds: BENCH_BUILDS (10,000) builds in flight over 100 partners, finishing over
   BENCH_FINISH_SPREAD_S (60 s), 1 s interval: upstream calls per partner per interval,
   package GETs per finished build, DONE → verified webhook lag (p50/p99), Redis memory per
   open watch.

Watches are opened straight in Redis (``WatchRegistry.open``, what create/merge/watch do).
The goals are for one worker; ``BENCH_WORKERS=2`` runs the same with two (polling spreads
over them), and the figures per finished build then count every worker.
"""

from __future__ import annotations

import asyncio
import collections
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp
from redis.asyncio import Redis

from app.builds import keys as build_keys
from app.builds.registry import WatchRegistry
from bench._load import cpu_seconds, generator, load
from bench._stack import Stack, stack
from tests.support.processes import ManagedProcess, free_port

INTERVAL_S = 1.0
HISTORY_PARTNERS = int(os.environ.get("BENCH_HISTORY_PARTNERS", "20"))
HISTORY = int(os.environ.get("BENCH_HISTORY", "5000"))
HISTORY_WINDOW_S = float(os.environ.get("BENCH_HISTORY_WINDOW_S", "10"))
FANOUT_ENDPOINTS = 20
FANOUT_BUILDS = 100
BUILDS = int(os.environ.get("BENCH_BUILDS", "10000"))
BUILD_PARTNERS = 100
SPREAD_S = float(os.environ.get("BENCH_FINISH_SPREAD_S", "60"))
DEADLINE_S = 120.0  # every wait below gives up after this long
WORKERS = int(os.environ.get("BENCH_WORKERS", "1"))  # the goals are for one; more show the spread
WORKERS_TEXT = "one worker" if WORKERS == 1 else f"{WORKERS} workers"
PARTS = os.environ.get("BENCH_WATCH_PARTS", "history,fanout,builds").split(",")
NAN = float("nan")
SCALE_FIGURES = (
    "delivered",
    "refused",
    "lists_per_partner_interval",
    "gets_per_build",
    "get_polls_per_build",
    "lag_p50",
    "lag_p99",
    "memory_per_watch",
    "worker_ms_per_build",
    "redis_commands_per_build",
)


async def _bulk(session: aiohttp.ClientSession, s: Stack, partner: str, count: int, **spec: Any) -> list[Any]:
    body = {"partner_id": partner, "count": count, **spec}
    async with session.post(f"{s.sim_url}/_sim/packages/bulk", json=body) as response:
        response.raise_for_status()
        return list((await response.json())["packages"])


async def _stats(session: aiohttp.ClientSession, s: Stack, reset: bool = False) -> dict[str, Any]:
    async with session.get(f"{s.sim_url}/_sim/stats") as response:
        stats: dict[str, Any] = await response.json()
    if reset:
        await session.post(f"{s.sim_url}/_sim/stats/reset")
    return stats


async def _watch(redis: Redis, partner: str, package_ids: list[str]) -> None:
    registry = WatchRegistry(redis)
    for start in range(0, len(package_ids), 500):
        await asyncio.gather(
            *(registry.open(partner, p, reason="create") for p in package_ids[start : start + 500])
        )


async def _command_calls(redis: Redis) -> collections.Counter[str]:
    """Commands Redis ran so far, by name (those a script runs included: Redis's own work)."""
    stats = await redis.info("commandstats")
    return collections.Counter({name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()})


async def _polled_by_get(redis: Redis, partners: list[str]) -> int:
    """Package GETs the partners' polls made (the poller counts them per partner)."""
    counts = [await redis.hget(build_keys.watch_poll_stats(p), "polled_by_get") for p in partners]  # type: ignore[misc]
    return sum(int(count or 0) for count in counts)


def _worker_pids(s: Stack) -> list[int]:
    return [p.process.pid for p in s.processes if p.name.startswith("bench-worker") and p.process]


async def long_histories(session: aiohttp.ClientSession, s: Stack, redis: Redis) -> dict[str, float]:
    partners = [f"bench-history-{i}" for i in range(HISTORY_PARTNERS)]
    building: dict[str, str] = {}
    for partner in partners:
        await _bulk(session, s, partner, HISTORY, status="DONE")
        building[partner] = (await _bulk(session, s, partner, 1, status="INPROGRESS", progress=30))[0]["id"]
    headers = s.headers(partners[0])
    async with session.get(
        f"{s.sim_url}/package_builder/packages/{building[partners[0]]}", headers=headers
    ) as r:
        one_get = len(await r.read())
    async with session.get(f"{s.sim_url}/package_builder/packages/", headers=headers) as r:
        one_list = len(await r.read())
    for partner in partners:
        await _watch(redis, partner, [building[partner]])
    await asyncio.sleep(3 * INTERVAL_S)  # the worker picks them up (and learns their size)
    await _stats(session, s, reset=True)
    pids = _worker_pids(s)
    cpu_before = cpu_seconds(pids)
    await asyncio.sleep(HISTORY_WINDOW_S)
    cpu = cpu_seconds(pids) - cpu_before
    stats = await _stats(session, s)
    polls = HISTORY_PARTNERS * HISTORY_WINDOW_S / INTERVAL_S
    sent = sum(sum(stats["bytes_by_partner"].get(p, {}).values()) for p in partners) / polls
    calls = sum(sum(stats["by_partner"].get(p, {}).values()) for p in partners) / polls
    for partner in partners:  # done with them: close the watches
        await _force(session, s, building[partner], "FAILED")
    return {
        "bytes": sent,
        "bytes_vs_get": sent / one_get,
        "one_get": one_get,
        "one_list": one_list,
        "calls": calls,
        "cpu_ms": cpu / polls * 1000,
    }


async def _force(session: aiohttp.ClientSession, s: Stack, package_id: str, status: str) -> None:
    async with session.post(f"{s.sim_url}/_sim/packages/{package_id}/status", json={"status": status}) as r:
        r.raise_for_status()


async def _endpoints(
    session: aiohttp.ClientSession, s: Stack, receiver: str, partner: str, count: int
) -> dict[str, str]:
    secrets = {}
    for index in range(count):
        name = f"{partner}-{index}"
        body = {"url": f"{receiver}/hook/{name}", "event_types": ["package.done"]}
        async with session.post(f"{s.api_url}/v1/webhooks", json=body, headers=s.headers(partner)) as r:
            r.raise_for_status()
            secrets[name] = (await r.json())["secret"]
    async with session.post(f"{receiver}/_secrets", json=secrets) as r:
        r.raise_for_status()
    return secrets


async def _received(session: aiohttp.ClientSession, receiver: str) -> tuple[list[tuple[float, str]], int]:
    async with session.get(f"{receiver}/_received") as r:
        report = await r.json()
    return [(float(t), str(p)) for t, p in report["received"]], int(report["refused"])


async def _wait_for(session: aiohttp.ClientSession, receiver: str, expected: int, deadline_s: float) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        received, _ = await _received(session, receiver)
        if len(received) >= expected:
            return
        await asyncio.sleep(0.5)


async def fan_out(
    session: aiohttp.ClientSession, s: Stack, redis: Redis, receiver: str
) -> tuple[dict[str, float], str]:
    """Deliveries per second, and a secret the receiver knows (for its own capacity run)."""
    partner = "bench-fanout"
    secrets = await _endpoints(session, s, receiver, partner, FANOUT_ENDPOINTS)
    builds = await _bulk(session, s, partner, FANOUT_BUILDS, build_seconds=[3.0, 3.0])
    await _watch(redis, partner, [b["id"] for b in builds])
    expected = FANOUT_ENDPOINTS * FANOUT_BUILDS
    await _wait_for(session, receiver, expected, 3.0 + DEADLINE_S)
    received, refused = await _received(session, receiver)
    times = sorted(t for t, _ in received)
    done_at = min(float(b["done_at"]) for b in builds)
    span = times[-1] - times[0] if len(times) > 1 else float("nan")
    figures = {
        "deliveries": len(received),
        "expected": expected,
        "refused": refused,
        "per_s": (len(times) - 1) / span if span else float("nan"),
        "last_after_done_s": times[-1] - done_at if times else float("nan"),
    }
    return figures, secrets[f"{partner}-0"]


def receiver_capacity(receiver: str, secret: str) -> float:
    """The receiver alone, under the same load generator, with a valid signed POST."""
    import base64
    import hashlib
    import hmac

    body = b'{"type":"package.done","timestamp":"2026-01-01T00:00:00Z","data":{"package_id":"x"}}'
    stamp = str(int(time.time()))
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signature = base64.b64encode(
        hmac.new(key, f"msg_bench.{stamp}.".encode() + body, hashlib.sha256).digest()
    )
    headers = {
        "content-type": "application/json",
        "webhook-id": "msg_bench",
        "webhook-timestamp": stamp,
        "webhook-signature": "v1," + signature.decode(),
    }
    result = load(f"{receiver}/hook/bench-fanout-0", headers, seconds=3, pids=[], method="POST", body=body)
    return result.rps


async def many_builds(
    session: aiohttp.ClientSession, s: Stack, redis: Redis, receiver: str
) -> dict[str, Any]:
    partners = [f"bench-scale-{i}" for i in range(BUILD_PARTNERS)]
    for partner in partners:
        await _endpoints(session, s, receiver, partner, 1)
    await session.post(f"{receiver}/_reset")
    per_partner = BUILDS // BUILD_PARTNERS
    memory_before = int((await redis.info("memory"))["used_memory"])
    done_at: dict[str, float] = {}
    lead_s = 15.0  # time to create and watch them all before the first one finishes
    for partner in partners:
        builds = await _bulk(session, s, partner, per_partner, build_seconds=[lead_s, lead_s + SPREAD_S])
        done_at.update({b["id"]: float(b["done_at"]) for b in builds})
        await _watch(redis, partner, [b["id"] for b in builds])
    memory_per_watch = (int((await redis.info("memory"))["used_memory"]) - memory_before) / BUILDS
    await _stats(session, s, reset=True)
    polled_by_get_before = await _polled_by_get(redis, partners)
    worker_pids = _worker_pids(s)
    pids = {p.name: p.process.pid for p in s.processes if p.process}
    cpu_before = cpu_seconds(worker_pids)
    everyone_before = {name: cpu_seconds([pid]) for name, pid in pids.items()}
    commands_before = await _command_calls(redis)
    started = time.monotonic()
    await _wait_for(session, receiver, BUILDS, lead_s + SPREAD_S + DEADLINE_S)
    window = time.monotonic() - started
    worker_cpu_s = cpu_seconds(worker_pids) - cpu_before
    commands = await _command_calls(redis) - commands_before
    busy = {name: (cpu_seconds([pid]) - everyone_before[name]) / window for name, pid in pids.items()}
    stats = await _stats(session, s)
    received, refused = await _received(session, receiver)
    lags = sorted(t - done_at[p] for t, p in received if p in done_at)
    calls = [stats["by_partner"].get(p, {}) for p in partners]
    lists = sum(c.get("list_packages", 0) for c in calls)
    gets = sum(c.get("get_package", 0) for c in calls)
    get_polls = await _polled_by_get(redis, partners) - polled_by_get_before
    return {
        "delivered": len(lags),
        "refused": refused,
        "lists_per_partner_interval": lists / BUILD_PARTNERS / (window / INTERVAL_S),
        "gets_per_build": gets / BUILDS,
        "get_polls_per_build": get_polls / BUILDS,
        "lag_p50": statistics.median(lags) if lags else float("nan"),
        "lag_p99": lags[max(0, int(len(lags) * 0.99) - 1)] if lags else float("nan"),
        "memory_per_watch": memory_per_watch,
        "worker_ms_per_build": worker_cpu_s / BUILDS * 1000,
        "redis_commands_per_build": sum(commands.values()) / BUILDS,
        "cores_busy": ", ".join(f"{name.removeprefix('bench-')} {share:.2f}" for name, share in busy.items()),
        "top_commands": ", ".join(f"{name} {calls / BUILDS:.1f}" for name, calls in commands.most_common(6)),
    }


async def run() -> dict[str, float]:
    env = {"BFF_POLL_INTERVAL_S": str(INTERVAL_S), "BFF_WEBHOOK_ALLOW_PRIVATE_TARGETS": "true"}
    port = free_port()
    receiver_process = ManagedProcess(
        "bench-receiver", [sys.executable, str(Path(__file__).with_name("receiver.py")), str(port)], port=port
    ).start()
    receiver = f"http://127.0.0.1:{port}"
    try:
        with stack(workers=WORKERS, extra_env=env) as s:
            redis = Redis.from_url(s.redis_url, decode_responses=True)
            # Idle connections are dropped before uvicorn's keep-alive (5 s) closes them: a request
            # on one the server is closing meanwhile fails with "Server disconnected".
            connector = aiohttp.TCPConnector(keepalive_timeout=2)
            timeout = aiohttp.ClientTimeout(total=60)
            async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
                history: dict[str, float] = dict.fromkeys(
                    ("bytes", "bytes_vs_get", "one_get", "one_list", "calls", "cpu_ms"), NAN
                )
                fan = dict.fromkeys(("deliveries", "expected", "refused", "per_s", "last_after_done_s"), NAN)
                capacity = NAN
                scale: dict[str, Any] = {
                    **dict.fromkeys(SCALE_FIGURES, NAN),
                    "top_commands": "",
                    "cores_busy": "",
                }
                if "history" in PARTS:
                    history = await long_histories(session, s, redis)
                if "fanout" in PARTS:
                    fan, secret = await fan_out(session, s, redis, receiver)
                    capacity = receiver_capacity(receiver, secret)
                if "builds" in PARTS:
                    scale = await many_builds(session, s, redis, receiver)
            await redis.aclose()
    finally:
        receiver_process.stop()
    print(f"worker at scale, interval {INTERVAL_S:g} s, {WORKERS_TEXT}:")
    print(
        f"  long histories: {HISTORY_PARTNERS} partners x {HISTORY:,} finished packages + 1 build in flight"
    )
    print(f"    one package GET                      {history['one_get']:9,.0f} bytes")
    print(f"    one list call                        {history['one_list']:9,.0f} bytes")
    print(
        f"    fetched per partner per interval     {history['bytes']:9,.0f} bytes "
        f"= {history['bytes_vs_get']:.1f}x one GET (goal <= 20x), {history['calls']:.2f} calls"
    )
    print(f"    worker CPU per partner per interval  {history['cpu_ms']:9.2f} ms (goal <= 5 ms)")
    print(f"  webhook fan-out: {FANOUT_ENDPOINTS} endpoints x {FANOUT_BUILDS} builds finishing together")
    print(f"    receiver alone ({generator()})     {capacity:9,.0f} req/s")
    print(
        f"    verified deliveries from one worker  {fan['per_s']:9,.0f} /s (goal >= 500); "
        f"{fan['deliveries']:.0f}/{fan['expected']:.0f} delivered, {fan['refused']:.0f} refused, "
        f"last {fan['last_after_done_s']:.1f} s after DONE"
    )
    print(f"  {BUILDS:,} builds in flight over {BUILD_PARTNERS} partners, finishing over {SPREAD_S:g} s")
    print(f"    list calls per partner per interval  {scale['lists_per_partner_interval']:9.2f} (goal <= 1)")
    gets, polls = scale["gets_per_build"] * BUILDS, scale["get_polls_per_build"] * BUILDS
    print(
        f"    package GETs per finished build      {scale['gets_per_build']:9.4f} (goal <= 1): "
        f"{gets:,.0f} GETs for {BUILDS:,} builds; {polls:,.0f} were polls (a partner's last builds, read "
        f"by GET: an ended one needs no other), {gets - polls:,.0f} fetched the content of a build a list "
        "call showed ended"
    )
    print(
        f"    DONE -> verified webhook lag         p50 {scale['lag_p50']:.1f} s, "
        f"p99 {scale['lag_p99']:.1f} s "
        f"(goal p99 <= {INTERVAL_S + 2:g} s); {scale['delivered']:.0f}/{BUILDS} delivered"
    )
    print(f"    Redis memory per open watch          {scale['memory_per_watch']:9,.0f} bytes")
    print(
        f"    worker CPU per finished build        {scale['worker_ms_per_build']:9.2f} ms (polls, deliveries)"
    )
    print(
        f"    cores busy while they finish         {scale['cores_busy'] or 'not measured'} "
        f"(of {os.cpu_count()})"
    )
    print(
        f"    Redis commands per finished build    {scale['redis_commands_per_build']:9.1f} "
        f"({scale['top_commands'] or 'not measured'})"
    )
    return {
        "history_bytes_vs_get": history["bytes_vs_get"],
        "history_cpu_ms": history["cpu_ms"],
        "receiver_rps": capacity,
        "fanout_per_s": fan["per_s"],
        "lists_per_partner_interval": scale["lists_per_partner_interval"],
        "gets_per_build": scale["gets_per_build"],
        "lag_p50_s": scale["lag_p50"],
        "lag_p99_s": scale["lag_p99"],
        "memory_per_watch": scale["memory_per_watch"],
        "worker_ms_per_build": scale["worker_ms_per_build"],
        "redis_commands_per_build": scale["redis_commands_per_build"],
    }


if __name__ == "__main__":
    asyncio.run(run())
