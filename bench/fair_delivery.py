"""Fair webhook delivery: another partner's test webhook while one partner's deliveries hang.

Partner A has BENCH_FAIR_LOAD (200) deliveries to an endpoint that never answers (it holds
the connections open; each attempt ends at the send timeout, 10 s). Partner B asks for
test webhooks one after another, BENCH_FAIR_SENDS (20) with nobody else busy, then as many
while A's hang: p50 and p90 of B's latency (asking → arrival) both ways, and their ratio.
Then the same with the cap lifted (``BFF_WEBHOOK_PARTNER_CONCURRENCY`` 1000: A takes
every job slot, as before fair delivery) for BENCH_FAIR_UNCAPPED_SENDS (3) of B's.
One worker (50 job slots), as in the issue.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
from arq import create_pool
from arq.connections import RedisSettings
from redis.asyncio import Redis

from app.webhooks.dispatch import dispatch_event
from app.webhooks.events import PackageEventData
from app.webhooks.store import WebhookStore
from bench._stack import Stack, stack
from tests.webhooks.receiver import Receiver, running_receiver

LOAD = int(os.environ.get("BENCH_FAIR_LOAD", "200"))
SENDS = int(os.environ.get("BENCH_FAIR_SENDS", "20"))
UNCAPPED_SENDS = int(os.environ.get("BENCH_FAIR_UNCAPPED_SENDS", "3"))
CAP = 10  # the default of BFF_WEBHOOK_PARTNER_CONCURRENCY
GREEDY, OTHER = "bench-greedy", "bench-other"
NAN = float("nan")


def _event(package_id: str) -> PackageEventData:
    return PackageEventData.model_validate(
        {
            "package_id": package_id,
            "partner_id": GREEDY,
            "status": "DONE",
            "title": "bench",
            "merge_id": None,
            "merged_from": [],
            "clusters": [],
            "results_url": f"http://127.0.0.1:8000/v1/packages/{package_id}",
        }
    )


async def _register(api: httpx.AsyncClient, s: Stack, partner: str, url: str, event_type: str) -> str:
    body = {"url": url, "event_types": [event_type]}
    response = await api.post("/v1/webhooks", json=body, headers=s.headers(partner))
    response.raise_for_status()
    return str(response.json()["id"])


async def _greedy_load(s: Stack) -> None:
    """A's deliveries, each queued as its own batch job (as separate polls queue them)."""
    db = Redis.from_url(s.redis_url, decode_responses=True)
    queue = await create_pool(RedisSettings.from_dsn(s.redis_url))
    try:
        store = WebhookStore(db)
        endpoints = await store.list_endpoints(GREEDY)
        for number in range(LOAD):
            await dispatch_event(
                store,
                queue,
                partner_id=GREEDY,
                event_type="package.done",
                event_key=f"bench-{number}:DONE",
                data=_event(str(number)),
                endpoints=endpoints,
            )
    finally:
        await queue.aclose()
        await db.aclose()


async def _test_delivery(
    api: httpx.AsyncClient, s: Stack, receiver: Receiver, endpoint_id: str, url: str
) -> float:
    """Seconds from B asking for a test webhook until it arrived (at most a minute)."""
    count, started = len(receiver.received(url)), time.perf_counter()
    response = await api.post(f"/v1/webhooks/{endpoint_id}/test", headers=s.headers(OTHER))
    response.raise_for_status()
    try:
        await receiver.wait_for(url, count + 1, timeout_s=60)
    except TimeoutError:
        return NAN
    return time.perf_counter() - started


def _p(values: list[float], q: float) -> float:
    done = sorted(v for v in values if v == v)
    if not done:
        return NAN
    return done[min(len(done) - 1, round(q * (len(done) - 1)))]


async def _scenario(receiver: Receiver, *, cap: int, alone: int, loaded: int) -> dict[str, float]:
    env = {
        "BFF_WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
        "BFF_WEBHOOK_PARTNER_CONCURRENCY": str(cap),
        "BFF_WEBHOOK_TIMEOUT_S": "10",
        "BFF_WEBHOOK_TEST_SENDS_PER_HOUR": "1000",  # B asks for more than the hourly 60
    }
    hanging, answering = receiver.hook(hold=True), receiver.hook()
    traffic = receiver.traffic(hanging)
    with stack(workers=1, extra_env=env) as s:
        async with httpx.AsyncClient(base_url=s.api_url, timeout=30) as api:
            await _register(api, s, GREEDY, hanging, "package.done")
            endpoint_id = await _register(api, s, OTHER, answering, "package.failed")
            await _test_delivery(api, s, receiver, endpoint_id, answering)  # the worker is up
            before = [await _test_delivery(api, s, receiver, endpoint_id, answering) for _ in range(alone)]
            await _greedy_load(s)
            try:
                await receiver.wait_until(lambda: traffic.open >= min(cap, 50), timeout_s=60)
                started = time.perf_counter()
                during = [
                    await _test_delivery(api, s, receiver, endpoint_id, answering) for _ in range(loaded)
                ]
                window = time.perf_counter() - started
            finally:
                receiver.release(hanging)
    return {
        "alone_p50": _p(before, 0.5),
        "alone_p90": _p(before, 0.9),
        "loaded_p50": _p(during, 0.5),
        "loaded_p90": _p(during, 0.9),
        "loaded_max": max(during),
        "window_s": window,
        "a_max_in_flight": traffic.max_open,
        "a_timed_out": len(traffic.abandoned),
    }


async def run() -> dict[str, float]:
    async with running_receiver() as receiver:
        fair = await _scenario(receiver, cap=CAP, alone=SENDS, loaded=SENDS)
        uncapped = (
            await _scenario(receiver, cap=1000, alone=0, loaded=UNCAPPED_SENDS) if UNCAPPED_SENDS else {}
        )
    ratio = fair["loaded_p50"] / fair["alone_p50"]
    alone = f"{fair['alone_p50']:6.3f} / {fair['alone_p90']:6.3f} s"
    loaded = f"{fair['loaded_p50']:6.3f} / {fair['loaded_p90']:6.3f} s (max {fair['loaded_max']:.3f} s)"
    print(f"fair webhook delivery: A's {LOAD} deliveries hang (no answer; 10 s send timeout), one worker")
    print(f"  B's test webhook alone, p50 / p90 ({SENDS})           {alone}")
    print(f"  B's test webhook while A's hang, p50 / p90 ({SENDS})  {loaded}")
    print(f"  ratio of the p50s                                  {ratio:6.2f}x")
    print(
        f"  A meanwhile ({fair['window_s']:.1f} s): at most {fair['a_max_in_flight']:.0f} in flight "
        f"(cap {CAP}), {fair['a_timed_out']:.0f} attempts timed out"
    )
    if uncapped:
        print(
            f"  cap lifted (1000): B's p50 {uncapped['loaded_p50']:.3f} s ({UNCAPPED_SENDS} sends), "
            f"A at most {uncapped['a_max_in_flight']:.0f} in flight"
        )
    return {
        "b_p50_alone_s": fair["alone_p50"],
        "b_p50_loaded_s": fair["loaded_p50"],
        "b_p50_ratio": ratio,
        "b_p90_loaded_s": fair["loaded_p90"],
        "a_max_in_flight": fair["a_max_in_flight"],
        "b_p50_uncapped_s": uncapped.get("loaded_p50", NAN),
    }


if __name__ == "__main__":
    asyncio.run(run())
