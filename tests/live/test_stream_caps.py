"""Open event streams are capped per partner and per API process: past a cap a new stream is
429 before it costs anything (no upstream call, no subscription), and every way a stream
ends gives its slot back, exactly once."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from tests.conftest import make_token
from tests.support.processes import ApiServer
from tests.support.sim import force_status, make_package, upstream_calls
from tests.support.sse import STREAM_TIMEOUT, EventReader, answer_without_stream, expect_stream

SLOT_DEADLINE_S = 10.0


def events_path(package_id: str) -> str:
    return f"/v1/packages/{package_id}/events"


@contextlib.contextmanager
def capped(bff_env: dict[str, str], *, per_partner: int, per_process: int) -> Iterator[ApiServer]:
    """An API process of its own (its counts start at zero) with small stream caps."""
    env = {
        **bff_env,
        "BFF_MAX_STREAMS_PER_PARTNER": str(per_partner),
        "BFF_MAX_STREAMS_PER_PROCESS": str(per_process),
    }
    server = ApiServer("api-stream-caps", env).start()
    try:
        yield server
    finally:
        server.close()


@contextlib.asynccontextmanager
async def client_for(
    server: ApiServer, partner: str, *, ttl_s: int = 3600
) -> AsyncIterator[httpx.AsyncClient]:
    token = make_token(partners=[partner], ttl_s=ttl_s)
    headers = {"Authorization": f"Bearer {token}", "X-Preferred-Partner-Id": partner}
    async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=30) as client:
        yield client


async def open_stream(stack: contextlib.AsyncExitStack, client: httpx.AsyncClient, path: str) -> None:
    """A stream held open until ``stack`` closes. Its 200 means its slot is taken: the slot
    is held from before the endpoint runs until the response is over. (Nothing is read: a
    reader dropped mid-stream would close the response when it is collected.)"""
    response = await stack.enter_async_context(client.stream("GET", path, timeout=STREAM_TIMEOUT))
    await expect_stream(response)


async def poll_until_free(loop: asyncio.AbstractEventLoop, deadline: float) -> None:
    """Between two asks for a slot: bounded polling of a condition no event announces."""
    assert loop.time() < deadline, f"no stream slot was given back within {SLOT_DEADLINE_S}s"
    await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def stream_once_free(client: httpx.AsyncClient, path: str) -> AsyncIterator[EventReader]:
    """The stream as soon as a slot is free again: the API is asked until it accepts (a
    refusal takes nothing), within a deadline. A slot comes back once the server has seen
    the stream end, which is after the client has."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SLOT_DEADLINE_S
    while True:
        async with client.stream("GET", path, timeout=STREAM_TIMEOUT) as response:
            if response.status_code != 429:
                await expect_stream(response)
                reader = EventReader(response)  # held here while the caller's block runs
                yield reader
                return
        await poll_until_free(loop, deadline)


