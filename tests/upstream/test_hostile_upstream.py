"""Bounded against a hostile upstream: the real API and the real worker, pointed at a local
upstream that answers with 300 MB, an endless chunked body, a gzip bomb, a drip or
silence. Each call ends within ``BFF_UPSTREAM_DEADLINE_S`` as a problem+json 502/504,
the connections it gave up on are closed, and the process's peak memory (``VmHWM``)
stays within 50 MB of what it was idle.

The upstream picks its behaviour by the caller's partner id (``huge-…``, ``drip-…``).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from functools import partial
from pathlib import Path

import httpx
import pytest
import redis as sync_redis
from redis.asyncio import Redis

from app.builds.registry import WatchRegistry
from tests.builds.support import wait_until
from tests.conftest import make_token
from tests.support.processes import ApiServer, ManagedProcess, python_module
from tests.support.upstream_double import Behaviour, MiB, Received, UpstreamDouble, gzip_bomb, reply

DEADLINE_S = 3.0
SLACK_S = 1.0  # the API's own work and the connection set-up beyond the deadline
MEMORY_SLACK = 50 * MiB
HOSTILE_DB = 13
LIST = "/package_builder/packages/"
# What each partner gets and what the API answers for it.
CASES = {"huge": 502, "endless": 502, "bomb": 502, "drip": 504, "silent": 504}
POLLS_OF_EACH = 3


def peak_memory(pid: int) -> int:
    """``VmHWM``: the process's peak resident size so far, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc")


def pid_of(process: ManagedProcess) -> int:
    assert process.process is not None
    return process.process.pid


def _partner_of(prefix: str, request: Received) -> bool:
    return request.partner.startswith(prefix)


def listing(statuses: dict[str, str]) -> Behaviour:
    """The list as it is at the time of each request."""

    async def answer(request: Received, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        packages = [{"id": package_id, "status": status} for package_id, status in statuses.items()]
        return await reply(200, packages)(request, reader, writer)

    return answer


@pytest.fixture(scope="module")
def statuses() -> dict[str, str]:
    """The well-behaved partners' packages, as the upstream lists them."""
    return {}


@pytest.fixture(scope="module")
async def upstream(statuses: dict[str, str]) -> AsyncIterator[UpstreamDouble]:
    double = await UpstreamDouble().start()
    behaviours = {
        "huge": double.huge(300 * MiB),
        "endless": double.endless(),
        "bomb": double.compressed(await asyncio.to_thread(gzip_bomb, 300 * MiB)),
        "drip": double.drip(every_s=0.5),  # each read well within BFF_UPSTREAM_TIMEOUT_S
        "silent": double.silent(),
    }
    for case, behaviour in behaviours.items():
        double.when(partial(_partner_of, f"{case}-"), behaviour)
    double.on("GET", LIST, listing(statuses))
    double.when(
        lambda r: r.method == "GET" and r.path.startswith(LIST),
        reply(200, {"id": "fine-build", "status": "DONE", "content": {"fans": {"customers": 3}}}),
    )
    yield double
    await double.stop()


@pytest.fixture(scope="module")
def hostile_env(bff_env: dict[str, str], upstream: UpstreamDouble, redis_server) -> dict[str, str]:
    """Reads may take 2 s and are tried 3 times: 6 s without the deadline of 3 s."""
    url = redis_server.url.rsplit("/", 1)[0] + f"/{HOSTILE_DB}"
    with sync_redis.Redis.from_url(url) as client:
        client.flushdb()
    return {
        **bff_env,
        "BFF_REDIS_URL": url,
        "BFF_UPSTREAM_URL": upstream.url,
        "BFF_UPSTREAM_TIMEOUT_S": "2",
        "BFF_UPSTREAM_RETRIES": "2",
        "BFF_UPSTREAM_DEADLINE_S": str(DEADLINE_S),
    }


def client_for(api: ApiServer, partner: str) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {make_token(partners=[partner])}", "X-Preferred-Partner-Id": partner}
    return httpx.AsyncClient(base_url=api.url, headers=headers, timeout=60)


@pytest.fixture(scope="module")
async def hostile_api(hostile_env: dict[str, str]) -> AsyncIterator[tuple[ApiServer, int]]:
    """The API and its idle peak memory, taken after a first ordinary list call."""
    api = ApiServer("api-hostile", hostile_env).start()
    try:
        async with client_for(api, "fine-warm-up") as client:
            assert (await client.get("/v1/packages")).status_code == 200
        yield api, peak_memory(pid_of(api))
    finally:
        api.close()


@pytest.mark.parametrize(("case", "status"), CASES.items())
async def test_the_api_ends_a_hostile_answer_within_the_deadline_with_flat_memory(
    hostile_api, upstream, case, status
):
    api, idle = hostile_api
    async with client_for(api, f"{case}-{uuid.uuid4().hex[:8]}") as client:
        started = time.monotonic()
        response = await client.get("/v1/packages")
        took = time.monotonic() - started
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert took < DEADLINE_S + SLACK_S
    await upstream.wait_until_abandoned(timeout_s=DEADLINE_S)
    assert peak_memory(pid_of(api)) - idle < MEMORY_SLACK


@pytest.fixture
async def store(hostile_env: dict[str, str]) -> AsyncIterator[Redis]:
    client = Redis.from_url(hostile_env["BFF_REDIS_URL"], decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture
def hostile_worker(hostile_env: dict[str, str]) -> Iterator[ManagedProcess]:
    worker = ManagedProcess("worker-hostile", python_module("app", "worker"), env=hostile_env).start()
    yield worker
    worker.stop()


async def test_the_worker_polls_hostile_partners_as_failed_polls_with_flat_memory(
    hostile_worker, upstream, statuses, store
):
    """Partners whose list is 300 MB, endless or a gzip bomb fail their polls (each call
    bounded, its connection closed); the worker stays flat and goes on reporting another
    partner's build."""
    registry = WatchRegistry(store)
    fine = f"fine-{uuid.uuid4().hex[:8]}"
    statuses["fine-build"] = "INPROGRESS"
    await registry.open(fine, "fine-build", reason="create")

    def lists_of(prefix: str) -> int:
        return sum(1 for r in upstream.calls("GET", LIST) if r.partner.startswith(prefix))

    await upstream.wait_for(lambda: lists_of(fine) >= 2, timeout_s=30)  # polling, warmed up
    idle = peak_memory(pid_of(hostile_worker))

    hostile = {case: f"{case}-{uuid.uuid4().hex[:8]}" for case in ("huge", "endless", "bomb")}
    for partner in hostile.values():
        await registry.open(partner, "hostile-build", reason="create")
    await upstream.wait_for(
        lambda: all(lists_of(partner) >= POLLS_OF_EACH for partner in hostile.values()), timeout_s=60
    )
    statuses["fine-build"] = "DONE"

    async def reported() -> bool:
        return "fine-build" not in [w.package_id for w in await registry.watches(fine)]

    await wait_until(reported, what="the well-behaved partner's build reported")
    assert peak_memory(pid_of(hostile_worker)) - idle < MEMORY_SLACK
    for partner in hostile.values():
        assert f"status poll of partner {partner} failed" in hostile_worker.log()
        [watch] = await registry.watches(partner)  # still open: no poll has read it
        await registry.close(watch)
    # Polled no more, the worker has closed every connection a hostile answer came on.
    await upstream.wait_until_abandoned(timeout_s=DEADLINE_S + SLACK_S)
