"""Idempotency records are bounded: an answer larger than ``BFF_IDEMPOTENCY_MAX_ANSWER_BYTES``
is not kept (a retry learns the outcome and the resource's ``Location``, 409), and a partner's
stored answers stop at ``BFF_IDEMPOTENCY_BUDGET_BYTES`` a day (429), other partners unaffected."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from redis.asyncio import Redis

from tests.conftest import make_token
from tests.support.processes import ApiServer

ANSWER_CAP = 8 * 1024
BUDGET = 64 * 1024


@pytest.fixture(scope="module")
def budgeted_api(bff_env: dict[str, str]) -> Iterator[ApiServer]:
    env = {
        **bff_env,
        "BFF_IDEMPOTENCY_MAX_ANSWER_BYTES": str(ANSWER_CAP),
        "BFF_IDEMPOTENCY_BUDGET_BYTES": str(BUDGET),
    }
    server = ApiServer("api-idempotency-budget", env).start()
    yield server
    server.close()


@contextlib.asynccontextmanager
async def client_for(server: ApiServer, partner: str) -> AsyncIterator[httpx.AsyncClient]:
    token = make_token(partners=[partner])
    headers = {"Authorization": f"Bearer {token}", "X-Preferred-Partner-Id": partner}
    async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=30) as client:
        yield client


def draft(state_bytes: int) -> dict[str, object]:
    return {"step": "events", "state": {"notes": "x" * state_bytes}}


async def create(client: httpx.AsyncClient, body: dict[str, object], key: str) -> httpx.Response:
    return await client.post("/v1/drafts", json=body, headers={"Idempotency-Key": key})


async def discard(client: httpx.AsyncClient, answer: httpx.Response) -> None:
    gone = await client.delete(answer.headers["Location"], headers={"If-Match": answer.headers["ETag"]})
    assert gone.status_code == 204


async def test_a_retry_of_an_answer_too_large_to_keep_learns_where_the_resource_is(budgeted_api, partner):
    async with client_for(budgeted_api, partner) as client:
        key = uuid.uuid4().hex
        first = await create(client, draft(ANSWER_CAP * 2), key)
        assert first.status_code == 201
        retry = await create(client, draft(ANSWER_CAP * 2), key)
        assert retry.status_code == 409
        assert retry.headers["Location"] == first.headers["Location"]
        assert "too large to keep" in retry.json()["detail"]
        listed = (await client.get("/v1/drafts")).json()["items"]
        assert len(listed) == 1, "the retry made no second draft"


async def test_small_answers_are_still_replayed(budgeted_api, partner):
    async with client_for(budgeted_api, partner) as client:
        key = uuid.uuid4().hex
        first = await create(client, draft(100), key)
        retry = await create(client, draft(100), key)
        assert (first.status_code, retry.status_code) == (201, 201)
        assert retry.headers["Idempotent-Replayed"] == "true"
        assert retry.json() == first.json()


async def test_a_partner_over_its_budget_gets_429_and_others_do_not_notice(budgeted_api, partner):
    async with client_for(budgeted_api, partner) as greedy:
        statuses = []
        for _ in range(40):  # ~4.2 KB each: the 64 KiB budget is spent after 16
            answer = await create(greedy, draft(4096), uuid.uuid4().hex)
            statuses.append(answer.status_code)
            if answer.status_code == 201:
                await discard(greedy, answer)
            else:
                refused = answer
                break
        assert statuses[:-1] == [201] * (len(statuses) - 1) and statuses[-1] == 429
        assert 12 <= len(statuses) <= 20
        assert "BFF_IDEMPOTENCY_BUDGET_BYTES" in refused.json()["detail"]
        assert int(refused.headers["Retry-After"]) > 0
        without_key = await greedy.post("/v1/drafts", json=draft(4096))
        assert without_key.status_code == 201, "requests without a key still work"
        await discard(greedy, without_key)
    async with client_for(budgeted_api, partner + "-other") as other:
        answer = await create(other, draft(4096), uuid.uuid4().hex)
        assert answer.status_code == 201


async def test_three_hundred_keyed_creates_of_large_drafts_stay_small_in_redis(api, redis: Redis):
    """The attack as measured: fresh keys, 200 KB drafts created and deleted, inside the
    rate limit and the draft cap. Their answers are too large to keep whole."""
    before = int((await redis.info("memory"))["used_memory"])
    body = draft(200 * 1024)
    for _ in range(300):
        answer = await create(api, body, uuid.uuid4().hex)
        assert answer.status_code == 201
        await discard(api, answer)
    grown = int((await redis.info("memory"))["used_memory"]) - before
    assert grown < 50 * 1024 * 1024, f"Redis grew by {grown} bytes"
    assert grown < 5 * 1024 * 1024, f"Redis grew by {grown} bytes: answers kept whole?"
