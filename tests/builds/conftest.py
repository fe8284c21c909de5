"""A private deployment for the watch tests: its own Redis database, API and workers.

The session worker polls every partner of database 0; here the tests decide which
workers run (one, two, killed and restarted), so counts and crash recovery are exact.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator

import httpx
import pytest
import redis
from redis.asyncio import Redis

from tests.builds.support import WebhookReceiver
from tests.conftest import make_token
from tests.support.processes import ApiServer, ManagedProcess, python_module

PRIVATE_DB = 11


@pytest.fixture(scope="session")
def private_env(bff_env: dict[str, str], redis_server) -> dict[str, str]:
    url = redis_server.url.rsplit("/", 1)[0] + f"/{PRIVATE_DB}"
    with redis.Redis.from_url(url) as client:
        client.flushdb()
    return {**bff_env, "BFF_REDIS_URL": url}


@pytest.fixture(scope="session")
def private_api(private_env: dict[str, str]) -> Iterator[ApiServer]:
    api = ApiServer("api-watches", private_env).start()
    yield api
    api.close()


def client_for(api: ManagedProcess, partner: str) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {make_token(partners=[partner])}", "X-Preferred-Partner-Id": partner}
    return httpx.AsyncClient(base_url=api.url, headers=headers, timeout=30)


@pytest.fixture
async def papi(private_api: ManagedProcess, partner: str) -> AsyncIterator[httpx.AsyncClient]:
    """The test's partner on the private API."""
    async with client_for(private_api, partner) as client:
        yield client


@pytest.fixture
async def store(private_env: dict[str, str]) -> AsyncIterator[Redis]:
    client = Redis.from_url(private_env["BFF_REDIS_URL"], decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture
def start_worker(private_env: dict[str, str]) -> Iterator[Callable[..., ManagedProcess]]:
    """Starts workers of the private deployment (``BFF_*`` overrides as keywords; another
    start ``command`` than ``python -m app worker``); all are stopped after the test."""
    started: list[ManagedProcess] = []

    def start(*, command: list[str] | None = None, **env: str) -> ManagedProcess:
        worker = ManagedProcess(
            f"worker-{uuid.uuid4().hex[:6]}",
            command or python_module("app", "worker"),
            env={**private_env, **env},
        ).start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    server = await WebhookReceiver().start()
    yield server
    await server.stop()