async def answer_once_free(
    client: httpx.AsyncClient, path: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    """A plain GET's answer once it is no longer refused for want of a slot."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SLOT_DEADLINE_S
    while (response := await answer_without_stream(client, path, headers=headers)).status_code == 429:
        await poll_until_free(loop, deadline)
    return response


def assert_refused(response: httpx.Response, setting: str) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert int(response.headers["Retry-After"]) > 0
    assert setting in response.json()["detail"]


async def in_flight(sim: httpx.AsyncClient, partner: str, count: int) -> list[str]:
    """Packages that stay INPROGRESS (the test simulator's builds take an hour)."""
    return [events_path((await make_package(sim, partner, "INPROGRESS"))["id"]) for _ in range(count)]


@pytest.fixture
def other_partner(partner: str) -> str:
    return partner + "-b"


async def test_a_partner_at_its_stream_cap_gets_429_before_any_upstream_call(
    bff_env, sim, partner, other_partner
):
    with capped(bff_env, per_partner=2, per_process=10) as server:
        paths = await in_flight(sim, partner, 3)
        [theirs] = await in_flight(sim, other_partner, 1)
        async with (
            client_for(server, partner) as greedy,
            client_for(server, other_partner) as other,
            contextlib.AsyncExitStack() as stack,
        ):
            for path in paths[:2]:
                await open_stream(stack, greedy, path)
            reads = (await upstream_calls(sim, partner)).get("get_package", 0)

            refused = await answer_without_stream(greedy, paths[2])
            assert_refused(refused, "BFF_MAX_STREAMS_PER_PARTNER")
            assert int(refused.headers["Retry-After"]) >= 5
            # A stream's own upstream call is its first status read (the worker's polls of the
            # partner's watches are list calls, and may come at any time).
            after = (await upstream_calls(sim, partner)).get("get_package", 0)
            assert after == reads, "refused before the upstream read"

            await open_stream(stack, other, theirs)  # the cap is per partner: others do not notice


async def test_a_stream_closed_by_its_client_gives_its_slot_back(bff_env, sim, partner):
    with capped(bff_env, per_partner=2, per_process=10) as server:
        paths = await in_flight(sim, partner, 3)
        async with client_for(server, partner) as client, contextlib.AsyncExitStack() as kept:
            await open_stream(kept, client, paths[0])
            async with contextlib.AsyncExitStack() as closed_mid_stream:
                await open_stream(closed_mid_stream, client, paths[1])
                assert_refused(await answer_without_stream(client, paths[2]), "BFF_MAX_STREAMS_PER_PARTNER")
            # The client hung up mid-stream: the server notices and the slot is free again.
            async with stream_once_free(client, paths[2]):
                assert_refused(await answer_without_stream(client, paths[1]), "BFF_MAX_STREAMS_PER_PARTNER")


async def test_the_process_cap_refuses_every_partner(bff_env, sim, partner, other_partner):
    third_partner = partner + "-c"
    with capped(bff_env, per_partner=2, per_process=3) as server:
        mine = await in_flight(sim, partner, 2)
        theirs = await in_flight(sim, other_partner, 2)
        [newcomer_path] = await in_flight(sim, third_partner, 1)
        async with (
            client_for(server, partner) as first,
            client_for(server, other_partner) as second,
            client_for(server, third_partner) as newcomer,
            contextlib.AsyncExitStack() as stack,
        ):
            await open_stream(stack, first, mine[0])
            await open_stream(stack, second, theirs[0])
            async with contextlib.AsyncExitStack() as closing:
                await open_stream(closing, first, mine[1])
                reads = (await upstream_calls(sim, third_partner)).get("get_package", 0)
                assert_refused(
                    await answer_without_stream(newcomer, newcomer_path), "BFF_MAX_STREAMS_PER_PROCESS"
                )
                assert_refused(await answer_without_stream(second, theirs[1]), "BFF_MAX_STREAMS_PER_PROCESS")
                assert (await upstream_calls(sim, third_partner)).get("get_package", 0) == reads
            async with stream_once_free(newcomer, newcomer_path):
                assert_refused(await answer_without_stream(first, mine[1]), "BFF_MAX_STREAMS_PER_PROCESS")


async def test_every_way_a_stream_ends_gives_its_slot_back_exactly_once(
    bff_env, sim, partner, worker_process
):
    """One slot for the partner: each ending below must free it, and none may free it twice
    (a second release would let two streams in at the end)."""
    with capped(bff_env, per_partner=1, per_process=10) as server:
        [building, expiring] = await in_flight(sim, partner, 2)
        finishing = await make_package(sim, partner, "INPROGRESS")
        done = events_path((await make_package(sim, partner, "DONE"))["id"])
        async with client_for(server, partner) as client:
            async with stream_once_free(client, events_path(finishing["id"])) as reader:
                assert (await reader.event()).json()["status"] == "INPROGRESS"
                await force_status(sim, finishing["id"], "DONE")  # the server ends the stream
                assert [e.json()["status"] for e in await reader.rest()] == ["DONE"]

            async with stream_once_free(client, done) as reader:
                [final] = await reader.rest()
            delivered = await answer_once_free(client, done, {"Last-Event-ID": str(final.id)})
            assert delivered.status_code == 204, "nothing to stream: the slot is given back"

            missing = await answer_once_free(client, events_path("no-such-package"))
            assert missing.status_code == 404, "refused by the upstream after the slot was taken"

        async with client_for(server, partner, ttl_s=4) as short_lived:  # the token expires
            async with stream_once_free(short_lived, expiring) as reader:
                assert [e.json()["status"] for e in await reader.rest()] == ["INPROGRESS"]

        async with client_for(server, partner) as client, stream_once_free(client, building):
            assert_refused(await answer_without_stream(client, expiring), "BFF_MAX_STREAMS_PER_PARTNER")
