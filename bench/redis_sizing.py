"""Redis memory per open watch, wizard draft, webhook delivery and activity event, for sizing Redis.

Real keys written by the real code: watches and drafts through the API of a private stack,
deliveries by the worker's own ``dispatch_event`` and attempt log. Prints the growth of
``used_memory`` per item over N items (what Redis really pays, allocator overhead
included) and ``MEMORY USAGE`` of each key family (where it goes).

    python bench/redis_sizing.py          # BENCH_SIZING_N items of each kind (default 1000)
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp
from arq.connections import ArqRedis
from redis.asyncio import Redis

from app.activity.log import ActivityLog
from app.activity.outbox import Outbox
from app.auth.tokens import issue_token
from app.builds.statuses import Observation, StatusStore
from app.webhooks.dispatch import dispatch_event
from app.webhooks.events import PackageEventData, WebhookEventType
from app.webhooks.models import AttemptRecord
from app.webhooks.store import WebhookStore
from bench._stack import SECRET, stack

N = int(os.environ.get("BENCH_SIZING_N", "1000"))
PARTNER = "sizing-partner"
# A wizard state as the SPA keeps it: twenty events picked, filters set.
DRAFT_STATE = {
    "title": "Munich rock shows, Q3 lookalikes",
    "event_ids": list(range(10_000, 10_020)),
    "targeting_mode": "lookalike",
    "num_packages": 3,
    "n_top_events": 3,
    "filters": {
        "excluded_customers": [],
        "exclude_buying_behavior_above": 500.0,
        "exclude_old_purchases_before": "2024-01-01",
        "exclude_ticket_categories": ["VIP", "Press"],
    },
}
FAILED_RESPONSE = "<html><body>" + "upstream error " * 130 + "</body></html>"  # ~2 KB kept


async def used_memory(redis: Redis) -> int:
    return int((await redis.info("memory"))["used_memory"])


async def key_usage(redis: Redis) -> dict[str, int]:
    """Every key → its ``MEMORY USAGE`` (all of a hash, list or set: SAMPLES 0)."""
    return {key: await redis.memory_usage(key, samples=0) or 0 async for key in redis.scan_iter(count=1000)}


class Phase:
    """What one kind of item added: ``used_memory`` and, per key family, MEMORY USAGE."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def __aenter__(self) -> Phase:
        self._keys = await key_usage(self._redis)
        self._memory = await used_memory(self._redis)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.grown = await used_memory(self._redis) - self._memory
        after = await key_usage(self._redis)
        families: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for key, size in after.items():
            delta = size - self._keys.get(key, 0)
            if delta:
                family = ":".join(part for part in key.split(":")[:3] if PARTNER not in part)
                families[family][0] += key not in self._keys
                families[family][1] += delta
        self.families = dict(sorted(families.items()))

    def report(self, title: str) -> None:
        print(
            f"\n{title}: {self.grown / N:,.0f} bytes each (used_memory +{self.grown / 1024:,.0f} KiB for {N})"
        )
        for family, (new_keys, size) in self.families.items():
            print(f"  {family:<28} {new_keys:>6} new keys  {size / N:>7,.0f} bytes per item (MEMORY USAGE)")


def _done_data(api_url: str) -> PackageEventData:
    return PackageEventData.model_validate(
        {
            "package_id": "0",
            "partner_id": PARTNER,
            "status": "DONE",
            "title": "Munich rock shows, Q3 lookalikes",
            "merge_id": None,
            "merged_from": [],
            "clusters": [
                {"tc": name, "customers": 1200, "items": 3400, "purchase": 42.5}
                for name in ("rock fans", "family outings", "jazz lovers")
            ],
            "results_url": f"{api_url}/v1/packages/0",
        }
    )


async def measure_watches(session: aiohttp.ClientSession, s, redis: Redis) -> None:
    """POST /v1/packages/{id}/watch on N building packages of one partner."""
    headers = s.headers(PARTNER)
    ids = []
    for _ in range(N):
        async with session.post(
            f"{s.sim_url}/_sim/packages", json={"partner_id": PARTNER, "status": "INPROGRESS", "progress": 10}
        ) as response:
            ids.append((await response.json())["id"])
    async with Phase(redis) as phase:
        for package_id in ids:
            async with session.post(f"{s.api_url}/v1/packages/{package_id}/watch", headers=headers) as r:
                assert r.status in (200, 202), await r.text()
    phase.report("open watch (its entry in the partner's watch hash, last status)")


