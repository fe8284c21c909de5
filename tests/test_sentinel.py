"""Redis through Sentinel (BFF_REDIS_SENTINELS): a primary, a replica and three Sentinels on
free ports; the primary is SIGKILLed while requests keep coming and the Sentinels promote
the replica. Drafts, watches and a queued webhook retry survive; the API answers 503 at
most while the failover lasts and recovers by itself; the API and the worker never restart."""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import redis

from tests.builds.support import wait_until
from tests.conftest import make_token
from tests.support.processes import (
    ApiServer,
    ManagedProcess,
    RedisServer,
    api_and_worker,
    free_port,
    wait_for_servers,
)
from tests.support.sim import force_status, make_package
from tests.webhooks.receiver import Receiver, running_receiver
from tests.webhooks.support import deliveries, register

MASTER = "mymaster"


def sentinel_argv(config: Path) -> list[str]:
    """``redis-sentinel`` when installed, else ``redis-server --sentinel`` (the same binary)."""
    if binary := shutil.which("redis-sentinel"):
        return [binary, str(config)]
    binary = shutil.which("redis-server")
    assert binary, "redis-server must be on PATH"
    return [binary, str(config), "--sentinel"]


@dataclass
class RedisHA:
    primary: RedisServer
    replica: RedisServer
    sentinels: list[ManagedProcess] = field(default_factory=list)

    @property
    def sentinel_ports(self) -> list[int]:
        return [s.port for s in self.sentinels if s.port is not None]

    def master_port(self, sentinel_port: int) -> int:
        with redis.Redis(port=sentinel_port, socket_timeout=2) as client:
            _, port = client.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER)
        return int(port)

    def stop(self) -> None:
        for process in [*self.sentinels, self.replica, self.primary]:
            process.stop()


def start_redis_ha(data_dir: Path) -> RedisHA:
    for name in ("primary", "replica"):
        (data_dir / name).mkdir()
    no_delay = ["--repl-diskless-sync-delay", "0"]  # a replica syncs at once, not after 5 s
    primary_port = free_port()
    primary = RedisServer(primary_port, data_dir / "primary")
    primary.argv += no_delay
    primary.start()
    replica = RedisServer(free_port(), data_dir / "replica")
    replica.argv += [*no_delay, "--replicaof", "127.0.0.1", str(primary_port)]
    replica.start()
    ha = RedisHA(primary, replica)
    for index in range(3):
        port = free_port()
        config = data_dir / f"sentinel-{index}.conf"
        config.write_text(
            f"port {port}\nbind 127.0.0.1\ndir {data_dir}\n"
            f"sentinel monitor {MASTER} 127.0.0.1 {primary_port} 2\n"
            f"sentinel down-after-milliseconds {MASTER} 1000\n"
            f"sentinel failover-timeout {MASTER} 10000\n"
        )
        ha.sentinels.append(ManagedProcess(f"sentinel-{index}", sentinel_argv(config), port=port).start())

    def replicating() -> bool:
        with redis.Redis(port=primary_port) as client:
            return client.info("replication").get("slave0", {}).get("state") == "online"

    def sentinels_know_each_other_and_the_replica() -> bool:
        for port in ha.sentinel_ports:
            with redis.Redis(port=port, socket_timeout=2) as client:
                if len(client.execute_command("SENTINEL", "SENTINELS", MASTER)) != 2:
                    return False
                if not client.execute_command("SENTINEL", "REPLICAS", MASTER):
                    return False
        return True

    wait_for_servers(replicating, "the replica in sync")
    wait_for_servers(sentinels_know_each_other_and_the_replica, "the sentinels ready")
    return ha


@dataclass
class Deployment:
    ha: RedisHA
    api: ApiServer
    worker: ManagedProcess


@pytest.fixture
def deployment(bff_env: dict[str, str]) -> Iterator[Deployment]:
    data_dir = Path(tempfile.mkdtemp(prefix="bff-sentinel-"))
    ha = start_redis_ha(data_dir)
    env = {
        **bff_env,
        "BFF_REDIS_URL": "redis://sentinel-managed/0",  # only the database counts
        "BFF_REDIS_SENTINELS": ",".join(f"127.0.0.1:{port}" for port in ha.sentinel_ports),
        "BFF_REDIS_SENTINEL_MASTER": MASTER,
        "BFF_WEBHOOK_RETRY_SCHEDULE": "4,4,4",  # a failed attempt's retry waits in the queue
    }
    try:
        with api_and_worker("sentinel", env) as (api, worker):
            yield Deployment(ha, api, worker)
    finally:
        ha.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture
