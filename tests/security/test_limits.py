"""What an attacker or a bad day sends: huge or slow bodies, floods, hoarding. Every limit
answers problem+json before the work it guards, and the other partners never notice."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from tests.conftest import make_token
from tests.support.processes import ApiServer

MIB = 1024 * 1024


def rss_kib(server: ApiServer) -> int:
    assert server.process is not None
    for line in open(f"/proc/{server.process.pid}/status").read().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


async def raw_exchange(server: ApiServer, head: bytes, body_chunks: Iterator[bytes] = iter(())) -> bytes:
    """Send a request by hand (headers, then body chunks until the server answers) and read
    the answer's status line and headers: the server answers before the body is all sent."""
    reader, writer = await asyncio.open_connection("127.0.0.1", int(server.url.rsplit(":", 1)[1]))
    answer = asyncio.ensure_future(reader.readuntil(b"\r\n\r\n"))
    try:
        with contextlib.suppress(ConnectionError):  # the server may answer and close at any point
            writer.write(head)
            await writer.drain()
            for chunk in body_chunks:
                if answer.done():
                    break
                writer.write(chunk)
                await writer.drain()
        return await asyncio.wait_for(answer, 30)
    finally:
        answer.cancel()
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


async def test_a_huge_declared_body_without_a_token_is_413_before_it_is_read(api_server):
    before = rss_kib(api_server)
    head = (
        b"POST /v1/webhooks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 157286400\r\n\r\n"
    )
    answer = await raw_exchange(api_server, head, iter([b"x" * 65536] * 16))
    assert status_of(answer) == 413
    assert b"application/problem+json" in answer
    assert rss_kib(api_server) - before < 20 * 1024, "the body was not buffered"


