"""Faults of a Redis Cluster under traffic: a primary SIGKILLed (its replica takes over) and
slots moved between primaries while builds end. Every build's ``package.done`` arrives with
one webhook-id, verified; the list and the feed answer throughout, with at most a few 503s
that carry ``Retry-After``; nothing is lost."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
from redis.crc import key_slot
from standardwebhooks.webhooks import Webhook

from tests.conftest import make_token
from tests.support.cluster import LocalCluster
from tests.support.processes import ApiServer
from tests.support.sim import force_status
from tests.webhooks.receiver import Receiver
from tests.webhooks.support import register

PARTNERS = 4
BUILDS_PER_PARTNER = 3
CREATE = {"title": "Fault shows", "event_ids": [12345], "targeting_mode": "lookalike", "num_packages": 1}


class Traffic:
    """Reads the list and the feed of every partner in a loop; counts each answer's status."""

    def __init__(self, clients: list[httpx.AsyncClient]) -> None:
        self.clients = clients
        self.statuses: Counter[int] = Counter()
        self.without_retry_after = 0

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            for client in self.clients:
                for path in ("/v1/packages?limit=20", "/v1/activity?after=2000-01-01T00:00:00Z&limit=20"):
                    response = await client.get(path)
                    self.statuses[response.status_code] += 1
                    if response.status_code == 503 and "retry-after" not in response.headers:
                        self.without_retry_after += 1
            await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def partners_with_builds(
    api: ApiServer, hooks: Receiver
) -> AsyncIterator[tuple[list[httpx.AsyncClient], dict[str, tuple[str, dict]]]]:
    """``PARTNERS`` partners, each with an endpoint for ``package.done`` and builds in flight:
    their clients, and each build's (hook url, endpoint)."""
    clients: list[httpx.AsyncClient] = []
    builds: dict[str, tuple[str, dict]] = {}
    try:
        for _ in range(PARTNERS):
            partner = "p-" + uuid.uuid4().hex[:12]
            headers = {
                "Authorization": f"Bearer {make_token(partners=[partner])}",
                "X-Preferred-Partner-Id": partner,
            }
            client = httpx.AsyncClient(base_url=api.url, headers=headers, timeout=30)
            clients.append(client)
            url = hooks.hook()
            endpoint = await register(client, url, ["package.done"])
            for _ in range(BUILDS_PER_PARTNER):
                created = await client.post(
                    "/v1/packages", json=CREATE, headers={"Idempotency-Key": uuid.uuid4().hex}
                )
                assert created.status_code == 202, created.text
                builds[created.json()["id"]] = (url, endpoint)
        yield clients, builds
    finally:
        for client in clients:
            await client.aclose()


def _announced(hooks: Receiver, builds: dict[str, tuple[str, dict]]) -> set[str]:
    """The builds whose verified ``package.done`` arrived."""
    return {
        Webhook(endpoint["secret"]).verify(r.body, r.headers)["data"]["package_id"]
        for url, endpoint in {url: endpoint for url, endpoint in builds.values()}.items()
        for r in hooks.received(url)
    }


async def _under_traffic(
    cluster_api: ApiServer,
    hooks: Receiver,
    sim: httpx.AsyncClient,
    fault: Callable[[list[str]], Awaitable[None]],
) -> None:
    async with partners_with_builds(cluster_api, hooks) as (clients, builds):
        traffic = Traffic(clients)
        stop = asyncio.Event()
        reading = asyncio.create_task(traffic.run(stop))
        ids = list(builds)
        half = len(ids) // 2
        for package_id in ids[:half]:  # these end before the fault, and are announced
            await force_status(sim, package_id, "DONE")
        await hooks.wait_until(lambda: _announced(hooks, builds) >= set(ids[:half]), timeout_s=30)
        await fault([client.headers["x-preferred-partner-id"] for client in clients])
        for package_id in ids[half:]:  # and these after it
            await force_status(sim, package_id, "DONE")
        urls = {url for url, _ in builds.values()}

        await hooks.wait_until(lambda: _announced(hooks, builds) >= set(builds), timeout_s=60)
        stop.set()
        await reading
        ids_per_build: dict[str, set[str]] = {}
        for url in urls:
            for request in hooks.received(url):
                package_id = str(request.body).split('"package_id":"', 1)[1].split('"', 1)[0]
                ids_per_build.setdefault(package_id, set()).add(request.headers["webhook-id"])
        assert set(ids_per_build) == set(builds)
        assert all(len(found) == 1 for found in ids_per_build.values()), ids_per_build  # one webhook-id each
        assert set(traffic.statuses) <= {200, 503}, traffic.statuses
        assert traffic.statuses[200] > 0 and traffic.without_retry_after == 0
        assert traffic.statuses[503] <= traffic.statuses[200] // 5, traffic.statuses  # a few, not most


async def test_a_primary_killed_under_traffic_loses_nothing(
    redis_cluster: LocalCluster, cluster_api, cluster_worker, hooks: Receiver, sim
):
    async def kill(partners: list[str]) -> None:
        """The primary of the first partner's slot (all of its keys: the hash tag)."""
        await asyncio.to_thread(redis_cluster.wait_replicated)
        victim = redis_cluster.owner_of_slot(key_slot(f"{{{partners[0]}}}".encode()))
        await asyncio.to_thread(redis_cluster.kill_primary, victim)

    await _under_traffic(cluster_api, hooks, sim, kill)


async def test_slots_moved_under_traffic_lose_nothing(
    redis_cluster: LocalCluster, cluster_api, cluster_worker, hooks: Receiver, sim
):
    async def reshard(partners: list[str]) -> None:
        """Every slot of the primary of the first partner's slot goes to another primary."""
        source = redis_cluster.owner_of_slot(key_slot(f"{{{partners[0]}}}".encode()))
        target = next(node for node in redis_cluster.primaries() if node is not source)
        slots = len(source.views()[source.client_port].slots)
        await asyncio.to_thread(redis_cluster.move_slots, slots, source, target)

    await _under_traffic(cluster_api, hooks, sim, reshard)