async def measure_drafts(session: aiohttp.ClientSession, s, redis: Redis) -> None:
    """N drafts of 50 users (a user keeps a few dozen at most)."""
    users = [
        {
            **s.headers(PARTNER),
            "Authorization": f"Bearer {issue_token(SECRET, sub=f'u{i}', partners=[PARTNER])}",
        }
        for i in range(50)
    ]
    body = {"step": "preview", "state": DRAFT_STATE}
    async with Phase(redis) as phase:
        for index in range(N):
            async with session.post(f"{s.api_url}/v1/drafts", json=body, headers=users[index % 50]) as r:
                assert r.status == 201, await r.text()
    phase.report(f"wizard draft ({len(json.dumps(DRAFT_STATE))} B of state JSON)")


async def measure_deliveries(session: aiohttp.ClientSession, s, redis: Redis) -> None:
    """package.done events to one endpoint (no worker runs: each stays pending, its job
    queued), then three failed attempts logged on each, each keeping a 2 KB answer."""
    headers = s.headers(PARTNER)
    body = {"url": "http://127.0.0.1:9/hooks", "event_types": ["package.done"]}
    async with session.post(f"{s.api_url}/v1/webhooks", json=body, headers=headers) as r:
        assert r.status == 201, await r.text()
    queue = ArqRedis.from_url(s.redis_url)
    data = _done_data(s.api_url)
    async with Phase(redis) as phase:
        for index in range(N):
            package = data.model_copy(update={"package_id": str(index)})
            created = await dispatch_event(
                WebhookStore(redis),
                queue,
                partner_id=PARTNER,
                event_type="package.done",
                event_key=f"package.done:{index}:0",
                data=package,
            )
            assert created == 1
    phase.report("webhook delivery, pending (record, indexes, its queued arq job)")

    store = WebhookStore(redis)
    async with Phase(redis) as phase:
        await log_attempts(store, [("succeeded", 204, "")])
    phase.report("a first attempt answered 204, logged")
    async with Phase(redis) as phase:
        await log_attempts(store, [("failed", 502, FAILED_RESPONSE)] * 3)
    phase.report("three failed attempts logged on a delivery (each keeps a 2 KB answer)")
    await queue.aclose()


async def measure_activity(s, redis: Redis) -> None:
    """The activity log: N ``package.done`` events (three clusters) through the outbox to a
    partner with no endpoint (the log and its once-only marker, kept a day), then N
    ``package.status`` changes recorded by the status store and published the same way."""
    queue = ArqRedis.from_url(s.redis_url)
    log = ActivityLog(redis, retention_s=30 * 24 * 3600, max_events=1_000_000)
    outbox = Outbox(redis, log, WebhookStore(redis), queue)
    data = _done_data(s.api_url)
    quiet = PARTNER + "-no-endpoint"  # its events are logged, and delivered nowhere
    async with Phase(redis) as phase:
        for index in range(N):
            await outbox.emit(
                quiet,
                WebhookEventType.PACKAGE_DONE,
                f"activity:{index}",
                str(index),
                data.model_copy(update={"package_id": str(index)}),
            )
    phase.report("activity event, package.done with 3 clusters (stream entry; once-only marker for a day)")
    statuses = StatusStore(redis, outbox)
    seconds, micros = await redis.time()
    now_ms = int(seconds) * 1000 + int(micros) // 1000
    async with Phase(redis) as phase:
        for index in range(N):
            await statuses.observe(PARTNER, Observation(f"status-{index}", "INPROGRESS", 40, now_ms))
    phase.report("activity event, package.status (stream entry, once-only marker for a day, the status key)")
    await queue.aclose()


async def log_attempts(store: WebhookStore, attempts: list[tuple[str, int, str]]) -> None:
    """Log these attempts (outcome, status, answer) on every delivery, as the worker does;
    the deliveries stay pending so that each phase finds them all."""
    for partner_id, delivery_id in await store.due_deliveries(before=time.time() + 3600, start=0, limit=N):
        delivery = await store.get_delivery(partner_id, delivery_id)
        assert delivery is not None
        for outcome, status, answer in attempts:
            number = delivery.next_attempt
            attempt = AttemptRecord(
                number=number,
                round=1,
                at=time.time(),
                outcome=outcome,  # type: ignore[arg-type]
                status_code=status,
                latency_ms=120,
                error=None if status < 300 else f"HTTP {status}",
                response_body=answer,
                next_attempt_in_s=None if status < 300 else 300,
            )
            advanced = delivery.model_copy(update={"next_attempt": number + 1, "updated_at": time.time()})
            assert await store.advance_delivery(advanced, attempt)
            delivery = advanced


async def run() -> None:
    with stack(extra_env={"BFF_WEBHOOK_ALLOW_PRIVATE_TARGETS": "true"}) as s:
        redis = Redis.from_url(s.redis_url, decode_responses=True)
        async with aiohttp.ClientSession() as session:
            await measure_watches(session, s, redis)
            await measure_drafts(session, s, redis)
            await measure_deliveries(session, s, redis)
        await measure_activity(s, redis)
        await redis.aclose()


if __name__ == "__main__":
    asyncio.run(run())