async def test_a_streamed_body_is_cut_off_at_the_limit_with_memory_flat(api_server, partner):
    before = rss_kib(api_server)
    token = make_token(partners=[partner])
    head = (
        f"POST /v1/drafts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
        f"X-Preferred-Partner-Id: {partner}\r\nContent-Type: application/octet-stream\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    ).encode()
    chunk = b"x" * 65536
    chunks = (b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(50 * 16))  # 50 MiB offered
    answer = await raw_exchange(api_server, head, chunks)
    assert status_of(answer) == 413
    assert rss_kib(api_server) - before < 20 * 1024


async def test_json_that_parsers_accept_but_we_must_not_is_422(api, partner):
    lone_surrogate = b'{"step": "events", "state": {"title": "\\ud800"}}'
    infinity = b'{"step": "events", "state": {"below": Infinity}}'
    overflow = b'{"step": "events", "state": {"below": 1e999}}'
    for body in (lone_surrogate, infinity, overflow):
        response = await api.post("/v1/drafts", content=body, headers={"Content-Type": "application/json"})
        assert response.status_code == 422, (body, response.text)
        assert response.json()["errors"][0]["loc"] == ["body"]


async def test_a_non_finite_number_in_a_create_filter_is_refused_not_sent_upstream(api):
    body = (
        b'{"title": "t", "event_ids": [1], "targeting_mode": "lookalike",'
        b' "filters": {"exclude_buying_behavior_above": -Infinity}}'
    )
    response = await api.post("/v1/packages", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422


@pytest.fixture(scope="module")
def rate_limited_api(bff_env: dict[str, str]) -> Iterator[ApiServer]:
    """An API that allows 3 requests per partner, then one more every 100 s."""
    server = ApiServer(
        "api-rate-limited", {**bff_env, "BFF_RATE_LIMIT_RPS": "0.01", "BFF_RATE_LIMIT_BURST": "3"}
    )
    server.start()
    yield server
    server.close()


@pytest.fixture(scope="module")
def capped_api(bff_env: dict[str, str]) -> Iterator[ApiServer]:
    """An API with small caps: 3 drafts per user, 2 test sends an hour, 1 s to send a body."""
    env = {
        **bff_env,
        "BFF_MAX_DRAFTS_PER_USER": "3",
        "BFF_WEBHOOK_TEST_SENDS_PER_HOUR": "2",
        "BFF_BODY_READ_TIMEOUT_S": "1",
    }
    server = ApiServer("api-capped", env).start()
    yield server
    server.close()


@contextlib.asynccontextmanager
async def client_for(
    server: ApiServer, partner: str, sub: str | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """A client acting for ``partner`` as ``sub`` (by default a user of that partner only)."""
    token = make_token(sub=sub or f"user-of-{partner}", partners=[partner])
    headers = {"Authorization": f"Bearer {token}", "X-Preferred-Partner-Id": partner}
    async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=30) as client:
        yield client


async def test_a_partner_over_its_rate_gets_429_and_other_partners_do_not_notice(rate_limited_api, partner):
    async with client_for(rate_limited_api, partner) as client:
        answers = [await client.get("/v1/drafts") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[0].headers["RateLimit-Policy"] == '"partner";q=3;w=300'
    assert answers[2].headers["RateLimit"].startswith('"partner";r=0;')
    refused = answers[3]
    assert int(refused.headers["Retry-After"]) > 0
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.headers["RateLimit"].startswith('"partner";r=0;')
    async with client_for(rate_limited_api, partner + "-other") as other:
        assert (await other.get("/v1/drafts")).status_code == 200


async def test_a_token_for_every_partner_cannot_multiply_the_partner_budget(rate_limited_api, partner):
    """3 requests per partner, the subject 1.5 times that (4): rotating 20 partners gets 4 through."""
    token = make_token(sub="rotator-" + partner, partners=["*"])
    async with httpx.AsyncClient(
        base_url=rate_limited_api.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    ) as client:
        answers = [
            await client.get("/v1/drafts", headers={"X-Preferred-Partner-Id": f"{partner}-{n}"})
            for n in range(20)
        ]
    assert [a.status_code for a in answers] == [200] * 4 + [429] * 16
    refused = answers[4]
    assert refused.headers["RateLimit-Policy"] == '"subject";q=4;w=267'
    assert "every partner it acts for" in refused.json()["detail"]


async def test_a_request_whose_dependencies_each_need_the_caller_takes_one_token(rate_limited_api, partner):
    """Submitting a draft needs the caller twice (the caller's drafts, and the upstream
    context of the package it creates); the request is still admitted once."""
    async with client_for(rate_limited_api, partner) as client:
        created = await client.post("/v1/drafts", json={"step": "events", "state": {}})
        submit = f"/v1/drafts/{created.json()['id']}/submit"
        answers = [
            created,
            await client.post(submit),
            await client.post(submit),
            await client.get("/v1/drafts"),
        ]
    assert [a.status_code for a in answers] == [201, 422, 422, 429]
    assert answers[2].headers["RateLimit"].startswith('"partner";r=0;')


async def test_the_rate_limit_is_shared_by_every_replica(rate_limited_api, bff_env, partner):
    replica = ApiServer(
        "api-rate-limited-2", {**bff_env, "BFF_RATE_LIMIT_RPS": "0.01", "BFF_RATE_LIMIT_BURST": "3"}
    )
    replica.start()
    try:
        statuses = []
        for server in (rate_limited_api, replica, rate_limited_api, replica):
            async with client_for(server, partner) as client:
                statuses.append((await client.get("/v1/drafts")).status_code)
    finally:
        replica.close()
    assert statuses == [200, 200, 200, 429]


async def test_a_slow_body_is_408_not_held_open(capped_api, partner):
    token = make_token(partners=[partner])
    head = (
        f"POST /v1/drafts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
        f"X-Preferred-Partner-Id: {partner}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
        '{"step": '
    ).encode()
    assert status_of(await raw_exchange(capped_api, head)) == 408


async def test_drafts_are_capped_per_user(capped_api, partner):
    body = {"step": "events", "state": {}}
    async with (
        client_for(capped_api, partner, "hoarder") as hoarder,
        client_for(capped_api, partner) as other,
    ):
        made = [await hoarder.post("/v1/drafts", json=body) for _ in range(3)]
        assert [m.status_code for m in made] == [201, 201, 201]
        refused = await hoarder.post("/v1/drafts", json=body)
        assert refused.status_code == 409 and "BFF_MAX_DRAFTS_PER_USER" in refused.json()["detail"]
        assert (await other.post("/v1/drafts", json=body)).status_code == 201, "the cap is per user"
        draft = made[0].json()
        gone = await hoarder.delete(
            f"/v1/drafts/{draft['id']}", headers={"If-Match": made[0].headers["ETag"]}
        )
        assert gone.status_code == 204
        assert (await hoarder.post("/v1/drafts", json=body)).status_code == 201


async def test_test_sends_are_capped_per_endpoint(capped_api, partner):
    async with client_for(capped_api, partner) as client:
        endpoint = (
            await client.post(
                "/v1/webhooks", json={"url": "http://127.0.0.1:9/hook", "event_types": ["package.done"]}
            )
        ).json()
        sends = [await client.post(f"/v1/webhooks/{endpoint['id']}/test") for _ in range(3)]
    assert [s.status_code for s in sends] == [202, 202, 429]
    assert 0 < int(sends[2].headers["Retry-After"]) <= 3600
