"""The upstream client keeps no cookies: one caller's upstream ``Set-Cookie`` must never
ride along on the next caller's request (a cross-tenant leak), on JSON calls or CSV downloads.

The simulator sets a cookie on cue (fault mode ``set_cookie``) and records the ``Cookie``
header of each partner's last request.
"""

from __future__ import annotations

import uuid

import pytest

from app.upstream import CallContext, PackageBuilderClient
from tests.support.sim import add_fault, make_package


def _partner() -> str:
    return "p-" + uuid.uuid4().hex[:12]


async def _last_cookie(sim, partner: str) -> str | None:
    return (await sim.get("/_sim/stats")).json()["last_cookie"].get(partner, "no request seen")


@pytest.fixture
async def upstream(simulator):
    client = PackageBuilderClient(simulator.url, simulator.url)
    yield client
    await client.aclose()


async def test_a_cookie_set_for_one_caller_is_not_sent_for_the_next_on_json_calls(sim, upstream):
    first, second = _partner(), _partner()
    mine = await make_package(sim, first)
    theirs = await make_package(sim, second)
    await add_fault(sim, "get_package", first, mode="set_cookie")

    await upstream.get_package(CallContext("Bearer first", first), mine["id"])
    await upstream.get_package(CallContext("Bearer second", second), theirs["id"])
    await upstream.list_packages(CallContext("Bearer first", first))

    assert await _last_cookie(sim, second) is None
    assert await _last_cookie(sim, first) is None  # nor is it kept for its own caller


async def test_a_cookie_set_for_one_caller_is_not_sent_for_the_next_on_csv_downloads(sim, upstream):
    first, second = _partner(), _partner()
    mine = await make_package(sim, first, clusters=["fans"], customers_per_cluster=3)
    theirs = await make_package(sim, second, clusters=["fans"], customers_per_cluster=3)
    await add_fault(sim, "get_customer_list", first, mode="set_cookie")

    for partner, package in ((first, mine), (second, theirs)):
        stream = await upstream.stream_customer_list(CallContext("Bearer t", partner), package["id"], "fans")
        assert b"".join([chunk async for chunk in stream.chunks()])
    await upstream.get_package(CallContext("Bearer t", second), theirs["id"])

    assert await _last_cookie(sim, second) is None
