"""Every upstream read is bounded: the size of a JSON answer after decompression, the time
of a whole call with its retries; a connection given up on is closed. The client against
a hostile local upstream, in-process (tests/upstream/test_hostile_upstream.py runs the
real API and worker against the same upstream and measures their memory)."""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import AsyncIterator

import pytest

from app.upstream import (
    CallContext,
    PackageBuilderClient,
    UpstreamBadResponse,
    UpstreamError,
    UpstreamTimeout,
)
from app.upstream.errors import UpstreamAnswerTooLarge
from tests.support.upstream_double import MiB, UpstreamDouble, gzip_bomb, late, reply

CTX = CallContext("Bearer t", "partner-1", "req-1")
LIST = "/package_builder/packages/"
CAP = 256 * 1024
DEADLINE_S = 1.0
SLACK_S = 0.5  # scheduling and connection set-up beyond the deadline


@pytest.fixture
async def upstream() -> AsyncIterator[UpstreamDouble]:
    double = await UpstreamDouble().start()
    yield double
    await double.stop()


@pytest.fixture
async def client(upstream: UpstreamDouble) -> AsyncIterator[PackageBuilderClient]:
    """Reads time out after 0.8 s and are tried 3 times: without the deadline a silent
    upstream would cost 2.4 s, a drip forever."""
    client = PackageBuilderClient(
        upstream.url, upstream.url, timeout_s=0.8, retries=2, deadline_s=DEADLINE_S, max_answer_bytes=CAP
    )
    yield client
    await client.aclose()


async def _fails_within_deadline(client: PackageBuilderClient, error: type[UpstreamError]) -> UpstreamError:
    started = time.monotonic()
    with pytest.raises(error) as caught:
        await client.list_packages(CTX)
    assert time.monotonic() - started < DEADLINE_S + SLACK_S
    return caught.value


@pytest.mark.parametrize("case", ["declared", "endless", "bomb"])
async def test_an_answer_over_the_cap_is_502_read_once_and_its_connection_closed(client, upstream, case):
    behaviour = {
        "declared": upstream.huge(300 * MiB),
        "endless": upstream.endless(),
        "bomb": upstream.compressed(gzip_bomb(16 * MiB)),
    }[case]
    upstream.on("GET", LIST, behaviour)
    error = await _fails_within_deadline(client, UpstreamAnswerTooLarge)
    assert isinstance(error, UpstreamBadResponse) and error.status == 502
    assert len(upstream.received) == 1, "an answer over the cap is not asked for again"
    await upstream.wait_until_abandoned(timeout_s=DEADLINE_S)


@pytest.mark.parametrize("case", ["drip", "silent"])
async def test_a_drip_or_a_silent_upstream_ends_at_the_deadline_as_504(client, upstream, case):
    upstream.on("GET", LIST, upstream.drip(every_s=0.1) if case == "drip" else upstream.silent())
    error = await _fails_within_deadline(client, UpstreamTimeout)
    assert error.status == 504
    await upstream.wait_until_abandoned(timeout_s=DEADLINE_S)


async def test_the_deadline_bounds_the_whole_call_with_its_retries_not_each_attempt(client, upstream):
    """Each attempt is a 503 after 0.6 s: under the read timeout (0.8 s) and under the
    deadline (1 s), so a deadline per attempt never fires, and three attempts with their
    backoff take over 1.8 s before ending as a 503. The deadline of the whole call ends it
    at 1 s, during its second attempt, as a 504."""
    upstream.on("GET", LIST, late(0.6, reply(503, {"detail": "busy"})))
    error = await _fails_within_deadline(client, UpstreamTimeout)
    assert error.status == 504
    assert len(upstream.calls("GET", LIST)) < 3, "the third attempt began after the deadline"


def _listing(count: int) -> bytes:
    return json.dumps([{"id": f"p{n}", "status": "DONE", "title": "x" * 50} for n in range(count)]).encode()


async def test_the_cap_counts_decoded_bytes(client, upstream):
    encoded = gzip.compress(_listing(5000))
    assert len(encoded) < CAP < len(_listing(5000))
    upstream.on("GET", LIST, reply(200, body=encoded, headers={"Content-Encoding": "gzip"}))
    with pytest.raises(UpstreamAnswerTooLarge):
        await client.list_packages(CTX)


async def test_a_compressed_answer_within_the_cap_is_read_decoded(client, upstream):
    encoded = gzip.compress(_listing(100))
    upstream.on("GET", LIST, reply(200, body=encoded, headers={"Content-Encoding": "gzip"}))
    assert [p.id for p in await client.list_packages(CTX)] == [f"p{n}" for n in range(100)]
    assert "gzip" in upstream.received[0].headers["accept-encoding"]


async def test_a_download_is_not_capped_and_forwards_its_encoding_as_sent(client, upstream):
    rows = b"".join(b"cust_%d,someone%d@example.com\n" % (n, n) for n in range(40_000))
    encoded = gzip.compress(rows)
    assert len(encoded) < CAP < len(rows)
    upstream.when(
        lambda r: r.path.endswith("/customer_list"),
        reply(200, body=rows, headers={"Content-Type": "text/csv"}),
        reply(200, body=encoded, headers={"Content-Type": "text/csv", "Content-Encoding": "gzip"}),
    )
    plain = await client.stream_customer_list(CTX, "1", "fans")
    assert b"".join([chunk async for chunk in plain.chunks()]) == rows
    raw = await client.stream_customer_list(CTX, "1", "fans")
    assert raw.headers["content-encoding"] == "gzip"
    assert raw.headers["content-length"] == str(len(encoded))
    assert b"".join([chunk async for chunk in raw.chunks()]) == encoded


async def test_a_download_that_never_starts_ends_at_the_deadline(client, upstream):
    upstream.when(lambda r: r.path.endswith("/customer_list"), upstream.silent())
    started = time.monotonic()
    with pytest.raises(UpstreamTimeout):
        await client.stream_customer_list(CTX, "1", "fans")
    assert time.monotonic() - started < DEADLINE_S + SLACK_S
    await upstream.wait_until_abandoned(timeout_s=DEADLINE_S)


async def test_downloads_hold_at_most_half_the_pool_so_json_calls_go_on(upstream):
    client = PackageBuilderClient(upstream.url, upstream.url, max_connections=2, deadline_s=DEADLINE_S)
    csv = {"Content-Type": "text/csv"}
    upstream.when(lambda r: r.path.endswith("/customer_list"), reply(200, body=b"a\n1\n", headers=csv))
    upstream.on("GET", LIST, reply(200, []))
    try:
        first = await client.stream_customer_list(CTX, "1", "fans")  # the one download slot
        with pytest.raises(UpstreamTimeout):
            await client.stream_customer_list(CTX, "1", "fans")
        assert await client.list_packages(CTX) == []  # the other half serves JSON calls
        await first.aclose()
        second = await client.stream_customer_list(CTX, "1", "fans")
        assert b"".join([chunk async for chunk in second.chunks()]) == b"a\n1\n"
    finally:
        await client.aclose()