async def hooks() -> AsyncIterator[Receiver]:
    async with running_receiver() as receiver:
        yield receiver


async def keep_reading(client: httpx.AsyncClient, draft_url: str, answers: list[tuple[float, int]]) -> None:
    """A draft read and a draft write, again and again: (time, status) of every answer. Each
    draft written is deleted again, so a long failover never meets the per-user draft cap."""
    while True:
        answers.append((time.monotonic(), (await client.get(draft_url)).status_code))
        created = await client.post("/v1/drafts", json={"step": "events"})
        answers.append((time.monotonic(), created.status_code))
        if created.status_code == 201:
            draft = f"/v1/drafts/{created.json()['id']}"
            deleted = await client.delete(draft, headers={"If-Match": created.headers["ETag"]})
            answers.append((time.monotonic(), deleted.status_code))
        await asyncio.sleep(0.02)


def fail_over(ha: RedisHA) -> None:
    """The primary SIGKILLed: the Sentinels agree it is down and promote the replica; wait
    until every Sentinel names the former replica as the primary."""
    ha.primary.kill()
    wait_for_servers(
        lambda: all(ha.master_port(port) == ha.replica.port for port in ha.sentinel_ports),
        "every sentinel names the new primary",
    )


async def test_primary_failover_keeps_drafts_watches_and_queued_deliveries(deployment, sim, hooks, partner):
    headers = {"Authorization": f"Bearer {make_token(partners=[partner])}", "X-Preferred-Partner-Id": partner}
    client = httpx.AsyncClient(base_url=deployment.api.url, headers=headers, timeout=30)
    answers: list[tuple[float, int]] = []
    traffic: asyncio.Task[None] | None = None
    try:
        url = hooks.hook(answers=[500])  # the first attempt fails: its retry is queued
        endpoint = await register(client, url, ["package.done"])
        draft = (await client.post("/v1/drafts", json={"step": "events", "state": {"title": "kept"}})).json()
        draft_url = f"/v1/drafts/{draft['id']}"
        packages = [await make_package(sim, partner, "INPROGRESS") for _ in range(2)]
        for package in packages:
            assert (await client.post(f"/v1/packages/{package['id']}/watch")).status_code == 202
        test_send = (await client.post(f"/v1/webhooks/{endpoint['id']}/test")).json()
        await hooks.wait_for(url, 1)
        with redis.Redis.from_url(deployment.ha.primary.url) as primary:  # all of it on the replica
            assert await asyncio.to_thread(primary.wait, 1, 5000) == 1

        traffic = asyncio.create_task(keep_reading(client, draft_url, answers))
        await asyncio.to_thread(fail_over, deployment.ha)
        failed_over = time.monotonic()
        for package in packages:
            await force_status(sim, package["id"], "DONE")

        async def settled() -> bool:
            found = [d for d in await deliveries(client, endpoint["id"], limit=100)]
            by_id = {d["id"]: d for d in found}
            done = by_id.get(test_send["id"], {}).get("status") == "succeeded"
            delivered = [d for d in found if d["event_type"] == "package.done" and d["status"] == "succeeded"]
            return done and len(delivered) == len(packages)

        await wait_until(settled, deadline_s=40, what="the queued retry and the new events delivered")

        async def recovered() -> bool:  # requests sent after the failover succeed again
            return any(at > failed_over and status == 200 for at, status in answers)

        await wait_until(recovered, what="the API answering again")
        kept = await client.get(draft_url)
    finally:
        if traffic is not None:
            traffic.cancel()
        await client.aclose()

    assert kept.status_code == 200 and kept.json()["state"] == {"title": "kept"}
    assert {status for _, status in answers} <= {200, 201, 204, 503}, sorted({s for _, s in answers})
    payloads = [json.loads(r.body) for r in hooks.received(url)]
    announced = {p["data"]["package_id"] for p in payloads if p["type"] == "package.done"}
    assert announced == {p["id"] for p in packages}, payloads
    assert deployment.worker.process.poll() is None and deployment.api.process.poll() is None
    unavailable = [at for at, status in answers if status == 503]
    window = (max(unavailable) - min(unavailable)) if unavailable else 0.0
    print(f"\n503 window during the failover: {window:.2f} s ({len(unavailable)} of {len(answers)} answers)")
