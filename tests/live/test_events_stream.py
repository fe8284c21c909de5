"""``GET /v1/packages/{id}/events``: live status over Server-Sent Events, fed by the worker."""

from __future__ import annotations

import asyncio
import contextlib

import httpx
from redis.asyncio import Redis

from app.builds import keys as build_keys
from app.kit.links import LinkSigner
from tests.conftest import LINK_KEY, make_token
from tests.support.processes import ApiServer
from tests.support.sim import force_status, make_package, upstream_calls
from tests.support.sse import STREAM_TIMEOUT, EventReader, answer_without_stream, expect_stream
from tests.support.watches import watched

SPA_ORIGIN = "http://spa.example"  # in BFF_CORS_ORIGINS of the test stack


def events_path(package_id: str) -> str:
    return f"/v1/packages/{package_id}/events"


async def subscribers(redis: Redis, partner: str, package_id: str) -> int:
    """Subscriptions to the package's status channel: a subscription is seen only in Redis."""
    channel = build_keys.status_channel(partner, package_id)
    return dict(await redis.pubsub_numsub(channel)).get(channel, 0)


async def wait_for_subscribers(
    redis: Redis, partner: str, package_id: str, expected: int, deadline_s: float = 10
) -> int:
    """Bounded polling of an observable condition (Redis has no event for it)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline_s
    while (count := await subscribers(redis, partner, package_id)) != expected:
        if loop.time() > end:
            break
        await asyncio.sleep(0.05)
    return count


async def test_stream_sees_the_whole_status_sequence_and_ends(api, sim, partner, worker_process):
    package = await make_package(sim, partner, "INITIALIZING")
    async with api.stream("GET", events_path(package["id"]), timeout=STREAM_TIMEOUT) as response:
        await expect_stream(response)
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["x-accel-buffering"] == "no"
        reader = EventReader(response)
        first = await reader.event()
        await force_status(sim, package["id"], "INPROGRESS", progress=40)
        second = await reader.event()
        await force_status(sim, package["id"], "DONE")
        third = await reader.event()
        assert await reader.next() is None, "the stream ends after a terminal status"
    assert [e.event for e in (first, second, third)] == ["status"] * 3
    assert [(e.json()["status"], e.json()["progress"]) for e in (first, second, third)] == [
        ("INITIALIZING", 0),
        ("INPROGRESS", 40),
        ("DONE", 100),
    ]
    ids = [e.number for e in (first, second, third)]
    assert ids == sorted(set(ids)) and [e.json()["seq"] for e in (first, second, third)] == ids
    assert all(e.json()["id"] == package["id"] for e in (first, second, third))
    assert reader.retry is not None and reader.retry > 0


async def test_stream_of_a_finished_package_sends_its_status_and_ends(api, sim, partner):
    package = await make_package(sim, partner, "FAILED")
    async with api.stream("GET", events_path(package["id"]), timeout=STREAM_TIMEOUT) as response:
        await expect_stream(response)
        events = await EventReader(response).rest()
    assert [e.json()["status"] for e in events] == ["FAILED"]


async def test_reconnect_with_last_event_id_resumes_after_it(api, sim, partner, worker_process):
    package = await make_package(sim, partner, "INITIALIZING")
    async with api.stream("GET", events_path(package["id"]), timeout=STREAM_TIMEOUT) as response:
        await expect_stream(response)
        reader = EventReader(response)
        await reader.next()
        await force_status(sim, package["id"], "INPROGRESS", progress=50)
        seen = await reader.event()
    assert seen.json()["status"] == "INPROGRESS"

    headers = {"Last-Event-ID": seen.id}
    async with api.stream(
        "GET", events_path(package["id"]), headers=headers, timeout=STREAM_TIMEOUT
    ) as response:
        await expect_stream(response)
        reader = EventReader(response)
        await force_status(sim, package["id"], "DONE")
        resumed = await reader.rest()
    assert [e.json()["status"] for e in resumed] == ["DONE"], "nothing up to Last-Event-ID again"
    assert resumed[0].number > seen.number

    final = await answer_without_stream(
        api, events_path(package["id"]), headers={"Last-Event-ID": str(resumed[0].number)}
    )
    assert final.status_code == 204, "the final status was delivered: EventSource stops"


async def signed_events_url(api: httpx.AsyncClient, package_id: str) -> str:
    """The signed ``events_url`` the API hands out (here: from ``POST …/watch``)."""
    answer = await api.post(f"/v1/packages/{package_id}/watch")
    assert answer.status_code == 202, answer.text
    return str(answer.json()["events_url"])


def signer() -> LinkSigner:
    return LinkSigner(LINK_KEY.encode(), "")


async def test_the_signed_events_url_opens_the_stream_without_any_header(api, anonymous, sim, partner):
    package = await make_package(sim, partner, "DONE")
    url = await signed_events_url(api, package["id"])
    assert {"partner_id", "exp", "sig"} <= httpx.URL(url).params.keys()
    async with anonymous.stream("GET", url, timeout=STREAM_TIMEOUT) as response:
        await expect_stream(response)
        events = await EventReader(response).rest()
    assert [e.json()["status"] for e in events] == ["DONE"]


async def test_a_jwt_in_the_query_string_is_refused(anonymous, sim, partner):
    package = await make_package(sim, partner, "DONE")
    params = {"access_token": make_token(partners=[partner]), "partner_id": partner}
    response = await answer_without_stream(anonymous, events_path(package["id"]), params=params)
    assert response.status_code == 401
    assert "query string" in response.json()["detail"]


async def test_stream_without_credentials_is_401(anonymous, sim, partner):
    package = await make_package(sim, partner, "DONE")
    response = await answer_without_stream(
        anonymous, events_path(package["id"]), params={"partner_id": partner}
    )
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_a_tampered_or_moved_link_is_403(api, anonymous, sim, partner):
    package = await make_package(sim, partner, "DONE")
    other = await make_package(sim, partner, "DONE")
    url = httpx.URL(await signed_events_url(api, package["id"]))
    sig = url.params["sig"]
    tampered = url.copy_set_param("sig", ("A" if sig[0] != "A" else "B") + sig[1:])
    moved = url.copy_with(path=events_path(other["id"]))
    other_partner = url.copy_set_param("partner_id", partner + "-x")
    later = url.copy_set_param("exp", str(int(url.params["exp"]) + 60))
    for forged in (tampered, moved, other_partner, later):
        response = await answer_without_stream(anonymous, forged)
        assert response.status_code == 403, (forged, response.text)


async def test_a_partial_or_reshaped_link_is_401(api, anonymous, sim, partner):
    package = await make_package(sim, partner, "DONE")
    url = httpx.URL(await signed_events_url(api, package["id"]))
    for broken in (
        url.copy_remove_param("sig"),
        url.copy_set_param("exp", "soon"),
        url.copy_set_param("sig", "x"),
    ):
        response = await answer_without_stream(anonymous, broken)
        assert response.status_code == 401 and "malformed" in response.json()["detail"], broken


async def test_an_expired_link_is_401(anonymous, sim, partner):
    package = await make_package(sim, partner, "DONE")
    url = signer().url(["v1", "packages", package["id"], "events"], partner, -5)
    response = await answer_without_stream(anonymous, url)
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


async def test_the_stream_ends_when_its_link_expires(anonymous, sim, partner):
    package = await make_package(sim, partner, "INPROGRESS")
    url = signer().url(["v1", "packages", package["id"], "events"], partner, 2)
    async with anonymous.stream("GET", url, timeout=STREAM_TIMEOUT) as response:
        await expect_stream(response)
        events = await EventReader(response, timeout_s=20).rest()  # returns when the server ends it
    assert [e.json()["status"] for e in events] == ["INPROGRESS"], "no terminal status: it expired"


async def test_stream_of_another_partners_package_is_404(api, sim):
    other = await make_package(sim, "p-other-partner", "INPROGRESS")
    response = await answer_without_stream(api, events_path(other["id"]))
    assert response.status_code == 404
    assert response.json()["status"] == 404


async def test_stream_answers_the_spa_origin_with_cors_headers(api, anonymous, sim, partner):
    package = await make_package(sim, partner, "DONE")
    url = await signed_events_url(api, package["id"])
    async with anonymous.stream(
        "GET", url, headers={"Origin": SPA_ORIGIN}, timeout=STREAM_TIMEOUT
    ) as response:
        await expect_stream(response)
        assert response.headers["access-control-allow-origin"] == SPA_ORIGIN
        await EventReader(response).rest()


async def test_client_disconnect_releases_the_subscription(api, sim, partner, redis):
    package = await make_package(sim, partner, "INPROGRESS")
    async with api.stream("GET", events_path(package["id"]), timeout=STREAM_TIMEOUT) as response:
        await expect_stream(response)
        reader = EventReader(response)  # kept: a dropped reader closes the connection
        assert (await reader.event()).json()["status"] == "INPROGRESS"
        assert await subscribers(redis, partner, package["id"]) == 1
    assert await wait_for_subscribers(redis, partner, package["id"], 0) == 0


async def test_many_streams_share_one_subscription_and_cost_the_upstream_nothing(
    api, sim, partner, redis, worker_process
):
    package = await make_package(sim, partner, "INITIALIZING")
    async with contextlib.AsyncExitStack() as stack:
        readers = []
        for _ in range(10):
            response = await stack.enter_async_context(
                api.stream("GET", events_path(package["id"]), timeout=STREAM_TIMEOUT)
            )
            await expect_stream(response)
            reader = EventReader(response)
            assert (await reader.event()).json()["status"] == "INITIALIZING"
            readers.append(reader)
        assert await subscribers(redis, partner, package["id"]) == 1, "one per API process"
        opened = await upstream_calls(sim, partner)
        await force_status(sim, package["id"], "INPROGRESS", progress=10)
        updates = await asyncio.gather(*(reader.event() for reader in readers))
        assert {(u.json()["status"], u.id) for u in updates} == {("INPROGRESS", updates[0].id)}
        after = await upstream_calls(sim, partner)
    assert after.get("get_package", 0) == opened.get("get_package", 0), (
        "streams never read the upstream after they opened"
    )


async def test_stream_opens_a_watch_for_a_build_in_progress(api, sim, partner, redis):
    package = await make_package(sim, partner, "INPROGRESS")
    async with api.stream("GET", events_path(package["id"]), timeout=STREAM_TIMEOUT) as response:
        await expect_stream(response)
        reader = EventReader(response)
        await reader.next()
    assert package["id"] in await watched(redis, partner)


async def test_quiet_streams_send_heartbeat_comments(sim, partner, bff_env):
    """A private API with a short heartbeat: a quiet stream still sends comment lines."""
    server = ApiServer("api-heartbeat", {**bff_env, "BFF_SSE_HEARTBEAT_S": "0.2"}).start()
    try:
        package = await make_package(sim, partner, "INPROGRESS")
        headers = {
            "Authorization": f"Bearer {make_token(partners=[partner])}",
            "X-Preferred-Partner-Id": partner,
        }
        async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=30) as client:
            async with client.stream("GET", events_path(package["id"]), timeout=STREAM_TIMEOUT) as response:
                await expect_stream(response)
                lines = []
                async with asyncio.timeout(10):
                    async for line in response.aiter_lines():
                        lines.append(line)
                        if line.startswith(":"):
                            break
        assert lines[-1] == ": keep-alive"
        assert any(line.startswith("data: ") for line in lines), "the status came first"
    finally:
        server.close()


async def test_stream_carries_on_after_a_redis_restart(api, sim, partner, redis_server, worker_process):
    """The API's pub/sub connection reconnects and re-subscribes by itself."""
    package = await make_package(sim, partner, "INPROGRESS")
    async with api.stream("GET", events_path(package["id"]), timeout=STREAM_TIMEOUT) as response:
        await expect_stream(response)
        reader = EventReader(response, timeout_s=30)
        assert (await reader.event()).json()["status"] == "INPROGRESS"
        worker_process.stop()  # arq's worker exits when Redis drops (python-arq/arq#435)
        try:
            redis_server.restart()
        finally:
            if redis_server.process.poll() is not None:
                redis_server.start()
            worker_process.start()
        await force_status(sim, package["id"], "DONE")
        final = await reader.event()
        assert await reader.next() is None
    assert final.json()["status"] == "DONE"
