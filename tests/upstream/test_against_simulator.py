"""The upstream client against the real simulator, over real sockets."""

from __future__ import annotations

import pytest

from app.upstream import (
    CallContext,
    PackageBuilderClient,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from app.upstream.models import CreatePackagePayload
from tests.support.processes import free_port
from tests.support.sim import add_fault, make_package, upstream_calls


@pytest.fixture
async def client(simulator):
    upstream = PackageBuilderClient(simulator.url, simulator.url, retries=1, timeout_s=1.0)
    yield upstream
    await upstream.aclose()


def ctx(partner: str) -> CallContext:
    return CallContext("Bearer t", partner, "req-1")


def payload() -> CreatePackagePayload:
    return CreatePackagePayload(
        num_packages=2,
        n_top_events=2,
        event_ids=[1],
        package_title="t",
        targeting_mode="lookalike",
        filters={},
    )


@pytest.mark.parametrize("tc", ["..", ".", "AC/DC fans", "100% locals", "a?b#c", "Münchner Kindl"])
async def test_cluster_names_reach_the_upstream_unnormalised(client, sim, partner, tc):
    package = await make_package(sim, partner, "DONE", clusters=[tc], customers_per_cluster=7)
    stream = await client.stream_customer_list(ctx(partner), package["id"], tc)
    body = b"".join([chunk async for chunk in stream.chunks()])
    assert body.count(b"\n") == 8


async def test_json_calls_and_4xx_mapping(client, sim, partner):
    package = await make_package(sim, partner, "DONE")
    assert (await client.get_package(ctx(partner), package["id"])).status == "DONE"
    with pytest.raises(UpstreamRejected) as caught:
        await client.get_package(ctx(partner), "424242424242")
    assert caught.value.status == 404


async def test_merge_sends_no_body(client, sim, partner):
    a, b = await make_package(sim, partner, "DONE"), await make_package(sim, partner, "DONE")
    ref = await client.merge_packages(ctx(partner), [a["id"], b["id"]])
    assert (await client.get_package(ctx(partner), ref.id)).merge_id == f"{a['id']}_{b['id']}"


async def test_read_retries_a_503_once(client, sim, partner):
    await add_fault(sim, "list_packages", partner, status=503, count=1)
    await client.list_packages(ctx(partner))
    assert (await upstream_calls(sim, partner))["list_packages"] == 2


async def test_a_dropped_create_is_not_sent_twice(client, sim, partner):
    await add_fault(sim, "create_package", partner, mode="disconnect", count=1)
    with pytest.raises(UpstreamUnavailable):
        await client.create_package(ctx(partner), payload())
    assert (await upstream_calls(sim, partner))["create_package"] == 1


async def test_slow_upstream_times_out_as_504(client, sim, partner):
    await add_fault(sim, "get_evaluation_details", partner, mode="delay", latency_ms=3000)
    package = await make_package(sim, partner, "DONE")
    with pytest.raises(UpstreamTimeout):
        await client.get_evaluation_details(ctx(partner), package["id"])


async def test_refused_connection_is_502_for_reads_and_writes():
    closed = f"http://127.0.0.1:{free_port()}"
    upstream = PackageBuilderClient(closed, closed, retries=1)
    try:
        with pytest.raises(UpstreamUnavailable):
            await upstream.list_packages(ctx("x"))
        with pytest.raises(UpstreamUnavailable):
            await upstream.create_package(ctx("x"), payload())
    finally:
        await upstream.aclose()
