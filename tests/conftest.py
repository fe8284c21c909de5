"""Fixtures that start real things: Redis, the simulator, the API and a worker.

Each test works as its own partner (``partner`` fixture), so tests share the
servers without seeing each other's packages, drafts, webhooks or caches.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from app.auth.tokens import issue_token
from tests.support.processes import ApiServer, ManagedProcess, RedisServer, free_port, python_module

JWT_SECRET = "test-secret-" + uuid.uuid4().hex
SERVICE_TOKEN = "service-token-" + uuid.uuid4().hex
LINK_KEY = "link-key-" + uuid.uuid4().hex


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A private redis-server (so tests may restart it); needs the binary on PATH."""
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server must be on PATH for the test suite (.ci/run installs it)")
    data_dir = Path(tempfile.mkdtemp(prefix="bff-redis-"))
    server = RedisServer(free_port(), data_dir).start()
    yield server
    server.stop()
    shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def simulator() -> Iterator[ManagedProcess]:
    port = free_port()
    sim = ManagedProcess(
        "simulator",
        python_module("app", "simulator", "--port", str(port)),
        env={"SIM_BUILD_SECONDS": "3600", "SIM_PORT": str(port)},
        port=port,
    ).start()
    sim.url = f"http://127.0.0.1:{port}"
    yield sim
    sim.stop()


@pytest.fixture(scope="session")
def bff_env(redis_server: RedisServer, simulator: ManagedProcess) -> dict[str, str]:
    """Everything the API and worker are configured with: BFF_* variables only."""
    return {
        "BFF_UPSTREAM_URL": simulator.url,
        "BFF_DATA_INTEGRATIONS_URL": simulator.url,
        "BFF_REDIS_URL": redis_server.url,
        "BFF_JWT_SECRET": JWT_SECRET,
        "BFF_LINK_SIGNING_KEY": LINK_KEY,
        # On, but far above what a test does; tests/test_limits.py runs an API with small ones.
        "BFF_RATE_LIMIT_RPS": "1000",
        "BFF_RATE_LIMIT_BURST": "5000",
        "BFF_UPSTREAM_SERVICE_TOKEN": SERVICE_TOKEN,
        "BFF_POLL_INTERVAL_S": "0.2",
        "BFF_WEBHOOK_RETRY_SCHEDULE": "0.2,0.2,0.2",
        "BFF_WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
        "BFF_CORS_ORIGINS": "http://spa.example",
        "BFF_UPSTREAM_RETRIES": "1",
        "BFF_UPSTREAM_TIMEOUT_S": "2",
        "BFF_WORKER_METRICS_PORT": "0",  # tests that scrape a worker give it a free port
    }


@pytest.fixture(scope="session")
def api_server(bff_env: dict[str, str]) -> Iterator[ApiServer]:
    api = ApiServer("api", bff_env).start()
    yield api
    api.close()


@pytest.fixture(scope="session")
def second_api_server(bff_env: dict[str, str]) -> Iterator[ApiServer]:
    """Another API replica on the same Redis and simulator (cross-process behaviour); it waits
    only briefly for an in-flight request with the same Idempotency-Key."""
    api = ApiServer(
        "api-2", {**bff_env, "BFF_IDEMPOTENCY_WAIT_S": "0.3", "BFF_UPSTREAM_TIMEOUT_S": "10"}
    ).start()
    yield api
    api.close()


@pytest.fixture(scope="session")
def worker_process(bff_env: dict[str, str]) -> Iterator[ManagedProcess]:
    worker = ManagedProcess("worker", python_module("app", "worker"), env=bff_env).start()
    yield worker
    worker.stop()


def make_token(
    *,
    sub: str = "user-1",
    partners: list[str] | None = None,
    permissions: list[str] | None = None,
    ttl_s: int = 3600,
    secret: str = JWT_SECRET,
) -> str:
    return issue_token(
        secret,
        sub=sub,
        partners=partners if partners is not None else ["*"],
        permissions=permissions if permissions is not None else ["backhaul"],
        ttl_s=ttl_s,
    )


@pytest.fixture
def partner() -> str:
    """A partner id of this test alone."""
    return "p-" + uuid.uuid4().hex[:12]


@pytest.fixture
def auth_headers(partner: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(partners=[partner])}", "X-Preferred-Partner-Id": partner}


@pytest.fixture
async def sim(simulator: ManagedProcess) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the simulator's control endpoints (``/_sim/…``); faults cleared after. Its
    idle connections close before uvicorn's keep-alive timeout (5 s) would close them under
    a request (a test that waits a few seconds between calls would see a disconnect)."""
    limits = httpx.Limits(keepalive_expiry=2)
    async with httpx.AsyncClient(base_url=simulator.url, timeout=30, limits=limits) as client:
        yield client
        await client.delete("/_sim/faults")


@pytest.fixture
async def api(api_server: ApiServer, auth_headers: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the real API over a real socket, as the test's partner."""
    async with httpx.AsyncClient(base_url=api_server.url, headers=auth_headers, timeout=30) as client:
        yield client


@pytest.fixture
async def replica(
    second_api_server: ApiServer, auth_headers: dict[str, str]
) -> AsyncIterator[httpx.AsyncClient]:
    """The same partner on a second API process (which waits only 0.3 s for an in-flight key)."""
    async with httpx.AsyncClient(base_url=second_api_server.url, headers=auth_headers, timeout=30) as client:
        yield client


@pytest.fixture
async def redis(redis_server: RedisServer) -> AsyncIterator[Redis]:
    """A client of the test Redis, to look at (or age) what the services stored."""
    client = Redis.from_url(redis_server.url, decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture
async def api_metrics(api_server: ApiServer) -> AsyncIterator[httpx.AsyncClient]:
    """The API's own metrics port (``BFF_API_METRICS_PORT``)."""
    async with httpx.AsyncClient(base_url=api_server.metrics_url, timeout=10) as client:
        yield client


@pytest.fixture
async def anonymous(api_server: ApiServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=api_server.url, timeout=30) as client:
        yield client


os.environ.setdefault("BFF_JWT_SECRET", JWT_SECRET)
